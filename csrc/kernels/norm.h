// Batch normalization over the channel (last) axis of a row-major (rows, C) float32 array:
// any channels-last input (N, C), (N, L, C), (N, H, W, C) seen as rows = N * L or N * H * W.
//
// Training (batch statistics, biased variance as in Keras 3):
//   mean[c] = sum_r x[r, c] / rows
//   var[c]  = sum_r (x[r, c] - mean[c])^2 / rows
//   inv_std = 1 / sqrt(var + eps)
//   y[r, c] = (x[r, c] - mean[c]) * inv_std[c] * gamma[c] + beta[c]
// mean and var come from one pass over x: sums of d = x - shift and d^2 with shift = the
// first row (so large offsets do not cancel), accumulated in float32 over blocks of at most
// kNormBlockRows rows and then in float64, per thread, and combined in float64.
//
// Inference: y = (x - moving_mean) * (gamma / sqrt(moving_var + eps)) + beta.
//
// Backward (training), with xh = (x - mean) * inv_std and n = rows:
//   dbeta[c]  = sum_r dy[r, c]
//   dgamma[c] = sum_r dy[r, c] * xh[r, c]
//   dx[r, c]  = gamma inv_std (dy - dbeta / n - xh dgamma / n)
//             = A[c] dy + B[c] (x - mean) + D[c],  A = gamma inv_std, B = -A inv_std dgamma / n,
//                                                   D = -A dbeta / n
// One pass for the two sums (float64 as above), one fused pass for dx.
//
// gamma / beta may be nullptr (scale=False / center=False: 1 and 0). When C is small the rows
// are grouped k at a time into rows of k * C values (per-channel constants repeated k times),
// so the vector loops run over long rows instead of one masked vector per row.
#pragma once

#include <cstdint>

namespace pyn {

constexpr int64_t kNormBlockRows = 64;

// y, mean, var, inv_std written (mean, var, inv_std: C floats each). rows >= 1. y may be x.
void batch_norm_forward_train(int64_t rows, int64_t c, const float* x, const float* gamma,
                              const float* beta, float eps, float* y, float* mean, float* var,
                              float* inv_std, int num_threads = 0);

// y = (x - mean) * gamma / sqrt(var + eps) + beta; rows may be 0. y may be x.
void batch_norm_forward_infer(int64_t rows, int64_t c, const float* x, const float* mean,
                              const float* var, const float* gamma, const float* beta, float eps,
                              float* y, int num_threads = 0);

// Gradients of batch_norm_forward_train given its mean and inv_std. dgamma / dbeta are
// written (not accumulated) when not nullptr; dx is written when not nullptr (it may be dy).
void batch_norm_backward(int64_t rows, int64_t c, const float* x, const float* dy,
                         const float* mean, const float* inv_std, const float* gamma, float* dx,
                         float* dgamma, float* dbeta, int num_threads = 0);

// Per-instruction-set kernels (kernels/simd/norm_<isa>.cpp) on `rows` rows of `len` values,
// each per-column array holding `len` values. Sums are added to the float64 arrays.
struct NormKernels {
  const char* isa;
  // s1 += sum_r (x - shift), s2 += sum_r (x - shift)^2; buf: 2 * len floats of scratch.
  void (*col_moments)(int64_t rows, int64_t len, const float* x, const float* shift, float* buf,
                      double* s1, double* s2);
  // y = (x - m) * a + b.
  void (*affine)(int64_t rows, int64_t len, const float* x, const float* m, const float* a,
                 const float* b, float* y);
  // s1 += sum_r dy, s2 += sum_r dy (x - m); buf: 2 * len floats of scratch.
  void (*grad_sums)(int64_t rows, int64_t len, const float* x, const float* dy, const float* m,
                    float* buf, double* s1, double* s2);
  // dx = a dy + b (x - m) + d.
  void (*grad_input)(int64_t rows, int64_t len, const float* x, const float* dy, const float* m,
                     const float* a, const float* b, const float* d, float* dx);
};

const NormKernels& norm_kernels_generic();
const NormKernels& norm_kernels_avx2();    // only callable with AVX2 + FMA
const NormKernels& norm_kernels_avx512();  // only callable with AVX-512

}  // namespace pyn
