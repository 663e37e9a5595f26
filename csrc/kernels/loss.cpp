// Loss forward and gradient, one row of y_pred (n, c) at a time; formulas in loss.h.
//
// Rows are split across threads in contiguous blocks (one parallel region per call). Each row
// is read once or twice and its gradient written once:
//
//   elementwise losses   one pass: term_j and grad_j together; the mean accumulates in 16
//                        float partial sums (vectorisable without reassociation), then double
//   crossentropy, logits pass 1 max, pass 2 exp(z - max) (kept in grad), pass 3 loss and grad
//   crossentropy, probs  pass 1 row sum, pass 2 loss and d/dq, pass 3 chain rule through q = p / s
//
// Clipping follows Keras: values strictly outside [eps, 1 - eps] are clipped and get a zero
// gradient; the bounds themselves pass it.
#include "kernels/loss.h"

#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/parallel.h"

namespace pyn {
namespace {

constexpr float kEps = 1e-7f;          // Keras backend.epsilon()
constexpr float kOneMinusEps = 1.0f - 1e-7f;  // 0.99999988f, as float32(1 - 1e-7)

inline float clip_prob(float p) { return p < kEps ? kEps : (p > kOneMinusEps ? kOneMinusEps : p); }
inline bool in_clip_range(float p) { return p >= kEps && p <= kOneMinusEps; }

inline float sign_of(float e) { return e > 0.f ? 1.f : (e < 0.f ? -1.f : 0.f); }

// sum_j term(j) for j in [0, c): 16 independent float partial sums, combined in double.
template <class Term>
inline double lane_sum(int64_t c, Term&& term) {
  constexpr int kLanes = 16;
  float part[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) part[l] += term(j + l);
  }
  double s = 0.0;
  for (; j < c; ++j) s += term(j);
  for (int l = 0; l < kLanes; ++l) s += part[l];
  return s;
}

// ---- elementwise losses: mean over the row -------------------------------------------------

template <bool kGrad>
float mse_row(int64_t c, const float* __restrict t, const float* __restrict p,
              float* __restrict g, float gscale, const LossParams&) {
  const float k = 2.f * gscale / static_cast<float>(c);
  const double s = lane_sum(c, [&](int64_t j) {
    const float e = p[j] - t[j];
    if (kGrad) g[j] = k * e;
    return e * e;
  });
  return static_cast<float>(s / static_cast<double>(c));
}

template <bool kGrad>
float mae_row(int64_t c, const float* __restrict t, const float* __restrict p,
              float* __restrict g, float gscale, const LossParams&) {
  const float k = gscale / static_cast<float>(c);
  const double s = lane_sum(c, [&](int64_t j) {
    const float e = p[j] - t[j];
    if (kGrad) g[j] = k * sign_of(e);
    return std::fabs(e);
  });
  return static_cast<float>(s / static_cast<double>(c));
}

template <bool kGrad>
float huber_row(int64_t c, const float* __restrict t, const float* __restrict p,
                float* __restrict g, float gscale, const LossParams& prm) {
  const float delta = prm.delta, half_delta2 = 0.5f * delta * delta;
  const float k = gscale / static_cast<float>(c);
  const double s = lane_sum(c, [&](int64_t j) {
    const float e = p[j] - t[j];
    const float a = std::fabs(e);
    const bool quad = a <= delta;
    if (kGrad) g[j] = k * (quad ? e : delta * sign_of(e));
    return quad ? 0.5f * e * e : delta * a - half_delta2;
  });
  return static_cast<float>(s / static_cast<double>(c));
}

template <bool kGrad>
float bce_row(int64_t c, const float* __restrict t, const float* __restrict p,
              float* __restrict g, float gscale, const LossParams& prm) {
  const float keep = 1.f - prm.label_smoothing, shift = 0.5f * prm.label_smoothing;
  const float k = gscale / static_cast<float>(c);
  double s = 0.0;
  if (prm.from_logits) {
    for (int64_t j = 0; j < c; ++j) {
      const float y = t[j] * keep + shift, z = p[j];
      const float e = std::exp(-std::fabs(z));  // in (0, 1]: no overflow for any z
      s += static_cast<double>((z > 0.f ? z : 0.f) - z * y + std::log1p(e));
      if (kGrad) {
        const float sig = z >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
        g[j] = k * (sig - y);
      }
    }
  } else {
    for (int64_t j = 0; j < c; ++j) {
      const float y = t[j] * keep + shift, q = clip_prob(p[j]);
      const float one_minus_q = 1.f - q;
      s -= static_cast<double>(y * std::log(q) + (1.f - y) * std::log(one_minus_q));
      if (kGrad) g[j] = in_clip_range(p[j]) ? k * ((1.f - y) / one_minus_q - y / q) : 0.f;
    }
  }
  return static_cast<float>(s / static_cast<double>(c));
}

// ---- categorical crossentropy: sum over the row ---------------------------------------------

// Smoothed target of class j for a dense y_true row, or the one-hot row of `label` when
// y_true is null.
struct Target {
  const float* t;  // dense targets, or null for a label
  int64_t label;
  float keep, shift;
  inline float operator()(int64_t j) const {
    return t != nullptr ? t[j] * keep + shift : (j == label ? 1.f : 0.f);
  }
};

template <bool kGrad>
float cce_logits_row(int64_t c, const Target& y, const float* __restrict z, float* __restrict g,
                     float gscale) {
  float m = z[0];
  for (int64_t j = 1; j < c; ++j) m = z[j] > m ? z[j] : m;
  double sum_exp = 0.0;
  for (int64_t j = 0; j < c; ++j) {
    const float e = std::exp(z[j] - m);
    if (kGrad) g[j] = e;
    sum_exp += static_cast<double>(e);
  }
  const float log_sum = static_cast<float>(std::log(sum_exp));
  double loss = 0.0, sum_y = 0.0;
  if (y.t == nullptr) {
    loss = static_cast<double>(log_sum + (m - z[y.label]));
    sum_y = 1.0;
  } else {
    for (int64_t j = 0; j < c; ++j) {
      const float yj = y(j);
      sum_y += static_cast<double>(yj);
      // y_j * (logsumexp(z) - z_j), with logsumexp(z) = m + log_sum and m - z_j >= 0 exact
      // enough for any finite logits.
      if (yj != 0.f) loss += static_cast<double>(yj * (log_sum + (m - z[j])));
    }
  }
  if (kGrad) {
    // d/dz_k sum_j y_j (lse - z_j) = softmax_k * sum_j y_j - y_k
    const float a = static_cast<float>(static_cast<double>(gscale) * sum_y / sum_exp);
    for (int64_t j = 0; j < c; ++j) g[j] = a * g[j] - gscale * y(j);
  }
  return static_cast<float>(loss);
}

template <bool kGrad>
float cce_probs_row(int64_t c, const Target& y, const float* __restrict p, float* __restrict g,
                    float gscale) {
  double row_sum = 0.0;
  for (int64_t j = 0; j < c; ++j) row_sum += static_cast<double>(p[j]);
  const float s = static_cast<float>(row_sum);
  // q = p / s, r = clip(q); L = -sum_j y_j log r_j; dL/dq_j = -y_j / r_j where q_j is inside
  // the clip range; dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / s.
  double loss = 0.0, dot = 0.0;
  auto term = [&](int64_t j, float yj) {
    const float q = p[j] / s, r = clip_prob(q);
    loss -= static_cast<double>(yj * std::log(r));
    if (kGrad) {
      const float dq = in_clip_range(q) ? -yj / r : 0.f;
      dot += static_cast<double>(dq) * static_cast<double>(q);
      if (y.t != nullptr) g[j] = dq;
      return dq;
    }
    return 0.f;
  };
  float dq_label = 0.f;
  if (y.t == nullptr) {
    dq_label = term(y.label, 1.f);
  } else {
    for (int64_t j = 0; j < c; ++j) term(j, y(j));
  }
  if (kGrad) {
    const float a = gscale / s, b = static_cast<float>(dot);
    if (y.t == nullptr) {
      const float off = -a * b;
      for (int64_t j = 0; j < c; ++j) g[j] = off;
      g[y.label] = a * (dq_label - b);
    } else {
      for (int64_t j = 0; j < c; ++j) g[j] = a * (g[j] - b);
    }
  }
  return static_cast<float>(loss);
}

// ---- drivers ----------------------------------------------------------------------------------

// Calls fn(i) for every row, rows split in contiguous blocks across the threads.
template <class RowFn>
void for_rows(int64_t n, int64_t c, int num_threads, RowFn&& fn) {
  if (n <= 0) return;
  const int max_threads = num_threads > 0 ? num_threads : get_num_threads();
  const int nt = threads_for(static_cast<double>(n) * static_cast<double>(c),
                             kLossParallelElements / 2, max_threads);
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, 1, nth, tid, &lo, &hi);
    for (int64_t i = lo; i < hi; ++i) fn(i);
  });
}

