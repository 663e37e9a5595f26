// Activation functions: names, argument checks, threading and the choice of the per-ISA
// kernels (kernels/simd/activation_<isa>.cpp). The formulas are listed in activation.h and
// implemented in kernels/simd/activation_impl.h.
//
// Element-wise work is split into contiguous ranges, one per thread, 64-float aligned:
//
//   x, y:  [ thread 0 ........ | thread 1 ........ ]      bias index = global index % bias_len
//
// A bias shorter than kMinBiasRun floats is first repeated into a local buffer (a multiple
// of its length), so the vector loop runs over long stretches instead of one masked vector
// per row. Softmax splits whole rows.
#include "kernels/activation.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"

namespace pyn {
namespace {

// Elements per thread: arrays below 2 * grain run on the calling thread. Passes that cost
// about a nanosecond per element (exp, log, divisions) split from 32768 elements; passes of a
// few instructions, bound by memory, only from 131072, since a fork/join costs microseconds.
constexpr int64_t kGrain = 16384;
constexpr int64_t kGrainCheap = 65536;
constexpr int64_t kMinBiasRun = 64;

int64_t forward_grain(Act act) {
  switch (act) {
    case Act::kLinear:
    case Act::kRelu:
    case Act::kRelu6:
    case Act::kLeakyRelu:
    case Act::kHardSigmoid:
    case Act::kHardTanh:
    case Act::kHardShrink:
    case Act::kSoftShrink:
    case Act::kSparsePlus:
    case Act::kSparseSigmoid:
    case Act::kHardSilu:
      return kGrainCheap;
    default:
      return kGrain;
  }
}

// Backward passes read x for the costly ones (and softplus evaluates expm1).
int64_t backward_grain(Act act) {
  return activation_backward_needs_x(act) || act == Act::kSoftplus || act == Act::kLogSoftmax
             ? kGrain
             : kGrainCheap;
}

struct NameEntry {
  const char* name;
  Act act;
};

// Sorted by name.
constexpr NameEntry kNames[] = {
    {"celu", Act::kCelu},
    {"elu", Act::kElu},
    {"exponential", Act::kExponential},
    {"gelu", Act::kGelu},
    {"hard_shrink", Act::kHardShrink},
    {"hard_sigmoid", Act::kHardSigmoid},
    {"hard_silu", Act::kHardSilu},
    {"hard_swish", Act::kHardSilu},
    {"hard_tanh", Act::kHardTanh},
    {"leaky_relu", Act::kLeakyRelu},
    {"linear", Act::kLinear},
    {"log_sigmoid", Act::kLogSigmoid},
    {"log_softmax", Act::kLogSoftmax},
    {"mish", Act::kMish},
    {"relu", Act::kRelu},
    {"relu6", Act::kRelu6},
    {"selu", Act::kSelu},
    {"sigmoid", Act::kSigmoid},
    {"silu", Act::kSilu},
    {"soft_shrink", Act::kSoftShrink},
    {"softmax", Act::kSoftmax},
    {"softplus", Act::kSoftplus},
    {"softsign", Act::kSoftsign},
    {"sparse_plus", Act::kSparsePlus},
    {"sparse_sigmoid", Act::kSparseSigmoid},
    {"squareplus", Act::kSquareplus},
    {"swish", Act::kSilu},
    {"tanh", Act::kTanh},
    {"tanh_shrink", Act::kTanhShrink},
};

int max_threads(int num_threads) { return num_threads > 0 ? num_threads : get_num_threads(); }

void check_params(const char* fn, Act act, const ActParams& p, bool backward) {
  if (!activation_has_alpha(act)) return;
  PYN_CHECK(std::isfinite(p.alpha), fn, ": ", activation_name(act),
            " needs a finite alpha; got ", p.alpha);
  PYN_CHECK(!backward || p.alpha >= 0.f, fn, ": ", activation_name(act),
            " backward reads the sign of y and needs alpha >= 0; got alpha=", p.alpha);
  // celu divides by alpha; the shrink thresholds and squareplus's b are not negative
  PYN_CHECK(act != Act::kCelu || p.alpha > 0.f, fn, ": celu needs alpha > 0; got alpha=",
            p.alpha);
  PYN_CHECK((act != Act::kHardShrink && act != Act::kSoftShrink) || p.alpha >= 0.f, fn, ": ",
            activation_name(act), " needs threshold >= 0; got threshold=", p.alpha);
  PYN_CHECK(act != Act::kSquareplus || p.alpha >= 0.f, fn, ": squareplus needs b >= 0; got b=",
            p.alpha);
}

}  // namespace

const ActivationKernels& activation_kernels() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return activation_kernels_avx512();
    case Isa::kAvx2:
      return activation_kernels_avx2();
    default:
      return activation_kernels_generic();
  }
}

