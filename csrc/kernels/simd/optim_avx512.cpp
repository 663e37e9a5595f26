// Optimizer update loops for AVX-512. Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq (CMakeLists.txt).
#include "kernels/simd/optim_impl.h"

namespace pyn {

#if defined(__AVX512F__)
const OptimKernels& optim_kernels_avx512() {
  static const OptimKernels k = optim_loops::make_kernels("avx512");
  return k;
}
#else
const OptimKernels& optim_kernels_avx512() { return optim_kernels_generic(); }
#endif

}  // namespace pyn
