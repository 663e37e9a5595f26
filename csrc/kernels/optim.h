// Fused optimizer updates with Keras 3 rules and defaults, in place over flat float32 arrays.
//
// One call updates every parameter of a model: p (parameters), g (gradients) and the state
// slots are arrays of the same length n, typically views of one arena. Each update reads and
// writes every element once (Adam: reads p, g, m, v; writes p, m, v: 28 bytes per parameter).
//
// Every update first transforms the gradient and decays the parameter:
//
//   g' = clip(g * grad_scale, -clip_value, clip_value)   (clip_value <= 0 or inf: no clip)
//   p  = p * (1 - lr * weight_decay)                      (Keras: p -= p * weight_decay * lr)
//
// grad_scale carries clipnorm / global_clipnorm (the caller computes the norm, e.g. with
// sum_of_squares) or loss scaling. Then, with t the 1-based step:
//
//   sgd       m = momentum * m - lr * g;  p += m     (nesterov: p += momentum * m - lr * g)
//             without a momentum buffer: p -= lr * g
//   rmsprop   v = rho * v + (1 - rho) g^2
//             centered: a = rho * a + (1 - rho) g;  d = v - a^2 + eps,  else d = v + eps
//             inc = lr * g / sqrt(d);  momentum buffer b: b = momentum * b + inc; p -= b
//             else p -= inc
//   adagrad   acc += g^2;  p -= lr * g / sqrt(acc + eps)
//             (Keras starts acc at initial_accumulator_value = 0.1: the caller fills it)
//   adadelta  ag = rho * ag + (1 - rho) g^2;  dx = -sqrt(ax + eps) * g / sqrt(ag + eps)
//             ax = rho * ax + (1 - rho) dx^2;  p += lr * dx
//   adam      m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);  amsgrad: vh = max(vh, v), v = vh
//             p -= alpha * m / (sqrt(v) + eps),  alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
//             (AdamW is adam with weight_decay, Keras default 0.004)
//   adamax    m += (g - m)(1 - b1);  u = max(b2 u, |g|);  p -= lr m / ((1 - b1^t)(u + eps))
//   nadam     u_t = b1 (1 - 0.5 * 0.96^t),  u_t1 = b1 (1 - 0.5 * 0.96^(t+1))
//             P_t = P_{t-1} u_t (P_0 = 1, the caller keeps it),  P_t1 = P_t u_t1
//             m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
//             m^ = u_t1 m / (1 - P_t1) + (1 - u_t) g / (1 - P_t);  v^ = v / (1 - b2^t)
//             p -= lr m^ / (sqrt(v^) + eps)
//             (Keras 3's schedule: the exponent is the step itself; Keras 2 used 0.004 * t)
//   lion      c = b1 m + (1 - b1) g;  p -= lr sign(c);  m = b2 m + (1 - b2) g   (sign(0) = 0)
//   lamb      per variable (a segment of the arena), after the decay:
//             m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
//             u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//             r = ||p|| / ||u|| when both norms are > 0, else 1;  p -= lr r u
//             Two passes over each segment: the first updates m, v and sums p^2 and u^2, the
//             second moves p. The sums are taken over fixed blocks of each segment added in
//             block order, so the result does not depend on the thread count (the
//             deterministic mode holds whatever its setting).
//   ftrl      with k = -lr_power (>= 0) and x = p after the decay:
//             a' = a + g^2;  gs = g + 2 l2_shrinkage x
//             z += gs - (a'^k - a^k) / lr * x
//             q = a'^k / lr + 2 (l2 + beta / (2 lr))
//             p = (clip(z, -l1, l1) - z) / q;  a = a'   (q = 0: p = x, where Keras gives 0 / 0)
//             (Keras starts a at initial_accumulator_value = 0.1: the caller fills it;
//             k = 0.5, the default, is a square root)
//
// Step-dependent factors are computed once per call in double. The arrays must not overlap
// (the kernels are compiled with restrict pointers). Work below kOptimParallelElements runs
// on one thread; num_threads == 0 uses the library setting. The loops are compiled once per
// instruction set (kernels/simd/optim_*.cpp) and chosen with current_isa().
#pragma once

#include <cstdint>

