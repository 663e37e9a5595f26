// Bindings of the pooling kernels: pynncore._core.pool2d_forward / pool2d_backward.
// Arrays must be float32, C-contiguous, aligned, (N, H, W, C); they are checked and never
// copied (outputs are written in place). pynncore.ops converts other inputs once and gives
// 1-D pooling as H = 1.
#include "kernels/pool.h"

#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

// A float32, C-contiguous, aligned (N, H, W, C) array.
F32 checked(py::handle h, const char* fn, const char* what, bool output) {
  F32 r = checked_f32(h, fn, what, output);
  if (r.arr.ndim() != 4)
    throw py::value_error(std::string(fn) + ": " + what + " must be 4-D (N, H, W, C); got shape " +
                          shape_str(r.arr));
  return r;
}

PoolMode parse_mode(const std::string& mode, const char* fn) {
  if (mode == "max") return PoolMode::kMax;
  if (mode == "avg" || mode == "average") return PoolMode::kAvg;
  throw py::value_error(std::string(fn) + ": mode must be 'max' or 'avg'; got '" + mode + "'");
}

bool parse_padding(const std::string& padding, const char* fn) {
  if (padding == "valid") return false;
  if (padding == "same") return true;
  throw py::value_error(std::string(fn) + ": padding must be 'valid' or 'same'; got '" + padding +
                        "'");
}

PoolParams make_params(const char* fn, int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh,
                       int64_t kw, int64_t sh, int64_t sw, bool same) {
  if (kh <= 0 || kw <= 0)
    throw py::value_error(std::string(fn) + ": pool_size must be positive; got (" +
                          std::to_string(kh) + ", " + std::to_string(kw) + ")");
  if (sh <= 0 || sw <= 0)
    throw py::value_error(std::string(fn) + ": strides must be positive; got (" +
                          std::to_string(sh) + ", " + std::to_string(sw) + ")");
  if (h <= 0 || w <= 0)
    throw py::value_error(std::string(fn) + ": spatial sizes must be positive; got (" +
                          std::to_string(h) + ", " + std::to_string(w) + ")");
  if (!same && (kh > h || kw > w))
    throw py::value_error(std::string(fn) + ": pool_size (" + std::to_string(kh) + ", " +
                          std::to_string(kw) + ") is larger than the input (" + std::to_string(h) +
                          ", " + std::to_string(w) + ") with padding='valid'");
  PoolParams p;
  p.n = n;
  p.h = h;
  p.w = w;
  p.c = c;
  p.kh = kh;
  p.kw = kw;
  p.sh = sh;
  p.sw = sw;
  pool_output_size(h, kh, sh, same, &p.oh, &p.pad_top);
  pool_output_size(w, kw, sw, same, &p.ow, &p.pad_left);
  check_pool_params(p, fn);
  return p;
}

py::object forward(const std::string& mode_s, py::handle x_h, int64_t kh, int64_t kw, int64_t sh,
                   int64_t sw, const std::string& padding, py::handle out_h) {
  constexpr const char* fn = "pool2d_forward";
  const PoolMode mode = parse_mode(mode_s, fn);
  const bool same = parse_padding(padding, fn);
  const F32 x = checked(x_h, fn, "x", false);
  const PoolParams p = make_params(fn, x.arr.shape(0), x.arr.shape(1), x.arr.shape(2),
                                   x.arr.shape(3), kh, kw, sh, sw, same);
  const std::vector<int64_t> yshape = {p.n, p.oh, p.ow, p.c};
  F32 out;
  if (out_h.is_none()) {
    out = new_f32(std::vector<py::ssize_t>(yshape.begin(), yshape.end()));
  } else {
    out = checked(out_h, fn, "out", true);
    check_shape(out.arr, yshape, fn, "out");
    if (ranges_overlap(out.data, out.size * 4, x.data, x.size * 4))
      throw py::value_error(std::string(fn) + ": out overlaps x");
  }
  run(x.size, [&] { pool2d_forward(mode, p, x.data, out.data); });
  return out.arr;
}

