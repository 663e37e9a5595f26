// Loss functions with Keras 3 semantics, forward and gradient in one pass over the rows.
//
//   y_pred, y_true, grad: (n, c) row-major; labels, per_sample, row_scale: (n,)
//
//   per_sample[i] = L(y_true[i, :], y_pred[i, :])
//   grad[i, j]    = row_scale[i] * d per_sample[i] / d y_pred[i, j]      (row_scale 1 if null)
//
// With row_scale[i] = sample_weight[i] / N the gradient is that of the weighted mean loss.
//
// Per-row losses, e = y_pred - y_true, eps = 1e-7 (float32: [eps, 1 - eps] is the float32
// interval [1.00000001e-7, 0.99999988]):
//
//   mean_squared_error        mean_j e_j^2
//   mean_absolute_error       mean_j |e_j|                  (gradient sign(e), 0 at e = 0)
//   huber                     mean_j (|e_j| <= delta ? e_j^2 / 2 : delta * |e_j| - delta^2 / 2)
//   binary_crossentropy       mean_j -(y_j log p_j + (1 - y_j) log(1 - p_j)),
//                               p = clip(y_pred, eps, 1 - eps); from logits z:
//                               mean_j max(z_j, 0) - z_j y_j + log1p(exp(-|z_j|))
//   categorical_crossentropy  -sum_j y_j log clip(y_pred_j / sum_k y_pred_k, eps, 1 - eps);
//                               from logits: sum_j y_j (logsumexp(z) - z_j)
//   sparse_categorical_       the same with y_true = one_hot(label, c); labels must lie in
//     crossentropy              [0, c)
//
// Label smoothing replaces y by y (1 - s) + s / 2 (binary) or y (1 - s) + s / c (categorical).
// Where a probability is clipped its gradient is zero, as the gradient of Keras's clip is; the
// bounds themselves pass the gradient. Saturated inputs (probabilities exactly 0 or 1, logits
// of any finite size) give finite losses and gradients. For probabilities, a row of y_pred
// that sums to 0 gives NaN, as in Keras. Sparse labels use the normalise-then-clip rule of
// the JAX, NumPy and PyTorch backends (the TensorFlow backend clips before normalising).
#pragma once

#include <cstdint>
#include <string>

namespace pyn {

enum class LossKind {
  kMeanSquaredError,
  kMeanAbsoluteError,
  kHuber,
  kBinaryCrossentropy,
  kCategoricalCrossentropy,
  kSparseCategoricalCrossentropy,
};

struct LossParams {
  bool from_logits = false;     // binary / categorical / sparse crossentropy only
  float delta = 1.0f;           // huber only; must be > 0
  float label_smoothing = 0.f;  // binary / categorical crossentropy only; in [0, 1]
};

// Keras name of the loss ("mean_squared_error", ...).
const char* loss_name(LossKind kind);
// Parses a Keras name or alias ("mse", "mae", "huber", ...); throws std::invalid_argument
// listing the accepted names otherwise.
LossKind parse_loss_kind(const std::string& name);
// Throws std::invalid_argument when `p` does not fit `kind` (from_logits or label smoothing
// on a loss without them, delta <= 0, label smoothing outside [0, 1]).
void check_loss_params(LossKind kind, const LossParams& p);

// Every loss except sparse_categorical_crossentropy. c >= 1; grad and row_scale may be null
// (no gradient / scale 1). Outputs must not overlap the inputs. num_threads == 0 uses the
// library setting; small problems run on one thread.
void loss_forward_backward(LossKind kind, int64_t n, int64_t c, const float* y_true,
                           const float* y_pred, float* per_sample, float* grad,
                           const float* row_scale, const LossParams& p, int num_threads = 0);

// sparse_categorical_crossentropy with integer labels. Every label is checked before anything
// is written: one outside [0, c) throws std::invalid_argument naming it, its row and c.
void sparse_crossentropy_forward_backward(int64_t n, int64_t c, const int32_t* labels,
                                          const float* y_pred, float* per_sample, float* grad,
                                          const float* row_scale, const LossParams& p,
                                          int num_threads = 0);
void sparse_crossentropy_forward_backward(int64_t n, int64_t c, const int64_t* labels,
                                          const float* y_pred, float* per_sample, float* grad,
                                          const float* row_scale, const LossParams& p,
                                          int num_threads = 0);

// Elements (n * c) below which a loss runs on one thread.
constexpr double kLossParallelElements = 65536.0;

}  // namespace pyn