Act parse_activation(const std::string& name) {
  for (const NameEntry& e : kNames)
    if (name == e.name) return e.act;
  throw std::invalid_argument("unknown activation '" + name +
                              "'; valid names: " + activation_names());
}

const char* activation_name(Act act) {
  switch (act) {
    case Act::kLinear:
      return "linear";
    case Act::kRelu:
      return "relu";
    case Act::kRelu6:
      return "relu6";
    case Act::kSigmoid:
      return "sigmoid";
    case Act::kHardSigmoid:
      return "hard_sigmoid";
    case Act::kTanh:
      return "tanh";
    case Act::kLeakyRelu:
      return "leaky_relu";
    case Act::kElu:
      return "elu";
    case Act::kSelu:
      return "selu";
    case Act::kSoftplus:
      return "softplus";
    case Act::kSoftsign:
      return "softsign";
    case Act::kGelu:
      return "gelu";
    case Act::kSilu:
      return "silu";
    case Act::kExponential:
      return "exponential";
    case Act::kMish:
      return "mish";
    case Act::kSoftmax:
      return "softmax";
    case Act::kLogSoftmax:
      return "log_softmax";
    case Act::kCelu:
      return "celu";
    case Act::kHardSilu:
      return "hard_silu";
    case Act::kHardTanh:
      return "hard_tanh";
    case Act::kLogSigmoid:
      return "log_sigmoid";
    case Act::kHardShrink:
      return "hard_shrink";
    case Act::kSoftShrink:
      return "soft_shrink";
    case Act::kSparsePlus:
      return "sparse_plus";
    case Act::kSparseSigmoid:
      return "sparse_sigmoid";
    case Act::kSquareplus:
      return "squareplus";
    case Act::kTanhShrink:
      return "tanh_shrink";
  }
  return "?";
}

std::string activation_names() {
  std::string s;
  for (const NameEntry& e : kNames) {
    if (!s.empty()) s += ", ";
    s += e.name;
  }
  return s;
}

ActParams default_activation_params(Act act) {
  ActParams p;
  if (act == Act::kLeakyRelu) p.alpha = 0.2f;
  if (act == Act::kElu || act == Act::kCelu) p.alpha = 1.0f;
  if (act == Act::kHardShrink || act == Act::kSoftShrink) p.alpha = 0.5f;
  if (act == Act::kSquareplus) p.alpha = 4.0f;
  return p;
}

bool activation_has_alpha(Act act) {
  return act == Act::kLeakyRelu || act == Act::kElu || act == Act::kCelu ||
         act == Act::kHardShrink || act == Act::kSoftShrink || act == Act::kSquareplus;
}

bool activation_is_rowwise(Act act) { return act == Act::kSoftmax || act == Act::kLogSoftmax; }

bool activation_backward_needs_x(Act act) {
  switch (act) {
    case Act::kSoftsign:
    case Act::kGelu:
    case Act::kSilu:
    case Act::kMish:
    case Act::kHardSilu:
    case Act::kSparsePlus:
    case Act::kSquareplus:
    case Act::kTanhShrink:
      return true;
    default:
      return false;
  }
}

bool activation_backward_needs_y(Act act) {
  return act != Act::kLinear && !activation_backward_needs_x(act);
}

void activation_forward(Act act, int64_t n, const float* x, const float* bias, int64_t bias_len,
                        float* y, ActParams p, int num_threads) {
  PYN_CHECK(!activation_is_rowwise(act), "activation_forward: ", activation_name(act),
            " works on rows; use softmax_forward");
  PYN_CHECK(n >= 0, "activation_forward: n must be >= 0; got ", n);
  check_params("activation_forward", act, p, false);
  if (bias != nullptr)
    PYN_CHECK(bias_len >= 1 && n % bias_len == 0, "activation_forward: bias length ", bias_len,
              " must be >= 1 and divide n=", n);
  if (n == 0) return;
  PYN_CHECK(x != nullptr && y != nullptr, "activation_forward: x and y must not be null");
  if (act == Act::kLinear && bias == nullptr) {
    if (y != x) std::memcpy(y, x, sizeof(float) * static_cast<size_t>(n));
    return;
  }

  float repeated[2 * kMinBiasRun];
  if (bias != nullptr && bias_len < kMinBiasRun) {
    const int64_t reps = (kMinBiasRun + bias_len - 1) / bias_len;
    for (int64_t r = 0; r < reps; ++r)
      std::memcpy(repeated + r * bias_len, bias, sizeof(float) * static_cast<size_t>(bias_len));
    bias = repeated;
    bias_len *= reps;
  }

  const ActivationKernels& k = activation_kernels();
  const int nt =
      threads_for(static_cast<double>(n), forward_grain(act), max_threads(num_threads));
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, 64, nth, tid, &lo, &hi);
    if (lo < hi)
      k.forward(act, p, hi - lo, x + lo, bias, bias_len, bias != nullptr ? lo % bias_len : 0,
                y + lo);
  });
}

