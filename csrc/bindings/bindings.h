// One bind_<area>(module) per file in csrc/bindings/.
#pragma once

#include <pybind11/pybind11.h>

#include "common/check.h"

namespace pyn {
namespace py = pybind11;

void bind_config(py::module_& m);
void bind_gemm(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_embedding(py::module_& m);
void bind_rnn(py::module_& m);

}  // namespace pyn
