// Baseline batch-normalization kernels: SSE2 on x86-64 (4 lanes), one scalar lane elsewhere.
// Compiled without extra target flags.
#include "kernels/simd/norm_impl.h"

namespace pyn {

const NormKernels& norm_kernels_generic() { return norm_impl::kernels<VecGeneric>("generic"); }

}  // namespace pyn
