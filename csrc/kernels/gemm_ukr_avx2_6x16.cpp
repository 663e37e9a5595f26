// AVX2 + FMA GEMM microkernel: 6 rows x 16 columns (2 ymm), 12 accumulators.
// Compiled with -mavx2 -mfma (CMakeLists.txt).
#include "kernels/gemm_ukr_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const GemmUkr& gemm_ukr_avx2() {
  static const GemmUkr u = ukr_impl::make_ukr<VecAvx2, 6, 2, 480, 384, 4096, 12>("avx2 6x16");
  return u;
}
#else
const GemmUkr& gemm_ukr_avx2() { return gemm_ukr_generic(); }
#endif

}  // namespace pyn
