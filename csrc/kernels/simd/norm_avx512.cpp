// Batch-normalization kernels for AVX-512 (16 lanes, masked tails). Compiled with the AVX-512
// flags (PYNNCORE_AVX512_SOURCES in CMakeLists.txt).
#include "kernels/simd/norm_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const NormKernels& norm_kernels_avx512() { return norm_impl::kernels<VecAvx512>("avx512"); }
#else
const NormKernels& norm_kernels_avx512() { return norm_kernels_generic(); }
#endif

}  // namespace pyn
