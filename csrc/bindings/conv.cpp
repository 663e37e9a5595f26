// Bindings of the convolution kernels: pynncore._core.conv2d_forward / conv2d_backward.
// Arrays must be float32, C-contiguous and aligned; they are checked cheaply and never copied
// (pynncore.ops converts other inputs once). Every size is checked here against every array
// before the kernel runs; the geometry (strides, dilation, padding) comes as integers and the
// output size from the output array, so the same entry points serve Conv1D (H = 1),
// Conv2D and Conv2DTranspose.
#include "kernels/conv.h"
#include "kernels/conv_winograd.h"

#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

constexpr double kReleaseGilFlops = 1.0e5;

struct Arr {
  py::array arr;
  float* data = nullptr;
  int64_t size = 0;
  bool given = false;
};

std::string type_name(py::handle h) {
  return std::string(py::str(py::type::handle_of(h).attr("__name__")));
}

// A float32, C-contiguous, aligned array of rank `ndim` (writable when `output`), or an empty
// Arr for None.
Arr checked(py::handle h, const char* fn, const char* what, int ndim, bool output) {
  Arr r;
  if (h.is_none()) return r;
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(fn) + ": " + what +
                         " must be a numpy.ndarray of dtype float32; got an object of type " +
                         type_name(h));
  r.arr = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = r.arr.dtype();
  if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
    throw py::type_error(std::string(fn) + ": " + what + " must have dtype float32; got dtype " +
                         std::string(py::str(dt)));
  if (r.arr.ndim() != ndim)
    throw py::value_error(std::string(fn) + ": " + what + " must be " + std::to_string(ndim) +
                          "-D; got shape " + shape_str(r.arr));
  const int flags = r.arr.flags();
  if (!(flags & kNpyCContiguous))
    throw py::value_error(std::string(fn) + ": " + what +
                          " must be C-contiguous; got a non-contiguous array");
  if (!(flags & kNpyAligned))
    throw py::value_error(std::string(fn) + ": " + what + " must be aligned to 4 bytes");
  if (output && !(flags & kNpyWriteable))
    throw py::value_error(std::string(fn) + ": " + what + " is read-only");
  r.size = static_cast<int64_t>(r.arr.size());
  r.data = static_cast<float*>(const_cast<void*>(r.arr.data()));
  r.given = true;
  return r;
}

std::array<int64_t, 4> dims4(const Arr& a) {
  return {a.arr.shape(0), a.arr.shape(1), a.arr.shape(2), a.arr.shape(3)};
}

std::string dims_str(const std::array<int64_t, 4>& d) {
  return "(" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) +
         ", " + std::to_string(d[3]) + ")";
}

void expect_shape(const Arr& a, const std::array<int64_t, 4>& want, const char* fn,
                  const char* what, const char* why) {
  if (dims4(a) != want)
    throw py::value_error(std::string(fn) + ": " + what + " must have shape " + dims_str(want) +
                          " (" + why + "); got shape " + shape_str(a.arr));
}

void expect_vector(const Arr& a, int64_t n, const char* fn, const char* what) {
  if (a.arr.shape(0) != n)
    throw py::value_error(std::string(fn) + ": " + what + " must have shape (" +
                          std::to_string(n) + ",); got shape " + shape_str(a.arr));
}

void no_overlap(const Arr& out, const Arr& in, const char* fn, const char* out_name,
                const char* in_name) {
  if (!out.given || !in.given) return;
  if (ranges_overlap(out.data, out.size * 4, in.data, in.size * 4))
    throw py::value_error(std::string(fn) + ": " + out_name + " overlaps " + in_name +
                          "; outputs must be separate arrays");
}

