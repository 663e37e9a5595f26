// The GEMM microkernel written once over vector traits V (common/vec.h). Included only by the
// per-instruction-set translation units, each compiled with its own target flags.
//
// Register tile: M rows x NV vectors of V::kWidth columns. Per k step: NV loads of a B row,
// M broadcasts of A(i, p), M * NV fused multiply-adds into the accumulators.
//
//              B row p:  [ b0 ... | b1 ... ]          (NV vectors)
//   A(0, p)  ->  acc[0][0]   acc[0][1]
//   A(1, p)  ->  acc[1][0]   acc[1][1]
//     ...
//   A(M-1,p) ->  acc[M-1][0] acc[M-1][1]
#pragma once

#include <cstdint>
#include <utility>

#include "common/vec.h"
#include "kernels/gemm_ukr.h"

namespace pyn {
namespace ukr_impl {

// Prefetch distances in k steps: A and B ahead of use, C this many steps before the end.
constexpr int kPrefetchA = 16;
constexpr int kPrefetchB = 8;
constexpr int kPrefetchC = 24;

// NVL: vectors actually loaded/computed (<= NV); FULL: all NVL * kWidth columns valid.
// RSA/CSA: compile-time A strides, 0 meaning "use the runtime argument".
template <class V, int M, int NVL, bool FULL, int RSA, int CSA>
void tile(int64_t kc, const float* __restrict a, int64_t rsa, int64_t csa,
          const float* __restrict b, int64_t rsb, float* __restrict c, int64_t ldc, int m, int n,
          float alpha, float beta) {
  constexpr int W = V::kWidth;
  if constexpr (RSA != 0) rsa = RSA;
  if constexpr (CSA != 0) csa = CSA;
  using Reg = typename V::Reg;
  Reg acc[M][NVL];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NVL; ++j) acc[i][j] = V::zero();

  typename V::Mask mk[NVL];
#pragma GCC unroll 4
  for (int j = 0; j < NVL; ++j) mk[j] = V::mask(n - j * W);

  // With a runtime row stride (A read in place, row-major), rows are addressed from one
  // pointer per group of three: ag[i / 3] + (i % 3) * rsa, which x86 encodes as base plus
  // scaled index, so 12 rows need 4 pointers instead of 12 live offsets.
  constexpr int G = (M + 2) / 3;
  const float* ag[G];
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) ag[g] = a + 3 * g * rsa;

  auto step = [&]() __attribute__((always_inline)) {
    // A and B stream from L2 (packed panels) or from the caller's arrays: fetch ahead.
    if (CSA != 0) __builtin_prefetch(a + kPrefetchA * csa, 0, 3);
    __builtin_prefetch(b + kPrefetchB * rsb, 0, 3);
    if (NVL * W * 4 > 64) __builtin_prefetch(b + kPrefetchB * rsb + NVL * W - 1, 0, 3);
    Reg bv[NVL];
#pragma GCC unroll 4
    for (int j = 0; j < NVL; ++j) bv[j] = FULL ? V::load(b + j * W) : V::maskload(b + j * W, mk[j]);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const float ai = RSA == 0 ? ag[i / 3][(i % 3) * rsa] : a[i * rsa];
      const Reg av = V::set1(ai);
#pragma GCC unroll 4
      for (int j = 0; j < NVL; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
    }
    if constexpr (RSA == 0) {
#pragma GCC unroll 8
      for (int g = 0; g < G; ++g) ag[g] += csa;
    } else {
      a += csa;
    }
    b += rsb;
  };

  // The C tile is written after the k loop; fetch its lines during the last steps (earlier
  // prefetches would be evicted again by the B panel streaming through L1).
  const int64_t k_main = kc > kPrefetchC ? kc - kPrefetchC : 0;
#pragma GCC unroll 4
  for (int64_t p = 0; p < k_main; ++p) step();
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    if (i >= m) break;
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NVL * W - 1, 1, 3);
  }
  for (int64_t p = k_main; p < kc; ++p) step();

  // C = alpha * acc + beta * C; with beta == 0 C is never read (it may hold NaN).
  const Reg va = V::set1(alpha), vb = V::set1(beta);
  const bool read_c = beta != 0.f;
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NVL; ++j) {
      Reg r = V::mul(va, acc[i][j]);
      if (read_c) r = V::fmadd(vb, FULL ? V::load(ci + j * W) : V::maskload(ci + j * W, mk[j]), r);
      if (FULL) V::store(ci + j * W, r);
      else V::maskstore(ci + j * W, mk[j], r);
    }
  }
}