void activation_backward(Act act, int64_t n, const float* x, const float* y, const float* dy,
                         float* dx, ActParams p, int num_threads) {
  PYN_CHECK(!activation_is_rowwise(act), "activation_backward: ", activation_name(act),
            " works on rows; use softmax_backward");
  PYN_CHECK(n >= 0, "activation_backward: n must be >= 0; got ", n);
  check_params("activation_backward", act, p, true);
  if (n == 0) return;
  PYN_CHECK(dy != nullptr && dx != nullptr, "activation_backward: dy and dx must not be null");
  const bool needs_x = activation_backward_needs_x(act);
  PYN_CHECK(!needs_x || x != nullptr, "activation_backward: ", activation_name(act),
            " backward reads x (the pre-activation); got null");
  PYN_CHECK(!activation_backward_needs_y(act) || y != nullptr, "activation_backward: ",
            activation_name(act), " backward reads y (the output); got null");
  if (act == Act::kLinear) {
    if (dx != dy) std::memcpy(dx, dy, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  const float* v = needs_x ? x : y;
  const ActivationKernels& k = activation_kernels();
  const int nt =
      threads_for(static_cast<double>(n), backward_grain(act), max_threads(num_threads));
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, 64, nth, tid, &lo, &hi);
    if (lo < hi) k.backward(act, p, hi - lo, v + lo, dy + lo, dx + lo);
  });
}

void softmax_forward(Act act, int64_t rows, int64_t cols, const float* x, const float* bias,
                     float* y, int num_threads) {
  PYN_CHECK(activation_is_rowwise(act), "softmax_forward: expected softmax or log_softmax; got ",
            activation_name(act));
  PYN_CHECK(rows >= 0 && cols >= 0, "softmax_forward: rows and cols must be >= 0; got ", rows,
            " and ", cols);
  if (rows == 0 || cols == 0) return;
  PYN_CHECK(x != nullptr && y != nullptr, "softmax_forward: x and y must not be null");
  const ActivationKernels& k = activation_kernels();
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(cols), kGrain,
                             max_threads(num_threads));
  parallel(nt > rows ? static_cast<int>(rows) : nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(rows, 1, nth, tid, &lo, &hi);
    if (lo < hi) k.softmax_forward(act, hi - lo, cols, x + lo * cols, bias, y + lo * cols);
  });
}

void softmax_backward(Act act, int64_t rows, int64_t cols, const float* y, const float* dy,
                      float* dx, int num_threads) {
  PYN_CHECK(activation_is_rowwise(act),
            "softmax_backward: expected softmax or log_softmax; got ", activation_name(act));
  PYN_CHECK(rows >= 0 && cols >= 0, "softmax_backward: rows and cols must be >= 0; got ", rows,
            " and ", cols);
  if (rows == 0 || cols == 0) return;
  PYN_CHECK(y != nullptr && dy != nullptr && dx != nullptr,
            "softmax_backward: y, dy and dx must not be null");
  const ActivationKernels& k = activation_kernels();
  const int nt = threads_for(static_cast<double>(rows) * static_cast<double>(cols),
                             backward_grain(act), max_threads(num_threads));
  parallel(nt > rows ? static_cast<int>(rows) : nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(rows, 1, nth, tid, &lo, &hi);
    if (lo < hi)
      k.softmax_backward(act, hi - lo, cols, y + lo * cols, dy + lo * cols, dx + lo * cols);
  });
}

MathFn parse_math_fn(const std::string& name) {
  static const char* const kFns[] = {"exp", "expm1", "log", "log1p", "tanh", "erf", "erfc"};
  for (int i = 0; i < 7; ++i)
    if (name == kFns[i]) return static_cast<MathFn>(i);
  throw std::invalid_argument("unknown vector math function '" + name +
                              "'; valid names: exp, expm1, log, log1p, tanh, erf, erfc");
}

void vector_math(MathFn fn, int64_t n, const float* x, float* y) {
  PYN_CHECK(n >= 0, "vector_math: n must be >= 0; got ", n);
  if (n == 0) return;
  activation_kernels().math(fn, n, x, y);
}

}  // namespace pyn
