// AVX-512 GEMM microkernel: 12 rows x 32 columns (2 zmm), 24 accumulators.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma (CMakeLists.txt).
#include "kernels/gemm_ukr_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const GemmUkr& gemm_ukr_avx512() {
  // KC = 512 (blocks are balanced, so K = 784 runs as 2 x 392): the B micro-panel streams
  // through L1 with prefetch, and fewer passes over C paid more than an L1-resident panel in
  // measurements here. MC x KC = 960 KiB of A~ stays in the 2 MiB L2.
  static const GemmUkr u =
      ukr_impl::make_ukr<VecAvx512, 12, 2, 480, 512, 4096, 24>("avx512 12x32");
  return u;
}
#else
const GemmUkr& gemm_ukr_avx512() { return gemm_ukr_generic(); }
#endif

}  // namespace pyn
