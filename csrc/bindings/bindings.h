// One bind_<area>(module) per file in csrc/bindings/.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

#include "common/check.h"
#include "kernels/activation.h"

namespace pyn {
namespace py = pybind11;

void bind_config(py::module_& m);
void bind_gemm(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_dense(py::module_& m);

// Kernel parameters for activation `act` from the Python arguments (alpha: leaky_relu's slope
// or elu's alpha, None for the Keras default; approximate: gelu's tanh form); ValueError
// naming `fn` when an argument does not apply to `act`.
ActParams activation_params(const char* fn, Act act, std::optional<float> alpha, bool approximate);

}  // namespace pyn