template <bool kGrad>
void run_dense(LossKind kind, int64_t n, int64_t c, const float* y_true, const float* y_pred,
               float* per_sample, float* grad, const float* row_scale, const LossParams& p,
               int num_threads) {
  const float ls = p.label_smoothing;
  for_rows(n, c, num_threads, [&](int64_t i) {
    const float* t = y_true + i * c;
    const float* z = y_pred + i * c;
    float* g = kGrad ? grad + i * c : nullptr;
    const float gs = row_scale != nullptr ? row_scale[i] : 1.f;
    float v = 0.f;
    switch (kind) {
      case LossKind::kMeanSquaredError:
        v = mse_row<kGrad>(c, t, z, g, gs, p);
        break;
      case LossKind::kMeanAbsoluteError:
        v = mae_row<kGrad>(c, t, z, g, gs, p);
        break;
      case LossKind::kHuber:
        v = huber_row<kGrad>(c, t, z, g, gs, p);
        break;
      case LossKind::kBinaryCrossentropy:
        v = bce_row<kGrad>(c, t, z, g, gs, p);
        break;
      case LossKind::kCategoricalCrossentropy: {
        const Target y{t, 0, 1.f - ls, ls / static_cast<float>(c)};
        v = p.from_logits ? cce_logits_row<kGrad>(c, y, z, g, gs)
                          : cce_probs_row<kGrad>(c, y, z, g, gs);
        break;
      }
      case LossKind::kSparseCategoricalCrossentropy:
        break;  // rejected by the caller
    }
    per_sample[i] = v;
  });
}

