// Binding of the Dense-chain inference kernel: pynncore._core.dense_chain_forward. Arrays must
// be float32, C-contiguous and aligned; they are checked and never copied (pynncore's model
// code converts the input once and passes the layers' own weight arrays).
#include "kernels/dense.h"

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "common/buffer.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

constexpr const char* kFn = "dense_chain_forward";

// Names an argument in error messages. The text is built only when an error is raised: these
// calls run once per training step or prediction, and most of their time went to strings.
struct Label {
  const char* fn;
  const char* what;
  int64_t layer;  // -1: an argument of the call, not of a layer

  std::string str() const {
    if (layer < 0) return std::string(fn) + ": " + what;
    return std::string(fn) + ": layer " + std::to_string(layer) + " " + what;
  }
};

Label label(const char* fn, const char* what, size_t layer) {
  return Label{fn, what, static_cast<int64_t>(layer)};
}

// A float32, C-contiguous, aligned array of rank `ndim`; TypeError/ValueError otherwise.
py::array checked_input(py::handle h, const Label& label, int ndim) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(label.str() + " must be a numpy.ndarray of dtype float32; got an object of type " +
                         type_name(h));
  auto arr = py::reinterpret_borrow<py::array>(h);
  if (!is_f32_array(arr))
    throw py::type_error(label.str() + " must be an aligned float32 array; got dtype " +
                         std::string(py::str(arr.dtype())));
  if (arr.ndim() != ndim)
    throw py::value_error(label.str() + " must be " + std::to_string(ndim) + "-D; got shape " +
                          shape_str(arr));
  if (!(arr.flags() & kNpyCContiguous))
    throw py::value_error(label.str() + " must be C-contiguous; got a non-contiguous array of shape " +
                          shape_str(arr));
  return arr;
}

// The layer tuples (kernel, bias, activation, alpha, approximate), checked against an input of
// `width` features; `keep` holds the arrays while a kernel runs.
std::vector<DenseLayerRef> parse_layers(const char* fn, const py::array& x, py::sequence layers_seq,
                                        std::vector<py::array>& keep, double* flops) {
  const int64_t rows = x.shape(0);
  std::vector<DenseLayerRef> layers;
  const size_t nl = py::len(layers_seq);
  if (nl == 0) throw py::value_error(std::string(fn) + ": expected at least one layer; got none");
  layers.reserve(nl);
  int64_t width = x.shape(1);
  for (size_t l = 0; l < nl; ++l) {
    py::handle item = layers_seq[l];
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 5)
      throw py::type_error(label(fn, "must be a tuple (kernel, bias, activation, alpha, approximate)", l).str());
    auto t = py::reinterpret_borrow<py::tuple>(item);
    py::array w = checked_input(t[0], label(fn, "kernel", l), 2);
    if (w.shape(0) != width)
      throw py::value_error(label(fn, "kernel", l).str() + " must have " + std::to_string(width) +
                            " rows to take " + (l == 0 ? "x " + shape_str(x) : "the previous output") +
                            "; got shape " + shape_str(w));
    DenseLayerRef d{};
    d.kernel = static_cast<const float*>(w.data());
    d.in = width;
    d.out = w.shape(1);
    if (d.out == 0) throw py::value_error(label(fn, "kernel", l).str() + " has no columns");
    keep.push_back(w);
    if (!t[1].is_none()) {
      py::array b = checked_input(t[1], label(fn, "bias", l), 1);
      if (b.shape(0) != d.out)
        throw py::value_error(label(fn, "bias", l).str() + " must have shape (" + std::to_string(d.out) +
                              ",); got shape " + shape_str(b));
      d.bias = static_cast<const float*>(b.data());
      keep.push_back(b);
    }
    d.act = parse_activation(t[2].cast<std::string>());
    std::optional<float> alpha;
    if (!t[3].is_none()) alpha = t[3].cast<float>();
    d.params = activation_params(fn, d.act, alpha, t[4].cast<bool>());
    *flops += 2.0 * rows * d.in * d.out;
    width = d.out;
    layers.push_back(d);
  }
  return layers;
}

