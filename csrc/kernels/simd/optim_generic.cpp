// Optimizer update loops for the baseline path (x86-64 SSE2, or scalar elsewhere). Compiled
// without extra target flags.
#include "kernels/simd/optim_impl.h"

namespace pyn {

const OptimKernels& optim_kernels_generic() {
  static const OptimKernels k = optim_loops::make_kernels("generic");
  return k;
}

}  // namespace pyn
