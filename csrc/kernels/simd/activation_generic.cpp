// Baseline activation kernels: SSE2 on x86-64 (4 lanes, no FMA), one scalar lane elsewhere.
// Compiled without extra target flags.
#include "kernels/simd/activation_impl.h"

namespace pyn {

const ActivationKernels& activation_kernels_generic() {
  return act_impl::kernels<VecGeneric>("generic");
}

}  // namespace pyn
