// GEMM driver in the Goto/BLIS style: five loops around a register-tile microkernel
// (gemm_ukr.h), with packing, cache blocking and threading. One portable file; only the
// microkernels are compiled per instruction set.
//
//   for jc in [0, n) step NC                         B~ (KC x NC) shared by all threads (L3)
//     for pc in [0, k) step KC
//       pack op(B)[pc:+KC, jc:+NC] -> B~            threads pack disjoint micro-panels; barrier
//       for ic in [my rows] step MC                  rows split across threads (private L2)
//         pack op(A)[ic:+MC, pc:+KC] -> A~
//         for jr in [my panels] step NR              B~ micro-panel KC x NR stays in L1
//           for ir in [0, MC) step MR                A~ micro-panel streams from L2
//             microkernel(A~[ir], B~[jr]) -> C[ic+ir : +MR, jc+jr : +NR]
//       barrier (before B~ is overwritten)
//
// Packed layouts (k-major micro-panels, zero-padded at the edges):
//
//   A~ micro-panel r (MR rows):          B~ micro-panel q (NR columns):
//     p=0: A(r*MR+0,0) .. A(r*MR+MR-1,0)   p=0: B(0,q*NR+0) .. B(0,q*NR+NR-1)
//     p=1: A(r*MR+0,1) .. A(r*MR+MR-1,1)   p=1: B(1,q*NR+0) .. B(1,q*NR+NR-1)
//     ...  (kc rows of MR floats)          ...  (kc rows of NR floats)
//
// Small problems (m*n*k up to about 128^3 with k <= 512, or m <= 16) skip packing A: the microkernel
// broadcasts A straight from the caller's rows or columns, and B is read in place when it is
// not transposed (tail columns masked), otherwise packed once per call.
#include "kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"
#include "kernels/gemm_ukr.h"

namespace pyn {
namespace {

// Scratch for packed operands, one set per OS thread (worker threads of the OpenMP pool
// persist, so steady-state calls do not allocate).
thread_local ScratchBuffer tl_pack_a;
thread_local ScratchBuffer tl_pack_b;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The largest step <= limit (rounded up to `align`) that splits n into equal-count blocks.
int64_t balanced_block(int64_t n, int64_t limit, int64_t align) {
  if (n <= limit) return std::max<int64_t>(n, 1);
  const int64_t blocks = ceil_div(n, limit);
  return std::min(limit, ceil_div(ceil_div(n, blocks), align) * align);
}

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.f) {
      std::memset(ci, 0, sizeof(float) * static_cast<size_t>(n));
    } else if (beta != 1.f) {
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// A~ for rows [ic, ic+mc) and depth [pc, pc+kc) of op(A), as MR-row micro-panels.
// Transposed A is already k-major (MR contiguous values per p): plain copies. Row-major A
// is transposed block by block by the microkernel's own packing routine.
template <int MR>
void pack_a_cols(const float* a, int64_t lda, int64_t ic, int64_t pc, int64_t mc, int64_t kc,
                 float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    float* d = dst + ir * kc;
    const float* s = a + pc * lda + ic + ir;  // op(A)(i, p) = a[p * lda + i]
    for (int64_t p = 0; p < kc; ++p, s += lda, d += MR) {
      if (rows == MR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) d[i] = s[i];
      } else {
        for (int i = 0; i < MR; ++i) d[i] = i < rows ? s[i] : 0.f;
      }
    }
  }
}

void pack_a(const GemmUkr& u, bool ta, const float* a, int64_t lda, int64_t ic, int64_t pc,
            int64_t mc, int64_t kc, float* dst) {
  const int mr = u.mr;
  if (!ta) {
    for (int64_t ir = 0; ir < mc; ir += mr)
      u.pack_a_rows(a + (ic + ir) * lda + pc, lda, static_cast<int>(std::min<int64_t>(mr, mc - ir)),
                    kc, dst + ir * kc);
    return;
  }
  switch (mr) {
    case 12:
      return pack_a_cols<12>(a, lda, ic, pc, mc, kc, dst);
    case 8:
      return pack_a_cols<8>(a, lda, ic, pc, mc, kc, dst);
    case 6:
      return pack_a_cols<6>(a, lda, ic, pc, mc, kc, dst);
    case 4:
      return pack_a_cols<4>(a, lda, ic, pc, mc, kc, dst);
    default:
      PYN_CHECK(false, "gemm: no A packing for MR=", mr);
  }
}