py::object dense_chain(py::handle x_h, py::sequence layers_seq, py::handle out_h) {
  const py::array x = checked_input(x_h, Label{kFn, "x", -1}, 2);
  const int64_t rows = x.shape(0);
  std::vector<py::array> keep;  // the arrays stay referenced while the kernel runs
  double flops = 0.0;
  std::vector<DenseLayerRef> layers = parse_layers(kFn, x, layers_seq, keep, &flops);
  const int64_t width = layers.back().out;
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

constexpr const char* kTrainFwd = "dense_chain_train_forward";
constexpr const char* kTrainBwd = "dense_chain_train_backward";

std::vector<DenseTrainLayer> train_layers(const std::vector<DenseLayerRef>& refs) {
  std::vector<DenseTrainLayer> out;
  for (const DenseLayerRef& r : refs) out.push_back(DenseTrainLayer{r, nullptr, nullptr});
  return out;
}

py::tuple dense_train_forward(py::handle x_h, py::sequence layers_seq) {
  const py::array x = checked_input(x_h, Label{kTrainFwd, "x", -1}, 2);
  const int64_t rows = x.shape(0);
  std::vector<py::array> keep;
  double flops = 0.0;
  std::vector<DenseTrainLayer> layers = train_layers(parse_layers(kTrainFwd, x, layers_seq, keep, &flops));
  py::list hs_out, zs_out;
  std::vector<float*> hs, zs;
  for (const DenseTrainLayer& t : layers) {
    F32 h = new_f32({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(t.ref.out)});
    hs.push_back(h.data);
    hs_out.append(h.arr);
    if (activation_backward_needs_x(t.ref.act)) {
      F32 z = new_f32({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(t.ref.out)});
      zs.push_back(z.data);
      zs_out.append(z.arr);
    } else {
      zs.push_back(nullptr);
      zs_out.append(py::none());
    }
  }
  const float* xd = static_cast<const float*>(x.data());
  run(flops, [&] { dense_chain_train_forward(rows, xd, layers, hs, zs); }, kReleaseGilFlops);
  return py::make_tuple(hs_out, zs_out);
}

// A float32 C-contiguous writable array of exactly `shape` (1-D or 2-D), named in errors.
float* checked_buffer(py::handle h, const Label& label, int64_t rows, int64_t cols, bool two_d) {
  const py::array arr = checked_input(h, label, two_d ? 2 : 1);
  const bool ok = two_d ? arr.shape(0) == rows && arr.shape(1) == cols : arr.shape(0) == cols;
  if (!ok)
    throw py::value_error(label.str() + " must have shape " + (two_d ? shape_str(rows, cols) : "(" + std::to_string(cols) + ",)") +
                          "; got shape " + shape_str(arr));
  if (!(arr.flags() & kNpyWriteable)) throw py::value_error(label.str() + " is read-only");
  return static_cast<float*>(const_cast<void*>(arr.data()));
}

void dense_train_backward(py::handle x_h, py::sequence layers_seq, py::sequence hs_seq, py::sequence zs_seq,
                          py::handle dy_h, py::sequence grads_seq, bool accumulate) {
  const py::array x = checked_input(x_h, Label{kTrainBwd, "x", -1}, 2);
  const int64_t rows = x.shape(0);
  std::vector<py::array> keep;
  double flops = 0.0;
  std::vector<DenseTrainLayer> layers = train_layers(parse_layers(kTrainBwd, x, layers_seq, keep, &flops));
  const size_t nl = layers.size();
  if (py::len(hs_seq) != nl || py::len(zs_seq) != nl || py::len(grads_seq) != nl)
    throw py::value_error(std::string(kTrainBwd) + ": expected hs, zs and grads with one entry per layer (" +
                          std::to_string(nl) + ")");
  std::vector<float*> hs(nl), zs(nl);
  // every buffer written here, with its size, to refuse overlaps
  std::vector<std::pair<const void*, int64_t>> written;
  int64_t max_in = 0;
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayerRef& d = layers[l].ref;
    max_in = std::max(max_in, d.in);
    hs[l] = checked_buffer(hs_seq[l], label(kTrainBwd, "output", l), rows, d.out, true);
    if (activation_backward_needs_x(d.act))
      zs[l] = checked_buffer(zs_seq[l], label(kTrainBwd, "pre-activation", l), rows, d.out, true);
    else if (!zs_seq[l].is_none())
      zs[l] = checked_buffer(zs_seq[l], label(kTrainBwd, "pre-activation", l), rows, d.out, true);
    py::handle g = grads_seq[l];
    if (!py::isinstance<py::tuple>(g) || py::len(g) != 2)
      throw py::type_error(label(kTrainBwd, "gradient must be a tuple (kernel_grad, bias_grad)", l).str());
    auto gt = py::reinterpret_borrow<py::tuple>(g);
    if (!gt[0].is_none()) {
      layers[l].kernel_grad = checked_buffer(gt[0], label(kTrainBwd, "kernel gradient", l), d.in, d.out, true);
      written.emplace_back(layers[l].kernel_grad, d.in * d.out * 4);
    }
    if (!gt[1].is_none()) {
      if (d.bias == nullptr)
        throw py::value_error(label(kTrainBwd, "bias gradient", l).str() + " given for a layer without bias");
      layers[l].bias_grad = checked_buffer(gt[1], label(kTrainBwd, "bias gradient", l), 1, d.out, false);
      written.emplace_back(layers[l].bias_grad, d.out * 4);
    }
  }
  float* dy = checked_buffer(dy_h, Label{kTrainBwd, "dy", -1}, rows, layers.back().ref.out, true);
  written.emplace_back(dy, rows * layers.back().ref.out * 4);
  for (size_t l = 0; l < nl; ++l) written.emplace_back(hs[l], rows * layers[l].ref.out * 4);
  for (size_t i = 0; i < written.size(); ++i) {
    for (size_t j = i + 1; j < written.size(); ++j)
      if (ranges_overlap(written[i].first, written[i].second, written[j].first, written[j].second))
        throw py::value_error(std::string(kTrainBwd) + ": gradient, output and dy buffers must not overlap");
    for (const py::array& a : keep)
      if (ranges_overlap(written[i].first, written[i].second, a.data(), a.nbytes()))
        throw py::value_error(std::string(kTrainBwd) + ": a written buffer overlaps a weight array");
    if (ranges_overlap(written[i].first, written[i].second, x.data(), x.nbytes()))
      throw py::value_error(std::string(kTrainBwd) + ": a written buffer overlaps x");
  }
  // per-thread, grow-only: steady-state steps neither allocate nor fault fresh pages
  thread_local ScratchBuffer work;
  float* wd = work.floats(static_cast<size_t>(std::max<int64_t>(1, 2 * rows * max_in)));
  const float* xd = static_cast<const float*>(x.data());
  run(2 * flops, [&] { dense_chain_train_backward(rows, xd, layers, hs, zs, dy, wd, accumulate); },
      kReleaseGilFlops);
}

}  // namespace

