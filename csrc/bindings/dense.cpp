// Binding of the Dense-chain inference kernel: pynncore._core.dense_chain_forward. Arrays must
// be float32, C-contiguous and aligned; they are checked and never copied (pynncore's model
// code converts the input once and passes the layers' own weight arrays).
#include "kernels/dense.h"

#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

constexpr const char* kFn = "dense_chain_forward";

std::string label(const char* what, size_t layer) {
  return std::string(kFn) + ": layer " + std::to_string(layer) + " " + what;
}

// A float32, C-contiguous, aligned array of rank `ndim`; TypeError/ValueError otherwise.
py::array checked_input(py::handle h, const std::string& what, int ndim) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(what + " must be a numpy.ndarray of dtype float32; got an object of type " +
                         type_name(h));
  auto arr = py::reinterpret_borrow<py::array>(h);
  if (!is_f32_array(arr))
    throw py::type_error(what + " must be an aligned float32 array; got dtype " +
                         std::string(py::str(arr.dtype())));
  if (arr.ndim() != ndim)
    throw py::value_error(what + " must be " + std::to_string(ndim) + "-D; got shape " +
                          shape_str(arr));
  if (!(arr.flags() & kNpyCContiguous))
    throw py::value_error(what + " must be C-contiguous; got a non-contiguous array of shape " +
                          shape_str(arr));
  return arr;
}

py::object dense_chain(py::handle x_h, py::sequence layers_seq, py::handle out_h) {
  const py::array x = checked_input(x_h, std::string(kFn) + ": x", 2);
  const int64_t rows = x.shape(0);
  std::vector<DenseLayerRef> layers;
  std::vector<py::array> keep;  // the arrays stay referenced while the kernel runs
  const size_t nl = py::len(layers_seq);
  if (nl == 0) throw py::value_error(std::string(kFn) + ": expected at least one layer; got none");
  layers.reserve(nl);
  int64_t width = x.shape(1);
  double flops = 0.0;
  for (size_t l = 0; l < nl; ++l) {
    py::handle item = layers_seq[l];
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 5)
      throw py::type_error(label("must be a tuple (kernel, bias, activation, alpha, approximate)", l));
    auto t = py::reinterpret_borrow<py::tuple>(item);
    py::array w = checked_input(t[0], label("kernel", l), 2);
    if (w.shape(0) != width)
      throw py::value_error(label("kernel", l) + " must have " + std::to_string(width) +
                            " rows to take " + (l == 0 ? "x " + shape_str(x) : "the previous output") +
                            "; got shape " + shape_str(w));
    DenseLayerRef d{};
    d.kernel = static_cast<const float*>(w.data());
    d.in = width;
    d.out = w.shape(1);
    if (d.out == 0) throw py::value_error(label("kernel", l) + " has no columns");
    keep.push_back(w);
    if (!t[1].is_none()) {
      py::array b = checked_input(t[1], label("bias", l), 1);
      if (b.shape(0) != d.out)
        throw py::value_error(label("bias", l) + " must have shape (" + std::to_string(d.out) +
                              ",); got shape " + shape_str(b));
      d.bias = static_cast<const float*>(b.data());
      keep.push_back(b);
    }
    d.act = parse_activation(t[2].cast<std::string>());
    std::optional<float> alpha;
    if (!t[3].is_none()) alpha = t[3].cast<float>();
    d.params = activation_params(kFn, d.act, alpha, t[4].cast<bool>());
    flops += 2.0 * rows * d.in * d.out;
    width = d.out;
    layers.push_back(d);
  }
  py::array out;
  float* y;
  if (out_h.is_none()) {
    F32 fresh = new_f32({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)});
    out = fresh.arr;
    y = fresh.data;
  } else {
    y = checked_output(out_h, "dense_chain_forward: out", rows, width);
    out = py::reinterpret_borrow<py::array>(out_h);
    const int64_t out_bytes = rows * width * 4;
    if (ranges_overlap(y, out_bytes, x.data(), x.nbytes()))
      throw py::value_error(std::string(kFn) + ": out overlaps x");
    for (const py::array& a : keep)
      if (ranges_overlap(y, out_bytes, a.data(), a.nbytes()))
        throw py::value_error(std::string(kFn) + ": out overlaps a weight array");
  }
  const float* xd = static_cast<const float*>(x.data());
  run(flops, [&] { dense_chain_forward(rows, xd, layers, y); }, kReleaseGilFlops);
  return out;
}

}  // namespace

void bind_dense(py::module_& m) {
  m.def("dense_chain_forward", &dense_chain, py::arg("x"), py::arg("layers"),
        py::arg("out") = py::none(),
        "Inference through Dense layers in one call: h = f(h @ kernel + bias) for each layer.\n"
        "x: float32 C-contiguous (rows, in); layers: tuples (kernel (in, out), bias (out,) or "
        "None, activation name, alpha or None, approximate); out: None or float32 (rows, "
        "last out). Returns out.");
}

}  // namespace pyn
