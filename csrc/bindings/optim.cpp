// Bindings of the optimizer updates: pynncore._core.<name>_update, sum_of_squares and
// segment_sum_of_squares.
//
// One function per optimizer, each taking the parameter array, the gradient array and that
// optimizer's state slots as float32 C-contiguous arrays of one size (any shape), then the
// hyper-parameters as keyword arguments with Keras 3's defaults. Parameters and slots are
// updated in place: they are checked and never converted or copied, and no two arrays may
// share memory.
#include "kernels/optim.h"

#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"

namespace pyn {
namespace {

// Below this many elements the GIL is kept (the update takes a few microseconds at most).
constexpr int64_t kReleaseGilElements = 16384;

// The arrays of one call: pointers, sizes and names, checked as they are added.
class ArraySet {
 public:
  explicit ArraySet(const char* fn) : fn_(fn) {}

  // A float32 C-contiguous array; the first one added fixes the size of the others.
  float* add(py::handle h, const char* what, bool writable) {
    if (!py::isinstance<py::array>(h))
      throw py::type_error(fn_ + ": " + what +
                           " must be a numpy.ndarray of dtype float32; got an object of type " +
                           type_name(h));
    auto a = py::reinterpret_borrow<py::array>(h);
    py::dtype dt = a.dtype();
    if (dt.num() != kNpyFloat32 || dt.byteorder() == '>')
      throw py::type_error(fn_ + ": " + what + " must have dtype float32; got dtype " +
                           std::string(py::str(dt)));
    const int flags = a.flags();
    const char* why = writable ? " (it is updated in place, never copied)" : "";
    if (!(flags & kNpyCContiguous))
      throw py::value_error(fn_ + ": " + what + " must be C-contiguous" + why +
                            "; got a non-contiguous array of shape " + shape_str(a));
    if (!(flags & kNpyAligned))
      throw py::value_error(fn_ + ": " + what + " must be aligned" + why +
                            "; got an unaligned array");
    if (writable && !(flags & kNpyWriteable))
      throw py::value_error(fn_ + ": " + what + " is read-only; it must be writable");
    const int64_t size = static_cast<int64_t>(a.size());
    if (names_.empty()) {
      n_ = size;
      first_shape_ = shape_str(a);
    } else if (size != n_) {
      throw py::value_error(fn_ + ": " + what + " must have as many elements as " + names_[0] +
                            " (" + std::to_string(n_) + ", shape " + first_shape_ + "); got " +
                            std::to_string(size) + " (shape " + shape_str(a) + ")");
    }
    void* ptr = writable ? a.mutable_data() : const_cast<void*>(a.data());
    for (size_t i = 0; i < ptrs_.size(); ++i)
      if (ranges_overlap(ptr, size * 4, ptrs_[i], n_ * 4))
        throw py::value_error(fn_ + ": " + what + " shares memory with " + names_[i] +
                              "; every array must be a separate buffer");
    ptrs_.push_back(ptr);
    names_.push_back(what);
    return static_cast<float*>(ptr);
  }

  // An optional slot: null for None.
  float* add_optional(py::handle h, const char* what) {
    return h.is_none() ? nullptr : add(h, what, true);
  }

  int64_t n() const { return n_; }
  bool release_gil() const { return n_ >= kReleaseGilElements; }

 private:
  std::string fn_;
  int64_t n_ = 0;
  std::string first_shape_;
  std::vector<void*> ptrs_;
  std::vector<const char*> names_;
};

// Runs `fn` with the GIL released when the update is large enough to be worth it.
template <class Fn>
auto run(const ArraySet& s, Fn&& fn) {
  if (s.release_gil()) {
    py::gil_scoped_release nogil;
    return fn();
  }
  return fn();
}

// One update call: its checked params and grads, the slots the binding adds after them, and
// its hyper-parameters with the shared ones set.
template <class Params>
struct Update {
  Update(const char* fn, py::handle params, py::handle grads, double lr, double weight_decay,
         double grad_scale, double clip_value)
      : arrays(fn), p(arrays.add(params, "params", true)), g(arrays.add(grads, "grads", false)) {
    hp.lr = lr;
    hp.weight_decay = weight_decay;
    hp.grad_scale = grad_scale;
    hp.clip_value = clip_value;
  }
  float* slot(py::handle h, const char* what) { return arrays.add(h, what, true); }
  float* optional_slot(py::handle h, const char* what) { return arrays.add_optional(h, what); }
  int64_t n() const { return arrays.n(); }

