// Winograd convolution transforms for AVX2 + FMA, compiled with that instruction set's flags.
#include "kernels/simd/winograd_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const WinogradKernels& winograd_kernels_avx2(int tile) { return winograd_impl::kernels<VecAvx2>("avx2", tile); }
#else
const WinogradKernels& winograd_kernels_avx2(int tile) { return winograd_kernels_generic(tile); }
#endif

}  // namespace pyn
