// Activation kernels for AVX-512 (16 lanes, FMA). Compiled with the AVX-512 flags
// (PYNNCORE_AVX512_SOURCES in CMakeLists.txt).
#include "kernels/simd/activation_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const ActivationKernels& activation_kernels_avx512() {
  return act_impl::kernels<VecAvx512>("avx512");
}
#else
const ActivationKernels& activation_kernels_avx512() { return activation_kernels_generic(); }
#endif

}  // namespace pyn
