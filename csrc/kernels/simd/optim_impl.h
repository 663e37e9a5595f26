// Optimizer update loops over a range [lo, hi) of flat arrays, written once as plain loops and
// compiled once per instruction set (optim_generic.cpp, optim_avx2.cpp, optim_avx512.cpp),
// each with its own target flags; optim.cpp picks a table with current_isa() and splits the
// range across threads. The rules and the meaning of every field are in kernels/optim.h.
//
// The loops are memory-bound (Adam moves 28 bytes per parameter for about a dozen flops), so
// they are left to the compiler's vectoriser: restrict pointers, branch-free bodies (clips and
// maxima as selects), variants (momentum, nesterov, centered, amsgrad) as template flags, and
// -fno-math-errno so that sqrt becomes a vector instruction. The AVX2 and AVX-512 builds may
// contract a multiply and an add into one FMA, so their results can differ from the generic
// path in the last bit.
//
// Everything executable here is in an anonymous namespace: each translation unit gets its own
// copy built for its instruction set, and the linker can never merge an AVX-512 copy into the
// generic path.
#pragma once

#include <cmath>
#include <cstdint>

namespace pyn {

// Gradient transform and decoupled weight decay shared by every update:
//   g' = min(max(g * scale, lo), hi),  p' = p * decay
struct GradParams {
  float scale, lo, hi, decay;
};

struct SgdArgs {
  float* p;
  const float* g;
  float* m;  // null: plain SGD
  GradParams gp;
  float lr, momentum;
  bool nesterov;
};

struct RmspropArgs {
  float* p;
  const float* g;
  float* v;
  float* mom;  // null: no momentum
  float* avg;  // null: not centered
  GradParams gp;
  float lr, rho, one_minus_rho, momentum, eps;
};

struct AdagradArgs {
  float* p;
  const float* g;
  float* acc;
  GradParams gp;
  float lr, eps;
};

struct AdadeltaArgs {
  float* p;
  const float* g;
  float* acc_grad;
  float* acc_var;
  GradParams gp;
  float lr, rho, one_minus_rho, eps;
};

struct AdamArgs {
  float* p;
  const float* g;
  float* m;
  float* v;
  float* vhat;  // null: no amsgrad
  GradParams gp;
  float alpha, one_minus_b1, one_minus_b2, eps;
};

struct AdamaxArgs {
  float* p;
  const float* g;
  float* m;
  float* u;
  GradParams gp;
  float lr_corrected;  // lr / (1 - b1^t)
  float one_minus_b1, b2, eps;
};

struct NadamArgs {
  float* p;
  const float* g;
  float* m;
  float* v;
  GradParams gp;
  float lr, one_minus_b1, one_minus_b2, eps;
  float coef_m;   // u_{t+1} / (1 - P_{t+1})
  float coef_g;   // (1 - u_t) / (1 - P_t)
  float inv_bc2;  // 1 / (1 - b2^t)
};

struct LionArgs {
  float* p;
  const float* g;
  float* m;
  GradParams gp;
  float lr, b1, one_minus_b1, b2, one_minus_b2;
};

// Lamb runs in two passes over each variable's slice: lamb_moments updates m and v and sums
// (p * decay)^2 and u^2, u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps); lamb_apply then
// recomputes u from the stored m and v (the same float operations, so the same u) and sets
// p = p * decay - step * u with step = lr * trust_ratio of that variable.
struct LambArgs {
  float* p;
  const float* g;
  float* m;
  float* v;
  GradParams gp;
  float one_minus_b1, one_minus_b2, inv_bc1, inv_bc2, eps;
};

// Ftrl: k = -learning_rate_power; sqrt_power selects sqrt for k = 0.5. Where q = 0 (a' = 0,
// l2 = beta = 0) the weight keeps its decayed value instead of Keras's 0 / 0.
struct FtrlArgs {
  float* p;
  const float* g;
  float* acc;
  float* lin;
  GradParams gp;
  float k, inv_lr, two_l2, l1, two_shrinkage;
  bool sqrt_power;
};

// One instruction set's loops. Each processes elements [lo, hi).
struct OptimKernels {
  const char* name;
  void (*sgd)(const SgdArgs& a, int64_t lo, int64_t hi);
  void (*rmsprop)(const RmspropArgs& a, int64_t lo, int64_t hi);
  void (*adagrad)(const AdagradArgs& a, int64_t lo, int64_t hi);
  void (*adadelta)(const AdadeltaArgs& a, int64_t lo, int64_t hi);
  void (*adam)(const AdamArgs& a, int64_t lo, int64_t hi);
  void (*adamax)(const AdamaxArgs& a, int64_t lo, int64_t hi);
  void (*nadam)(const NadamArgs& a, int64_t lo, int64_t hi);
  void (*lion)(const LionArgs& a, int64_t lo, int64_t hi);
  // sums[0] += sum (p * decay)^2, sums[1] += sum u^2 over [lo, hi)
  void (*lamb_moments)(const LambArgs& a, int64_t lo, int64_t hi, double* sums);
  void (*lamb_apply)(const LambArgs& a, int64_t lo, int64_t hi, float step);
  double (*sum_sq)(const float* x, int64_t lo, int64_t hi);
  void (*ftrl)(const FtrlArgs& a, int64_t lo, int64_t hi);
};

const OptimKernels& optim_kernels_generic();
const OptimKernels& optim_kernels_avx2();    // only callable when the CPU supports AVX2 + FMA
const OptimKernels& optim_kernels_avx512();  // only callable when the CPU supports AVX-512

namespace {
namespace optim_loops {

// Selects rather than std::min/max: no out-of-line template that another translation unit
// could provide, and NaN in x propagates (x < lo and x > hi are both false for NaN).
inline float clip(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}
inline float grad_of(float g, const GradParams& gp) { return clip(g * gp.scale, gp.lo, gp.hi); }
inline float max_of(float a, float b) { return a > b ? a : b; }  // b when either is NaN

template <bool kMomentum, bool kNesterov>
inline void sgd_loop(const SgdArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  const GradParams gp = a.gp;
  const float lr = a.lr, mu = a.momentum;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float pi = p[i] * gp.decay;
    if (kMomentum) {
      const float mi = mu * m[i] - lr * gi;
      m[i] = mi;
      p[i] = kNesterov ? pi + (mu * mi - lr * gi) : pi + mi;
    } else {
      p[i] = pi - lr * gi;
    }
  }
}

inline void sgd(const SgdArgs& a, int64_t lo, int64_t hi) {
  if (a.m == nullptr) return sgd_loop<false, false>(a, lo, hi);
  if (a.nesterov) return sgd_loop<true, true>(a, lo, hi);
  sgd_loop<true, false>(a, lo, hi);
}

template <bool kMomentum, bool kCentered>
inline void rmsprop_loop(const RmspropArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict v = a.v;
  float* __restrict mom = a.mom;
  float* __restrict avg = a.avg;
  const GradParams gp = a.gp;
  const float lr = a.lr, rho = a.rho, omr = a.one_minus_rho, mu = a.momentum, eps = a.eps;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float vi = rho * v[i] + omr * (gi * gi);
    v[i] = vi;
    float denom;
    if (kCentered) {
      const float ai = rho * avg[i] + omr * gi;
      avg[i] = ai;
      denom = vi - ai * ai + eps;
    } else {
      denom = vi + eps;
    }
    const float inc = lr * gi / std::sqrt(denom);
    const float pi = p[i] * gp.decay;
    if (kMomentum) {
      const float bi = mu * mom[i] + inc;
      mom[i] = bi;
      p[i] = pi - bi;
    } else {
      p[i] = pi - inc;
    }
  }
}

inline void rmsprop(const RmspropArgs& a, int64_t lo, int64_t hi) {
  if (a.mom != nullptr) {
    if (a.avg != nullptr) return rmsprop_loop<true, true>(a, lo, hi);
    return rmsprop_loop<true, false>(a, lo, hi);
  }
  if (a.avg != nullptr) return rmsprop_loop<false, true>(a, lo, hi);
  rmsprop_loop<false, false>(a, lo, hi);
}

inline void adagrad(const AdagradArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict acc = a.acc;
  const GradParams gp = a.gp;
  const float lr = a.lr, eps = a.eps;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float ai = acc[i] + gi * gi;
    acc[i] = ai;
    p[i] = p[i] * gp.decay - lr * gi / std::sqrt(ai + eps);
  }
}

