// Pooling kernels for AVX2 + FMA (8 lanes). Compiled with -mavx2 -mfma
// (PYNNCORE_AVX2_SOURCES in CMakeLists.txt).
#include "kernels/simd/pool_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const PoolKernels& pool_kernels_avx2() { return pool_impl::kernels<VecAvx2>("avx2"); }
#else
const PoolKernels& pool_kernels_avx2() { return pool_kernels_generic(); }
#endif

}  // namespace pyn
