// Direct single-channel convolution for AVX-512, compiled with that instruction set's flags.
#include "kernels/simd/conv_direct_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const ConvDirectKernels& conv_direct_kernels_avx512() { return conv_direct_impl::kernels<VecAvx512>("avx512"); }
#else
const ConvDirectKernels& conv_direct_kernels_avx512() { return conv_direct_kernels_generic(); }
#endif

}  // namespace pyn
