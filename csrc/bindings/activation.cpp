// Bindings of the activation kernels.
#include "bindings/bindings.h"

namespace pyn {

void bind_activation(py::module_& m) { (void)m; }

}  // namespace pyn
