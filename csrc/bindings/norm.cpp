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

F32 data_array(py::handle h, const char* fn, const char* what, int64_t* rows, int64_t* c) {
  F32 a = checked_f32(h, fn, what, false);
  if (a.arr.ndim() < 1)
    throw py::value_error(std::string(fn) + ": " + what +
                          " must have at least 1 dimension (channels last); got a 0-d array");
  *c = static_cast<int64_t>(a.arr.shape(a.arr.ndim() - 1));
  *rows = 1;
  for (py::ssize_t i = 0; i + 1 < a.arr.ndim(); ++i) *rows *= static_cast<int64_t>(a.arr.shape(i));
  return a;
}

// A (C,) float32 array or None (nullptr).
const float* channel_array(py::handle h, const char* fn, const char* what, int64_t c,
                           bool allow_none, std::vector<F32>* keep) {
  if (h.is_none()) {
    if (!allow_none) throw py::value_error(std::string(fn) + ": " + what + " must not be None");
    return nullptr;
  }
  F32 a = checked_f32(h, fn, what, false);
  if (a.arr.ndim() != 1 || a.size != c)
    throw py::value_error(std::string(fn) + ": " + what + " must have shape (" +
                          std::to_string(c) + ",); got " + shape_str(a.arr));
  keep->push_back(a);
  return a.data;
}

void check_eps(const char* fn, double eps) {
  if (!(std::isfinite(eps) && eps > 0.0))
    throw py::value_error(std::string(fn) + ": epsilon must be finite and > 0; got " +
                          std::to_string(eps));
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
  F32 mean = new_f32({static_cast<py::ssize_t>(c)});
  F32 var = new_f32({static_cast<py::ssize_t>(c)});
  F32 inv_std = new_f32({static_cast<py::ssize_t>(c)});
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
  const F32 dy = checked_f32(dy_h, fn, "dy", false);
  check_same_shape(dy, x, fn, "dy", "x");
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
  F32 dgamma = new_f32({static_cast<py::ssize_t>(c)});
  F32 dbeta = new_f32({static_cast<py::ssize_t>(c)});
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