inline void adadelta(const AdadeltaArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict ag = a.acc_grad;
  float* __restrict ax = a.acc_var;
  const GradParams gp = a.gp;
  const float lr = a.lr, rho = a.rho, omr = a.one_minus_rho, eps = a.eps;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float agi = rho * ag[i] + omr * (gi * gi);
    ag[i] = agi;
    const float axi = ax[i];
    const float dx = -(std::sqrt(axi + eps) * gi) / std::sqrt(agi + eps);
    ax[i] = rho * axi + omr * (dx * dx);
    p[i] = p[i] * gp.decay + lr * dx;
  }
}

template <bool kAmsgrad>
inline void adam_loop(const AdamArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  float* __restrict v = a.v;
  float* __restrict vh = a.vhat;
  const GradParams gp = a.gp;
  const float alpha = a.alpha, omb1 = a.one_minus_b1, omb2 = a.one_minus_b2, eps = a.eps;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float mi = m[i] + (gi - m[i]) * omb1;
    float vi = v[i] + (gi * gi - v[i]) * omb2;
    m[i] = mi;
    v[i] = vi;
    if (kAmsgrad) {
      vi = max_of(vh[i], vi);
      vh[i] = vi;
    }
    p[i] = p[i] * gp.decay - (mi * alpha) / (std::sqrt(vi) + eps);
  }
}