// One B~ micro-panel: columns [j0, j0+cols) and depth [pc, pc+kc) of op(B), NR wide.
void pack_b_panel(const GemmUkr& u, bool tb, const float* b, int64_t ldb, int64_t pc, int64_t j0,
                  int64_t kc, int cols, float* dst) {
  const int nr = u.nr;
  if (tb) {  // op(B)(p, j) = b[j * ldb + p]: transposed in registers
    u.pack_b_cols(b + j0 * ldb + pc, ldb, cols, kc, dst);
    return;
  }
  (void)nr;
  u.pack_b_rows(b + pc * ldb + j0, ldb, cols, kc, dst);  // op(B)(p, j) = b[p * ldb + j]
}

// Unpacked (A read in place, and B too unless transposed) when the product is small, when A
// has so few rows that packing B would never be paid back (single-sample inference: m = 1
// against a 784 x 256 weight matrix), and for the mid-sized products of dense layers: the
// register tile streams its operands from L2 and L3 fast enough there, and packing costs
// more than it saves. Measured at 1 thread, per cent of the FMA peak, packed -> unpacked:
// 128x256x784 88 -> 97, 64x512x784 79 -> 97, 2048x256x784 92 -> 95, 256x256x256 90 -> 96,
// A transposed 128x256x2048 76 -> 95. Packing still wins once B is read in place at large
// power-of-two row strides (128x1024x1024: 86 -> 72) or A outgrows the L2 (2048x1024x1024:
// 94 -> 73). With several threads and m < n, the threads split the column panels and each
// reads all of a transposed A in place, which measured slower than packing at 2 threads
// (161x512x256: 73 -> 64 %). The deterministic mode keeps one path for every thread count
// (the paths sum k in different blocks).
bool use_small_path(bool ta, int64_t m, int64_t n, int64_t k, int nt) {
  if (m <= 16 || (k <= 512 && static_cast<double>(m) * n * k <= 128.0 * 128.0 * 128.0)) return true;
  if (ta && nt > 1 && m < n && !deterministic()) return false;
  if (m <= 256 && k <= 2048 && (ta || k <= 784 || n <= 256)) return true;
  return m <= 2048 && n <= 256 && k <= 784;
}

// Unpacked A (and B when not transposed); see the file comment. A transposed B is packed one
// micro-panel at a time by the thread that uses it, or whole up front when every thread runs
// over all of B (rows split between threads).
void gemm_small(const GemmUkr& u, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                int64_t ldc, int nt) {
  const int MR = u.mr, NR = u.nr;
  const int64_t npan = ceil_div(n, NR);
  const GemmUkrFn fn = ta ? u.cols : u.rows;
  const int64_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
  // Rows go in ceil(m / MR) blocks of nearly equal height (64 rows: 6 blocks of 10-11, not
  // 5 x 12 + 4), so no block runs a short, latency-bound tile.
  const int64_t nblk = ceil_div(m, MR);
  const bool split_m = nt > 1 && m >= n;
  const float* bp = b;  // B micro-panel q starts at bp + q * pan_stride, rows rsb apart
  int64_t rsb = ldb, pan_stride = NR;
  if (tb && split_m) {
    float* buf = tl_pack_b.floats(static_cast<size_t>(npan * NR * k));
    for (int64_t q = 0; q < npan; ++q)
      pack_b_panel(u, true, b, ldb, 0, q * NR, k,
                   static_cast<int>(std::min<int64_t>(NR, n - q * NR)), buf + q * NR * k);
    bp = buf;
    rsb = NR;
    pan_stride = NR * k;
  }
  const bool pack_each = tb && !split_m;
  // row blocks [b0, b1) x column panels [q0, q1)
  auto run = [&](int64_t b0, int64_t b1, int64_t q0, int64_t q1) {
    float* panel = pack_each ? tl_pack_b.floats(static_cast<size_t>(NR * k)) : nullptr;
    for (int64_t q = q0; q < q1; ++q) {
      const int cols = static_cast<int>(std::min<int64_t>(NR, n - q * NR));
      const float* bq = bp + q * pan_stride;
      int64_t rs = rsb;
      if (pack_each) {
        pack_b_panel(u, true, b, ldb, 0, q * NR, k, cols, panel);
        bq = panel;
        rs = NR;
      }
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t i = m * blk / nblk;
        const int rows = static_cast<int>(m * (blk + 1) / nblk - i);
        fn(k, a + i * rsa, rsa, csa, bq, rs, c + i * ldc + q * NR, ldc, rows, cols, alpha, beta);
      }
    }
  };
  if (nt <= 1) return run(0, nblk, 0, npan);
  // Threads claim row blocks (or panels) one at a time: these products take a few
  // microseconds, and a thread that starts late (its core busy elsewhere for a moment) then
  // leaves its share to the others instead of making them wait for it.
  const int64_t units = split_m ? nblk : npan;
  std::atomic<int64_t> next{0};
  parallel_claims(nt, [&](int, int) {
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < units;) {
      if (split_m)
        run(t, t + 1, 0, npan);
      else
        run(0, nblk, t, t + 1);
    }
  });
}

