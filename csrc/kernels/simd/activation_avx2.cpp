// Activation kernels for AVX2 + FMA (8 lanes). Compiled with -mavx2 -mfma
// (PYNNCORE_AVX2_SOURCES in CMakeLists.txt).
#include "kernels/simd/activation_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const ActivationKernels& activation_kernels_avx2() { return act_impl::kernels<VecAvx2>("avx2"); }
#else
const ActivationKernels& activation_kernels_avx2() { return activation_kernels_generic(); }
#endif

}  // namespace pyn
