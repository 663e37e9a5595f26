// Winograd convolution transforms for AVX-512, compiled with that instruction set's flags.
#include "kernels/simd/winograd_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const WinogradKernels& winograd_kernels_avx512(int tile) { return winograd_impl::kernels<VecAvx512>("avx512", tile); }
#else
const WinogradKernels& winograd_kernels_avx512(int tile) { return winograd_kernels_generic(tile); }
#endif

}  // namespace pyn