// m <= 4 with B not transposed: the GEMV-shaped kernel streams each row of B once for all
// rows of A; columns it leaves over (fewer than a few vectors) go through the register tile.
// Threads split the columns, so each core streams (and keeps in its own L2) part of B.
void gemm_gemv(const GemmUkr& u, bool ta, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc, int nt) {
  const int NR = u.nr;
  const int64_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
  const GemmUkrFn fn = ta ? u.cols : u.rows;
  parallel(nt, [&](int tid, int nth) {
    int64_t j0 = 0, j1 = n;
    split_range(n, 4 * NR, nth, tid, &j0, &j1);
    int64_t j = j0 + u.gemv(static_cast<int>(m), k, a, rsa, csa, b + j0, ldb, c + j0, ldc,
                            j1 - j0, alpha, beta);
    for (; j < j1; j += NR) {
      const int cols = static_cast<int>(std::min<int64_t>(NR, j1 - j));
      fn(k, a, rsa, csa, b + j, ldb, c + j, ldc, static_cast<int>(m), cols, alpha, beta);
    }
  });
}

void gemm_packed(const GemmUkr& u, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float beta, float* c, int64_t ldc, int nt) {
  const int MR = u.mr, NR = u.nr;
  // Blocks of nearly equal size no larger than the kernel's (K = 784 runs as 2 x 392, not
  // 384 + 384 + 16, which would cost a whole pass over C for 16 steps of k).
  const int64_t KC = balanced_block(k, u.kc, 8), NC = balanced_block(n, u.nc, NR);
  float* bbuf = tl_pack_b.floats(static_cast<size_t>(KC * ceil_div(NC, NR) * NR));

  // Work is handed out as tasks claimed from per-iteration counters, so a thread slowed down
  // by other work on its core does fewer tasks instead of holding the others back.
  //   split_m: a task is a band of rows (the claiming thread packs its A~) over all columns;
  //   else:    a task is a group of column panels; each thread packs the few rows of A once.
  const bool split_m = m >= int64_t(4) * MR * nt;
  const int64_t row_blocks = ceil_div(m, MR);
  // A whole number of tasks per thread (9 bands on 2 threads would leave one thread idle for
  // a ninth of every k block), each band no taller than MC.
  const int64_t m_tasks = std::min(
      row_blocks,
      ceil_div(std::max(std::min<int64_t>(row_blocks, 4 * nt), ceil_div(m, static_cast<int64_t>(u.mc))),
               int64_t(nt)) * nt);
  const int64_t a_rows = split_m ? ceil_div(row_blocks, m_tasks) * MR : row_blocks * MR;
  const int64_t n_iter = ceil_div(n, NC) * ceil_div(k, KC);
  std::vector<std::atomic<int64_t>> claims(static_cast<size_t>(2 * n_iter));
  for (auto& x : claims) x.store(0, std::memory_order_relaxed);
  // With the rows split, every thread runs over all of B~. When B~ is one block of at most
  // 1 MiB, each thread packs its own copy: packing it twice costs less than pulling half of
  // it from the other core's cache (and invalidating it there on the next call) and waiting
  // for the other thread at a barrier. 256 x 256 at 2 threads: packing fell from 17 % of the
  // time to a few %.
  const int64_t b_floats = KC * ceil_div(NC, NR) * NR;
  const bool private_b = nt > 1 && split_m && n_iter == 1 && b_floats <= (int64_t(1) << 18);

  auto body = [&](int tid, int nth) {
    float* bb = private_b ? tl_pack_b.floats(static_cast<size_t>(b_floats)) : bbuf;
    float* abuf = nullptr;
    int64_t it = 0;
    for (int64_t jc = 0; jc < n; jc += NC) {
      const int64_t nc = std::min(NC, n - jc);
      const int64_t npan = ceil_div(nc, NR);
      for (int64_t pc = 0; pc < k; pc += KC, ++it) {
        const int64_t kc = std::min(KC, k - pc);
        std::atomic<int64_t>& next_panel = claims[static_cast<size_t>(2 * it)];
        std::atomic<int64_t>& next_task = claims[static_cast<size_t>(2 * it + 1)];
        if (private_b) {
          for (int64_t q = 0; q < npan; ++q)
            pack_b_panel(u, tb, b, ldb, pc, jc + q * NR, kc,
                         static_cast<int>(std::min<int64_t>(NR, nc - q * NR)), bb + q * kc * NR);
        } else {
          for (int64_t q; (q = next_panel.fetch_add(1, std::memory_order_relaxed)) < npan;)
            pack_b_panel(u, tb, b, ldb, pc, jc + q * NR, kc,
                         static_cast<int>(std::min<int64_t>(NR, nc - q * NR)), bb + q * kc * NR);
          barrier();
        }

        const float beta_p = pc == 0 ? beta : 1.f;
        // C[ic : ic+mc, jc + q0*NR : jc + q1*NR] += A~ * B~[q0:q1]
        auto macro = [&](int64_t ic, int64_t mc, int64_t q0, int64_t q1) {
          for (int64_t q = q0; q < q1; ++q) {
            const int cols = static_cast<int>(std::min<int64_t>(NR, nc - q * NR));
            const float* bq = bb + q * kc * NR;
            float* cq = c + ic * ldc + jc + q * NR;
            for (int64_t ir = 0; ir < mc; ir += MR)
              u.packed(kc, abuf + ir * kc, 1, MR, bq, NR, cq + ir * ldc, ldc,
                       static_cast<int>(std::min<int64_t>(MR, mc - ir)), cols, alpha, beta_p);
          }
        };
        if (abuf == nullptr) abuf = tl_pack_a.floats(static_cast<size_t>(a_rows * KC));
        if (split_m) {
          for (int64_t t; (t = next_task.fetch_add(1, std::memory_order_relaxed)) < m_tasks;) {
            int64_t i0, i1;
            split_range(m, MR, static_cast<int>(m_tasks), static_cast<int>(t), &i0, &i1);
            pack_a(u, ta, a, lda, i0, pc, i1 - i0, kc, abuf);
            macro(i0, i1 - i0, 0, npan);
          }
        } else {
          const int64_t group = ceil_div(npan, int64_t(4) * nth);
          const int64_t n_tasks = ceil_div(npan, group);
          bool packed = false;
          for (int64_t t; (t = next_task.fetch_add(1, std::memory_order_relaxed)) < n_tasks;) {
            if (!packed) pack_a(u, ta, a, lda, 0, pc, m, kc, abuf);
            packed = true;
            macro(0, m, t * group, std::min(npan, (t + 1) * group));
          }
        }
        if (!private_b) barrier();  // the next block's B~ overwrites this one
      }
    }
    (void)tid;
  };
  // With private B~ copies nothing waits for another thread: a late thread may be left out.
  if (private_b)
    parallel_claims(nt, body);
  else
    parallel(nt, body);
}

}  // namespace