ConvGeom geometry(const char* fn, const std::array<int64_t, 4>& in,
                  const std::array<int64_t, 4>& ker, const std::array<int64_t, 4>& out,
                  const std::array<int64_t, 2>& strides, const std::array<int64_t, 2>& dilation,
                  const std::array<int64_t, 2>& padding) {
  ConvGeom g;
  g.n = in[0];
  g.h = in[1];
  g.w = in[2];
  g.c = in[3];
  g.kh = ker[0];
  g.kw = ker[1];
  g.f = ker[3];
  g.oh = out[1];
  g.ow = out[2];
  g.sh = strides[0];
  g.sw = strides[1];
  g.dh = dilation[0];
  g.dw = dilation[1];
  g.pt = padding[0];
  g.pl = padding[1];
  if (ker[2] < 1 || g.c % ker[2] != 0)
    throw py::value_error(std::string(fn) + ": the input's " + std::to_string(g.c) +
                          " channels must be a positive multiple of the kernel's input channels "
                          "(kernel shape " + dims_str(ker) + ", axis 2)");
  g.groups = g.c / ker[2];
  if (g.f % g.groups != 0)
    throw py::value_error(std::string(fn) + ": " + std::to_string(g.f) +
                          " filters are not divisible by groups=" + std::to_string(g.groups) +
                          " (input channels " + std::to_string(g.c) + " / kernel input channels " +
                          std::to_string(ker[2]) + ")");
  if (out[0] != g.n || out[3] != g.f)
    throw py::value_error(std::string(fn) + ": output must have shape (" + std::to_string(g.n) +
                          ", OH, OW, " + std::to_string(g.f) + "); got " + dims_str(out));
  conv2d_check(g);
  return g;
}

ActParams act_params(const char* fn, Act act, std::optional<float> alpha, bool approximate) {
  ActParams p = default_activation_params(act);
  if (alpha) {
    if (!activation_has_alpha(act))
      throw py::value_error(std::string(fn) + ": " + activation_name(act) +
                            " takes no alpha (only leaky_relu and elu do)");
    p.alpha = *alpha;
  }
  if (approximate && act != Act::kGelu)
    throw py::value_error(std::string(fn) + ": approximate=True applies only to gelu");
  p.approximate = approximate;
  return p;
}

double flops(const ConvGeom& g) {
  return 2.0 * g.n * g.oh * g.ow * g.kh * g.kw * (g.c / g.groups) * static_cast<double>(g.f);
}

template <class Fn>
void run(double work, Fn&& fn) {
  if (work >= kReleaseGilFlops) {
    py::gil_scoped_release nogil;
    fn();
  } else {
    fn();
  }
}

void forward(py::handle x_h, py::handle w_h, py::handle bias_h, py::handle y_h,
             std::array<int64_t, 2> strides, std::array<int64_t, 2> dilation,
             std::array<int64_t, 2> padding, const std::string& activation,
             std::optional<float> alpha, bool approximate) {
  constexpr const char* fn = "conv2d_forward";
  const Act act = parse_activation(activation);
  const ActParams ap = act_params(fn, act, alpha, approximate);
  const Arr x = checked(x_h, fn, "x", 4, false), w = checked(w_h, fn, "kernel", 4, false);
  const Arr b = checked(bias_h, fn, "bias", 1, false), y = checked(y_h, fn, "y", 4, true);
  if (!x.given || !w.given || !y.given)
    throw py::value_error(std::string(fn) + ": x, kernel and y are required");
  const ConvGeom g = geometry(fn, dims4(x), dims4(w), dims4(y), strides, dilation, padding);
  if (b.given) expect_vector(b, g.f, fn, "bias");
  no_overlap(y, x, fn, "y", "x");
  no_overlap(y, w, fn, "y", "kernel");
  no_overlap(y, b, fn, "y", "bias");
  run(flops(g), [&] { conv2d_forward(g, x.data, w.data, b.data, y.data, act, ap); });
}

