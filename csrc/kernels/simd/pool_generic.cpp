// Baseline pooling kernels: SSE2 on x86-64 (4 lanes), one scalar lane elsewhere. Compiled
// without extra target flags.
#include "kernels/simd/pool_impl.h"

namespace pyn {

const PoolKernels& pool_kernels_generic() { return pool_impl::kernels<VecGeneric>("generic"); }

}  // namespace pyn
