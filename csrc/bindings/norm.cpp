// Bindings of the batch-normalization kernels: pynncore._core.batch_norm_forward_train,
// batch_norm_forward_infer, batch_norm_backward. x, dy, y, dx: float32, C-contiguous, aligned,
// any rank >= 1 with the channels on the last axis; per-channel arrays: float32 (C,). Arrays
// are checked and never copied; outputs are written in place.
#include "kernels/norm.h"

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

constexpr int64_t kReleaseGilElems = 16384;

struct F32 {
  py::array arr;
  float* data = nullptr;
  int64_t size = 0;
};

F32 checked(py::handle h, const char* fn, const char* what, bool output) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(fn) + ": " + what +
                         " must be a numpy.ndarray of dtype float32; got an object of type " +
                         std::string(py::str(py::type::handle_of(h).attr("__name__"))));
  F32 r;
  r.arr = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = r.arr.dtype();
  if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
    throw py::type_error(std::string(fn) + ": " + what + " must have dtype float32; got dtype " +
                         std::string(py::str(dt)));
  const int flags = r.arr.flags();
  if (!(flags & kNpyCContiguous) || !(flags & kNpyAligned))
    throw py::value_error(std::string(fn) + ": " + what +
                          " must be C-contiguous and aligned; got shape " + shape_str(r.arr));
  if (output && !(flags & kNpyWriteable))
    throw py::value_error(std::string(fn) + ": " + what + " is read-only");
  r.size = static_cast<int64_t>(r.arr.size());
  r.data = static_cast<float*>(const_cast<void*>(r.arr.data()));
  return r;
}

F32 data_array(py::handle h, const char* fn, const char* what, int64_t* rows, int64_t* c) {
  F32 a = checked(h, fn, what, false);
  if (a.arr.ndim() < 1)
    throw py::value_error(std::string(fn) + ": " + what +
                          " must have at least 1 dimension (channels last); got a 0-d array");
  *c = static_cast<int64_t>(a.arr.shape(a.arr.ndim() - 1));
  *rows = 1;
  for (py::ssize_t i = 0; i + 1 < a.arr.ndim(); ++i) *rows *= static_cast<int64_t>(a.arr.shape(i));
  return a;
}

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i)) return false;
  return true;
}

// A (C,) float32 array or None (nullptr).
const float* channel_array(py::handle h, const char* fn, const char* what, int64_t c,
                           bool allow_none, std::vector<F32>* keep) {
  if (h.is_none()) {
    if (!allow_none) throw py::value_error(std::string(fn) + ": " + what + " must not be None");
    return nullptr;
  }
  F32 a = checked(h, fn, what, false);
  if (a.arr.ndim() != 1 || a.size != c)
    throw py::value_error(std::string(fn) + ": " + what + " must have shape (" +
                          std::to_string(c) + ",); got " + shape_str(a.arr));
  keep->push_back(a);
  return a.data;
}