  ArraySet arrays;
  float* p;
  const float* g;
  Params hp;
};

// Keyword arguments every update takes, after its own hyper-parameters.
#define PYN_COMMON_KWARGS                                                                  \
  py::arg("weight_decay") = 0.0, py::arg("grad_scale") = 1.0, py::arg("clip_value") = 0.0

constexpr const char* kCommonDoc =
    "\n\nFirst g = clip(grads * grad_scale, -clip_value, clip_value) (clip_value <= 0 or inf:\n"
    "no clipping) and params *= 1 - learning_rate * weight_decay. Arrays: float32,\n"
    "C-contiguous, one size, no shared memory; updated in place, never copied.";

std::string doc(const char* rule) { return std::string(rule) + kCommonDoc; }

// A 1-D int64 C-contiguous aligned array `what` of `fn`, or an error naming it.
py::array int64_vector(py::handle h, const char* fn, const char* what) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(fn) + ": " + what +
                         " must be a numpy.ndarray of dtype int64; got an object of type " +
                         type_name(h));
  auto a = py::reinterpret_borrow<py::array>(h);
  py::dtype dt = a.dtype();
  if (dt.kind() != 'i' || dt.itemsize() != 8 || dt.byteorder() == '>')
    throw py::type_error(std::string(fn) + ": " + what + " must have dtype int64; got dtype " +
                         std::string(py::str(dt)));
  if (a.ndim() != 1)
    throw py::value_error(std::string(fn) + ": " + what + " must be 1-D; got shape " +
                          shape_str(a));
  if (!(a.flags() & kNpyCContiguous) || !(a.flags() & kNpyAligned))
    throw py::value_error(std::string(fn) + ": " + what + " must be C-contiguous and aligned");
  return a;
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_update",
      [](py::handle params, py::handle grads, py::handle momentum_buf, double learning_rate,
         double momentum, bool nesterov, double weight_decay, double grad_scale,
         double clip_value) {
        Update<SgdParams> call("sgd_update", params, grads, learning_rate, weight_decay,
                               grad_scale, clip_value);
        float* mb = call.optional_slot(momentum_buf, "momentum_buf");
        call.hp.momentum = momentum;
        call.hp.nesterov = nesterov;
        run(call.arrays, [&] { sgd_update(call.n(), call.p, call.g, mb, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buf") = py::none(), py::kw_only(),
      py::arg("learning_rate") = 0.01, py::arg("momentum") = 0.0, py::arg("nesterov") = false,
      PYN_COMMON_KWARGS,
      doc("Keras SGD: m = momentum * m - lr * g; p += m (nesterov: p += momentum * m - lr * g);\n"
          "without momentum_buf (momentum must be 0): p -= lr * g.")
          .c_str());

  m.def(
      "rmsprop_update",
      [](py::handle params, py::handle grads, py::handle velocity, py::handle momentum_buf,
         py::handle average_grad, double learning_rate, double rho, double momentum,
         double epsilon, double weight_decay, double grad_scale, double clip_value) {
        Update<RmspropParams> call("rmsprop_update", params, grads, learning_rate, weight_decay,
                                   grad_scale, clip_value);
        float* v = call.slot(velocity, "velocity");
        float* mb = call.optional_slot(momentum_buf, "momentum_buf");
        float* ag = call.optional_slot(average_grad, "average_grad");
        call.hp.rho = rho;
        call.hp.momentum = momentum;
        call.hp.epsilon = epsilon;
        run(call.arrays, [&] { rmsprop_update(call.n(), call.p, call.g, v, mb, ag, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("velocity"),
      py::arg("momentum_buf") = py::none(), py::arg("average_grad") = py::none(), py::kw_only(),
      py::arg("learning_rate") = 0.001, py::arg("rho") = 0.9, py::arg("momentum") = 0.0,
      py::arg("epsilon") = 1e-7, PYN_COMMON_KWARGS,
      doc("Keras RMSprop: v = rho v + (1 - rho) g^2; average_grad given (centered):\n"
          "a = rho a + (1 - rho) g, d = v - a^2 + eps, else d = v + eps; inc = lr g / sqrt(d);\n"
          "with momentum_buf b = momentum b + inc, p -= b, else p -= inc.")
          .c_str());

  m.def(
      "adagrad_update",
      [](py::handle params, py::handle grads, py::handle accumulator, double learning_rate,
         double epsilon, double weight_decay, double grad_scale, double clip_value) {
        Update<AdagradParams> call("adagrad_update", params, grads, learning_rate, weight_decay,
                                   grad_scale, clip_value);
        float* acc = call.slot(accumulator, "accumulator");
        call.hp.epsilon = epsilon;
        run(call.arrays, [&] { adagrad_update(call.n(), call.p, call.g, acc, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("accumulator"), py::kw_only(),
      py::arg("learning_rate") = 0.001, py::arg("epsilon") = 1e-7, PYN_COMMON_KWARGS,
      doc("Keras Adagrad: acc += g^2; p -= lr g / sqrt(acc + eps). Keras starts acc at\n"
          "initial_accumulator_value (0.1): fill it before the first step.")
          .c_str());

  m.def(
      "adadelta_update",
      [](py::handle params, py::handle grads, py::handle accum_grad, py::handle accum_var,
         double learning_rate, double rho, double epsilon, double weight_decay,
         double grad_scale, double clip_value) {
        Update<AdadeltaParams> call("adadelta_update", params, grads, learning_rate, weight_decay,
                                    grad_scale, clip_value);
        float* ag = call.slot(accum_grad, "accum_grad");
        float* av = call.slot(accum_var, "accum_var");
        call.hp.rho = rho;
        call.hp.epsilon = epsilon;
        run(call.arrays, [&] { adadelta_update(call.n(), call.p, call.g, ag, av, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("accum_grad"), py::arg("accum_var"),
      py::kw_only(), py::arg("learning_rate") = 0.001, py::arg("rho") = 0.95,
      py::arg("epsilon") = 1e-7, PYN_COMMON_KWARGS,
      doc("Keras Adadelta: ag = rho ag + (1 - rho) g^2; dx = -sqrt(av + eps) g / sqrt(ag + eps);\n"
          "av = rho av + (1 - rho) dx^2; p += lr dx.")
          .c_str());

  m.def(
      "adam_update",
      [](py::handle params, py::handle grads, py::handle m_h, py::handle v_h, py::handle vhat_h,
         int64_t step, double learning_rate, double beta_1, double beta_2, double epsilon,
         double weight_decay, double grad_scale, double clip_value) {
        Update<AdamParams> call("adam_update", params, grads, learning_rate, weight_decay,
                                grad_scale, clip_value);
        float* m = call.slot(m_h, "m");
        float* v = call.slot(v_h, "v");
        float* vh = call.optional_slot(vhat_h, "vhat");
        call.hp.beta_1 = beta_1;
        call.hp.beta_2 = beta_2;
        call.hp.epsilon = epsilon;
        call.hp.step = step;
        run(call.arrays, [&] { adam_update(call.n(), call.p, call.g, m, v, vh, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"),
      py::arg("vhat") = py::none(), py::kw_only(), py::arg("step"),
      py::arg("learning_rate") = 0.001, py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999,
      py::arg("epsilon") = 1e-7, PYN_COMMON_KWARGS,
      doc("Keras Adam (AdamW with weight_decay), step t 1-based: m += (g - m)(1 - b1);\n"
          "v += (g^2 - v)(1 - b2); vhat given (amsgrad): vhat = max(vhat, v), v = vhat;\n"
          "p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).")
          .c_str());

  m.def(
      "adamax_update",
      [](py::handle params, py::handle grads, py::handle m_h, py::handle u_h, int64_t step,
         double learning_rate, double beta_1, double beta_2, double epsilon, double weight_decay,
         double grad_scale, double clip_value) {
        Update<AdamaxParams> call("adamax_update", params, grads, learning_rate, weight_decay,
                                  grad_scale, clip_value);
        float* m = call.slot(m_h, "m");
        float* u = call.slot(u_h, "u");
        call.hp.beta_1 = beta_1;
        call.hp.beta_2 = beta_2;
        call.hp.epsilon = epsilon;
        call.hp.step = step;
        run(call.arrays, [&] { adamax_update(call.n(), call.p, call.g, m, u, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("u"), py::kw_only(),
      py::arg("step"), py::arg("learning_rate") = 0.001, py::arg("beta_1") = 0.9,
      py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7, PYN_COMMON_KWARGS,
      doc("Keras Adamax, step t 1-based: m += (g - m)(1 - b1); u = max(b2 u, |g|);\n"
          "p -= lr m / ((1 - b1^t)(u + eps)).")
          .c_str());

  m.def(
      "nadam_update",
      [](py::handle params, py::handle grads, py::handle m_h, py::handle v_h, int64_t step,
         double u_product, double learning_rate, double beta_1, double beta_2, double epsilon,
         double weight_decay, double grad_scale, double clip_value) {
        Update<NadamParams> call("nadam_update", params, grads, learning_rate, weight_decay,
                                 grad_scale, clip_value);
        float* m = call.slot(m_h, "m");
        float* v = call.slot(v_h, "v");
        call.hp.beta_1 = beta_1;
        call.hp.beta_2 = beta_2;
        call.hp.epsilon = epsilon;
        call.hp.step = step;
        call.hp.u_product = u_product;
        return run(call.arrays, [&] { return nadam_update(call.n(), call.p, call.g, m, v, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"), py::kw_only(),
      py::arg("step"), py::arg("u_product"), py::arg("learning_rate") = 0.001,
      py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7,
      PYN_COMMON_KWARGS,
      doc("Keras 3 Nadam, step t 1-based, u_t = b1 (1 - 0.5 * 0.96^t): u_product is the product\n"
          "u_1 ... u_{t-1} (1.0 before the first step); returns u_1 ... u_t, the value to pass\n"
          "at the next step.")
          .c_str());

  m.def(
      "lion_update",
      [](py::handle params, py::handle grads, py::handle m_h, double learning_rate,
         double beta_1, double beta_2, double weight_decay, double grad_scale,
         double clip_value) {
        Update<LionParams> call("lion_update", params, grads, learning_rate, weight_decay,
                                grad_scale, clip_value);
        float* m = call.slot(m_h, "m");
        call.hp.beta_1 = beta_1;
        call.hp.beta_2 = beta_2;
        run(call.arrays, [&] { lion_update(call.n(), call.p, call.g, m, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::kw_only(),
      py::arg("learning_rate") = 0.001, py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.99,
      PYN_COMMON_KWARGS,
      doc("Keras Lion: c = b1 m + (1 - b1) g; p -= lr sign(c); m = b2 m + (1 - b2) g.").c_str());

  m.def(
      "lamb_update",
      [](py::handle params, py::handle grads, py::handle m_h, py::handle v_h,
         py::handle offsets_h, py::handle sizes_h, int64_t step, double learning_rate,
         double beta_1, double beta_2, double epsilon, double weight_decay, double grad_scale,
         double clip_value) {
        const char* fn = "lamb_update";
        Update<LambParams> call(fn, params, grads, learning_rate, weight_decay, grad_scale,
                                clip_value);
        float* m = call.slot(m_h, "m");
        float* v = call.slot(v_h, "v");
        call.hp.beta_1 = beta_1;
        call.hp.beta_2 = beta_2;
        call.hp.epsilon = epsilon;
        call.hp.step = step;
        py::array offsets = int64_vector(offsets_h, fn, "offsets");
        py::array sizes = int64_vector(sizes_h, fn, "sizes");
        if (offsets.shape(0) != sizes.shape(0))
          throw py::value_error(std::string(fn) + ": offsets and sizes must have one entry per "
                                "variable each; got " + std::to_string(offsets.shape(0)) +
                                " offsets and " + std::to_string(sizes.shape(0)) + " sizes");
        const int64_t segments = offsets.shape(0);
        py::array_t<double> ratios(segments);
        double* r = ratios.mutable_data();
        const int64_t* off = static_cast<const int64_t*>(offsets.data());
        const int64_t* sz = static_cast<const int64_t*>(sizes.data());
        run(call.arrays, [&] {
          lamb_update(call.n(), call.p, call.g, m, v, segments, off, sz, call.hp, r);
        });
        return ratios;
      },
      py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"), py::arg("offsets"),
      py::arg("sizes"), py::kw_only(), py::arg("step"), py::arg("learning_rate") = 0.001,
      py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("epsilon") = 1e-7,
      PYN_COMMON_KWARGS,
      doc("Keras Lamb, step t 1-based, per variable s = elements [offsets[s], offsets[s] +\n"
          "sizes[s]) (int64 arrays; elements outside every variable are left as they are):\n"
          "m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);\n"
          "u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps);\n"
          "r = ||p|| / ||u|| over the variable (1 when either norm is 0); p -= lr r u.\n"
          "Returns the float64 trust ratios r, one per variable.")
          .c_str());

  m.def(
      "ftrl_update",
      [](py::handle params, py::handle grads, py::handle acc_h, py::handle lin_h,
         double learning_rate, double learning_rate_power, double l1, double l2,
         double l2_shrinkage, double beta, double weight_decay, double grad_scale,
         double clip_value) {
        Update<FtrlParams> call("ftrl_update", params, grads, learning_rate, weight_decay,
                                grad_scale, clip_value);
        float* acc = call.slot(acc_h, "accumulator");
        float* lin = call.slot(lin_h, "linear");
        call.hp.learning_rate_power = learning_rate_power;
        call.hp.l1 = l1;
        call.hp.l2 = l2;
        call.hp.l2_shrinkage = l2_shrinkage;
        call.hp.beta = beta;
        run(call.arrays, [&] { ftrl_update(call.n(), call.p, call.g, acc, lin, call.hp); });
      },
      py::arg("params"), py::arg("grads"), py::arg("accumulator"), py::arg("linear"),
      py::kw_only(), py::arg("learning_rate") = 0.001, py::arg("learning_rate_power") = -0.5,
      py::arg("l1_regularization_strength") = 0.0, py::arg("l2_regularization_strength") = 0.0,
      py::arg("l2_shrinkage_regularization_strength") = 0.0, py::arg("beta") = 0.0,
      PYN_COMMON_KWARGS,
      doc("Keras Ftrl, k = -learning_rate_power, x = params after the decay:\n"
          "a' = a + g^2; z += g + 2 l2_shrinkage x - (a'^k - a^k) / lr * x;\n"
          "q = a'^k / lr + 2 (l2 + beta / (2 lr)); params = (clip(z, -l1, l1) - z) / q; a = a'.\n"
          "accumulator starts at Keras's initial_accumulator_value (0.1), linear at 0.")
          .c_str());

  m.def(
      "sum_of_squares",
      [](py::handle x) {
        ArraySet s("sum_of_squares");
        const float* p = s.add(x, "x", false);
        return run(s, [&] { return sum_of_squares(s.n(), p); });
      },
      py::arg("x"),
      "Sum of x**2 over all elements of a float32 C-contiguous array, accumulated in double.");

  m.def(
      "segment_sum_of_squares",
      [](py::handle x, py::handle offsets_h) {
        const char* fn = "segment_sum_of_squares";
        ArraySet s(fn);
        const float* p = s.add(x, "x", false);
        py::array offsets = int64_vector(offsets_h, fn, "offsets");
        if (offsets.shape(0) < 1)
          throw py::value_error(std::string(fn) +
                                ": offsets must be 1-D with at least one entry; got shape " +
                                shape_str(offsets));
        const int64_t segments = offsets.shape(0) - 1;
        py::array_t<double> out(segments);
        double* o = out.mutable_data();
        const int64_t* off = static_cast<const int64_t*>(offsets.data());
        run(s, [&] { segment_sum_of_squares(s.n(), p, segments, off, o); });
        return out;
      },
      py::arg("x"), py::arg("offsets"),
      "Sums of squares of the segments [offsets[s], offsets[s + 1]) of the flattened float32\n"
      "array x, as a float64 array of len(offsets) - 1 entries.");

  m.def("optim_kernel", [] { return std::string(optim_kernel_name()); },
        "Instruction set the optimizer update loops run on now.");
}

}  // namespace pyn
