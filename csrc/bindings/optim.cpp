// Bindings of the optim kernels.
#include "bindings/bindings.h"

namespace pyn {

void bind_optim(py::module_& m) { (void)m; }

}  // namespace pyn
