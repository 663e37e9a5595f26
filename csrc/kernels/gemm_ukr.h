// Interface between the portable GEMM driver (gemm.cpp) and the register-tile microkernels,
// which are compiled once per instruction set (gemm_ukr_<isa>_<MR>x<NR>.cpp).
//
// A microkernel computes one MR x NR tile of C held in registers:
//
//     C[0:m, 0:n] = alpha * sum_p A(i, p) * B(p, j)  +  beta * C[0:m, 0:n]
//
//     A(i, p) = a[i * rsa + p * csa]     (packed: rsa = 1, csa = MR)
//     B(p, j) = b[p * rsb + j]           (packed: rsb = NR; unpacked: rsb = ldb)
//
// with m <= MR rows and n <= NR columns stored; beta == 0 never reads C. B rows are loaded
// with tail masks when n < NR, so an unpacked B is never read past column n.
#pragma once

#include <cstdint>

namespace pyn {

using GemmUkrFn = void (*)(int64_t kc, const float* a, int64_t rsa, int64_t csa, const float* b,
                           int64_t rsb, float* c, int64_t ldc, int m, int n, float alpha,
                           float beta);

struct GemmUkr {
  const char* name;
  int mr, nr;      // register tile
  int mc, kc, nc;  // cache blocking: A~ is mc x kc (L2), B~ micro-panel kc x nr (L1)
  GemmUkrFn packed;  // A packed in MR-row micro-panels; computes MR rows, stores m
  GemmUkrFn rows;    // A read in place, row-major op(A) (csa = 1); reads only m rows
  GemmUkrFn cols;    // A read in place, column-major op(A) (rsa = 1); reads only m rows
  // Packing that transposes, vectorised with in-register W x W transposes:
  //   pack_a_rows: MR-row micro-panel of a row-major op(A): rows [0, rows) of `a` (lda),
  //                depth [0, kc) -> dst[p * MR + i], zero rows beyond `rows`.
  //   pack_b_cols: NR-column micro-panel of op(B) = transpose of row-major `b` (ldb):
  //                op(B)(p, j) = b[j * ldb + p] for j < cols -> dst[p * NR + j], zeros beyond.
  void (*pack_a_rows)(const float* a, int64_t lda, int rows, int64_t kc, float* dst);
  void (*pack_b_cols)(const float* b, int64_t ldb, int cols, int64_t kc, float* dst);
  //   pack_b_rows: NR-column micro-panel of a row-major op(B) = `b` (ldb): row segments
  //                b[p * ldb + j] for j < cols -> dst[p * NR + j], zeros beyond.
  void (*pack_b_rows)(const float* b, int64_t ldb, int cols, int64_t kc, float* dst);
  // Few-row product (m in 1..4) of A read in place, A(i, p) = a[i * rsa + p * csa], against a
  // row-major unpacked B: computes columns [0, returned) of C (a multiple of the vector
  // width) with all m rows sharing each B load; the caller finishes the remaining columns.
  int64_t (*gemv)(int m, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                  int64_t ldb, float* c, int64_t ldc, int64_t n, float alpha, float beta);
  // Peak probe: `iters` rounds of independent FMAs on this instruction set; returns the
  // number of floating-point operations executed and writes a checksum to *sink.
  double (*fma_loop)(int64_t iters, float* sink);
};

const GemmUkr& gemm_ukr_generic();
const GemmUkr& gemm_ukr_avx2();    // only callable when the CPU supports AVX2 + FMA
const GemmUkr& gemm_ukr_avx512();  // only callable when the CPU supports AVX-512
// The microkernel of the instruction set in use (current_isa(), PYNNCORE_CPU honoured).
const GemmUkr& gemm_ukr();

}  // namespace pyn
