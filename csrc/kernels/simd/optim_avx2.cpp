// Optimizer update loops for AVX2 + FMA. Compiled with -mavx2 -mfma (CMakeLists.txt).
#include "kernels/simd/optim_impl.h"

namespace pyn {

#if defined(__AVX2__) && defined(__FMA__)
const OptimKernels& optim_kernels_avx2() {
  static const OptimKernels k = optim_loops::make_kernels("avx2");
  return k;
}
#else
const OptimKernels& optim_kernels_avx2() { return optim_kernels_generic(); }
#endif

}  // namespace pyn
