// Bindings of the recurrent kernels: pynncore._core.rnn_forward / rnn_backward.
//
// Every array is checked here (dtype, C-contiguity, exact shape) before the kernel runs, and
// nothing is copied: pynncore.ops converts inputs once. Outputs and training storage are
// allocated here; weight gradients are accumulated into the caller's arrays.
#include "kernels/rnn.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

constexpr int kNpyBool = 0;
constexpr int kNpyUint8 = 2;

// Checks dtype number, contiguity, alignment, exact shape (and writability); returns data.
void* checked(py::handle h, const char* fn, const char* what, int dtype_num, const char* dtype,
              const std::vector<int64_t>& shape, bool writable) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(fn) + ": " + what + " must be a numpy.ndarray of dtype " +
                         dtype + "; got an object of type " +
                         type_name(h));
  auto arr = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = arr.dtype();
  const bool ok_dtype = dtype_num == kNpyUint8
                            ? (dt.num() == kNpyUint8 || dt.num() == kNpyBool)
                            : (dt.num() == dtype_num && dt.byteorder() != '>');
  if (!ok_dtype)
    throw py::type_error(std::string(fn) + ": " + what + " must have dtype " + dtype +
                         "; got dtype " + std::string(py::str(dt)));
  check_shape(arr, shape, fn, what);
  const int flags = arr.flags();
  if (!(flags & kNpyCContiguous) || !(flags & kNpyAligned))
    throw py::value_error(std::string(fn) + ": " + what +
                          " must be a C-contiguous, aligned array; got a strided or unaligned "
                          "array of shape " + shape_str(arr));
  if (writable && !(flags & kNpyWriteable))
    throw py::value_error(std::string(fn) + ": " + what + " is read-only");
  return const_cast<void*>(arr.data());
}

const float* in_f32(py::handle h, const char* fn, const char* what,
                    const std::vector<int64_t>& shape) {
  return static_cast<const float*>(checked(h, fn, what, kNpyFloat32, "float32", shape, false));
}
const float* opt_f32(py::handle h, const char* fn, const char* what,
                     const std::vector<int64_t>& shape) {
  return h.is_none() ? nullptr : in_f32(h, fn, what, shape);
}
float* out_f32(py::handle h, const char* fn, const char* what, const std::vector<int64_t>& shape) {
  return static_cast<float*>(checked(h, fn, what, kNpyFloat32, "float32", shape, true));
}

RnnSpec make_spec(const char* fn, int cell, const std::string& act, std::optional<float> act_alpha,
                  const std::string& rec_act, std::optional<float> rec_alpha, bool reset_after,
                  py::handle x_h) {
  RnnSpec s;
  if (cell < 0 || cell > 2)
    throw py::value_error(std::string(fn) + ": cell must be 0 (simple), 1 (lstm) or 2 (gru); got " +
                          std::to_string(cell));
  s.cell = static_cast<RnnCell>(cell);
  s.activation = parse_activation(act);
  s.recurrent_activation = parse_activation(rec_act);
  s.act_params = default_activation_params(s.activation);
  s.rec_params = default_activation_params(s.recurrent_activation);
  if (act_alpha && activation_has_alpha(s.activation)) s.act_params.alpha = *act_alpha;
  if (rec_alpha && activation_has_alpha(s.recurrent_activation)) s.rec_params.alpha = *rec_alpha;
  for (float al : {s.act_params.alpha, s.rec_params.alpha})
    if (!std::isfinite(al) || al < 0.f)
      throw py::value_error(std::string(fn) + ": activation alpha must be finite and >= 0; got " +
                            std::to_string(al));
  s.reset_after = reset_after;
  if (!py::isinstance<py::array>(x_h))
    throw py::type_error(std::string(fn) + ": x must be a numpy.ndarray of dtype float32");
  auto x = py::reinterpret_borrow<py::array>(x_h);
  if (x.ndim() != 3)
    throw py::value_error(std::string(fn) + ": x must have shape (batch, timesteps, features); "
                          "got shape " + shape_str(x));
  s.batch = x.shape(0);
  s.steps = x.shape(1);
  s.features = x.shape(2);
  return s;
}

int64_t units_of(py::handle rk_h, const char* fn) {
  if (!py::isinstance<py::array>(rk_h))
    throw py::type_error(std::string(fn) + ": recurrent_kernel must be a numpy.ndarray");
  auto rk = py::reinterpret_borrow<py::array>(rk_h);
  if (rk.ndim() != 2 || rk.shape(0) < 1)
    throw py::value_error(std::string(fn) + ": recurrent_kernel must have shape (units, gates) "
                          "with units >= 1; got shape " + shape_str(rk));
  return rk.shape(0);
}

