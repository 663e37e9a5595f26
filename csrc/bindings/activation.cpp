// Bindings of the activation kernels: pynncore._core.activation_forward / activation_backward
// and helpers. Arrays must be float32, C-contiguous and aligned, of any shape (softmax and
// log_softmax work over the last axis); they are checked cheaply and never copied, so
// outputs are always written in place. pynncore.ops converts other inputs once.
#include "kernels/activation.h"

#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

// rows x cols view of an array over its last axis (softmax).
void rows_cols(const F32& a, const char* fn, const char* act, int64_t* rows, int64_t* cols) {
  if (a.arr.ndim() < 1)
    throw py::value_error(std::string(fn) + ": " + act +
                          " works over the last axis and needs x with at least 1 dimension; got "
                          "a 0-d array");
  *cols = static_cast<int64_t>(a.arr.shape(a.arr.ndim() - 1));
  *rows = *cols > 0 ? a.size / *cols : 0;
}

py::object forward(const std::string& name, py::handle x_h, py::handle out_h, py::handle bias_h,
                   std::optional<float> alpha, bool approximate) {
  constexpr const char* fn = "activation_forward";
  const Act act = parse_activation(name);
  const ActParams p = activation_params(fn, act, alpha, approximate);
  const F32 x = checked_f32(x_h, fn, "x", false);
  F32 out;
  if (out_h.is_none()) {
    out = new_like(x);
  } else {
    out = checked_f32(out_h, fn, "out", true);
    check_same_shape(out, x, fn, "out", "x");
    check_no_partial_overlap(out, x, fn, "out", "x");
  }
  const float* bias = nullptr;
  int64_t bias_len = 0;
  if (!bias_h.is_none()) {
    const F32 b = checked_f32(bias_h, fn, "bias", false);
    if (x.arr.ndim() < 1)
      throw py::value_error(std::string(fn) +
                            ": bias broadcasts over the last axis and needs x with at least 1 "
                            "dimension; got a 0-d x");
    const int64_t last = static_cast<int64_t>(x.arr.shape(x.arr.ndim() - 1));
    if (b.arr.ndim() != 1 || b.size != last)
      throw py::value_error(std::string(fn) + ": bias must have shape (" + std::to_string(last) +
                            ",) to match the last axis of x " + shape_str(x.arr) +
                            "; got shape " + shape_str(b.arr));
    if (ranges_overlap(out.data, out.size * 4, b.data, b.size * 4))
      throw py::value_error(std::string(fn) + ": out overlaps bias");
    bias = b.data;
    bias_len = last;
    if (last == 0) bias = nullptr;  // then x is empty too
  }
  if (activation_is_rowwise(act)) {
    int64_t rows, cols;
    rows_cols(x, fn, activation_name(act), &rows, &cols);
    run(x.size, [&] { softmax_forward(act, rows, cols, x.data, bias, out.data); });
  } else {
    run(x.size, [&] { activation_forward(act, x.size, x.data, bias, bias_len, out.data, p); });
  }
  return out.arr;
}

py::object backward(const std::string& name, py::handle x_h, py::handle y_h, py::handle dy_h,
                    py::handle dx_h, std::optional<float> alpha, bool approximate) {
  constexpr const char* fn = "activation_backward";
  const Act act = parse_activation(name);
  const ActParams p = activation_params(fn, act, alpha, approximate);
  const F32 dy = checked_f32(dy_h, fn, "dy", false);
  const bool needs_x = activation_backward_needs_x(act);
  const bool needs_y = activation_backward_needs_y(act);
  const char* reads = needs_x ? "x" : "y";
  py::handle v_h = needs_x ? x_h : y_h;
  F32 v;
  if (needs_x || needs_y) {
    if (v_h.is_none())
      throw py::value_error(std::string(fn) + ": " + activation_name(act) + " backward reads " +
                            (needs_x ? "x (the pre-activation)" : "y (the output)") +
                            "; got " + reads + "=None");
    v = checked_f32(v_h, fn, reads, false);
    check_same_shape(v, dy, fn, reads, "dy");
  }
  F32 dx;
  if (dx_h.is_none()) {
    dx = new_like(dy);
  } else {
    dx = checked_f32(dx_h, fn, "dx", true);
    check_same_shape(dx, dy, fn, "dx", "dy");
    check_no_partial_overlap(dx, dy, fn, "dx", "dy");
    if (v.data != nullptr) check_no_partial_overlap(dx, v, fn, "dx", reads);
  }
  if (activation_is_rowwise(act)) {
    int64_t rows, cols;
    rows_cols(dy, fn, activation_name(act), &rows, &cols);
    run(dy.size, [&] { softmax_backward(act, rows, cols, v.data, dy.data, dx.data); });
  } else {
    run(dy.size,
        [&] { activation_backward(act, dy.size, v.data, v.data, dy.data, dx.data, p); });
  }
  return dx.arr;
}