inline void adam(const AdamArgs& a, int64_t lo, int64_t hi) {
  if (a.vhat != nullptr) return adam_loop<true>(a, lo, hi);
  adam_loop<false>(a, lo, hi);
}

inline void adamax(const AdamaxArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  float* __restrict u = a.u;
  const GradParams gp = a.gp;
  const float lrc = a.lr_corrected, omb1 = a.one_minus_b1, b2 = a.b2, eps = a.eps;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float mi = m[i] + (gi - m[i]) * omb1;
    const float ui = max_of(b2 * u[i], std::fabs(gi));
    m[i] = mi;
    u[i] = ui;
    p[i] = p[i] * gp.decay - (lrc * mi) / (ui + eps);
  }
}

inline void nadam(const NadamArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  float* __restrict v = a.v;
  const GradParams gp = a.gp;
  const float lr = a.lr, omb1 = a.one_minus_b1, omb2 = a.one_minus_b2, eps = a.eps;
  const float cm = a.coef_m, cg = a.coef_g, ib2 = a.inv_bc2;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float mi = m[i] + (gi - m[i]) * omb1;
    const float vi = v[i] + (gi * gi - v[i]) * omb2;
    m[i] = mi;
    v[i] = vi;
    const float m_hat = cm * mi + cg * gi;
    const float v_hat = vi * ib2;
    p[i] = p[i] * gp.decay - (m_hat * lr) / (std::sqrt(v_hat) + eps);
  }
}

// Keras's Lion: c = b1 m + (1 - b1) g; p -= lr sign(c); m = b2 m + (1 - b2) g. sign(0) = 0
// and NaN stays NaN (c * 0), as ops.sign does.
inline float sign_of(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x * 0.0f); }

inline void lion(const LionArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  const GradParams gp = a.gp;
  const float lr = a.lr, b1 = a.b1, omb1 = a.one_minus_b1, b2 = a.b2, omb2 = a.one_minus_b2;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float mi = m[i];
    const float c = mi * b1 + gi * omb1;
    p[i] = p[i] * gp.decay - lr * sign_of(c);
    m[i] = mi * b2 + gi * omb2;
  }
}

// The Lamb update direction of one element from its (already updated) moments.
inline float lamb_direction(float mi, float vi, const LambArgs& a) {
  return (mi * a.inv_bc1) / (std::sqrt(vi * a.inv_bc2) + a.eps);
}