template <bool kGrad, class Label>
void run_sparse(int64_t n, int64_t c, const Label* labels, const float* y_pred,
                float* per_sample, float* grad, const float* row_scale, const LossParams& p,
                int num_threads) {
  for_rows(n, c, num_threads, [&](int64_t i) {
    const float* z = y_pred + i * c;
    float* g = kGrad ? grad + i * c : nullptr;
    const float gs = row_scale != nullptr ? row_scale[i] : 1.f;
    const Target y{nullptr, static_cast<int64_t>(labels[i]), 1.f, 0.f};
    per_sample[i] = p.from_logits ? cce_logits_row<kGrad>(c, y, z, g, gs)
                                  : cce_probs_row<kGrad>(c, y, z, g, gs);
  });
}

void check_common(const char* name, int64_t n, int64_t c, const float* y_pred,
                  const float* per_sample) {
  PYN_CHECK(n >= 0, name, ": expected a number of rows >= 0; got ", n);
  PYN_CHECK(c >= 1, name, ": y_pred must have at least one column (class); got ", c);
  PYN_CHECK(n == 0 || (y_pred != nullptr && per_sample != nullptr), name,
            ": y_pred and per_sample must not be null");
}

template <class Label>
void sparse_impl(int64_t n, int64_t c, const Label* labels, const float* y_pred,
                 float* per_sample, float* grad, const float* row_scale, const LossParams& p,
                 int num_threads) {
  const char* name = loss_name(LossKind::kSparseCategoricalCrossentropy);
  check_common(name, n, c, y_pred, per_sample);
  check_loss_params(LossKind::kSparseCategoricalCrossentropy, p);
  PYN_CHECK(n == 0 || labels != nullptr, name, ": labels must not be null");
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = static_cast<int64_t>(labels[i]);
    PYN_CHECK(l >= 0 && l < c, name, ": label ", l, " (row ", i, ") is out of range: expected ",
              "a class index in [0, ", c, ") for y_pred with ", c, " classes");
  }
  if (grad != nullptr) {
    run_sparse<true>(n, c, labels, y_pred, per_sample, grad, row_scale, p, num_threads);
  } else {
    run_sparse<false>(n, c, labels, y_pred, per_sample, grad, row_scale, p, num_threads);
  }
}

}  // namespace

