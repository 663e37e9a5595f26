// Direct single-channel convolution, baseline x86-64 (SSE2) build.
#include "kernels/simd/conv_direct_impl.h"

namespace pyn {

const ConvDirectKernels& conv_direct_kernels_generic() {
  return conv_direct_impl::kernels<VecGeneric>("generic");
}

}  // namespace pyn