F32 new_array(const std::vector<py::ssize_t>& shape) {
  F32 r;
  r.arr = py::array_t<float>(shape);
  r.data = static_cast<float*>(r.arr.mutable_data());
  r.size = static_cast<int64_t>(r.arr.size());
  return r;
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// `out` (None: a new array shaped like `like`); it may be `like` itself but must not partly
// overlap it.
F32 output_like(py::handle out_h, const F32& like, const char* fn, const char* what,
                const char* like_name) {
  if (out_h.is_none()) return new_array(shape_of(like.arr));
  F32 out = checked(out_h, fn, what, true);
  if (!same_shape(out.arr, like.arr))
    throw py::value_error(std::string(fn) + ": " + what + " must have the shape of " + like_name +
                          " " + shape_str(like.arr) + "; got " + shape_str(out.arr));
  if (!(out.data == like.data) &&
      ranges_overlap(out.data, out.size * 4, like.data, like.size * 4))
    throw py::value_error(std::string(fn) + ": " + what + " overlaps " + like_name +
                          " without being the same array");
  return out;
}

void check_eps(const char* fn, double eps) {
  if (!(std::isfinite(eps) && eps > 0.0))
    throw py::value_error(std::string(fn) + ": epsilon must be finite and > 0; got " +
                          std::to_string(eps));
}

template <class Fn>
void run(int64_t n, Fn&& fn) {
  if (n >= kReleaseGilElems) {
    py::gil_scoped_release nogil;
    fn();
  } else {
    fn();
  }
}

py::tuple forward_train(py::handle x_h, py::handle gamma_h, py::handle beta_h, double eps,
                        py::handle out_h) {
  constexpr const char* fn = "batch_norm_forward_train";
  int64_t rows, c;
  const F32 x = data_array(x_h, fn, "x", &rows, &c);
  check_eps(fn, eps);
  if (rows < 1)
    throw py::value_error(std::string(fn) +
                          ": batch statistics need at least one value per channel; got x of "
                          "shape " + shape_str(x.arr));
  std::vector<F32> keep;
  const float* gamma = channel_array(gamma_h, fn, "gamma", c, true, &keep);
  const float* beta = channel_array(beta_h, fn, "beta", c, true, &keep);
  F32 y = output_like(out_h, x, fn, "out", "x");
  F32 mean = new_array({static_cast<py::ssize_t>(c)});
  F32 var = new_array({static_cast<py::ssize_t>(c)});
  F32 inv_std = new_array({static_cast<py::ssize_t>(c)});
  run(x.size, [&] {
    batch_norm_forward_train(rows, c, x.data, gamma, beta, static_cast<float>(eps), y.data,
                             mean.data, var.data, inv_std.data);
  });
  return py::make_tuple(y.arr, mean.arr, var.arr, inv_std.arr);
}

py::object forward_infer(py::handle x_h, py::handle mean_h, py::handle var_h, py::handle gamma_h,
                         py::handle beta_h, double eps, py::handle out_h) {
  constexpr const char* fn = "batch_norm_forward_infer";
  int64_t rows, c;
  const F32 x = data_array(x_h, fn, "x", &rows, &c);
  check_eps(fn, eps);
  std::vector<F32> keep;
  const float* mean = channel_array(mean_h, fn, "mean", c, false, &keep);
  const float* var = channel_array(var_h, fn, "variance", c, false, &keep);
  const float* gamma = channel_array(gamma_h, fn, "gamma", c, true, &keep);
  const float* beta = channel_array(beta_h, fn, "beta", c, true, &keep);
  F32 y = output_like(out_h, x, fn, "out", "x");
  run(x.size, [&] {
    batch_norm_forward_infer(rows, c, x.data, mean, var, gamma, beta, static_cast<float>(eps),
                             y.data);
  });
  return y.arr;
}

py::tuple backward(py::handle x_h, py::handle dy_h, py::handle mean_h, py::handle inv_std_h,
                   py::handle gamma_h, py::handle dx_h, bool need_dx) {
  constexpr const char* fn = "batch_norm_backward";
  int64_t rows, c;
  const F32 x = data_array(x_h, fn, "x", &rows, &c);
  const F32 dy = checked(dy_h, fn, "dy", false);
  if (!same_shape(dy.arr, x.arr))
    throw py::value_error(std::string(fn) + ": dy must have the shape of x " + shape_str(x.arr) +
                          "; got " + shape_str(dy.arr));
  if (rows < 1)
    throw py::value_error(std::string(fn) + ": needs at least one value per channel; got x of "
                          "shape " + shape_str(x.arr));
  std::vector<F32> keep;
  const float* mean = channel_array(mean_h, fn, "mean", c, false, &keep);
  const float* inv_std = channel_array(inv_std_h, fn, "inv_std", c, false, &keep);
  const float* gamma = channel_array(gamma_h, fn, "gamma", c, true, &keep);
  F32 dx;
  if (need_dx) {
    dx = output_like(dx_h, dy, fn, "dx", "dy");
    if (ranges_overlap(dx.data, dx.size * 4, x.data, x.size * 4))
      throw py::value_error(std::string(fn) + ": dx overlaps x");
  }
  F32 dgamma = new_array({static_cast<py::ssize_t>(c)});
  F32 dbeta = new_array({static_cast<py::ssize_t>(c)});
  run(x.size, [&] {
    batch_norm_backward(rows, c, x.data, dy.data, mean, inv_std, gamma,
                        need_dx ? dx.data : nullptr, dgamma.data, dbeta.data);
  });
  return py::make_tuple(need_dx ? py::object(dx.arr) : py::object(py::none()), dgamma.arr,
                        dbeta.arr);
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("batch_norm_forward_train", &forward_train, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("epsilon"), py::arg("out") = py::none(),
        "Batch normalization with batch statistics over every axis but the last (channels).\n"
        "gamma, beta: float32 (C,) or None. Returns (out, mean, variance, inv_std); the "
        "variance is the biased one, inv_std = 1 / sqrt(variance + epsilon). out may be x.");
  m.def("batch_norm_forward_infer", &forward_infer, py::arg("x"), py::arg("mean"),
        py::arg("variance"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"),
        py::arg("out") = py::none(),
        "out = (x - mean) * gamma / sqrt(variance + epsilon) + beta over the last axis. "
        "Returns out (it may be x).");
  m.def("batch_norm_backward", &backward, py::arg("x"), py::arg("dy"), py::arg("mean"),
        py::arg("inv_std"), py::arg("gamma"), py::arg("dx") = py::none(),
        py::arg("need_dx") = true,
        "Gradients of batch_norm_forward_train given its mean and inv_std: returns (dx or None, "
        "dgamma, dbeta). dx may be dy.");
}

}  // namespace pyn