py::tuple forward(int cell, const std::string& act, std::optional<float> act_alpha,
                  const std::string& rec_act, std::optional<float> rec_alpha, bool reset_after,
                  py::handle x_h, py::handle k_h, py::handle rk_h, py::handle b_h, py::handle h0_h,
                  py::handle c0_h, py::handle mask_h, py::handle rm_h, bool return_sequences,
                  bool training, int num_threads) {
  constexpr const char* fn = "rnn_forward";
  RnnSpec s = make_spec(fn, cell, act, act_alpha, rec_act, rec_alpha, reset_after, x_h);
  s.units = units_of(rk_h, fn);
  rnn_check_spec(s, fn);
  const int64_t N = s.batch, T = s.steps, I = s.features, U = s.units, G = rnn_gates(s);
  const bool lstm = s.cell == RnnCell::kLstm;
  RnnForwardArgs a;
  a.x = in_f32(x_h, fn, "x", {N, T, I});
  a.kernel = in_f32(k_h, fn, "kernel", {I, G});
  a.recurrent_kernel = in_f32(rk_h, fn, "recurrent_kernel", {U, G});
  if (s.cell == RnnCell::kGru && reset_after)
    a.bias = opt_f32(b_h, fn, "bias", {2, G});
  else
    a.bias = opt_f32(b_h, fn, "bias", {G});
  a.h0 = opt_f32(h0_h, fn, "h0", {N, U});
  if (!c0_h.is_none() && !lstm)
    throw py::value_error(std::string(fn) + ": c0 is only used by the lstm cell");
  a.c0 = opt_f32(c0_h, fn, "c0", {N, U});
  if (!mask_h.is_none())
    a.mask = static_cast<const uint8_t*>(
        checked(mask_h, fn, "mask", kNpyUint8, "bool or uint8", {N, T}, false));
  a.rec_mask = opt_f32(rm_h, fn, "rec_mask", {N, U});
  a.return_sequences = return_sequences;
  py::array_t<float> y(return_sequences ? std::vector<py::ssize_t>{N, T, U}
                                        : std::vector<py::ssize_t>{N, U});
  py::array_t<float> h({N, U});
  a.y = y.mutable_data();
  a.h_out = h.mutable_data();
  py::object c = py::none(), saved = py::none(), hp = py::none(), cp = py::none();
  if (lstm) {
    py::array_t<float> c_arr({N, U});
    a.c_out = c_arr.mutable_data();
    c = c_arr;
  }
  if (training) {
    py::array_t<float> sv({N, T, rnn_saved_width(s)});
    py::array_t<float> hpa({N, T, U});
    a.saved = sv.mutable_data();
    a.h_prev = hpa.mutable_data();
    saved = sv;
    hp = hpa;
    if (lstm) {
      py::array_t<float> cpa({N, T, U});
      a.c_prev = cpa.mutable_data();
      cp = cpa;
    }
  }
  run(2.0 * N * T * G * (I + U), [&] { rnn_forward(s, a, num_threads); }, kReleaseGilFlops);
  return py::make_tuple(y, h, c, saved, hp, cp);
}