namespace pyn {

// Hyper-parameters every update takes. lr must be finite; clip_value <= 0 or inf disables
// value clipping; NaN in any of them is rejected.
struct OptimCommon {
  double lr = 0.001;
  double weight_decay = 0.0;
  double grad_scale = 1.0;
  double clip_value = 0.0;
};

struct SgdParams : OptimCommon {
  double momentum = 0.0;  // in [0, 1]; > 0 needs a momentum buffer
  bool nesterov = false;
};

struct RmspropParams : OptimCommon {
  double rho = 0.9;
  double momentum = 0.0;  // > 0 needs a momentum buffer
  double epsilon = 1e-7;
};

struct AdagradParams : OptimCommon {
  double epsilon = 1e-7;
};

struct AdadeltaParams : OptimCommon {
  double rho = 0.95;
  double epsilon = 1e-7;
};

struct AdamParams : OptimCommon {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  int64_t step = 1;  // t, 1-based
};

struct AdamaxParams : OptimCommon {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  int64_t step = 1;
};

struct NadamParams : OptimCommon {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  int64_t step = 1;
  double u_product = 1.0;  // P_{t-1}: product of u_1 .. u_{t-1} (1 before the first step)
};

struct LionParams : OptimCommon {
  double beta_1 = 0.9;   // in [0, 1]
  double beta_2 = 0.99;  // in [0, 1]
};

struct LambParams : OptimCommon {
  double beta_1 = 0.9;  // in [0, 1)
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  int64_t step = 1;
};

struct FtrlParams : OptimCommon {
  double learning_rate_power = -0.5;  // <= 0
  double l1 = 0.0;                    // >= 0
  double l2 = 0.0;                    // >= 0
  double l2_shrinkage = 0.0;          // >= 0
  double beta = 0.0;
};

// momentum_buf may be null when momentum == 0 (plain SGD); with a buffer the momentum rule
// runs whatever the momentum (momentum 0 then writes m = -lr * g).
void sgd_update(int64_t n, float* p, const float* g, float* momentum_buf, const SgdParams& hp,
                int num_threads = 0);
// momentum_buf: needed when momentum > 0, optional otherwise; average_grad non-null selects
// the centered variant.
void rmsprop_update(int64_t n, float* p, const float* g, float* velocity, float* momentum_buf,
                    float* average_grad, const RmspropParams& hp, int num_threads = 0);
void adagrad_update(int64_t n, float* p, const float* g, float* accumulator,
                    const AdagradParams& hp, int num_threads = 0);
void adadelta_update(int64_t n, float* p, const float* g, float* accum_grad, float* accum_var,
                     const AdadeltaParams& hp, int num_threads = 0);
// vhat non-null selects amsgrad.
void adam_update(int64_t n, float* p, const float* g, float* m, float* v, float* vhat,
                 const AdamParams& hp, int num_threads = 0);
void adamax_update(int64_t n, float* p, const float* g, float* m, float* u,
                   const AdamaxParams& hp, int num_threads = 0);
// Returns P_t = hp.u_product * u_t, the value to pass as u_product at step t + 1.
double nadam_update(int64_t n, float* p, const float* g, float* m, float* v,
                    const NadamParams& hp, int num_threads = 0);
void lion_update(int64_t n, float* p, const float* g, float* m, const LionParams& hp,
                 int num_threads = 0);
// Segment s (one variable) is [offsets[s], offsets[s] + sizes[s]); segments are in increasing
// order, do not overlap and lie in [0, n); elements outside every segment are left as they
// are. trust_ratio, when non-null, receives the num_segments ratios r used.
void lamb_update(int64_t n, float* p, const float* g, float* m, float* v, int64_t num_segments,
                 const int64_t* offsets, const int64_t* sizes, const LambParams& hp,
                 double* trust_ratio = nullptr, int num_threads = 0);
// lr must be > 0 (the rule divides by it).
void ftrl_update(int64_t n, float* p, const float* g, float* accumulator, float* linear,
                 const FtrlParams& hp, int num_threads = 0);
// u_t of the Nadam momentum schedule for step t (1-based).
double nadam_momentum_cache(double beta_1, int64_t t);

// sum_i x_i^2 accumulated in double (for clipnorm / global_clipnorm).
double sum_of_squares(int64_t n, const float* x, int num_threads = 0);
// out[s] = sum of x_i^2 over segment s = [offsets[s], offsets[s + 1]) of one arena, for
// s < num_segments; offsets must be non-decreasing within [0, n]. One parallel region.
void segment_sum_of_squares(int64_t n, const float* x, int64_t num_segments,
                            const int64_t* offsets, double* out, int num_threads = 0);

// Elements below which an update or reduction runs on one thread.
constexpr double kOptimParallelElements = 65536.0;

// Name of the instruction set the update loops run on now ("avx512", "avx2", "generic").
const char* optim_kernel_name();

}  // namespace pyn