void bind_dense(py::module_& m) {
  m.def("dense_chain_forward", &dense_chain, py::arg("x"), py::arg("layers"),
        py::arg("out") = py::none(),
        "Inference through Dense layers in one call: h = f(h @ kernel + bias) for each layer.\n"
        "x: float32 C-contiguous (rows, in); layers: tuples (kernel (in, out), bias (out,) or "
        "None, activation name, alpha or None, approximate); out: None or float32 (rows, "
        "last out). Returns out.");
  m.def("dense_chain_train_forward", &dense_train_forward, py::arg("x"), py::arg("layers"),
        "Training forward through Dense layers (same layer tuples as dense_chain_forward): returns "
        "(hs, zs), each layer's output and, where its activation's backward reads it, its "
        "pre-activation (else None).");
  m.def("dense_chain_train_backward", &dense_train_backward, py::arg("x"), py::arg("layers"),
        py::arg("hs"), py::arg("zs"), py::arg("dy"), py::arg("grads"), py::arg("accumulate"),
        "Backward through the chain from dy = dL/d(last output) (overwritten): writes (or adds, "
        "with accumulate) each layer's kernel and bias gradients; grads holds (kernel_grad, "
        "bias_grad) per layer, None for a frozen layer.");
}

}  // namespace pyn