py::object backward(const std::string& mode_s, py::handle dy_h, std::vector<int64_t> x_shape,
                    int64_t kh, int64_t kw, int64_t sh, int64_t sw, const std::string& padding,
                    py::handle x_h, py::handle y_h, py::handle dx_h) {
  constexpr const char* fn = "pool2d_backward";
  const PoolMode mode = parse_mode(mode_s, fn);
  const bool same = parse_padding(padding, fn);
  if (x_shape.size() != 4)
    throw py::value_error(std::string(fn) + ": x_shape must have 4 entries (N, H, W, C); got " +
                          std::to_string(x_shape.size()));
  for (int64_t d : x_shape)
    if (d < 0) throw py::value_error(std::string(fn) + ": x_shape entries must be >= 0");
  const PoolParams p =
      make_params(fn, x_shape[0], x_shape[1], x_shape[2], x_shape[3], kh, kw, sh, sw, same);
  const std::vector<int64_t> yshape = {p.n, p.oh, p.ow, p.c};
  const F32 dy = checked(dy_h, fn, "dy", false);
  check_shape(dy.arr, yshape, fn, "dy");
  F32 x, y;
  if (mode == PoolMode::kMax) {
    if (x_h.is_none() || y_h.is_none())
      throw py::value_error(std::string(fn) +
                            ": max pooling backward reads x and y (the forward output); got None");
    x = checked(x_h, fn, "x", false);
    check_shape(x.arr, x_shape, fn, "x");
    y = checked(y_h, fn, "y", false);
    check_shape(y.arr, yshape, fn, "y");
  }
  F32 dx;
  if (dx_h.is_none()) {
    dx = new_f32(std::vector<py::ssize_t>(x_shape.begin(), x_shape.end()));
  } else {
    dx = checked(dx_h, fn, "dx", true);
    check_shape(dx.arr, x_shape, fn, "dx");
    for (const F32* in : {&dy, static_cast<const F32*>(&x), static_cast<const F32*>(&y)})
      if (in->data != nullptr && ranges_overlap(dx.data, dx.size * 4, in->data, in->size * 4))
        throw py::value_error(std::string(fn) + ": dx overlaps an input");
  }
  run(dx.size + dy.size, [&] { pool2d_backward(mode, p, x.data, y.data, dy.data, dx.data); });
  return dx.arr;
}

std::vector<int64_t> output_size(int64_t in, int64_t k, int64_t s, const std::string& padding) {
  const bool same = parse_padding(padding, "pool_output_size");
  int64_t out, pad;
  pool_output_size(in, k, s, same, &out, &pad);
  return {out, pad};
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("pool2d_forward", &forward, py::arg("mode"), py::arg("x"), py::arg("kh"), py::arg("kw"),
        py::arg("sh"), py::arg("sw"), py::arg("padding"), py::arg("out") = py::none(),
        "Max ('max') or average ('avg') pooling of a float32 C-contiguous (N, H, W, C) array "
        "with a (kh, kw) window, strides (sh, sw) and padding 'valid' or 'same' (Keras rules; "
        "padding is excluded from maxima and averages). Returns out (N, OH, OW, C).");
  m.def("pool2d_backward", &backward, py::arg("mode"), py::arg("dy"), py::arg("x_shape"),
        py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("padding"),
        py::arg("x") = py::none(), py::arg("y") = py::none(), py::arg("dx") = py::none(),
        "Gradient of pool2d_forward with respect to x (shape x_shape). Max pooling needs x and "
        "its output y and routes each gradient to the first maximum of its window. Returns dx.");
  m.def("pool_output_size", &output_size, py::arg("size"), py::arg("pool"), py::arg("stride"),
        py::arg("padding"),
        "[output size, leading padding] of one pooled axis under Keras's 'valid'/'same' rules.");
}

}  // namespace pyn
