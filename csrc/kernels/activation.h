// Activation functions on float32 arrays, forward and backward, with Keras 3 semantics.
//
//   forward    y[i]  = f(x[i] + bias[i % bias_len])       bias optional (nullptr): the fused
//                                                          Dense epilogue; y may equal x
//   backward   dx[i] = dy[i] * f'(z[i])                    z = the pre-activation, y = f(z);
//                                                          dx may equal dy, x or y
//   softmax / log_softmax: over the last axis of a row-major (rows, cols) array,
//              y[r, :] = f(x[r, :] + bias[:])              bias optional, length cols
//
// Every activation, its formula, and what its backward pass reads (x: the pre-activation z,
// y: the output f(z)). Layers that use an in-place forward keep only y, so the backward pass
// reads y wherever f' can be written stably in terms of y:
//
//   name          f(z)                                     backward reads   f' used
//   linear        z                                        nothing          1
//   relu          max(z, 0)                                y                y > 0
//   relu6         min(max(z, 0), 6)                        y                0 < y < 6
//   sigmoid       1 / (1 + exp(-z))                        y                y (1 - y)
//   hard_sigmoid  relu6(z + 3) / 6                         y                1/6 if 0 < y < 1
//   tanh          tanh(z)                                  y                (1 - y)(1 + y)
//   leaky_relu    z > 0 ? z : alpha z   (alpha 0.2)        y (alpha >= 0)   y > 0 ? 1 : alpha
//   elu           z > 0 ? z : alpha expm1(z) (alpha 1)     y (alpha >= 0)   y > 0 ? 1 : y + alpha
//   selu          scale * elu(z, a), a = 1.67326324,       y                y > 0 ? scale
//                 scale = 1.05070098                                         : y + scale a
//   softplus      max(z, 0) + log1p(exp(-|z|))             y                -expm1(-y)
//   softsign      z / (1 + |z|)                            x                1 / (1 + |z|)^2
//   gelu          z Phi(z) = z/2 (1 + erf(z / sqrt 2))     x                Phi(z) + z phi(z)
//     approximate z/2 (1 + tanh(sqrt(2/pi)(z + .044715 z^3)))  x            (see simd impl)
//   silu (swish)  z sigmoid(z)                             x                s (1 + z (1 - s))
//   exponential   exp(z)                                   y                y
//   mish          z tanh(softplus(z))                      x                t + z s (1 - t^2)
//   celu          z > 0 ? z : alpha expm1(z / alpha)       y (alpha > 0)    y > 0 ? 1 : y / alpha + 1
//   hard_silu     z relu6(z + 3) / 6  (hard_swish)         x                0, z / 3 + 1/2, 1
//   hard_tanh     min(max(z, -1), 1)                       y                -1 < y < 1
//   log_sigmoid   -softplus(-z)                            y                -expm1(y)
//   hard_shrink   |z| > alpha ? z : 0  (threshold 0.5)     y                y != 0
//   soft_shrink   z - clip(z, -alpha, alpha)  (0.5)        y                y != 0
//   sparse_plus   0, (z + 1)^2 / 4, z  (z <= -1, |z| < 1)  x                0, (z + 1) / 2, 1
//   sparse_sigmoid clip((z + 1) / 2, 0, 1)                 y                1/2 if 0 < y < 1
//   squareplus    (z + sqrt(z^2 + alpha)) / 2  (b = 4)     x                (1 + z / sqrt(z^2 + b)) / 2
//   tanh_shrink   z - tanh(z)                              x                tanh(z)^2
//   softmax       exp(z - max) / sum exp(z - max)          y                dx = y (dy - <dy, y>)
//   log_softmax   z - max - log(sum exp(z - max))          y                dx = dy - exp(y) sum dy
//
// Limits are the mathematical ones: NaN in gives NaN out, sigmoid(+-inf) = 1 / 0,
// tanh(+-inf) = +-1, softplus(-inf) = 0, gelu/silu/mish(-inf) = 0, exp(-inf) = 0, and the
// derivatives likewise (relu'(0) = 0; elu'(0) and leaky_relu'(0) take the left slope, as
// PyTorch does). A softmax row holding NaN or +inf is NaN, as in numpy and PyTorch.
#pragma once