py::tuple backward(int cell, const std::string& act, std::optional<float> act_alpha,
                   const std::string& rec_act, std::optional<float> rec_alpha, bool reset_after,
                   py::handle x_h, py::handle k_h, py::handle rk_h, py::handle mask_h,
                   py::handle rm_h, py::handle saved_h, py::handle hp_h, py::handle cp_h,
                   py::handle dy_h, bool return_sequences, py::handle dh_h, py::handle dc_h,
                   py::handle dk_h, py::handle drk_h, py::handle db_h, bool need_dx,
                   int num_threads) {
  constexpr const char* fn = "rnn_backward";
  RnnSpec s = make_spec(fn, cell, act, act_alpha, rec_act, rec_alpha, reset_after, x_h);
  s.units = units_of(rk_h, fn);
  rnn_check_spec(s, fn);
  const int64_t N = s.batch, T = s.steps, I = s.features, U = s.units, G = rnn_gates(s);
  const bool lstm = s.cell == RnnCell::kLstm;
  RnnBackwardArgs a;
  a.x = in_f32(x_h, fn, "x", {N, T, I});
  a.kernel = in_f32(k_h, fn, "kernel", {I, G});
  a.recurrent_kernel = in_f32(rk_h, fn, "recurrent_kernel", {U, G});
  if (!mask_h.is_none())
    a.mask = static_cast<const uint8_t*>(
        checked(mask_h, fn, "mask", kNpyUint8, "bool or uint8", {N, T}, false));
  a.rec_mask = opt_f32(rm_h, fn, "rec_mask", {N, U});
  a.saved = in_f32(saved_h, fn, "saved", {N, T, rnn_saved_width(s)});
  a.h_prev = in_f32(hp_h, fn, "h_prev", {N, T, U});
  if (lstm) a.c_prev = in_f32(cp_h, fn, "c_prev", {N, T, U});
  a.return_sequences = return_sequences;
  a.dy = opt_f32(dy_h, fn, "dy", return_sequences ? std::vector<int64_t>{N, T, U}
                                                  : std::vector<int64_t>{N, U});
  a.dh_last = opt_f32(dh_h, fn, "dh", {N, U});
  if (!dc_h.is_none() && !lstm)
    throw py::value_error(std::string(fn) + ": dc is only used by the lstm cell");
  a.dc_last = opt_f32(dc_h, fn, "dc", {N, U});
  a.dkernel = out_f32(dk_h, fn, "dkernel", {I, G});
  a.drecurrent = out_f32(drk_h, fn, "drecurrent_kernel", {U, G});
  if (!db_h.is_none()) {
    a.dbias = (s.cell == RnnCell::kGru && reset_after) ? out_f32(db_h, fn, "dbias", {2, G})
                                                       : out_f32(db_h, fn, "dbias", {G});
  }
  // The accumulated gradients must not overlap each other or the inputs.
  const std::vector<std::pair<const void*, int64_t>> ins = {
      {a.x, N * T * I}, {a.kernel, I * G}, {a.recurrent_kernel, U * G}};
  const std::vector<std::pair<const void*, int64_t>> outs = {
      {a.dkernel, I * G}, {a.drecurrent, U * G}, {a.dbias, a.dbias ? rnn_bias_size(s) : 0}};
  for (size_t i = 0; i < outs.size(); ++i) {
    for (const auto& in : ins)
      if (ranges_overlap(outs[i].first, outs[i].second * 4, in.first, in.second * 4))
        throw py::value_error(std::string(fn) + ": gradient arrays must not overlap the inputs");
    for (size_t j = i + 1; j < outs.size(); ++j)
      if (ranges_overlap(outs[i].first, outs[i].second * 4, outs[j].first, outs[j].second * 4))
        throw py::value_error(std::string(fn) + ": gradient arrays must not overlap each other");
  }
  py::object dx = py::none(), dc0 = py::none();
  if (need_dx) {
    py::array_t<float> dxa({N, T, I});
    a.dx = dxa.mutable_data();
    dx = dxa;
  }
  py::array_t<float> dh0({N, U});
  a.dh0 = dh0.mutable_data();
  if (lstm) {
    py::array_t<float> dca({N, U});
    a.dc0 = dca.mutable_data();
    dc0 = dca;
  }
  run(4.0 * N * T * G * (I + U), [&] { rnn_backward(s, a, num_threads); }, kReleaseGilFlops);
  return py::make_tuple(dx, dh0, dc0);
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", &forward, py::arg("cell"), py::arg("activation"),
        py::arg("activation_alpha"), py::arg("recurrent_activation"),
        py::arg("recurrent_activation_alpha"), py::arg("reset_after"), py::arg("x"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"),
        py::arg("c0"), py::arg("mask"), py::arg("rec_mask"), py::arg("return_sequences"),
        py::arg("training"), py::arg("num_threads") = 0,
        "Whole-sequence forward pass of a recurrent layer (cell 0 simple, 1 lstm, 2 gru).\n"
        "Returns (y, h, c, saved, h_prev, c_prev); the last three are None unless training.");
  m.def("rnn_backward", &backward, py::arg("cell"), py::arg("activation"),
        py::arg("activation_alpha"), py::arg("recurrent_activation"),
        py::arg("recurrent_activation_alpha"), py::arg("reset_after"), py::arg("x"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("mask"), py::arg("rec_mask"),
        py::arg("saved"), py::arg("h_prev"), py::arg("c_prev"), py::arg("dy"),
        py::arg("return_sequences"), py::arg("dh"), py::arg("dc"), py::arg("dkernel"),
        py::arg("drecurrent_kernel"), py::arg("dbias"), py::arg("need_dx"),
        py::arg("num_threads") = 0,
        "Backward pass through time: accumulates the weight gradients into dkernel,\n"
        "drecurrent_kernel and dbias; returns (dx or None, dh0, dc0 or None).");
}

}  // namespace pyn
