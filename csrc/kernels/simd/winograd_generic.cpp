// Winograd convolution transforms, baseline x86-64 (SSE2) build.
#include "kernels/simd/winograd_impl.h"

namespace pyn {

const WinogradKernels& winograd_kernels_generic(int tile) {
  return winograd_impl::kernels<VecGeneric>("generic", tile);
}

}  // namespace pyn
