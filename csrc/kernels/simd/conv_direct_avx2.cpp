// Direct single-channel convolution for AVX2 + FMA, compiled with that instruction set's flags.
#include "kernels/simd/conv_direct_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const ConvDirectKernels& conv_direct_kernels_avx2() { return conv_direct_impl::kernels<VecAvx2>("avx2"); }
#else
const ConvDirectKernels& conv_direct_kernels_avx2() { return conv_direct_kernels_generic(); }
#endif

}  // namespace pyn