// Picks the variant for n columns: all NV vectors full, or the fewest vectors covering n
// with the last one masked.
template <class V, int M, int NV, int RSA, int CSA>
void tile_any_n(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
                float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  constexpr int W = V::kWidth;
  static_assert(NV >= 1 && NV <= 4, "tiles are one to four vectors wide");
  if (n >= NV * W) return tile<V, M, NV, true, RSA, CSA>(kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
  const int nv = (n + W - 1) / W;
  if constexpr (NV >= 4)
    if (nv == 3) return tile<V, M, 3, false, RSA, CSA>(kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
  if constexpr (NV >= 3)
    if (nv == 2) return tile<V, M, 2, false, RSA, CSA>(kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
  if constexpr (NV >= 2)
    if (nv == 1) return tile<V, M, 1, false, RSA, CSA>(kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
  tile<V, M, NV, false, RSA, CSA>(kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
}

// In-place A: dispatch on the number of rows m (1..MR) to a kernel that reads exactly m rows.
template <class V, int MR, int NV, int RSA, int CSA, size_t... I>
void tile_any_mn(std::index_sequence<I...>, int64_t kc, const float* a, int64_t rsa, int64_t csa,
                 const float* b, int64_t rsb, float* c, int64_t ldc, int m, int n, float alpha,
                 float beta) {
  static constexpr GemmUkrFn table[] = {&tile_any_n<V, int(I) + 1, NV, RSA, CSA>...};
  table[m - 1](kc, a, rsa, csa, b, rsb, c, ldc, m, n, alpha, beta);
}

template <class V, int MR, int NV, int RSA, int CSA>
void tile_inplace(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b,
                  int64_t rsb, float* c, int64_t ldc, int m, int n, float alpha, float beta) {
  tile_any_mn<V, MR, NV, RSA, CSA>(std::make_index_sequence<MR>{}, kc, a, rsa, csa, b, rsb, c,
                                   ldc, m, n, alpha, beta);
}

// Transposing packs (see gemm_ukr.h). Blocks of W x W are loaded (tails masked or zeroed),
// transposed in registers and stored as W consecutive k rows of the micro-panel.
template <class V, int MR>
void pack_a_rows(const float* a, int64_t lda, int rows, int64_t kc, float* dst) {
  constexpr int W = V::kWidth;
  if constexpr (MR > W) {  // scalar targets
    for (int64_t p = 0; p < kc; ++p)
      for (int i = 0; i < MR; ++i) dst[p * MR + i] = i < rows ? a[i * lda + p] : 0.f;
  } else {
    using Reg = typename V::Reg;
    const auto keep = V::mask(MR);
    for (int64_t p = 0; p < kc; p += W) {
      const int kw = static_cast<int>(kc - p < W ? kc - p : W);
      const auto mk = V::mask(kw);
      Reg r[W];
      for (int i = 0; i < W; ++i)
        r[i] = i >= rows ? V::zero() : kw == W ? V::load(a + i * lda + p) : V::maskload(a + i * lda + p, mk);
      V::transpose(r);
      for (int q = 0; q < kw; ++q) V::maskstore(dst + (p + q) * MR, keep, r[q]);
    }
  }
}

template <class V, int NR>
void pack_b_cols(const float* b, int64_t ldb, int cols, int64_t kc, float* dst) {
  constexpr int W = V::kWidth;
  using Reg = typename V::Reg;
  for (int jb = 0; jb < NR; jb += W) {
    for (int64_t p = 0; p < kc; p += W) {
      const int kw = static_cast<int>(kc - p < W ? kc - p : W);
      const auto mk = V::mask(kw);
      Reg r[W];
      for (int j = 0; j < W; ++j) {
        const float* s = b + (jb + j) * ldb + p;
        r[j] = jb + j >= cols ? V::zero() : kw == W ? V::load(s) : V::maskload(s, mk);
      }
      V::transpose(r);
      for (int q = 0; q < kw; ++q) V::store(dst + (p + q) * NR + jb, r[q]);
    }
  }
}

// Row segments of NR floats copied vector by vector (a memcpy call per 128-byte row costs
// more than the copy); a partial panel loads under a mask and stores zeros beyond `cols`.
template <class V, int NR>
void pack_b_rows(const float* b, int64_t ldb, int cols, int64_t kc, float* dst) {
  constexpr int W = V::kWidth;
  constexpr int NV = NR / W;
  static_assert(NR % W == 0, "NR must be a whole number of vectors");
  if (cols == NR) {
    for (int64_t p = 0; p < kc; ++p, b += ldb, dst += NR) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) V::store(dst + j * W, V::load(b + j * W));
    }
    return;
  }
  typename V::Mask mk[NV];
  for (int j = 0; j < NV; ++j) mk[j] = V::mask(cols - j * W);
  for (int64_t p = 0; p < kc; ++p, b += ldb, dst += NR) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j)
      V::store(dst + j * W, j * W < cols ? V::maskload(b + j * W, mk[j]) : V::zero());
  }
}

// A few rows (m <= 4, single-sample or tiny-batch inference) against an unpacked row-major B:
//
//   c[i, j] = alpha * sum_p A(i, p) * b[p * ldb + j] + beta * c[i, j]     i < M, j < NV * W
//
// The M x NV accumulators stay in registers for the whole k loop: each B row segment is loaded
// once for all M rows, and M * NV independent FMA chains hide the FMA latency, so the loop runs
// at the speed B streams in from cache (a register tile of 2 vectors would wait on latency).
template <class V, int M, int NV>
void gemv_chunk(int64_t k, const float* __restrict a, int64_t rsa, int64_t csa,
                const float* __restrict b, int64_t ldb, float* __restrict c, int64_t ldc,
                float alpha, float beta) {
  constexpr int W = V::kWidth;
  using Reg = typename V::Reg;
  Reg acc[M][NV];
#pragma GCC unroll 32
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 32
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t p = 0; p < k; ++p, b += ldb, a += csa) {
    Reg bv[NV];
#pragma GCC unroll 32
    for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      const Reg av = V::set1(a[i * rsa]);
#pragma GCC unroll 32
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
    }
  }
  const Reg va = V::set1(alpha), vb = V::set1(beta);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 32
    for (int j = 0; j < NV; ++j) {
      Reg r = V::mul(va, acc[i][j]);
      if (beta != 0.f) r = V::fmadd(vb, V::load(ci + j * W), r);
      V::store(ci + j * W, r);
    }
  }
}

