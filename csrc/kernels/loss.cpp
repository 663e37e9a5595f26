// Loss forward and gradient (formulas in loss.h), rows split across threads in contiguous
// blocks (one parallel region per call).
//
//   elementwise losses    flat over the n x c block, so that (N, 1) targets vectorise too:
//   (mse, mae, huber,       pass 1  term[k] = f(t[k], p[k]),  grad[k] = f'(t[k], p[k])
//    binary crossentropy)   pass 2  per row: per_sample = sum(term) / c, grad *= row_scale / c
//   crossentropy, logits  per row: max; e_j = exp(z_j - max) (kept in grad); loss and grad
//   crossentropy, probs   per row: s = sum p; terms and dL/dq at q = p / s; chain rule
//
// The inner loops are plain loops the compiler vectorises: exp and log are computed by the
// inline functions below (within 3 ulp of the exact value), not by scalar libm calls, and
// sums go through independent partial sums. Clipping follows Keras: values strictly outside
// [eps, 1 - eps] are clipped and get a zero gradient; the bounds themselves pass it.
#include "kernels/loss.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"

namespace pyn {
namespace {

constexpr float kEps = 1e-7f;                 // Keras backend.epsilon()
constexpr float kOneMinusEps = 1.0f - 1e-7f;  // 0.99999988f, as float32(1 - 1e-7)
constexpr int64_t kBlockElements = 4096;      // elementwise losses: rows per block fill this


// ---- elementary functions the vectoriser can inline ------------------------------------------

inline uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
inline float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// c ? a : b through bit masks. A plain ?: feeding arithmetic may be turned into a branch with
// the arithmetic inside it, which the vectoriser cannot flatten without -fno-trapping-math;
// with pick both values are computed and the loop stays vectorisable.
inline float pick(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return float_of((bits_of(a) & m) | (bits_of(b) & ~m));
}

inline float clip_prob(float p) {
  return pick(p < kEps, kEps, pick(p > kOneMinusEps, kOneMinusEps, p));  // NaN stays NaN
}
inline bool in_clip_range(float p) { return (p >= kEps) & (p <= kOneMinusEps); }
inline float sign_of(float e) { return pick(e > 0.f, 1.f, pick(e < 0.f, -1.f, 0.f)); }

constexpr float kLn2Hi = 0.693359375f;     // ln 2 = kLn2Hi + kLn2Lo; kLn2Hi has 9 bits, so
constexpr float kLn2Lo = -2.12194440e-4f;  // n * kLn2Hi is exact for |n| < 2^15

// exp(x) for x <= 0 (NaN propagates). x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor
// series to r^7 (truncation below 6e-9 relative), times 2^n built from its bits. Arguments
// below ln(FLT_MIN) give 0.
inline float exp_nonpos(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kMin = -87.3365448f;  // ln(FLT_MIN)
  const float xc = pick(x < kMin, kMin, x);
  float n = (xc * kLog2e + kRound) - kRound;  // nearest integer, in [-126, 0]
  n = pick(n >= -126.f, n, -126.f);           // NaN: a valid exponent; the result stays NaN
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  const float poly =
      1.f +
      r * (1.f + r * (1.f / 2 + r * (1.f / 6 + r * (1.f / 24 + r * (1.f / 120 +
                                                                    r * (1.f / 720 +
                                                                         r * (1.f / 5040)))))));
  const float scale = float_of(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  return pick(x < kMin, 0.f, poly * scale);
}

// 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), the series of log((1 + s) / (1 - s)).
inline float two_atanh_small(float s) {  // |s| <= 0.1716: truncation below 1e-10
  const float s2 = s * s;
  const float poly =
      1.f + s2 * (1.f / 3 + s2 * (1.f / 5 + s2 * (1.f / 7 + s2 * (1.f / 9 + s2 * (1.f / 11)))));
  return 2.f * s * poly;
}

// log(x) for positive normal x (NaN and +inf propagate). x = m 2^e with m in [sqrt(1/2),
// sqrt(2)); log m = 2 atanh((m - 1) / (m + 1)).
inline float log_pos(float x) {
  const uint32_t b = bits_of(x);
  const int32_t e = static_cast<int32_t>(b >> 23) - 127;
  float m = float_of((b & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool big = m > 1.41421356f;
  m = pick(big, 0.5f * m, m);
  const float ef = static_cast<float>(e + static_cast<int32_t>(big));
  const float t = m - 1.f;  // exact
  const float r = ef * kLn2Hi + (ef * kLn2Lo + two_atanh_small(t / (2.f + t)));
  return pick((x != x) | (x > std::numeric_limits<float>::max()), x, r);
}

// log(1 + u) for u in [0, 1]: 2 atanh(u / (2 + u)), exact to the last bits for tiny u.
inline float log1p_unit(float u) {
  const float s = u / (2.f + u);  // [0, 1/3]
  const float s2 = s * s;
  const float poly =
      1.f +
      s2 * (1.f / 3 +
            s2 * (1.f / 5 +
                  s2 * (1.f / 7 +
                        s2 * (1.f / 9 +
                              s2 * (1.f / 11 +
                                    s2 * (1.f / 13 + s2 * (1.f / 15 + s2 * (1.f / 17))))))));
  return 2.f * s * poly;  // truncation below 2e-10 relative
}

// sum of x[0, c) in double, through 8 independent partial sums.
inline double sum_of(const float* __restrict x, int64_t c) {
  constexpr int kLanes = 8;
  double part[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) part[l] += static_cast<double>(x[j + l]);
  }
  double s = 0.0;
  for (; j < c; ++j) s += static_cast<double>(x[j]);
  for (int l = 0; l < kLanes; ++l) s += part[l];
  return s;
}

// Scratch rows per thread (worker threads persist, so steady-state calls do not allocate).
thread_local ScratchBuffer tl_terms;
thread_local ScratchBuffer tl_aux;

// ---- elementwise losses: pass 1 over a flat range -------------------------------------------

struct Smoothing {
  float keep, shift;  // y' = y * keep + shift
};

template <bool kGrad>
void mse_elems(int64_t len, const float* __restrict t, const float* __restrict p,
               float* __restrict term, float* __restrict g, const LossParams&) {
  for (int64_t k = 0; k < len; ++k) {
    const float e = p[k] - t[k];
    term[k] = e * e;
    if (kGrad) g[k] = 2.f * e;
  }
}

template <bool kGrad>
void mae_elems(int64_t len, const float* __restrict t, const float* __restrict p,
               float* __restrict term, float* __restrict g, const LossParams&) {
  for (int64_t k = 0; k < len; ++k) {
    const float e = p[k] - t[k];
    term[k] = std::fabs(e);
    if (kGrad) g[k] = sign_of(e);
  }
}

template <bool kGrad>
void huber_elems(int64_t len, const float* __restrict t, const float* __restrict p,
                 float* __restrict term, float* __restrict g, const LossParams& prm) {
  const float delta = prm.delta, half_delta2 = 0.5f * delta * delta;
  for (int64_t k = 0; k < len; ++k) {
    const float e = p[k] - t[k];
    const float a = std::fabs(e);
    const bool quad = a <= delta;
    term[k] = pick(quad, 0.5f * e * e, delta * a - half_delta2);
    if (kGrad) g[k] = pick(quad, e, delta * sign_of(e));
  }
}

template <bool kGrad>
void bce_elems(int64_t len, const float* __restrict t, const float* __restrict p,
               float* __restrict term, float* __restrict g, const LossParams& prm) {
  const float keep = 1.f - prm.label_smoothing, shift = 0.5f * prm.label_smoothing;
  if (prm.from_logits) {
    for (int64_t k = 0; k < len; ++k) {
      const float y = t[k] * keep + shift, z = p[k];
      const float e = exp_nonpos(-std::fabs(z));  // in [0, 1]: no overflow for any z
      term[k] = pick(z > 0.f, z, 0.f) - z * y + log1p_unit(e);
      if (kGrad) g[k] = pick(z >= 0.f, 1.f, e) / (1.f + e) - y;  // sigmoid(z) - y
    }
  } else {
    for (int64_t k = 0; k < len; ++k) {
      const float y = t[k] * keep + shift, q = clip_prob(p[k]);
      const float one_minus_q = 1.f - q;
      term[k] = -(y * log_pos(q) + (1.f - y) * log_pos(one_minus_q));
      if (kGrad) g[k] = pick(in_clip_range(p[k]), (1.f - y) / one_minus_q - y / q, 0.f);
    }
  }
}

using ElemFn = void (*)(int64_t, const float*, const float*, float*, float*, const LossParams&);

template <bool kGrad>
ElemFn elem_fn(LossKind kind) {
  switch (kind) {
    case LossKind::kMeanSquaredError:
      return &mse_elems<kGrad>;
    case LossKind::kMeanAbsoluteError:
      return &mae_elems<kGrad>;
    case LossKind::kHuber:
      return &huber_elems<kGrad>;
    default:
      return &bce_elems<kGrad>;
  }
}

// Rows [lo, hi) of an elementwise loss, in blocks of about kBlockElements.
template <bool kGrad>
void elementwise_rows(LossKind kind, int64_t lo, int64_t hi, int64_t c, const float* y_true,
                      const float* y_pred, float* per_sample, float* grad,
                      const float* row_scale, const LossParams& p) {
  const ElemFn fn = elem_fn<kGrad>(kind);
  const int64_t rows_per_block = c >= kBlockElements ? 1 : kBlockElements / c;
  float* term = tl_terms.floats(static_cast<size_t>(rows_per_block * c));
  const float inv_c = 1.f / static_cast<float>(c);
  for (int64_t r0 = lo; r0 < hi; r0 += rows_per_block) {
    const int64_t r1 = r0 + rows_per_block < hi ? r0 + rows_per_block : hi;
    const int64_t off = r0 * c;
    fn((r1 - r0) * c, y_true + off, y_pred + off, term, kGrad ? grad + off : nullptr, p);
    for (int64_t i = r0; i < r1; ++i) {
      const float* ti = term + (i - r0) * c;
      per_sample[i] = static_cast<float>(sum_of(ti, c) / static_cast<double>(c));
      if (kGrad) {
        const float k = (row_scale != nullptr ? row_scale[i] : 1.f) * inv_c;
        float* __restrict gi = grad + i * c;
        for (int64_t j = 0; j < c; ++j) gi[j] *= k;
      }
    }
  }
}

// ---- categorical crossentropy: one row, sum over classes ------------------------------------

// Targets of one row: dense (t non-null, smoothed) or the one-hot row of `label`.
struct Target {
  const float* t;
  int64_t label;
  Smoothing sm;
};

template <bool kGrad>
float cce_logits_row(int64_t c, const Target& y, const float* __restrict z, float* __restrict g,
                     float gscale, float* __restrict term) {
  float m = z[0];
  for (int64_t j = 1; j < c; ++j) m = z[j] > m ? z[j] : m;
  // exp(z - max) into grad (or scratch), then its sum
  float* __restrict e = kGrad ? g : term;
  for (int64_t j = 0; j < c; ++j) e[j] = exp_nonpos(z[j] - m);
  const double sum_exp = sum_of(e, c);
  const float log_sum = log_pos(static_cast<float>(sum_exp));  // sum_exp in [1, c]
  double loss, sum_y;
  if (y.t == nullptr) {
    loss = static_cast<double>(log_sum + (m - z[y.label]));
    sum_y = 1.0;
  } else {
    // y_j * (logsumexp(z) - z_j) with logsumexp(z) = m + log_sum; m - z_j >= 0.
    const float keep = y.sm.keep, shift = y.sm.shift;
    float* __restrict ys = kGrad ? tl_aux.floats(static_cast<size_t>(c)) : nullptr;
    for (int64_t j = 0; j < c; ++j) {
      const float yj = y.t[j] * keep + shift;
      if (kGrad) ys[j] = yj;
      term[j] = pick(yj == 0.f, 0.f, yj * (log_sum + (m - z[j])));
    }
    loss = sum_of(term, c);
    sum_y = kGrad ? sum_of(ys, c) : 0.0;
    if (kGrad) {
      // d/dz_k sum_j y_j (lse - z_j) = softmax_k * sum_j y_j - y_k
      const float a = static_cast<float>(static_cast<double>(gscale) * sum_y / sum_exp);
      for (int64_t j = 0; j < c; ++j) g[j] = a * g[j] - gscale * ys[j];
    }
    return static_cast<float>(loss);
  }
  if (kGrad) {
    const float a = static_cast<float>(static_cast<double>(gscale) * sum_y / sum_exp);
    for (int64_t j = 0; j < c; ++j) g[j] = a * g[j];
    g[y.label] -= gscale;
  }
  return static_cast<float>(loss);
}

template <bool kGrad>
float cce_probs_row(int64_t c, const Target& y, const float* __restrict p, float* __restrict g,
                    float gscale, float* __restrict term) {
  const float s = static_cast<float>(sum_of(p, c));
  // q = p / s, r = clip(q); L = -sum_j y_j log r_j; dL/dq_j = -y_j / r_j where q_j is inside
  // the clip range; dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / s.
  if (y.t == nullptr) {
    const float q = p[y.label] / s, r = clip_prob(q);
    const float loss = -log_pos(r);
    if (kGrad) {
      const float dq = in_clip_range(q) ? -1.f / r : 0.f;
      const float a = gscale / s, dot = dq * q;
      const float off = -a * dot;
      for (int64_t j = 0; j < c; ++j) g[j] = off;
      g[y.label] = a * (dq - dot);
    }
    return loss;
  }
  const float keep = y.sm.keep, shift = y.sm.shift;
  float* __restrict dqq = kGrad ? tl_aux.floats(static_cast<size_t>(c)) : nullptr;
  for (int64_t j = 0; j < c; ++j) {
    const float yj = y.t[j] * keep + shift;
    const float q = p[j] / s, r = clip_prob(q);
    term[j] = yj * log_pos(r);
    if (kGrad) {
      const float dq = pick(in_clip_range(q), -yj / r, 0.f);
      g[j] = dq;
      dqq[j] = dq * q;
    }
  }
  const float loss = static_cast<float>(-sum_of(term, c));
  if (kGrad) {
    const float a = gscale / s, dot = static_cast<float>(sum_of(dqq, c));
    for (int64_t j = 0; j < c; ++j) g[j] = a * (g[j] - dot);
  }
  return loss;
}

// ---- drivers ----------------------------------------------------------------------------------

// Calls fn(lo, hi) on each thread's contiguous block of rows.
template <class RangeFn>
void for_row_ranges(int64_t n, int64_t c, int num_threads, RangeFn&& fn) {
  if (n <= 0) return;
  const int max_threads = num_threads > 0 ? num_threads : get_num_threads();
  const int nt = threads_for(static_cast<double>(n) * static_cast<double>(c),
                             kLossParallelElements / 2, max_threads);
  if (nt <= 1) return fn(int64_t{0}, n);
  parallel(nt, [&](int tid, int nth) {
    int64_t lo, hi;
    split_range(n, 1, nth, tid, &lo, &hi);
    if (lo < hi) fn(lo, hi);
  });
}

template <bool kGrad>
void run_dense(LossKind kind, int64_t n, int64_t c, const float* y_true, const float* y_pred,
               float* per_sample, float* grad, const float* row_scale, const LossParams& p,
               int num_threads) {
  if (kind != LossKind::kCategoricalCrossentropy) {
    for_row_ranges(n, c, num_threads, [&](int64_t lo, int64_t hi) {
      elementwise_rows<kGrad>(kind, lo, hi, c, y_true, y_pred, per_sample, grad, row_scale, p);
    });
    return;
  }
  const float ls = p.label_smoothing;
  const Smoothing sm{1.f - ls, ls / static_cast<float>(c)};
  for_row_ranges(n, c, num_threads, [&](int64_t lo, int64_t hi) {
    float* term = tl_terms.floats(static_cast<size_t>(c));
    for (int64_t i = lo; i < hi; ++i) {
      const Target y{y_true + i * c, 0, sm};
      float* g = kGrad ? grad + i * c : nullptr;
      const float gs = row_scale != nullptr ? row_scale[i] : 1.f;
      per_sample[i] = p.from_logits ? cce_logits_row<kGrad>(c, y, y_pred + i * c, g, gs, term)
                                    : cce_probs_row<kGrad>(c, y, y_pred + i * c, g, gs, term);
    }
  });
}

template <bool kGrad, class Label>
void run_sparse(int64_t n, int64_t c, const Label* labels, const float* y_pred,
                float* per_sample, float* grad, const float* row_scale, const LossParams& p,
                int num_threads) {
  for_row_ranges(n, c, num_threads, [&](int64_t lo, int64_t hi) {
    float* term = tl_terms.floats(static_cast<size_t>(c));
    for (int64_t i = lo; i < hi; ++i) {
      const Target y{nullptr, static_cast<int64_t>(labels[i]), {1.f, 0.f}};
      float* g = kGrad ? grad + i * c : nullptr;
      const float gs = row_scale != nullptr ? row_scale[i] : 1.f;
      per_sample[i] = p.from_logits ? cce_logits_row<kGrad>(c, y, y_pred + i * c, g, gs, term)
                                    : cce_probs_row<kGrad>(c, y, y_pred + i * c, g, gs, term);
    }
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