const char* loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::kMeanSquaredError:
      return "mean_squared_error";
    case LossKind::kMeanAbsoluteError:
      return "mean_absolute_error";
    case LossKind::kHuber:
      return "huber";
    case LossKind::kBinaryCrossentropy:
      return "binary_crossentropy";
    case LossKind::kCategoricalCrossentropy:
      return "categorical_crossentropy";
    case LossKind::kSparseCategoricalCrossentropy:
      return "sparse_categorical_crossentropy";
  }
  return "unknown";
}

LossKind parse_loss_kind(const std::string& name) {
  struct Alias {
    const char* name;
    LossKind kind;
  };
  static const Alias kAliases[] = {
      {"mean_squared_error", LossKind::kMeanSquaredError},
      {"mse", LossKind::kMeanSquaredError},
      {"mean_absolute_error", LossKind::kMeanAbsoluteError},
      {"mae", LossKind::kMeanAbsoluteError},
      {"huber", LossKind::kHuber},
      {"binary_crossentropy", LossKind::kBinaryCrossentropy},
      {"categorical_crossentropy", LossKind::kCategoricalCrossentropy},
      {"sparse_categorical_crossentropy", LossKind::kSparseCategoricalCrossentropy},
  };
  for (const Alias& a : kAliases)
    if (name == a.name) return a.kind;
  detail::throw_value_error(
      "unknown loss '", name,
      "'; expected one of 'mean_squared_error' ('mse'), 'mean_absolute_error' ('mae'), "
      "'huber', 'binary_crossentropy', 'categorical_crossentropy', "
      "'sparse_categorical_crossentropy'");
}

void check_loss_params(LossKind kind, const LossParams& p) {
  const bool crossentropy = kind == LossKind::kBinaryCrossentropy ||
                            kind == LossKind::kCategoricalCrossentropy ||
                            kind == LossKind::kSparseCategoricalCrossentropy;
  PYN_CHECK(crossentropy || !p.from_logits, loss_name(kind),
            ": from_logits=True applies only to the crossentropy losses");
  const bool smoothing =
      kind == LossKind::kBinaryCrossentropy || kind == LossKind::kCategoricalCrossentropy;
  PYN_CHECK(p.label_smoothing == 0.f || smoothing, loss_name(kind),
            ": label_smoothing applies only to binary_crossentropy and categorical_crossentropy;"
            " got label_smoothing=",
            p.label_smoothing);
  PYN_CHECK(p.label_smoothing >= 0.f && p.label_smoothing <= 1.f, loss_name(kind),
            ": label_smoothing must be in [0, 1]; got ", p.label_smoothing);
  if (kind == LossKind::kHuber)
    PYN_CHECK(p.delta > 0.f && std::isfinite(p.delta), loss_name(kind),
              ": delta must be a finite number > 0; got ", p.delta);
}

void loss_forward_backward(LossKind kind, int64_t n, int64_t c, const float* y_true,
                           const float* y_pred, float* per_sample, float* grad,
                           const float* row_scale, const LossParams& p, int num_threads) {
  const char* name = loss_name(kind);
  PYN_CHECK(kind != LossKind::kSparseCategoricalCrossentropy, name,
            ": takes integer labels; call sparse_crossentropy_forward_backward");
  check_common(name, n, c, y_pred, per_sample);
  check_loss_params(kind, p);
  PYN_CHECK(n == 0 || y_true != nullptr, name, ": y_true must not be null");
  if (grad != nullptr) {
    run_dense<true>(kind, n, c, y_true, y_pred, per_sample, grad, row_scale, p, num_threads);
  } else {
    run_dense<false>(kind, n, c, y_true, y_pred, per_sample, grad, row_scale, p, num_threads);
  }
}

void sparse_crossentropy_forward_backward(int64_t n, int64_t c, const int32_t* labels,
                                          const float* y_pred, float* per_sample, float* grad,
                                          const float* row_scale, const LossParams& p,
                                          int num_threads) {
  sparse_impl(n, c, labels, y_pred, per_sample, grad, row_scale, p, num_threads);
}

void sparse_crossentropy_forward_backward(int64_t n, int64_t c, const int64_t* labels,
                                          const float* y_pred, float* per_sample, float* grad,
                                          const float* row_scale, const LossParams& p,
                                          int num_threads) {
  sparse_impl(n, c, labels, y_pred, per_sample, grad, row_scale, p, num_threads);
}

}  // namespace pyn
