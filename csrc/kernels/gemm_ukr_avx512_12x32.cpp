// AVX-512 GEMM microkernel: 12 rows x 32 columns (2 zmm), 24 accumulators.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma (CMakeLists.txt).
#include "kernels/gemm_ukr_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const GemmUkr& gemm_ukr_avx512() {
  // KC = 1024 (blocks are balanced, so K = 784 runs in one pass): the B micro-panel streams
  // through L1 with prefetch, and each pass over C (a load and a store of every C tile, from
  // L3 for large C) costs more than the deeper panel. Measured at 1 thread against KC = 256,
  // 384, 512, 768 and 2048: n = 2048 ran 5-10 % faster than with KC = 512, smaller KC lost up
  // to 20 %. MC x KC = 960 KiB of A~ stays in the 2 MiB L2.
  static const GemmUkr u =
      ukr_impl::make_ukr<VecAvx512, 12, 2, 240, 1024, 4096, 24>("avx512 12x32");
  return u;
}
#else
const GemmUkr& gemm_ukr_avx512() { return gemm_ukr_generic(); }
#endif

}  // namespace pyn