const GemmUkr& gemm_ukr() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return gemm_ukr_avx512();
    case Isa::kAvx2:
      return gemm_ukr_avx2();
    default:
      return gemm_ukr_generic();
  }
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc, int num_threads) {
  PYN_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=", m, " n=", n, " k=", k);
  if (m == 0 || n == 0) return;
  PYN_CHECK(ldc >= n, "gemm: ldc=", ldc, " < n=", n);
  if (k == 0 || alpha == 0.f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  PYN_CHECK(lda >= (trans_a ? m : k), "gemm: lda=", lda, " too small");
  PYN_CHECK(ldb >= (trans_b ? k : n), "gemm: ldb=", ldb, " too small");

  const GemmUkr& u = gemm_ukr();
  const double flops = 2.0 * static_cast<double>(m) * n * k;
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  const int nt = threads_for(flops, kGemmParallelFlops / 2, max_t);
  if (m <= 4 && !trans_b) {
    // Bandwidth-bound: a second thread pays once B no longer fits one core's L2.
    const double b_bytes = 4.0 * static_cast<double>(n) * k;
    gemm_gemv(u, trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
              threads_for(b_bytes, kGemvParallelBytes, max_t));
  } else if (use_small_path(trans_a, m, n, k, nt))
    gemm_small(u, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nt);
  else
    gemm_packed(u, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nt);
}

const char* gemm_kernel_name() { return gemm_ukr().name; }

void gemm_unpacked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  gemm_small(gemm_ukr(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1);
}

int64_t gemm_packed_b_size(const GemmUkr& u, int64_t k, int64_t n) {
  return ceil_div(n, u.nr) * u.nr * k;
}

void gemm_pack_b(const GemmUkr& u, bool trans_b, const float* b, int64_t ldb, int64_t k,
                 int64_t n, float* dst) {
  for (int64_t q = 0; q * u.nr < n; ++q)
    pack_b_panel(u, trans_b, b, ldb, 0, q * u.nr, k,
                 static_cast<int>(std::min<int64_t>(u.nr, n - q * u.nr)), dst + q * k * u.nr);
}

void gemm_packed_b(const GemmUkr& u, int64_t m, int64_t n, int64_t k, const float* a,
                   int64_t lda, const float* bp, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const int MR = u.mr, NR = u.nr;
  // rows in ceil(m / MR) blocks of nearly equal height (see gemm_small)
  const int64_t nblk = ceil_div(m, MR);
  for (int64_t q = 0; q * NR < n; ++q) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, n - q * NR));
    const float* bq = bp + q * k * NR;
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const int64_t i = m * blk / nblk;
      const int rows = static_cast<int>(m * (blk + 1) / nblk - i);
      u.rows(k, a + i * lda, lda, 1, bq, NR, c + i * ldc + q * NR, ldc, rows, cols, 1.f, beta);
    }
  }
}

double fma_peak_gflops(int num_threads, double seconds) {
  const GemmUkr& u = gemm_ukr();
  const int nt = num_threads > 0 ? num_threads : get_num_threads();
  std::vector<double> rate(static_cast<size_t>(std::max(nt, 1)), 0.0);
  parallel(nt, [&](int tid, int) {
    using clock = std::chrono::steady_clock;
    float sink = 0.f;
    int64_t iters = 1 << 12;
    double best = 0.0;
    const auto start = clock::now();
    // Short timed rounds; the best round is the probe's reading for this thread.
    while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
      const auto t0 = clock::now();
      const double flop = u.fma_loop(iters, &sink);
      const double dt = std::chrono::duration<double>(clock::now() - t0).count();
      if (dt < 1e-3) {
        iters *= 2;
        continue;
      }
      best = std::max(best, flop / dt);
    }
    rate[static_cast<size_t>(tid)] = best + (sink == 12345.f ? 1e-30 : 0.0);
  });
  double total = 0.0;
  for (double r : rate) total += r;
  return total * 1e-9;
}

}  // namespace pyn
