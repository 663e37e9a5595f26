// Recurrent kernels: see rnn.h for the formulas, layouts and the work split.
//
// Per thread, rows [r0, r1) of the batch; per step t the thread's block of states is a
// strided matrix (row stride T*U in the training storage h_prev, U in the inference state):
//
//   gbuf (rows, G) = h' R                    the GEMM microkernel over R packed once per
//                                            call (gemm_packed_b); a single thread over a
//                                            wide state uses the threaded gemm instead
//   gate math per row, reading gx[n, t, :]   activations through the per-ISA tables
//
// The gate nonlinearities go through the activation kernels of the current CPU path, with
// the input projection fused as their bias argument: y = f(gbuf + gx). The lstm with
// Keras's activations instead runs gbuf = x_t K + h' R per step (K packed once too) and one
// per-ISA pass per row for the gates, c and h, with the bias row as gx: the input projection
// of all timesteps (N T G floats) is never stored.
#include "kernels/rnn.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"
#include "kernels/gemm.h"
#include "kernels/gemm_ukr.h"

namespace pyn {
namespace {

// Step buffers of all threads, allocated by the calling thread before the parallel region
// (nothing inside a region may throw); thread `tid` uses the slice of its rows.
thread_local ScratchBuffer tl_step;
thread_local ScratchBuffer tl_rpack;  // calling thread: the recurrent kernel, packed once
thread_local ScratchBuffer tl_gx;     // calling thread: input projection / gate gradients
thread_local ScratchBuffer tl_extra;  // calling thread: second gradient array, masked states
thread_local ScratchBuffer tl_cat;    // calling thread: [x | h'] rows and their weight gradient

// Threads for a recurrence over `n` rows: each thread should get at least 8 rows and the
// whole sequence enough work to pay for the fork.
int rnn_threads(const RnnSpec& s, int num_threads) {
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  if (max_t <= 1 || in_parallel()) return 1;
  const double flops = 2.0 * s.batch * s.steps * s.units * rnn_gates(s);
  if (s.batch < 16 || flops < 1.0e6) return 1;
  const int64_t by_rows = s.batch / 8;
  return static_cast<int>(std::min<int64_t>(max_t, by_rows));
}

// The per-step product h' R (and dG R^T in backward) reuses the same weights T times, so they
// are packed once per call (gemm_pack_b) and every step runs the unpacked-A microkernel over
// them (gemm_packed_b): gemm's small-matrix path with the B packing hoisted out of the loop.
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows of dG per weight-gradient product [x | h' | 1]^T dG in backward: the product's depth.
// dG, the [x | h' | 1] rows and W of one product (about 0.5 + 0.16 + 0.33 MiB for 4U = 512,
// I = 32) stay in a 1 MiB L2, and the depth keeps the packed GEMM near its peak.
constexpr int64_t kDwRows = 256;

struct Acts {
  const ActivationKernels& k;
  Act a, r;
  ActParams ap, rp;
  // y = f(x + b) over n floats (b may be nullptr).
  void act(int64_t n, const float* x, const float* b, float* y) const {
    k.forward(a, ap, n, x, b, n, 0, y);
  }
  void rec(int64_t n, const float* x, const float* b, float* y) const {
    k.forward(r, rp, n, x, b, n, 0, y);
  }
  // d = d * f'(from y); the common activations inline (short spans per row would otherwise
  // cost a dispatched call each), the others through the per-ISA table.
  static void grad(const ActivationKernels& k, Act f, const ActParams& p, int64_t n,
                   const float* y, float* d) {
    switch (f) {
      case Act::kSigmoid:
        for (int64_t j = 0; j < n; ++j) d[j] *= y[j] * (1.f - y[j]);
        return;
      case Act::kTanh:
        for (int64_t j = 0; j < n; ++j) d[j] *= (1.f - y[j]) * (1.f + y[j]);
        return;
      case Act::kLinear:
        return;
      default:
        k.backward(f, p, n, y, d, d);
    }
  }
  void act_grad(int64_t n, const float* y, float* d) const { grad(k, a, ap, n, y, d); }
  void rec_grad(int64_t n, const float* y, float* d) const { grad(k, r, rp, n, y, d); }
};

}  // namespace

int64_t rnn_gates(const RnnSpec& s) {
  switch (s.cell) {
    case RnnCell::kLstm:
      return 4 * s.units;
    case RnnCell::kGru:
      return 3 * s.units;
    default:
      return s.units;
  }
}

int64_t rnn_bias_size(const RnnSpec& s) {
  return s.cell == RnnCell::kGru && s.reset_after ? 2 * rnn_gates(s) : rnn_gates(s);
}

int64_t rnn_saved_width(const RnnSpec& s) {
  switch (s.cell) {
    case RnnCell::kLstm:
      return 5 * s.units;
    case RnnCell::kGru:
      return (s.reset_after ? 4 : 3) * s.units;
    default:
      return s.units;
  }
}

bool rnn_activation_supported(Act a) {
  if (activation_is_rowwise(a)) return false;
  return a == Act::kLinear || !activation_backward_needs_x(a);
}

void rnn_check_spec(const RnnSpec& s, const char* fn) {
  PYN_CHECK(s.batch >= 0 && s.steps >= 0 && s.features >= 0 && s.units >= 1, fn,
            ": expected batch, steps, features >= 0 and units >= 1; got batch=", s.batch,
            ", steps=", s.steps, ", features=", s.features, ", units=", s.units);
  PYN_CHECK(rnn_activation_supported(s.activation), fn, ": activation '",
            activation_name(s.activation),
            "' is not supported by the recurrent kernels (use an elementwise activation whose "
            "derivative follows from its output, such as tanh, sigmoid, relu or linear)");
  PYN_CHECK(s.cell == RnnCell::kSimple || rnn_activation_supported(s.recurrent_activation), fn,
            ": recurrent_activation '", activation_name(s.recurrent_activation),
            "' is not supported by the recurrent kernels (use an elementwise activation whose "
            "derivative follows from its output, such as sigmoid, hard_sigmoid, tanh or linear)");
}

// ------------------------------------------------------------------------------------------
// Forward
// ------------------------------------------------------------------------------------------

void rnn_forward(const RnnSpec& s, const RnnForwardArgs& a, int num_threads) {
  rnn_check_spec(s, "rnn_forward");
  const int64_t N = s.batch, T = s.steps, I = s.features, U = s.units, G = rnn_gates(s);
  const int64_t S = rnn_saved_width(s);
  const bool lstm = s.cell == RnnCell::kLstm, gru = s.cell == RnnCell::kGru;
  const bool train = a.saved != nullptr;
  const bool fused_lstm =  // Keras's default activations: one per-ISA pass per row
      lstm && s.recurrent_activation == Act::kSigmoid && s.activation == Act::kTanh;
  PYN_CHECK(!train || (a.h_prev != nullptr && (!lstm || a.c_prev != nullptr)),
            "rnn_forward: training storage is incomplete");
  if (N == 0) return;
  if (T == 0) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t j = 0; j < U; ++j) {
        a.h_out[n * U + j] = a.h0 ? a.h0[n * U + j] : 0.f;
        if (lstm) a.c_out[n * U + j] = a.c0 ? a.c0[n * U + j] : 0.f;
        if (!a.return_sequences) a.y[n * U + j] = 0.f;
      }
    }
    return;
  }

  // Input projection. The fused lstm computes x_t K of its rows right before each step's
  // h' R, into the same buffer (the products stay in cache; one read of the bias row per
  // step). The other cells take gx (N*T, G) = bias + x K as one GEMM over all timesteps.
  const bool step_proj = fused_lstm;
  const float* b_in = a.bias;
  const float* b_rec = (gru && s.reset_after && a.bias) ? a.bias + G : nullptr;
  float* gx = tl_gx.floats(static_cast<size_t>(step_proj ? G : N * T * G));
  if (step_proj) {
    if (b_in)
      std::memcpy(gx, b_in, G * sizeof(float));
    else
      std::fill(gx, gx + G, 0.f);
  } else {
    if (b_in) {
      for (int64_t r = 0; r < N * T; ++r) std::memcpy(gx + r * G, b_in, G * sizeof(float));
    }
    gemm(false, false, N * T, G, I, 1.f, a.x, I, a.kernel, G, b_in ? 1.f : 0.f, gx, G,
         num_threads);
  }

  const int nt = rnn_threads(s, num_threads);
  const Acts ac{activation_kernels(), s.activation, s.recurrent_activation, s.act_params,
                s.rec_params};
  const float* R = a.recurrent_kernel;
  const GemmUkr& u = gemm_ukr();
  // Packed R: [0, 2U) and [2U, 3U) separately for gru reset_before (two products per step).
  const bool split_r = gru && !s.reset_after;
  const int64_t n1 = split_r ? 2 * U : G;
  // Packed K after them for the per-step input projection.
  const int64_t p1 = gemm_packed_b_size(u, U, n1);
  const int64_t p2 = split_r ? gemm_packed_b_size(u, U, U) : 0;
  const bool step_x = step_proj && I > 0;
  float* rp = tl_rpack.floats(
      static_cast<size_t>(p1 + p2 + (step_x ? gemm_packed_b_size(u, I, G) : 0)));
  gemm_pack_b(u, false, R, G, U, n1, rp);
  if (split_r) gemm_pack_b(u, false, R + 2 * U, G, U, U, rp + p1);
  const float* kp = rp + p1 + p2;
  if (step_x) gemm_pack_b(u, false, a.kernel, G, I, G, rp + p1 + p2);

  float* steps = tl_step.floats(static_cast<size_t>(N * (G + 3 * U)));

  parallel(nt, [&](int tid, int nth) {
    int64_t r0, r1;
    split_range(N, 1, nth, tid, &r0, &r1);
    const int64_t rows = r1 - r0;
    if (rows <= 0) return;
    // One thread over a large batch: the library's threaded GEMM pays off per step.
    const bool threaded_gemm = nth == 1 && 2.0 * rows * G * U >= kGemmParallelFlops &&
                               (num_threads > 0 ? num_threads : get_num_threads()) > 1;
    const int gemm_threads = num_threads;
    // Step buffers: gbuf (rows, G), hm (rows, U), tmp (rows, U), ylast (rows, U).
    float* gbuf = steps + r0 * (G + 3 * U);
    float* hm = gbuf + rows * G;
    float* tmp = hm + rows * U;
    float* ylast = tmp + rows * U;
    if (a.mask) std::fill(ylast, ylast + rows * U, 0.f);

    // State slot t (t = 0..T): where the state entering step t lives.
    auto hslot = [&](int64_t t, int64_t* ld) -> float* {
      if (train && t < T) {
        *ld = T * U;
        return a.h_prev + (r0 * T + t) * U;
      }
      *ld = U;
      return a.h_out + r0 * U;
    };
    auto cslot = [&](int64_t t, int64_t* ld) -> float* {
      if (train && t < T) {
        *ld = T * U;
        return a.c_prev + (r0 * T + t) * U;
      }
      *ld = U;
      return a.c_out + r0 * U;
    };
    {
      int64_t ld;
      float* h = hslot(0, &ld);
      for (int64_t r = 0; r < rows; ++r) {
        if (a.h0)
          std::memcpy(h + r * ld, a.h0 + (r0 + r) * U, U * sizeof(float));
        else
          std::fill(h + r * ld, h + r * ld + U, 0.f);
      }
      if (lstm) {
        float* c = cslot(0, &ld);
        for (int64_t r = 0; r < rows; ++r) {
          if (a.c0)
            std::memcpy(c + r * ld, a.c0 + (r0 + r) * U, U * sizeof(float));
          else
            std::fill(c + r * ld, c + r * ld + U, 0.f);
        }
      }
    }

    for (int64_t t = 0; t < T; ++t) {
      int64_t ldp, ldn, ldcp = 0, ldcn = 0;
      float* hp = hslot(t, &ldp);
      float* hn = hslot(t + 1, &ldn);
      float* cp = lstm ? cslot(t, &ldcp) : nullptr;
      float* cn = lstm ? cslot(t + 1, &ldcn) : nullptr;
      // h' = h_prev * rec_mask
      const float* A = hp;
      int64_t lda = ldp;
      if (a.rec_mask) {
        for (int64_t r = 0; r < rows; ++r) {
          const float* m = a.rec_mask + (r0 + r) * U;
          for (int64_t j = 0; j < U; ++j) hm[r * U + j] = hp[r * ldp + j] * m[j];
        }
        A = hm;
        lda = U;
      }
      if (step_x)
        gemm_packed_b(u, rows, G, I, a.x + (r0 * T + t) * I, T * I, kp, 0.f, gbuf, G);
      const float beta = step_x ? 1.f : 0.f;
      if (threaded_gemm)
        gemm(false, false, rows, n1, U, 1.f, A, lda, R, G, beta, gbuf, G, gemm_threads);
      else
        gemm_packed_b(u, rows, n1, U, A, lda, rp, beta, gbuf, G);

      auto keep = [&](int64_t r) { return !a.mask || a.mask[(r0 + r) * T + t] != 0; };

      if (gru && !s.reset_after) {
        // Phase 1: z, r and r * h' for the candidate's GEMM.
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t n = r0 + r;
          float* pre = gbuf + r * G;
          float* dst = train ? a.saved + (n * T + t) * S : pre;
          float* rh = tmp + r * U;
          if (!keep(r)) {
            std::fill(rh, rh + U, 0.f);
            continue;
          }
          ac.rec(2 * U, pre, gx + (n * T + t) * G, dst);
          const float* hr = A + r * lda;
          for (int64_t j = 0; j < U; ++j) rh[j] = dst[U + j] * hr[j];
        }
        if (threaded_gemm)
          gemm(false, false, rows, U, U, 1.f, tmp, U, R + 2 * U, G, 0.f, gbuf + 2 * U, G,
               gemm_threads);
        else
          gemm_packed_b(u, rows, U, U, tmp, U, rp + p1, 0.f, gbuf + 2 * U, G);
      }

      for (int64_t r = 0; r < rows; ++r) {
        const int64_t n = r0 + r;
        const float* hpr = hp + r * ldp;
        float* hnr = hn + r * ldn;
        if (!keep(r)) {
          if (hnr != hpr) std::memcpy(hnr, hpr, U * sizeof(float));
          if (lstm && cn + r * ldcn != cp + r * ldcp)
            std::memcpy(cn + r * ldcn, cp + r * ldcp, U * sizeof(float));
          if (a.return_sequences)
            std::memcpy(a.y + (n * T + t) * U, ylast + r * U, U * sizeof(float));
          continue;
        }
        float* pre = gbuf + r * G;
        const float* gxr = step_proj ? gx : gx + (n * T + t) * G;
        float* dst = train ? a.saved + (n * T + t) * S : pre;
        switch (s.cell) {
          case RnnCell::kSimple: {
            float* out = train ? dst : hnr;  // inference: hp == hn, already read by the GEMM
            ac.act(U, pre, gxr, out);
            if (out != hnr) std::memcpy(hnr, out, U * sizeof(float));
            break;
          }
          case RnnCell::kLstm: {
            if (fused_lstm) {
              ac.k.lstm_cell_forward(U, pre, gxr, cp + r * ldcp, cn + r * ldcn, hnr,
                                     train ? dst : nullptr);
              break;
            }
            ac.rec(2 * U, pre, gxr, dst);
            ac.act(U, pre + 2 * U, gxr + 2 * U, dst + 2 * U);
            ac.rec(U, pre + 3 * U, gxr + 3 * U, dst + 3 * U);
            const float *ig = dst, *fg = dst + U, *gg = dst + 2 * U, *og = dst + 3 * U;
            const float* cpr = cp + r * ldcp;
            float* cnr = cn + r * ldcn;
            for (int64_t j = 0; j < U; ++j) cnr[j] = fg[j] * cpr[j] + ig[j] * gg[j];
            float* tc = train ? dst + 4 * U : tmp + r * U;
            ac.act(U, cnr, nullptr, tc);
            for (int64_t j = 0; j < U; ++j) hnr[j] = og[j] * tc[j];
            break;
          }
          case RnnCell::kGru: {
            float* zg = dst;
            float* hh = dst + 2 * U;
            if (s.reset_after) {
              if (b_rec)
                for (int64_t j = 0; j < G; ++j) pre[j] += b_rec[j];
              ac.rec(2 * U, pre, gxr, dst);
              const float* rg = dst + U;
              float* cand = tmp + r * U;
              const float* ghh = pre + 2 * U;
              for (int64_t j = 0; j < U; ++j) cand[j] = gxr[2 * U + j] + rg[j] * ghh[j];
              if (train) std::memcpy(dst + 3 * U, ghh, U * sizeof(float));
              ac.act(U, cand, nullptr, hh);
            } else {
              ac.act(U, pre + 2 * U, gxr + 2 * U, hh);
            }
            for (int64_t j = 0; j < U; ++j) hnr[j] = zg[j] * hpr[j] + (1.f - zg[j]) * hh[j];
            break;
          }
        }
        if (a.mask) std::memcpy(ylast + r * U, hnr, U * sizeof(float));
        if (a.return_sequences) std::memcpy(a.y + (n * T + t) * U, hnr, U * sizeof(float));
      }
    }
    if (!a.return_sequences) {
      int64_t ld;
      const float* h = hslot(T, &ld);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(a.y + (r0 + r) * U, a.mask ? ylast + r * U : h + r * ld, U * sizeof(float));
    }
  });
}

