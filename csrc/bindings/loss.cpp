// Bindings of the loss kernels.
#include "bindings/bindings.h"

namespace pyn {

void bind_loss(py::module_& m) { (void)m; }

}  // namespace pyn