// Columns [0, returned) of the M-row product in chunks of NV, NV/2 and NV/4 vectors; NV is
// the largest power of two with M * NV <= ACC accumulators (the register budget). The remaining columns
// (fewer than NV/4 vectors) are left to the caller's register-tile kernel.
template <class V, int M, int ACC>
int64_t gemv_rows(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                  int64_t ldb, float* c, int64_t ldc, int64_t n, float alpha, float beta) {
  constexpr int W = V::kWidth;
  constexpr int NV = ACC / M >= 16 ? 16 : ACC / M >= 8 ? 8 : ACC / M >= 4 ? 4 : 2;
  int64_t j = 0;
  for (; j + NV * W <= n; j += NV * W)
    gemv_chunk<V, M, NV>(k, a, rsa, csa, b + j, ldb, c + j, ldc, alpha, beta);
  if (j + (NV / 2) * W <= n) {
    gemv_chunk<V, M, NV / 2>(k, a, rsa, csa, b + j, ldb, c + j, ldc, alpha, beta);
    j += (NV / 2) * W;
  }
  if constexpr (NV >= 4) {
    if (j + (NV / 4) * W <= n) {
      gemv_chunk<V, M, NV / 4>(k, a, rsa, csa, b + j, ldb, c + j, ldc, alpha, beta);
      j += (NV / 4) * W;
    }
  }
  return j;
}

template <class V, int ACC>
int64_t gemv(int m, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
             int64_t ldb, float* c, int64_t ldc, int64_t n, float alpha, float beta) {
  switch (m) {
    case 1: return gemv_rows<V, 1, ACC>(k, a, rsa, csa, b, ldb, c, ldc, n, alpha, beta);
    case 2: return gemv_rows<V, 2, ACC>(k, a, rsa, csa, b, ldb, c, ldc, n, alpha, beta);
    case 3: return gemv_rows<V, 3, ACC>(k, a, rsa, csa, b, ldb, c, ldc, n, alpha, beta);
    case 4: return gemv_rows<V, 4, ACC>(k, a, rsa, csa, b, ldb, c, ldc, n, alpha, beta);
    default: return 0;
  }
}

template <class V, int NACC>
double fma_loop(int64_t iters, float* sink) {
  using Reg = typename V::Reg;
  Reg acc[NACC];
  for (int i = 0; i < NACC; ++i) acc[i] = V::set1(1e-3f * static_cast<float>(i + 1));
  const Reg x = V::set1(0.999999f), y = V::set1(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < NACC; ++i) acc[i] = V::fmadd(acc[i], x, y);
  }
  Reg s = acc[0];
  for (int i = 1; i < NACC; ++i) s = V::add(s, acc[i]);
  alignas(64) float lanes[V::kWidth];
  V::store(lanes, s);
  float total = 0.f;
  for (int i = 0; i < V::kWidth; ++i) total += lanes[i];
  *sink = total;
  return 2.0 * V::kWidth * NACC * static_cast<double>(iters);
}

template <class V, int MR, int NV, int MC, int KC, int NC, int NACC>
GemmUkr make_ukr(const char* name) {
  return GemmUkr{name,
                 MR,
                 NV * V::kWidth,
                 MC,
                 KC,
                 NC,
                 &tile_any_n<V, MR, NV, 1, MR>,
                 &tile_inplace<V, MR, NV, 0, 1>,
                 &tile_inplace<V, MR, NV, 1, 0>,
                 &pack_a_rows<V, MR>,
                 &pack_b_cols<V, NV * V::kWidth>,
                 &pack_b_rows<V, NV * V::kWidth>,
                 &gemv<V, NACC>,
                 &fma_loop<V, NACC>};
}

}  // namespace ukr_impl
}  // namespace pyn