py::object math(const std::string& name, py::handle x_h, py::handle out_h) {
  constexpr const char* fn = "vector_math";
  const MathFn f = parse_math_fn(name);
  const F32 x = checked_f32(x_h, fn, "x", false);
  F32 out;
  if (out_h.is_none()) {
    out = new_like(x);
  } else {
    out = checked_f32(out_h, fn, "out", true);
    check_same_shape(out, x, fn, "out", "x");
    check_no_partial_overlap(out, x, fn, "out", "x");
  }
  run(x.size, [&] { vector_math(f, x.size, x.data, out.data); });
  return out.arr;
}

}  // namespace

ActParams activation_params(const char* fn, Act act, std::optional<float> alpha, bool approximate) {
  ActParams p = default_activation_params(act);
  if (alpha) {
    if (!activation_has_alpha(act))
      throw py::value_error(std::string(fn) + ": " + activation_name(act) +
                            " takes no alpha (only leaky_relu, elu, celu, hard_shrink, soft_shrink and "
                            "squareplus do); got alpha=" +
                            std::to_string(*alpha));
    if (!std::isfinite(*alpha))
      throw py::value_error(std::string(fn) + ": alpha must be finite; got " +
                            std::to_string(*alpha));
    p.alpha = *alpha;
  }
  if (approximate && act != Act::kGelu)
    throw py::value_error(std::string(fn) + ": approximate=True applies only to gelu; got " +
                          activation_name(act));
  p.approximate = approximate;
  return p;
}


void bind_activation(py::module_& m) {
  m.def("activation_forward", &forward, py::arg("name"), py::arg("x"), py::arg("out") = py::none(),
        py::arg("bias") = py::none(), py::arg("alpha") = py::none(),
        py::arg("approximate") = false,
        "out = f(x + bias) for the activation `name` (softmax / log_softmax: over the last "
        "axis).\nx, out: float32 C-contiguous arrays of one shape (out may be x; None "
        "allocates); bias: None or float32 (x.shape[-1],). alpha: leaky_relu's negative slope "
        "(default 0.2), elu's and celu's alpha (default 1.0), hard_shrink's and soft_shrink's "
        "threshold (default 0.5) or squareplus's b (default 4). approximate: gelu's tanh form. "
        "Returns out.");
  m.def("activation_backward", &backward, py::arg("name"), py::arg("x"), py::arg("y"),
        py::arg("dy"), py::arg("dx") = py::none(), py::arg("alpha") = py::none(),
        py::arg("approximate") = false,
        "dx = dy * f'(x) for the activation `name`, reading x (the pre-activation) or y (the "
        "output) as activation_backward_needs_x(name) says; the other may be None.\ndx may be dy "
        "(None allocates). Returns dx.");
  m.def(
      "activation_backward_needs_x",
      [](const std::string& name) { return activation_backward_needs_x(parse_activation(name)); },
      py::arg("name"),
      "True when the backward pass of `name` reads x (the pre-activation); False when it reads "
      "y (the output) or nothing (linear).");
  m.def(
      "activation_names",
      [] {
        std::vector<std::string> names;
        std::string all = activation_names();
        size_t start = 0;
        while (start < all.size()) {
          size_t end = all.find(", ", start);
          if (end == std::string::npos) end = all.size();
          names.push_back(all.substr(start, end - start));
          start = end + 2;
        }
        return names;
      },
      "The accepted activation names, sorted.");
  m.def("vector_math", &math, py::arg("name"), py::arg("x"), py::arg("out") = py::none(),
        "The vector math under the activations (exp, expm1, log, log1p, tanh, erf, erfc) on "
        "the current CPU path, element by element, for accuracy measurements. Returns out.");
}

}  // namespace pyn
