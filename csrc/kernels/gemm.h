// Single-precision GEMM, row-major:  C = alpha * op(A) * op(B) + beta * C
//
//   op(A) is m x k: A itself (m rows, lda >= k) or, with trans_a, the transpose of a
//                   k x m matrix (lda >= m).
//   op(B) is k x n: B itself (k rows, ldb >= n) or, with trans_b, the transpose of an
//                   n x k matrix (ldb >= k).
//   C is m x n with ldc >= n.
//
// beta == 0 never reads C (it may hold NaN). k == 0 or alpha == 0 gives C = beta * C without
// reading A or B. num_threads == 0 uses the library setting (set_num_threads); inside an
// already running parallel region the call is single-threaded, so kernels that split work
// across threads themselves (per-thread batches of a recurrent layer) can call gemm freely.
#pragma once

#include <cstdint>

namespace pyn {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc, int num_threads = 0);

// B packed once for many products with different A (the weights of a recurrent step or of a
// convolution's tiles). The packed op(B) (k x n) is the microkernel's B~: NR-column panels,
// k-major, zero-padded, gemm_packed_b_size floats; op(B) = b (trans_b false, row-major k x n)
// or b^T (trans_b true, b row-major n x k). Packing and products must use the same `u`.
struct GemmUkr;
int64_t gemm_packed_b_size(const GemmUkr& u, int64_t k, int64_t n);
void gemm_pack_b(const GemmUkr& u, bool trans_b, const float* b, int64_t ldb, int64_t k,
                 int64_t n, float* dst);
// C (m x n, ldc) = A (m x k, row-major, lda) * packed op(B) + beta C, on the calling thread.
void gemm_packed_b(const GemmUkr& u, int64_t m, int64_t n, int64_t k, const float* a,
                   int64_t lda, const float* bp, float beta, float* c, int64_t ldc);

// gemm on the calling thread without packing A (nor B unless transposed): gemm's small-matrix
// path, for callers that run many mid-sized products, each on one thread, over operands that
// are already in cache (a convolution tile's weight gradient).
void gemm_unpacked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);

// Floating-point operations below which gemm stays on one thread (half of it per thread:
// about 2 us of work, twenty times what opening a region of the native team costs).
constexpr double kGemmParallelFlops = 5.0e5;
// For products with m <= 4 rows (bandwidth-bound): bytes of B per thread before a second
// thread joins. From 512 KiB on, each core streams its own part of B from its own L2, which
// keeps it there between calls (single-sample inference of a 784-256-128-10 MLP).
constexpr double kGemvParallelBytes = 256.0 * 1024;

// Name of the microkernel gemm uses on the current CPU path (e.g. "avx512 12x32").
const char* gemm_kernel_name();

// Measures the floating-point peak of the current CPU path: `num_threads` threads each run
// an FMA loop for about `seconds`. Returns GFLOP/s summed over threads.
double fma_peak_gflops(int num_threads, double seconds);

}  // namespace pyn
