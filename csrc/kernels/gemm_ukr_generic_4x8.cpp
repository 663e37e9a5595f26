// Baseline GEMM microkernel (x86-64 SSE2, or scalar elsewhere): 4 rows x 2 vectors,
// 8 accumulators. Compiled without extra target flags.
#include "kernels/gemm_ukr_impl.h"

namespace pyn {

const GemmUkr& gemm_ukr_generic() {
  static const GemmUkr u = ukr_impl::make_ukr<VecGeneric, 4, 2, 512, 256, 4096, 8>("generic 4x8");
  return u;
}

}  // namespace pyn