#include <cstdint>
#include <string>

namespace pyn {

enum class Act : int {
  kLinear = 0,
  kRelu,
  kRelu6,
  kSigmoid,
  kHardSigmoid,
  kTanh,
  kLeakyRelu,
  kElu,
  kSelu,
  kSoftplus,
  kSoftsign,
  kGelu,
  kSilu,
  kExponential,
  kMish,
  kSoftmax,
  kLogSoftmax,
  kCelu,
  kHardSilu,
  kHardTanh,
  kLogSigmoid,
  kHardShrink,
  kSoftShrink,
  kSparsePlus,
  kSparseSigmoid,
  kSquareplus,
  kTanhShrink,
};
constexpr int kNumActivations = 27;

struct ActParams {
  float alpha = 0.f;  // leaky_relu: the negative slope; elu, celu: alpha; hard_shrink,
                      // soft_shrink: the threshold; squareplus: b; ignored otherwise
  bool approximate = false;  // gelu: the tanh approximation instead of erf
};

// Keras names ("swish" is an alias of "silu"). Throws std::invalid_argument naming the valid
// names when `name` is unknown.
Act parse_activation(const std::string& name);
const char* activation_name(Act act);
// The accepted names, sorted, comma-separated.
std::string activation_names();
// Keras defaults: alpha 0.2 for leaky_relu (negative_slope), 1.0 for elu and celu, 0.5 for
// hard_shrink and soft_shrink (threshold), 4 for squareplus (b).
ActParams default_activation_params(Act act);
bool activation_has_alpha(Act act);
// softmax and log_softmax: computed over rows, see softmax_forward.
bool activation_is_rowwise(Act act);
// Which array the backward pass reads (see the table above). For linear, neither.
bool activation_backward_needs_x(Act act);
bool activation_backward_needs_y(Act act);

// y[i] = f(x[i] + bias[i % bias_len]) for i in [0, n). bias may be nullptr; otherwise
// bias_len >= 1 divides n and bias must not overlap y. y may equal x (in place); other overlaps
// are not allowed. num_threads <= 0 uses get_num_threads(); arrays under 32768 elements (under
// 131072 for the memory-bound piecewise-linear activations and most backward passes) run on
// the calling thread. Throws std::invalid_argument (via PYN_CHECK) on bad arguments and for
// rowwise activations.
void activation_forward(Act act, int64_t n, const float* x, const float* bias, int64_t bias_len,
                        float* y, ActParams p, int num_threads = 0);

// dx[i] = dy[i] * f'(z[i]) for i in [0, n), reading x (the pre-activation z) or y = f(z) as
// activation_backward_needs_x / _y say; the other may be nullptr. dx may equal dy, x or y.
// leaky_relu and elu need alpha >= 0 here (f' is read from the sign of y).
void activation_backward(Act act, int64_t n, const float* x, const float* y, const float* dy,
                         float* dx, ActParams p, int num_threads = 0);

// act is kSoftmax or kLogSoftmax. x, y, dy, dx: row-major (rows, cols); bias: nullptr or cols
// floats. y may equal x and dx may equal dy or y. Each row is computed stably: the row max is
// subtracted first, and the sum is kept as (count of maxima) + (sum of the other terms) so
// that log_softmax of a dominant entry stays accurate.
void softmax_forward(Act act, int64_t rows, int64_t cols, const float* x, const float* bias,
                     float* y, int num_threads = 0);
void softmax_backward(Act act, int64_t rows, int64_t cols, const float* y, const float* dy,
                      float* dx, int num_threads = 0);

// The vector math the kernels are built on, element by element on the current CPU path (for
// accuracy tests and measurements). Single-threaded.
enum class MathFn : int { kExp = 0, kExpm1, kLog, kLog1p, kTanh, kErf, kErfc };
MathFn parse_math_fn(const std::string& name);
void vector_math(MathFn fn, int64_t n, const float* x, float* y);

// Per-instruction-set kernels behind the functions above (kernels/simd/activation_<isa>.cpp).
// They work on one contiguous range on the calling thread; activation.cpp validates, splits
// the work across threads and picks the table for current_isa().
struct ActivationKernels {
  const char* isa;
  // y[i] = f(x[i] + bias[(bias_offset + i) % bias_len]), i in [0, n); bias may be nullptr.
  void (*forward)(Act act, const ActParams& p, int64_t n, const float* x, const float* bias,
                  int64_t bias_len, int64_t bias_offset, float* y);
  // dx[i] = dy[i] * f'(...) from xy = x or y (whichever the activation reads).
  void (*backward)(Act act, const ActParams& p, int64_t n, const float* xy, const float* dy,
                   float* dx);
  void (*softmax_forward)(Act act, int64_t rows, int64_t cols, const float* x, const float* bias,
                          float* y);
  void (*softmax_backward)(Act act, int64_t rows, int64_t cols, const float* y, const float* dy,
                           float* dx);
  void (*math)(MathFn fn, int64_t n, const float* x, float* y);
  // One LSTM step of one row with recurrent activation sigmoid and activation tanh, U units,
  // from the recurrent product pre = h' R and the input projection gx = x K + b (4U floats
  // each, gate order i f g o):
  //   [i f g o] = [sigmoid, sigmoid, tanh, sigmoid](pre + gx)
  //   c = f c_prev + i g,  h = o tanh(c)
  // saved (nullptr, or 5U floats) receives i f g o tanh(c). c may equal c_prev; h aliases
  // nothing else. The gate nonlinearities take one exp per element and a refined reciprocal
  // in place of a division instruction: a few ulp from the float64 values, NaN in gives NaN
  // out, saturated gates are exactly 0 / 1 / +-1 except sigmoid(x < -87) = 1.6e-38.
  void (*lstm_cell_forward)(int64_t U, const float* pre, const float* gx, const float* c_prev,
                            float* c, float* h, float* saved);
  // Gradient of one LSTM step of one row with recurrent activation sigmoid and activation tanh,
  // U units, from the step's gates (i f g o, 4U floats), tanh_c = tanh(c) and c_prev; the
  // gradient of h is dh plus the step's output gradient dy (nullptr: none):
  //   d   = dh + dy
  //   dcv = dc + d o (1 - tanh_c^2)
  //   dg  = [dcv g i (1 - i), dcv c_prev f (1 - f), dcv i (1 - g^2), d tanh_c o (1 - o)]
  //   dc  = dcv f, dh = 0.
  void (*lstm_cell_backward)(int64_t U, const float* gates, const float* tanh_c,
                             const float* c_prev, const float* dy, float* dh, float* dc,
                             float* dg);
  // Gradient of one GRU step (reset_after) of one row with recurrent activation sigmoid and
  // activation tanh, U units, from the step's saved z, r, h~ and the recurrent candidate
  // pre-activation a (4U floats) and h_prev:
  //   dz = dh (h_prev - h~) z (1 - z),  dh~ = dh (1 - z)(1 - h~^2),  dr = dh~ a r (1 - r)
  //   dg = [dz, dr, dh~] (input side), dgh = [dz, dr, dh~ r] (recurrent side), dh = dh z.
  void (*gru_cell_backward)(int64_t U, const float* saved, const float* h_prev, float* dh,
                            float* dg, float* dgh);
};

const ActivationKernels& activation_kernels_generic();
const ActivationKernels& activation_kernels_avx2();    // only callable with AVX2 + FMA
const ActivationKernels& activation_kernels_avx512();  // only callable with AVX-512
// The kernels of the instruction set in use (current_isa(), PYNNCORE_CPU honoured).
const ActivationKernels& activation_kernels();

}  // namespace pyn