// ------------------------------------------------------------------------------------------
// Backward
// ------------------------------------------------------------------------------------------

void rnn_backward(const RnnSpec& s, const RnnBackwardArgs& a, int num_threads) {
  rnn_check_spec(s, "rnn_backward");
  const int64_t N = s.batch, T = s.steps, I = s.features, U = s.units, G = rnn_gates(s);
  const int64_t S = rnn_saved_width(s);
  const bool lstm = s.cell == RnnCell::kLstm, gru = s.cell == RnnCell::kGru;
  const bool fused_lstm =  // Keras's default activations: one per-ISA pass per row
      lstm && s.recurrent_activation == Act::kSigmoid && s.activation == Act::kTanh;
  const bool ra = gru && s.reset_after;
  const bool fused_gru =  // Keras's default activations: one per-ISA pass per row
      ra && s.recurrent_activation == Act::kSigmoid && s.activation == Act::kTanh;
  if (N == 0) return;
  if (T == 0) {
    for (int64_t i = 0; i < N * U; ++i) {
      a.dh0[i] = a.dh_last ? a.dh_last[i] : 0.f;
      if (lstm && a.dc0) a.dc0[i] = a.dc_last ? a.dc_last[i] : 0.f;
    }
    return;
  }
  const int64_t NT = N * T;
  // dgx: gradients of the gate pre-activations on the input side (layout below); dgh (N, T, G)
  // the same on the recurrent side (gru reset_after, where the candidate's recurrent part is scaled by
  // r); for gru reset_before, rh (N, T, U) = r * h' feeds dR's candidate block.
  const int64_t extra = ra ? NT * G : (gru ? NT * U : 0);
  // dK and dR read the same dG unless the cell is a gru: one product over [x | h' | 1] rows
  // then gives dK, dR and db at once (see dgx_chunk).
  // Deterministic mode keeps the products over all timesteps for every cell: the per-thread W
  // below would make the sums follow the split of the batch between threads.
  const bool cat_dw = !gru && !deterministic();
  const int nt = rnn_threads(s, num_threads);
  // lstm and simple: each thread keeps the dG of its rows for the last `chunk` steps only,
  // time-major (slot t % chunk, then its rows), and every `chunk` steps adds
  // [x | h' | 1]^T dG of those steps (about kDwRows rows, in cache) into its own W (C, G);
  // the W of all threads are summed at the end. gru: dgx (N, T, G) for all steps.
  const int64_t C = I + U + (a.dbias ? 1 : 0);
  const int64_t chunk =
      cat_dw ? std::min<int64_t>(T, ceil_div(kDwRows, ceil_div(N, nt))) : T;
  float* dgx = tl_gx.floats(static_cast<size_t>(cat_dw ? N * chunk * G : NT * G));
  float* xh_all = cat_dw ? tl_cat.floats(static_cast<size_t>(N * chunk * C + nt * C * G)) : nullptr;
  float* w_all = cat_dw ? xh_all + N * chunk * C : nullptr;
  std::vector<char> w_done(static_cast<size_t>(nt), 0);
  float* ext =
      tl_extra.floats(static_cast<size_t>(extra + (a.rec_mask && !cat_dw ? NT * U : 0) + 1));
  float* dgh = ra ? ext : dgx;
  float* rhb = gru && !ra ? ext : nullptr;
  float* hm_all = a.rec_mask && !cat_dw ? ext + extra : nullptr;

  const Acts ac{activation_kernels(), s.activation, s.recurrent_activation, s.act_params,
                s.rec_params};
  const float* R = a.recurrent_kernel;
  const GemmUkr& u = gemm_ukr();
  // Packed R^T: (G x U), or for gru reset_before R_h^T (U x U) and R_zr^T (2U x U).
  const bool split_r = gru && !ra;
  const int64_t k1 = split_r ? U : G;
  const int64_t p1 = gemm_packed_b_size(u, k1, U);
  const int64_t p2 = split_r ? gemm_packed_b_size(u, 2 * U, U) : 0;
  // K^T (G x I) packed after them: dx of each step is dG_t K^T while dG_t is in cache.
  const bool step_dx = a.dx != nullptr && I > 0;
  float* rp = tl_rpack.floats(static_cast<size_t>(p1 + p2 + (step_dx ? gemm_packed_b_size(u, G, I) : 0)));
  float* ktp = rp + p1 + p2;
  if (step_dx) gemm_pack_b(u, true, a.kernel, G, G, I, ktp);
  if (split_r) {
    gemm_pack_b(u, true, R + 2 * U, G, U, U, rp);
    gemm_pack_b(u, true, R, G, 2 * U, U, rp + p1);
  } else {
    gemm_pack_b(u, true, R, G, G, U, rp);
  }
  std::unique_ptr<float[]> dc_own;
  float* dcarry = a.dc0;
  if (lstm && dcarry == nullptr) {
    dc_own.reset(new float[N * U]);
    dcarry = dc_own.get();
  }

  float* steps = tl_step.floats(static_cast<size_t>(N * 3 * U + nt * 2 * U));

  parallel(nt, [&](int tid, int nth) {
    int64_t r0, r1;
    split_range(N, 1, nth, tid, &r0, &r1);
    const int64_t rows = r1 - r0;
    if (rows <= 0) return;
    const bool threaded_gemm = nth == 1 && 2.0 * rows * G * U >= kGemmParallelFlops &&
                               (num_threads > 0 ? num_threads : get_num_threads()) > 1;
    const int gemm_threads = num_threads;
    // Step buffers: gy (rows, U), tmp (rows, U), tmp2 (rows, U), hmr (U).
    float* gy = steps + r0 * 3 * U;
    float* tmp = gy + rows * U;
    float* tmp2 = tmp + rows * U;
    float* hmr = steps + N * 3 * U + tid * 2 * U;
    float* dtc = hmr + U;
    float* dh = a.dh0 + r0 * U;
    float* dc = lstm ? dcarry + r0 * U : nullptr;
    // dG row of (sample n, step t), and the row stride of one step's block of rows.
    auto dg_row = [&](int64_t n, int64_t t) -> float* {
      return cat_dw ? dgx + (r0 * chunk + (t % chunk) * rows + (n - r0)) * G
                    : dgx + (n * T + t) * G;
    };
    const int64_t ldg = cat_dw ? G : T * G;
    for (int64_t i = 0; i < rows * U; ++i) {
      dh[i] = a.dh_last ? a.dh_last[r0 * U + i] : 0.f;
      if (lstm) dc[i] = a.dc_last ? a.dc_last[r0 * U + i] : 0.f;
      gy[i] = 0.f;
    }

    // The per-row storage of a step (saved, c_prev / h_prev, dy) lies T rows apart in memory,
    // beyond what the hardware prefetchers follow: fetch the row six places ahead in the
    // order rows are visited (wrapping into the next step, t - 1).
    const int64_t pf_s = S * static_cast<int64_t>(sizeof(float)),
                  pf_u = U * static_cast<int64_t>(sizeof(float));
    auto prefetch_row = [&](int64_t r, int64_t t) {
      if (r >= rows) {
        r -= rows;
        --t;
      }
      if (t < 0 || r >= rows) return;
      const int64_t nt_ = (r0 + r) * T + t;
      const char* sv = reinterpret_cast<const char*>(a.saved + nt_ * S);
      for (int64_t o = 0; o < pf_s; o += 64) __builtin_prefetch(sv + o, 0, 3);
      const char* cp = reinterpret_cast<const char*>((lstm ? a.c_prev : a.h_prev) + nt_ * U);
      for (int64_t o = 0; o < pf_u; o += 64) __builtin_prefetch(cp + o, 0, 3);
      if (a.dy && a.return_sequences) {
        const char* dp = reinterpret_cast<const char*>(a.dy + nt_ * U);
        for (int64_t o = 0; o < pf_u; o += 64) __builtin_prefetch(dp + o, 0, 3);
      }
    };
    for (int64_t t = T - 1; t >= 0; --t) {
      auto keep = [&](int64_t r) { return !a.mask || a.mask[(r0 + r) * T + t] != 0; };
      if (t == T - 1)
        for (int64_t r = 0; r < 6; ++r) prefetch_row(r, t);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t n = r0 + r;
        const int64_t nt_ = n * T + t;
        prefetch_row(r + 6, t);
        float* dhr = dh + r * U;
        float* gyr = gy + r * U;
        // Gradient reaching this step's output.
        const float* dyr = nullptr;
        if (a.dy) {
          if (a.return_sequences)
            dyr = a.dy + nt_ * U;
          else if (t == T - 1)
            dyr = a.dy + n * U;
        }
        // Every step kept: straight into dh, or into the fused lstm step's gradient as its dy.
        const float* dy_cell = fused_lstm && !a.mask ? dyr : nullptr;
        if (!a.mask) {
          if (dyr && !dy_cell)
            for (int64_t j = 0; j < U; ++j) dhr[j] += dyr[j];
        } else if (dyr) {
          for (int64_t j = 0; j < U; ++j) gyr[j] += dyr[j];
        }
        float* dgr = dg_row(n, t);
        float* dghr = ra ? dgh + nt_ * G : dgr;
        if (!keep(r)) {  // output repeats the previous one; states pass through
          std::fill(dgr, dgr + G, 0.f);
          if (ra) std::fill(dghr, dghr + G, 0.f);
          if (rhb) std::fill(rhb + nt_ * U, rhb + nt_ * U + U, 0.f);
          continue;
        }
        if (a.mask) {
          for (int64_t j = 0; j < U; ++j) {
            dhr[j] += gyr[j];
            gyr[j] = 0.f;
          }
        }
        const float* sv = a.saved + nt_ * S;
        const float* hpr = a.h_prev + nt_ * U;
        const float* hr = hpr;  // h' (read by gru reset_before only)
        if (a.rec_mask && rhb) {
          const float* m = a.rec_mask + n * U;
          for (int64_t j = 0; j < U; ++j) hmr[j] = hpr[j] * m[j];
          hr = hmr;
        }
        switch (s.cell) {
          case RnnCell::kSimple: {
            std::memcpy(dgr, dhr, U * sizeof(float));
            ac.act_grad(U, sv, dgr);
            std::fill(dhr, dhr + U, 0.f);
            break;
          }
          case RnnCell::kLstm: {
            const float *ig = sv, *fg = sv + U, *gg = sv + 2 * U, *og = sv + 3 * U,
                        *tc = sv + 4 * U;
            const float* cpr = a.c_prev + nt_ * U;
            float* dcr = dc + r * U;
            if (fused_lstm) {
              ac.k.lstm_cell_backward(U, sv, tc, cpr, dy_cell, dhr, dcr, dgr);
              break;
            }
            for (int64_t j = 0; j < U; ++j) dtc[j] = dhr[j] * og[j];
            ac.act_grad(U, tc, dtc);
            for (int64_t j = 0; j < U; ++j) {
              const float dcv = dcr[j] + dtc[j];
              dgr[j] = dcv * gg[j];
              dgr[U + j] = dcv * cpr[j];
              dgr[2 * U + j] = dcv * ig[j];
              dgr[3 * U + j] = dhr[j] * tc[j];
              dcr[j] = dcv * fg[j];
              dhr[j] = 0.f;
            }
            ac.rec_grad(2 * U, ig, dgr);
            ac.act_grad(U, gg, dgr + 2 * U);
            ac.rec_grad(U, og, dgr + 3 * U);
            break;
          }
          case RnnCell::kGru: {
            if (fused_gru) {
              ac.k.gru_cell_backward(U, sv, hpr, dhr, dgr, dghr);
              break;
            }
            const float *zg = sv, *rg = sv + U, *hh = sv + 2 * U;
            for (int64_t j = 0; j < U; ++j) {
              const float d = dhr[j];
              dgr[j] = d * (hpr[j] - hh[j]);
              dgr[2 * U + j] = d * (1.f - zg[j]);
              dhr[j] = d * zg[j];  // direct path through z * h_prev
            }
            ac.rec_grad(U, zg, dgr);
            ac.act_grad(U, hh, dgr + 2 * U);
            if (ra) {
              const float* ghh = sv + 3 * U;
              for (int64_t j = 0; j < U; ++j) {
                dgr[U + j] = dgr[2 * U + j] * ghh[j];
                dghr[2 * U + j] = dgr[2 * U + j] * rg[j];
              }
              ac.rec_grad(U, rg, dgr + U);
              std::memcpy(dghr, dgr, 2 * U * sizeof(float));
            } else {
              float* rh = rhb + nt_ * U;
              for (int64_t j = 0; j < U; ++j) rh[j] = rg[j] * hr[j];
            }
            break;
          }
        }
      }
      // Gradient into h': through R (and, for gru reset_before, through r * h').
      float* dgt = ra ? dgh + (r0 * T + t) * G : dg_row(r0, t);
      if (gru && !ra) {
        if (threaded_gemm)
          gemm(false, true, rows, U, U, 1.f, dgx + (r0 * T + t) * G + 2 * U, T * G, R + 2 * U,
               G, 0.f, tmp, U, gemm_threads);
        else
          gemm_packed_b(u, rows, U, U, dgx + (r0 * T + t) * G + 2 * U, T * G, rp, 0.f, tmp, U);
        for (int64_t r = 0; r < rows; ++r) {
          if (!keep(r)) continue;
          const int64_t n = r0 + r, nt_ = n * T + t;
          const float* rg = a.saved + nt_ * S + U;
          const float* hpr = a.h_prev + nt_ * U;
          const float* m = a.rec_mask ? a.rec_mask + n * U : nullptr;
          float* dgr = dgx + nt_ * G;
          float* tr = tmp + r * U;
          float* t2 = tmp2 + r * U;
          for (int64_t j = 0; j < U; ++j) {
            const float hrj = m ? hpr[j] * m[j] : hpr[j];
            dgr[U + j] = tr[j] * hrj;
            t2[j] = tr[j] * rg[j];
          }
          ac.rec_grad(U, rg, dgr + U);
        }
        if (threaded_gemm)
          gemm(false, true, rows, U, 2 * U, 1.f, dgt, ldg, R, G, 1.f, tmp2, U, gemm_threads);
        else
          gemm_packed_b(u, rows, U, 2 * U, dgt, ldg, rp + p1, 1.f, tmp2, U);
      } else {
        // Without a recurrent mask the product accumulates into dh itself: the rows of
        // skipped steps have dG = 0.
        float* dst = a.rec_mask ? tmp2 : dh;
        const float beta = a.rec_mask ? 0.f : 1.f;
        if (threaded_gemm)
          gemm(false, true, rows, U, G, 1.f, dgt, ldg, R, G, beta, dst, U, gemm_threads);
        else
          gemm_packed_b(u, rows, U, G, dgt, ldg, rp, beta, dst, U);
      }
      // tmp2 holds the product only where it could not accumulate into dh directly.
      const int64_t add_rows = (gru && !ra) || a.rec_mask ? rows : 0;
      for (int64_t r = 0; r < add_rows; ++r) {
        if (!keep(r)) continue;
        const float* m = a.rec_mask ? a.rec_mask + (r0 + r) * U : nullptr;
        float* dhr = dh + r * U;
        const float* t2 = tmp2 + r * U;
        if (m) {
          for (int64_t j = 0; j < U; ++j) dhr[j] += m[j] * t2[j];
        } else {
          for (int64_t j = 0; j < U; ++j) dhr[j] += t2[j];
        }
      }
      // dx_t = dG_t K^T (rows of skipped steps have dG = 0, hence dx = 0).
      if (step_dx) {
        const float* dgi = dg_row(r0, t);
        float* dxt = a.dx + (r0 * T + t) * I;
        if (threaded_gemm)
          gemm(false, true, rows, I, G, 1.f, dgi, ldg, a.kernel, G, 0.f, dxt, T * I,
               gemm_threads);
        else
          gemm_packed_b(u, rows, I, G, dgi, ldg, ktp, 0.f, dxt, T * I);
      }
      // Steps [t, t + cnt) complete a chunk: W += [x | h' | 1]^T dG over their rows.
      if (cat_dw && t % chunk == 0) {
        const int64_t cnt = std::min(chunk, T - t);
        float* xh = xh_all + r0 * chunk * C;
        for (int64_t sl = 0; sl < cnt; ++sl) {
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t src = (r0 + r) * T + t + sl;
            float* o = xh + (sl * rows + r) * C;
            std::memcpy(o, a.x + src * I, I * sizeof(float));
            const float* h = a.h_prev + src * U;
            if (a.rec_mask) {
              const float* m = a.rec_mask + (r0 + r) * U;
              for (int64_t j = 0; j < U; ++j) o[I + j] = h[j] * m[j];
            } else {
              std::memcpy(o + I, h, U * sizeof(float));
            }
            if (a.dbias) o[I + U] = 1.f;
          }
        }
        float* w = w_all + tid * C * G;
        gemm(true, false, C, G, cnt * rows, 1.f, xh, C, dg_row(r0, t), G,
             w_done[tid] ? 1.f : 0.f, w, G, threaded_gemm ? gemm_threads : 1);
        w_done[tid] = 1;
      }
    }
    // Output gradient still pending at the start: it belongs to the zeros before the first
    // unmasked step, so it has nowhere to go.
  });

  // Weight gradients over all timesteps.
  if (cat_dw) {
    // dK += W[:I], dR += W[I:I+U], db += W[I+U] (the column sums of dG), over all threads.
    for (int i = 0; i < nt; ++i) {
      if (!w_done[i]) continue;
      const float* w = w_all + i * C * G;
      for (int64_t j = 0; j < I * G; ++j) a.dkernel[j] += w[j];
      for (int64_t j = 0; j < U * G; ++j) a.drecurrent[j] += w[I * G + j];
      if (a.dbias)
        for (int64_t j = 0; j < G; ++j) a.dbias[j] += w[(I + U) * G + j];
    }
  } else {
    const float* H = a.h_prev;
    if (hm_all) {
      for (int64_t n = 0; n < N; ++n) {
        const float* m = a.rec_mask + n * U;
        for (int64_t t = 0; t < T; ++t) {
          const float* h = a.h_prev + (n * T + t) * U;
          float* o = hm_all + (n * T + t) * U;
          for (int64_t j = 0; j < U; ++j) o[j] = h[j] * m[j];
        }
      }
      H = hm_all;
    }
    gemm(true, false, I, G, NT, 1.f, a.x, I, dgx, G, 1.f, a.dkernel, G, num_threads);
    if (gru && !ra) {
      gemm(true, false, U, 2 * U, NT, 1.f, H, U, dgx, G, 1.f, a.drecurrent, G, num_threads);
      gemm(true, false, U, U, NT, 1.f, rhb, U, dgx + 2 * U, G, 1.f, a.drecurrent + 2 * U, G,
           num_threads);
    } else {
      gemm(true, false, U, G, NT, 1.f, H, U, dgh, G, 1.f, a.drecurrent, G, num_threads);
    }
  }
  if (a.dbias && !cat_dw) {
    std::unique_ptr<float[]> acc(new float[G]);
    auto colsum = [&](const float* m, float* out) {
      std::fill(acc.get(), acc.get() + G, 0.f);
      for (int64_t r = 0; r < NT; ++r) {
        const float* row = m + r * G;
        for (int64_t j = 0; j < G; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < G; ++j) out[j] += acc[j];
    };
    colsum(dgx, a.dbias);
    if (ra) colsum(dgh, a.dbias + G);
  }
}

}  // namespace pyn