inline void lamb_moments(const LambArgs& a, int64_t lo, int64_t hi, double* sums) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  float* __restrict v = a.v;
  const GradParams gp = a.gp;
  const float omb1 = a.one_minus_b1, omb2 = a.one_minus_b2;
  constexpr int kLanes = 16;  // independent double accumulators, as in sum_sq
  double acc_w[kLanes] = {}, acc_u[kLanes] = {};
  int64_t i = lo;
  for (; i + kLanes <= hi; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int64_t k = i + l;
      const float gi = grad_of(g[k], gp);
      const float mi = m[k] + (gi - m[k]) * omb1;
      const float vi = v[k] + (gi * gi - v[k]) * omb2;
      m[k] = mi;
      v[k] = vi;
      const double w = static_cast<double>(p[k] * gp.decay);
      const double u = static_cast<double>(lamb_direction(mi, vi, a));
      acc_w[l] += w * w;
      acc_u[l] += u * u;
    }
  }
  double sw = 0.0, su = 0.0;
  for (; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float mi = m[i] + (gi - m[i]) * omb1;
    const float vi = v[i] + (gi * gi - v[i]) * omb2;
    m[i] = mi;
    v[i] = vi;
    const double w = static_cast<double>(p[i] * gp.decay);
    const double u = static_cast<double>(lamb_direction(mi, vi, a));
    sw += w * w;
    su += u * u;
  }
  for (int l = 0; l < kLanes; ++l) {
    sw += acc_w[l];
    su += acc_u[l];
  }
  sums[0] += sw;
  sums[1] += su;
}

inline void lamb_apply(const LambArgs& a, int64_t lo, int64_t hi, float step) {
  float* __restrict p = a.p;
  const float* __restrict m = a.m;
  const float* __restrict v = a.v;
  const float decay = a.gp.decay;
  for (int64_t i = lo; i < hi; ++i) p[i] = p[i] * decay - step * lamb_direction(m[i], v[i], a);
}

template <bool kSqrt>
inline float ftrl_power(float x, float k) {
  return kSqrt ? std::sqrt(x) : std::pow(x, k);
}

template <bool kSqrt>
inline void ftrl_loop(const FtrlArgs& a, int64_t lo, int64_t hi) {
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict acc = a.acc;
  float* __restrict lin = a.lin;
  const GradParams gp = a.gp;
  const float k = a.k, inv_lr = a.inv_lr, two_l2 = a.two_l2, l1 = a.l1;
  const float two_shrink = a.two_shrinkage;
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = grad_of(g[i], gp);
    const float xi = p[i] * gp.decay;
    const float ai = acc[i];
    const float new_ai = ai + gi * gi;
    const float pow_new = ftrl_power<kSqrt>(new_ai, k);
    const float pow_old = ftrl_power<kSqrt>(ai, k);
    const float zi = lin[i] + ((gi + two_shrink * xi) - ((pow_new - pow_old) * inv_lr) * xi);
    const float quad = pow_new * inv_lr + two_l2;
    // quad is 0 only for a' = 0 (no gradient yet, no initial accumulator) with no l2 and
    // beta: the weight is left at x there, where Keras divides by 0 (this also keeps the
    // zero padding between variables at zero)
    const float step = (clip(zi, -l1, l1) - zi) / quad;
    p[i] = quad > 0.0f ? step : xi;
    lin[i] = zi;
    acc[i] = new_ai;
  }
}

inline void ftrl(const FtrlArgs& a, int64_t lo, int64_t hi) {
  if (a.sqrt_power) return ftrl_loop<true>(a, lo, hi);
  ftrl_loop<false>(a, lo, hi);
}

// sum x_i^2 over [lo, hi) in double: 32 independent accumulators (vectorised without
// reassociation, and enough independent chains to hide the add latency), then the tail and
// the lanes.
inline double sum_sq(const float* __restrict x, int64_t lo, int64_t hi) {
  constexpr int kLanes = 32;
  double acc[kLanes] = {};
  int64_t i = lo;
  for (; i + kLanes <= hi; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const double xi = static_cast<double>(x[i + l]);
      acc[l] += xi * xi;
    }
  }
  double s = 0.0;
  for (; i < hi; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

inline OptimKernels make_kernels(const char* name) {
  return OptimKernels{name,  &sgd,  &rmsprop,      &adagrad,    &adadelta, &adam,
                      &adamax, &nadam, &lion, &lamb_moments, &lamb_apply, &sum_sq, &ftrl};
}

}  // namespace optim_loops
}  // namespace

}  // namespace pyn