void backward(py::handle x_h, py::handle w_h, py::handle dz_h, py::handle dx_h, py::handle dw_h,
              py::handle db_h, std::array<int64_t, 2> strides, std::array<int64_t, 2> dilation,
              std::array<int64_t, 2> padding, bool accumulate, py::handle bias_dx_h,
              const std::string& activation, std::optional<float> alpha, bool approximate) {
  constexpr const char* fn = "conv2d_backward";
  const Act act = parse_activation(activation);
  const ActParams ap = act_params(fn, act, alpha, approximate);
  const Arr x = checked(x_h, fn, "x", 4, false), w = checked(w_h, fn, "kernel", 4, false);
  const Arr dz = checked(dz_h, fn, "dy", 4, false);
  const Arr dx = checked(dx_h, fn, "dx", 4, true), dw = checked(dw_h, fn, "dkernel", 4, true);
  const Arr db = checked(db_h, fn, "dbias", 1, true);
  const Arr bdx = checked(bias_dx_h, fn, "bias_dx", 1, false);
  if (!dz.given) throw py::value_error(std::string(fn) + ": dy is required");
  if (dx.given && !w.given)
    throw py::value_error(std::string(fn) + ": dx needs the kernel; got kernel=None");
  if (dw.given && !x.given)
    throw py::value_error(std::string(fn) + ": dkernel needs x; got x=None");
  if (!x.given && !dx.given)
    throw py::value_error(std::string(fn) + ": the input shape comes from x or dx; got neither");
  if (!w.given && !dw.given)
    throw py::value_error(std::string(fn) +
                          ": the kernel shape comes from kernel or dkernel; got neither");
  if (!dx.given && (bdx.given || act != Act::kLinear))
    throw py::value_error(std::string(fn) + ": bias_dx and activation apply to dx; got dx=None");
  const auto in = dx.given ? dims4(dx) : dims4(x);
  const auto ker = w.given ? dims4(w) : dims4(dw);
  const ConvGeom g = geometry(fn, in, ker, dims4(dz), strides, dilation, padding);
  if (x.given && dx.given) expect_shape(x, in, fn, "x", "the shape of dx");
  if (w.given && dw.given) expect_shape(dw, ker, fn, "dkernel", "the shape of kernel");
  if (db.given) expect_vector(db, g.f, fn, "dbias");
  if (bdx.given) expect_vector(bdx, g.c, fn, "bias_dx");
  const Arr* outs[] = {&dx, &dw, &db};
  const char* out_names[] = {"dx", "dkernel", "dbias"};
  const Arr* ins[] = {&x, &w, &dz, &bdx};
  const char* in_names[] = {"x", "kernel", "dy", "bias_dx"};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) no_overlap(*outs[i], *ins[j], fn, out_names[i], in_names[j]);
    for (int j = i + 1; j < 3; ++j) no_overlap(*outs[i], *outs[j], fn, out_names[i], out_names[j]);
  }
  const double work = flops(g) * (dx.given + dw.given);
  run(work, [&] {
    conv2d_backward(g, x.data, w.data, dz.data, dx.data, dw.data, db.data, accumulate, bdx.data,
                    act, ap);
  });
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &forward, py::arg("x"), py::arg("kernel"), py::arg("bias"),
        py::arg("y"), py::arg("strides"), py::arg("dilation"), py::arg("padding"),
        py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("approximate") = false,
        "y = activation(conv2d(x, kernel) + bias) on NHWC float32 arrays, written into y.\n"
        "x (N, H, W, C), kernel (KH, KW, C/groups, F), y (N, OH, OW, F); padding is (top, "
        "left); groups = C / kernel.shape[2].");
  m.def("conv2d_backward", &backward, py::arg("x"), py::arg("kernel"), py::arg("dy"),
        py::arg("dx"), py::arg("dkernel"), py::arg("dbias"), py::arg("strides"),
        py::arg("dilation"), py::arg("padding"), py::arg("accumulate") = false,
        py::arg("bias_dx") = py::none(), py::arg("activation") = "linear",
        py::arg("alpha") = py::none(), py::arg("approximate") = false,
        "Gradients of conv2d from dy (N, OH, OW, F): dx (overwritten; optionally\n"
        "activation(dx + bias_dx), the forward pass of a transposed convolution), dkernel and\n"
        "dbias (accumulated when accumulate=True). Any output may be None.");
  m.def("set_conv_shifted_weights", &set_conv_shifted_weights, py::arg("enabled"),
        "Turns the shifted-window kernels of few-channel convolutions (weight gradients and\n"
        "forward passes) on or off\n"
        "(process-wide; on by default). Returns the previous setting.");
  m.def("set_conv_winograd", &set_conv_winograd, py::arg("enabled"),
        "Turns the Winograd kernels (3x3 and 1x3 unit-stride convolutions) on or off\n"
        "(process-wide; on by default). Returns the previous setting.");
}

}  // namespace pyn
