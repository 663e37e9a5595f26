// Vector math and the activation kernels, written once over vector traits V (common/vec.h) and
// compiled once per instruction set by simd/activation_<isa>.cpp, each with its own target
// flags. Every function here is a template on V, so the copies built for different
// instruction sets never merge at link time.
//
// Vector math (float32 lanes, no -ffast-math; NaN in gives NaN out):
//
//   exp(x)    x = n ln2 + r (Cody-Waite: ln2 in two parts, so n * ln2_hi is exact),
//             |r| <= ln2/2, exp(x) = 2^n (1 + expm1(r)). 2^n is applied by V::scale2 (one
//             rounding: vscalefps, or two normal factors 2^(n/2) 2^(n - n/2)), so overflow to
//             +inf and gradual underflow come out right with x clamped to [-104, 89].
//   expm1(x)  same reduction, 2^n expm1(r) + (2^n - 1) with one rounding (FMA); r itself when
//             n == 0, so small and subnormal x are exact. x clamped to [-40, 89].
//             expm1(r) = r + r^2 (1/2 + r Q(r)), Q of degree 4 fitted (minimax, relative)
//             on |r| <= ln2/2: fit error 3.9e-10.
//   log(x)    x = 2^e m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), log(1 + f) =
//             f - f^2/2 + f^3 P(f), P of degree 8: fit error 7.5e-10. Subnormals are scaled
//             by 2^23 first; log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
//   log1p(x)  u = 1 + x, log(u) + c / u with c = x - (u - 1) the rounding error of u.
//   tanh(x)   |x| < 0.625: x + x^3 P(x^2), P of degree 4 (fit error 4.4e-9); else
//             sign(x) (1 - 2E / (1 + E)), E = exp(-2|x|) (1 - q with q <= 0.45).
//   erfc(t)   t >= 1/2: exp(-t^2) Q(u) / (1 + 2t), u = (t - 1) / (t + 1) in [-1/3, 0.83),
//             Q of degree 10 fitted to (1 + 2t) exp(t^2) erfc(t) on t in [0.5, 10.5]: fit
//             error 1.8e-9 (5.7e-9 with the coefficients rounded to float32). exp(-t^2)
//             uses t^2 = s + e split exactly (FMA, or Dekker's product without FMA) and
//             exp(-s) (1 - e), so the relative error stays a few ulp out to the underflow at
//             t = 10.05. erfc(x < 0) = 2 - erfc(-x).
//   erf(x)    |x| < 1: x + x P(x^2), P of degree 6 (fit error 1.2e-9); else
//             sign(x)(1 - erfc|x|). erfc(|x| < 1/2) = 1 - erf(|x|).
//
// Polynomial coefficients were fitted here (Lawson-weighted least squares, 40-digit
// reference values) and rounded to float32. Maximum errors measured against float64 (glibc)
// over every 13th float32 bit pattern of both signs (330 million inputs per function; NaN,
// infinities, zeros and subnormals all in), in ulp of the float32 result:
//
//              exp    expm1  log    log1p  tanh   erf    erfc
//   avx512     0.97   1.44   0.90   1.44   1.39   1.89   4.15
//   avx2       0.97   1.44   0.90   1.44   1.67   1.89   4.15
//   generic    0.95   1.41   0.86   1.44   1.37   2.13   4.15   (SSE2, and the scalar build)
//
// with every special value exactly right. tests/test_activation.py holds these bounds.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/vec.h"
#include "kernels/activation.h"

namespace pyn {
namespace vmath {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kMaxFloat = std::numeric_limits<float>::max();
constexpr float kMinNormal = std::numeric_limits<float>::min();

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;     // 355/512: n * kLn2Hi is exact for |n| < 2^15
constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
constexpr float kSqrt2 = 1.41421356f;
constexpr float kSqrtHalf = 0.707106781f;

// expm1(r) = r + r^2 (1/2 + r Q(r)),  |r| <= ln2 / 2.
constexpr float kExpm1Q[] = {1.666666567e-01f, 4.166648164e-02f, 8.333419450e-03f,
                             1.393324463e-03f, 1.982412941e-04f};
// log(1 + f) = f - f^2 / 2 + f^3 P(f),  f in [sqrt(1/2) - 1, sqrt(2) - 1].
constexpr float kLog1pP[] = {3.333331347e-01f,  -2.500000894e-01f, 2.000211924e-01f,
                             -1.666799635e-01f, 1.421955228e-01f,  -1.240558922e-01f,
                             1.188816205e-01f,  -1.167565212e-01f, 6.746640056e-02f};
// tanh(x) = x + x^3 P(x^2),  |x| <= 0.625.
constexpr float kTanhP[] = {-3.333328068e-01f, 1.333144158e-01f, -5.373971537e-02f,
                            2.063908800e-02f, -5.704987328e-03f};
// erf(x) = x + x P(x^2),  |x| <= 1 (P(0) = 2/sqrt(pi) - 1: the x term is added last, so
// rounding errors of P are scaled down by |x P| / |erf(x)| <= 0.16).
constexpr float kErfP[] = {1.28379107e-01f,   -3.761262596e-01f, 1.128358543e-01f,
                           -2.685381286e-02f, 5.188329145e-03f,  -8.010203601e-04f,
                           7.853892021e-05f};
// erfc(t) = exp(-t^2) Q(u) / (1 + 2t),  u = (t - 1) / (t + 1),  t in [0.5, 10.5].
constexpr float kErfcQ[] = {1.282750726e+00f,  7.106219232e-02f,  -2.621756494e-01f,
                            -2.691269107e-02f, 4.506749287e-02f,  2.694811672e-02f,
                            2.749231411e-03f,  -5.287264939e-03f, -5.286797881e-03f,
                            -5.221421830e-03f, 4.692869727e-03f};

// c[0] + x (c[1] + x (c[2] + ...)).
template <class V, int N>
inline typename V::Reg horner(typename V::Reg x, const float (&c)[N]) {
  typename V::Reg r = V::set1(c[N - 1]);
#pragma GCC unroll 16
  for (int i = N - 2; i >= 0; --i) r = V::fmadd(r, x, V::set1(c[i]));
  return r;
}

// |mag| with the sign of x (mag >= 0).
template <class V>
inline typename V::Reg with_sign_of(typename V::Reg mag, typename V::Reg x) {
  return V::bor(mag, V::band(x, V::set1(-0.f)));
}

// max(lo, min(hi, x)): clamps and keeps a NaN x.
template <class V>
inline typename V::Reg clamp(typename V::Reg x, float lo, float hi) {
  return V::max(V::set1(lo), V::min(V::set1(hi), x));
}

// -|x| (one bit operation).
template <class V>
inline typename V::Reg neg_abs(typename V::Reg x) {
  return V::bor(x, V::set1(-0.f));
}

// x = n ln2 + r: returns r, and n (an integral float).
template <class V>
inline typename V::Reg reduce_ln2(typename V::Reg x, typename V::Reg* n) {
  *n = V::round(V::mul(x, V::set1(kLog2e)));
  const typename V::Reg r = V::fnmadd(*n, V::set1(kLn2Hi), x);  // exact
  return V::fnmadd(*n, V::set1(kLn2Lo), r);
}

template <class V>
inline typename V::Reg expm1_reduced(typename V::Reg r) {
  const typename V::Reg h = V::fmadd(r, horner<V>(r, kExpm1Q), V::set1(0.5f));
  return V::fmadd(V::mul(r, r), h, r);
}

// exp(x) for x in [-170, 89] or NaN (no clamping): n in [-246, 129] is within scale2's range,
// results below the subnormals round to 0 and those above FLT_MAX to inf.
template <class V>
inline typename V::Reg exp_bounded(typename V::Reg x) {
  typename V::Reg n;
  const typename V::Reg r = reduce_ln2<V>(x, &n);
  return V::scale2(V::add(V::set1(1.f), expm1_reduced<V>(r)), n);
}

template <class V>
inline typename V::Reg exp(typename V::Reg x) {
  return exp_bounded<V>(clamp<V>(x, -104.f, 89.f));
}

template <class V>
inline typename V::Reg expm1(typename V::Reg x) {
  using Reg = typename V::Reg;
  x = clamp<V>(x, -40.f, 89.f);
  Reg n;
  const Reg r = reduce_ln2<V>(x, &n);
  const Reg p = expm1_reduced<V>(r);
  // (2^n (1 + p) - 1) / 2 = 2^(n-1) p + (2^(n-1) - 1/2); 2^(n-1) is normal for n in [-58, 128].
  const Reg th = V::scale2(V::set1(0.5f), n);
  Reg e = V::fmadd(th, p, V::sub(th, V::set1(0.5f)));
  e = V::add(e, e);
  return V::select(V::cmp_eq(n, V::zero()), p, e);  // n == 0: exactly p (keeps subnormals)
}

// log(1 + f) for f = m - 1, m in [sqrt(1/2), sqrt(2)].
template <class V>
inline typename V::Reg log1p_reduced(typename V::Reg f) {
  const typename V::Reg p = V::fmadd(f, horner<V>(f, kLog1pP), V::set1(-0.5f));
  return V::fmadd(V::mul(f, f), p, f);
}

// e ln2 + l with ln2 in two parts.
template <class V>
inline typename V::Reg add_ln2_multiple(typename V::Reg e, typename V::Reg l) {
  return V::fmadd(e, V::set1(kLn2Hi), V::fmadd(e, V::set1(kLn2Lo), l));
}

template <class V>
inline typename V::Reg log(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg zero = V::zero();
  const auto sub = V::cmp_lt(x, V::set1(kMinNormal));  // subnormal (zero and x < 0: below)
  const Reg xs = V::select(sub, V::mul(x, V::set1(8388608.f)), x);  // 2^23
  Reg e = V::sub(V::to_f32(V::template srli<23>(V::as_i32(xs))),
                 V::select(sub, V::set1(150.f), V::set1(127.f)));
  Reg m = V::bor(V::band(xs, V::as_f32(V::iset1(0x007FFFFF))), V::set1(1.f));  // [1, 2)
  const auto big = V::cmp_gt(m, V::set1(kSqrt2));
  m = V::select(big, V::mul(m, V::set1(0.5f)), m);
  e = V::select(big, V::add(e, V::set1(1.f)), e);
  Reg r = add_ln2_multiple<V>(e, log1p_reduced<V>(V::sub(m, V::set1(1.f))));
  r = V::select(V::cmp_eq(x, V::set1(kInf)), x, r);
  r = V::select(V::cmp_eq(x, zero), V::set1(-kInf), r);
  return V::select(V::cmp_ge(x, zero), r, V::set1(kNaN));  // x < 0 or NaN
}

// log(u) for u in [1, 2] (no special cases, no exponent extraction).
template <class V>
inline typename V::Reg log_1_2(typename V::Reg u) {
  using Reg = typename V::Reg;
  const auto big = V::cmp_gt(u, V::set1(kSqrt2));
  const Reg m = V::select(big, V::mul(u, V::set1(0.5f)), u);
  const Reg l = log1p_reduced<V>(V::sub(m, V::set1(1.f)));
  return V::select(big, add_ln2_multiple<V>(V::set1(1.f), l), l);
}

// log1p(x) for x in [0, 1].
template <class V>
inline typename V::Reg log1p_unit(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg u = V::add(V::set1(1.f), x);
  const Reg c = V::sub(x, V::sub(u, V::set1(1.f)));  // exact rounding error of u
  return V::add(log_1_2<V>(u), V::fdiv(c, u));
}

template <class V>
inline typename V::Reg log1p(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg u = V::add(V::set1(1.f), x);
  const Reg c = V::sub(x, V::sub(u, V::set1(1.f)));
  const auto finite_pos = V::cmp_and(V::cmp_gt(u, V::zero()), V::cmp_lt(u, V::set1(kInf)));
  return V::add(log<V>(u), V::select(finite_pos, V::div(c, u), V::zero()));
}

// |x| < 0.625: x + x^3 P(x^2); else sign(x) (1 - 2E / (1 + E)) with E = exp(-2|x|), which
// keeps results near 1 (where ulps halve) accurate.
template <class V>
inline typename V::Reg tanh(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg a = V::abs(x);
  const Reg ex = exp_bounded<V>(V::max(V::set1(-40.f), V::mul(V::set1(-2.f), a)));
  const Reg q = V::mul(V::add(ex, ex), V::frcp(V::add(V::set1(1.f), ex)));
  const Reg large = with_sign_of<V>(V::sub(V::set1(1.f), q), x);
  const Reg x2 = V::mul(x, x);
  const Reg small = V::fmadd(V::mul(x, x2), horner<V>(x2, kTanhP), x);
  return V::select(V::cmp_lt(a, V::set1(0.625f)), small, large);
}

// Rounding error of the product p = a * b: a * b = p + err exactly (|a|, |b| < 2^100).
template <class V>
inline typename V::Reg product_error(typename V::Reg a, typename V::Reg b, typename V::Reg p) {
  if constexpr (V::kFma) {
    return V::fmsub(a, b, p);
  } else {
    // Dekker: split each factor into 12-bit halves, whose products are exact.
    using Reg = typename V::Reg;
    const Reg k = V::set1(4097.f);  // 2^12 + 1
    const Reg ca = V::mul(k, a), cb = V::mul(k, b);
    const Reg ah = V::sub(ca, V::sub(ca, a)), al = V::sub(a, ah);
    const Reg bh = V::sub(cb, V::sub(cb, b)), bl = V::sub(b, bh);
    Reg err = V::sub(V::mul(ah, bh), p);
    err = V::add(err, V::mul(ah, bl));
    err = V::add(err, V::mul(al, bh));
    return V::add(err, V::mul(al, bl));
  }
}

// exp(-h t^2) for h = 1 or 1/2 and h t^2 <= 170, keeping t^2 exact: t^2 = s + e,
// exp(-h s - h e) = exp(-h s) (1 - h e) since |h e| <= 2^-24 h s < 2^-16.
template <class V>
inline typename V::Reg exp_neg_sq(typename V::Reg t, float h) {
  using Reg = typename V::Reg;
  const Reg s = V::mul(t, t);
  const Reg e = V::mul(V::set1(h), product_error<V>(t, t, s));
  const Reg ex = exp_bounded<V>(V::mul(V::set1(-h), s));
  return V::fnmadd(ex, e, ex);
}

// erfc(t) for t in [0.5, 10.5], given ex = exp(-t^2). The final quotient is a refined
// division; u tolerates a reciprocal (one shared reciprocal for both measured 0.6-1.1 ulp
// worse).
template <class V>
inline typename V::Reg erfc_pos(typename V::Reg t, typename V::Reg ex) {
  using Reg = typename V::Reg;
  const Reg one = V::set1(1.f);
  const Reg u = V::mul(V::sub(t, one), V::frcp(V::add(t, one)));
  const Reg q = horner<V>(u, kErfcQ);
  return V::mul(V::fdiv(q, V::fmadd(t, V::set1(2.f), one)), ex);
}

// erf(x) for |x| <= 1 (odd: x may have either sign).
template <class V>
inline typename V::Reg erf_small(typename V::Reg x) {
  return V::fmadd(x, horner<V>(V::mul(x, x), kErfP), x);
}

template <class V>
inline typename V::Reg erfc(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg a = V::min(V::set1(10.5f), V::abs(x));
  const Reg a1 = V::min(V::set1(1.f), a);
  const Reg small = V::sub(V::set1(1.f), erf_small<V>(a1));  // |x| < 1/2: 1 - erf(|x|)
  const Reg e = V::select(V::cmp_lt(a, V::set1(0.5f)), small,
                          erfc_pos<V>(a, exp_neg_sq<V>(a, 1.f)));
  return V::select(V::cmp_lt(x, V::zero()), V::sub(V::set1(2.f), e), e);
}

template <class V>
inline typename V::Reg erf(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg a = V::abs(x);
  const Reg a4 = V::min(V::set1(4.f), a);  // erf(4) rounds to 1
  const Reg small = erf_small<V>(V::min(V::set1(1.f), a));
  const Reg large = V::sub(V::set1(1.f), erfc_pos<V>(a4, exp_neg_sq<V>(a4, 1.f)));
  return with_sign_of<V>(V::select(V::cmp_lt(a, V::set1(1.f)), small, large), x);
}

// sigmoid(x) = num / den with e = exp(-|x|), den = 1 + e, num = x >= 0 ? 1 : e, and
// 1 - sigmoid(x) = other / den: both accurate in the tails.
template <class V>
struct SigmoidParts {
  typename V::Reg e, den, num, other;
  explicit SigmoidParts(typename V::Reg x) {
    e = exp_bounded<V>(V::max(V::set1(-104.f), neg_abs<V>(x)));
    den = V::add(V::set1(1.f), e);
    const auto pos = V::cmp_ge(x, V::zero());
    num = V::select(pos, V::set1(1.f), e);
    other = V::select(pos, e, V::set1(1.f));
  }
};

// Gate nonlinearities of the fused LSTM cell: one exp per element, a refined reciprocal
// instead of a division, and no polynomial branch for tanh (expm1 keeps small
// arguments accurate). A few ulp from the float64 values over the whole range, NaN in gives
// NaN out, and the saturated values are exactly +-1 and 1.

// y in [-87, 0] or NaN: exp(y) = 2^n (1 + p) with p = expm1(r), y = n ln2 + r. n is rounded
// by adding 1.5 * 2^23, which leaves n in the low mantissa bits of the sum; shifted into the
// exponent field they give 2^n (n >= -126: a normal float).
template <class V>
inline typename V::Reg expm1_parts(typename V::Reg y, typename V::Reg* pw) {
  using Reg = typename V::Reg;
  const Reg shifter = V::set1(12582912.f);  // 1.5 * 2^23
  const Reg t = V::fmadd(y, V::set1(kLog2e), shifter);
  const Reg n = V::sub(t, shifter);
  Reg r = V::fnmadd(n, V::set1(kLn2Hi), y);
  r = V::fnmadd(n, V::set1(kLn2Lo), r);
  *pw = V::as_f32(V::iadd(V::template slli<23>(V::as_i32(t)), V::iset1(127 << 23)));
  return expm1_reduced<V>(r);
}

// a / b for the cell's denominators (b in [1, 2]): AVX-512's 14-bit reciprocal estimate with
// one Newton step is within an ulp and exact at b = 1, so a * (1 / b) suffices there; the
// 12-bit estimate of the narrower paths needs V::fdiv's extra correction.
template <class V>
inline typename V::Reg cell_div(typename V::Reg a, typename V::Reg b) {
  if constexpr (V::kWidth == 16) return V::mul(a, V::frcp(b));
  return V::fdiv(a, b);
}

// sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, e = exp(-|x|) (1 + e in [1, 2]);
// x below -87 gives sigmoid(-87) = 1.6e-38.
template <class V>
inline typename V::Reg cell_sigmoid(typename V::Reg x) {
  using Reg = typename V::Reg;
  Reg pw;
  const Reg p = expm1_parts<V>(V::max(V::set1(-87.f), neg_abs<V>(x)), &pw);
  const Reg e = V::fmadd(pw, p, pw);
  const Reg one = V::set1(1.f);
  return cell_div<V>(V::select(V::cmp_ge(x, V::zero()), one, e), V::add(one, e));
}

// tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|) = 2^n p + (2^n - 1) (exact p for n = 0, so
// small x stay accurate), then the sign of x.
template <class V>
inline typename V::Reg cell_tanh(typename V::Reg x) {
  using Reg = typename V::Reg;
  const Reg a = V::abs(x);
  Reg pw;
  const Reg p = expm1_parts<V>(V::max(V::set1(-40.f), V::mul(V::set1(-2.f), a)), &pw);
  const Reg m = V::fmadd(pw, p, V::sub(pw, V::set1(1.f)));
  const Reg q = cell_div<V>(m, V::add(V::set1(2.f), m));
  return with_sign_of<V>(V::abs(q), x);
}

}  // namespace vmath

namespace act_impl {

// One functor per activation: fwd(z) = f(z); grad(v) = f'(z) from v = x or y, as kNeedsX says
// (activation.h has the table). Parameters are broadcast once, in the constructor.

template <class V>
struct Linear {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Linear(const ActParams&) {}
  Reg fwd(Reg x) const { return x; }
  Reg grad(Reg) const { return V::set1(1.f); }
};

// 0 where y <= 0, NaN where y is NaN: y * 0 (y is never infinite for these).
template <class V>
inline typename V::Reg step_or_nan(typename V::Cmp in, typename V::Reg y, typename V::Reg one) {
  return V::select(in, one, V::mul(y, V::zero()));
}

template <class V>
struct Relu {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Relu(const ActParams&) {}
  Reg fwd(Reg x) const { return V::max(V::zero(), x); }
  Reg grad(Reg y) const { return step_or_nan<V>(V::cmp_gt(y, V::zero()), y, V::set1(1.f)); }
};

template <class V>
struct Relu6 {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Relu6(const ActParams&) {}
  Reg fwd(Reg x) const { return V::min(V::set1(6.f), V::max(V::zero(), x)); }
  Reg grad(Reg y) const {
    return step_or_nan<V>(V::cmp_and(V::cmp_gt(y, V::zero()), V::cmp_lt(y, V::set1(6.f))), y,
                          V::set1(1.f));
  }
};

template <class V>
struct HardSigmoid {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit HardSigmoid(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg r6 = V::min(V::set1(6.f), V::max(V::zero(), V::add(x, V::set1(3.f))));
    return V::div(r6, V::set1(6.f));
  }
  Reg grad(Reg y) const {
    return step_or_nan<V>(V::cmp_and(V::cmp_gt(y, V::zero()), V::cmp_lt(y, V::set1(1.f))), y,
                          V::set1(1.f / 6.f));
  }
};

template <class V>
struct Sigmoid {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Sigmoid(const ActParams&) {}
  Reg fwd(Reg x) const {
    const vmath::SigmoidParts<V> s(x);
    return V::fdiv(s.num, s.den);
  }
  Reg grad(Reg y) const { return V::mul(y, V::sub(V::set1(1.f), y)); }
};

template <class V>
struct Tanh {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Tanh(const ActParams&) {}
  Reg fwd(Reg x) const { return vmath::tanh<V>(x); }
  Reg grad(Reg y) const {
    const Reg one = V::set1(1.f);
    return V::mul(V::sub(one, y), V::add(one, y));
  }
};

template <class V>
struct LeakyRelu {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  Reg alpha;
  explicit LeakyRelu(const ActParams& p) : alpha(V::set1(p.alpha)) {}
  Reg fwd(Reg x) const { return V::select(V::cmp_gt(x, V::zero()), x, V::mul(alpha, x)); }
  Reg grad(Reg y) const {
    const Reg d = V::select(V::cmp_gt(y, V::zero()), V::set1(1.f), alpha);
    return V::select(V::is_nan(y), y, d);
  }
};

// selu is scale * elu(x, a): Elu with kScaled.
template <class V, bool kScaled>
struct EluT {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  static constexpr float kSeluAlpha = 1.67326324f;
  static constexpr float kSeluScale = 1.05070098f;
  Reg scale, scaled_alpha;
  explicit EluT(const ActParams& p)
      : scale(V::set1(kScaled ? kSeluScale : 1.f)),
        scaled_alpha(V::set1(kScaled ? kSeluScale * kSeluAlpha : p.alpha)) {}
  Reg fwd(Reg x) const {
    return V::select(V::cmp_gt(x, V::zero()), V::mul(scale, x),
                     V::mul(scaled_alpha, vmath::expm1<V>(x)));
  }
  // NaN y: y > 0 is false and y + alpha is NaN.
  Reg grad(Reg y) const {
    return V::select(V::cmp_gt(y, V::zero()), scale, V::add(y, scaled_alpha));
  }
};

template <class V>
struct Softplus {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Softplus(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg e = vmath::exp_bounded<V>(V::max(V::set1(-104.f), vmath::neg_abs<V>(x)));
    return V::add(V::max(V::zero(), x), vmath::log1p_unit<V>(e));
  }
  // sigmoid(z) = 1 - exp(-softplus(z)).
  Reg grad(Reg y) const { return V::neg(vmath::expm1<V>(V::neg(y))); }
};

template <class V>
struct Softsign {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit Softsign(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg xc = vmath::clamp<V>(x, -0x1p100f, 0x1p100f);  // +-inf -> +-1
    return V::fdiv(xc, V::add(V::set1(1.f), V::abs(xc)));
  }
  Reg grad(Reg x) const {
    const Reg xc = vmath::clamp<V>(x, -0x1p100f, 0x1p100f);  // 1 / (1 + 2^100)^2 is 0 too
    const Reg r = V::fdiv(V::set1(1.f), V::add(V::set1(1.f), V::abs(xc)));
    return V::mul(r, r);
  }
};

template <class V>
struct Celu {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  Reg alpha;
  explicit Celu(const ActParams& p) : alpha(V::set1(p.alpha)) {}
  Reg fwd(Reg x) const {
    return V::select(V::cmp_gt(x, V::zero()), x,
                     V::mul(alpha, vmath::expm1<V>(V::div(x, alpha))));
  }
  // exp(z / alpha) = y / alpha + 1 below 0; NaN y: y > 0 is false and y / alpha is NaN.
  Reg grad(Reg y) const {
    return V::select(V::cmp_gt(y, V::zero()), V::set1(1.f),
                     V::add(V::div(y, alpha), V::set1(1.f)));
  }
};

// z relu6(z + 3) / 6, exactly 0 from z <= -3 (also at -inf).
template <class V>
struct HardSilu {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit HardSilu(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg r6 = V::min(V::set1(6.f), V::max(V::zero(), V::add(x, V::set1(3.f))));
    return V::select(V::cmp_le(x, V::set1(-3.f)), V::zero(),
                     V::mul(x, V::div(r6, V::set1(6.f))));
  }
  // 0 below -3, z / 3 + 1/2 on [-3, 3], 1 above (PyTorch's hardswish gradient); NaN stays.
  Reg grad(Reg x) const {
    const Reg mid = V::fmadd(x, V::set1(1.f / 3.f), V::set1(0.5f));
    return V::select(V::cmp_lt(x, V::set1(-3.f)), V::zero(),
                     V::select(V::cmp_gt(x, V::set1(3.f)), V::set1(1.f), mid));
  }
};

template <class V>
struct HardTanh {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit HardTanh(const ActParams&) {}
  Reg fwd(Reg x) const { return V::min(V::set1(1.f), V::max(V::set1(-1.f), x)); }
  Reg grad(Reg y) const {
    return step_or_nan<V>(V::cmp_and(V::cmp_gt(y, V::set1(-1.f)), V::cmp_lt(y, V::set1(1.f))),
                          y, V::set1(1.f));
  }
};

// log sigmoid(z) = -softplus(-z); its derivative sigmoid(-z) = 1 - exp(y).
template <class V>
struct LogSigmoid {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit LogSigmoid(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg e = vmath::exp_bounded<V>(V::max(V::set1(-104.f), vmath::neg_abs<V>(x)));
    return V::sub(V::min(V::zero(), x), vmath::log1p_unit<V>(e));
  }
  Reg grad(Reg y) const { return V::neg(vmath::expm1<V>(y)); }
};

// 1 where y != 0, 0 where y == 0, NaN where y is NaN (y may be infinite).
template <class V>
inline typename V::Reg nonzero_step(typename V::Reg y) {
  const typename V::Reg d = V::select(V::cmp_eq(y, V::zero()), V::zero(), V::set1(1.f));
  return V::select(V::is_nan(y), y, d);
}

// The shrink thresholds are >= 0 (checked), so y != 0 exactly where |z| > threshold.
template <class V>
struct HardShrink {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  Reg t;
  explicit HardShrink(const ActParams& p) : t(V::set1(p.alpha)) {}
  Reg fwd(Reg x) const { return V::select(V::cmp_le(V::abs(x), t), V::zero(), x); }
  Reg grad(Reg y) const { return nonzero_step<V>(y); }
};

template <class V>
struct SoftShrink {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  Reg t;
  explicit SoftShrink(const ActParams& p) : t(V::set1(p.alpha)) {}
  Reg fwd(Reg x) const { return V::sub(x, V::min(t, V::max(V::neg(t), x))); }
  Reg grad(Reg y) const { return nonzero_step<V>(y); }
};

template <class V>
struct SparsePlus {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit SparsePlus(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg u = V::add(x, V::set1(1.f));
    const Reg q = V::mul(V::set1(0.25f), V::mul(u, u));
    return V::select(V::cmp_le(x, V::set1(-1.f)), V::zero(),
                     V::select(V::cmp_ge(x, V::set1(1.f)), x, q));
  }
  Reg grad(Reg x) const {
    const Reg h = V::mul(V::set1(0.5f), V::add(x, V::set1(1.f)));
    return V::select(V::cmp_le(x, V::set1(-1.f)), V::zero(),
                     V::select(V::cmp_ge(x, V::set1(1.f)), V::set1(1.f), h));
  }
};

template <class V>
struct SparseSigmoid {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit SparseSigmoid(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg h = V::mul(V::set1(0.5f), V::add(x, V::set1(1.f)));
    return V::min(V::set1(1.f), V::max(V::zero(), h));
  }
  Reg grad(Reg y) const {
    return step_or_nan<V>(V::cmp_and(V::cmp_gt(y, V::zero()), V::cmp_lt(y, V::set1(1.f))), y,
                          V::set1(0.5f));
  }
};

// (z + s) / 2 with s = sqrt(z^2 + b), written as b / (s - z) / 2 below 0 so the negative tail
// keeps its relative accuracy; s = |z| beyond 2^60, where b / z^2 is below float precision
// and z^2 would overflow.
template <class V>
struct Squareplus {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  Reg b;
  explicit Squareplus(const ActParams& p) : b(V::set1(p.alpha)) {}
  Reg root(Reg x) const {
    const Reg a = V::abs(x);
    return V::select(V::cmp_gt(a, V::set1(0x1p60f)), a, V::sqrt(V::fmadd(x, x, b)));
  }
  Reg fwd(Reg x) const {
    const Reg s = root(x);
    const Reg pos = V::mul(V::set1(0.5f), V::add(x, s));
    const Reg neg = V::mul(V::set1(0.5f), V::div(b, V::sub(s, x)));
    return V::select(V::cmp_lt(x, V::zero()), neg, pos);
  }
  // (1 + z / s) / 2, below 0 as b / (2 s (s + |z|)); z / s is taken as +-1 beyond 2^60 and as
  // 0 at z = 0 with b = 0.
  Reg grad(Reg x) const {
    const Reg s = root(x), a = V::abs(x);
    const Reg ratio = V::select(V::cmp_gt(a, V::set1(0x1p60f)), V::set1(1.f),
                                V::select(V::cmp_eq(s, V::zero()), V::zero(), V::div(x, s)));
    const Reg pos = V::mul(V::set1(0.5f), V::add(V::set1(1.f), ratio));
    const Reg neg = V::div(b, V::mul(V::add(s, s), V::add(s, a)));
    return V::select(V::cmp_lt(x, V::zero()), neg, pos);
  }
};

// z - tanh(z) = z^3 Q(z^2) below |z| = 0.625, Q the first 11 terms of its Taylor series
// (1/3 - 2 u / 15 + 17 u^2 / 315 - ..., truncation error 1.5e-9 relative at the edge), so small z
// keep their relative accuracy; z - tanh(z) directly above, which loses a few bits to
// cancellation just above the edge (as Keras's formula does everywhere).
constexpr float kTanhShrinkQ[] = {3.333333433e-01f,  -1.333333403e-01f, 5.396825448e-02f,
                                  -2.186948806e-02f, 8.863235824e-03f,  -3.592127934e-03f,
                                  1.455834368e-03f,  -5.900274264e-04f, 2.391291200e-04f,
                                  -9.691537707e-05f, 3.927832222e-05f};

template <class V>
struct TanhShrink {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit TanhShrink(const ActParams&) {}
  Reg fwd(Reg x) const {
    const Reg x2 = V::mul(x, x);
    const Reg small = V::mul(V::mul(x, x2), vmath::horner<V>(x2, kTanhShrinkQ));
    return V::select(V::cmp_lt(V::abs(x), V::set1(0.625f)), small,
                     V::sub(x, vmath::tanh<V>(x)));
  }
  Reg grad(Reg x) const {
    const Reg t = vmath::tanh<V>(x);
    return V::mul(t, t);
  }
};

template <class V>
struct Exponential {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = false;
  explicit Exponential(const ActParams&) {}
  Reg fwd(Reg x) const { return vmath::exp<V>(x); }
  Reg grad(Reg y) const { return y; }
};

// gelu(z) = z/2 (1 + erf(z / sqrt2)). For z < 0, 1 + erf(z / sqrt2) = erfc(|z| / sqrt2)
// directly, so the negative tail keeps its relative accuracy; for z >= 0 it is
// 2 - erfc(z / sqrt2). exp(-z^2 / 2) is shared with the derivative Phi(z) + z phi(z).
template <class V>
struct GeluErf {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  static constexpr float kClampAbs = 14.75f;  // erfc(14.75 / sqrt2) underflows to 0
  static constexpr float kInvSqrt2Pi = 0.398942280f;
  explicit GeluErf(const ActParams&) {}
  // Returns 1 + erf(x / sqrt2); *ex = exp(-x^2 / 2). |x / sqrt2| < 1/2 takes 1 + erf directly.
  static Reg one_plus_erf(Reg x, Reg* ex) {
    const Reg one = V::set1(1.f);
    const Reg a = V::min(V::set1(kClampAbs), V::abs(x));
    *ex = vmath::exp_neg_sq<V>(a, 0.5f);
    const Reg t = V::mul(a, V::set1(vmath::kSqrtHalf));
    const Reg e = vmath::erfc_pos<V>(t, *ex);
    const Reg tail = V::select(V::cmp_lt(x, V::zero()), e, V::sub(V::set1(2.f), e));
    const Reg z = V::mul(vmath::clamp<V>(x, -1.f, 1.f), V::set1(vmath::kSqrtHalf));
    const Reg near0 = V::add(one, vmath::erf_small<V>(z));
    return V::select(V::cmp_lt(t, V::set1(0.5f)), near0, tail);
  }
  Reg fwd(Reg x) const {
    Reg ex;
    const Reg h = one_plus_erf(x, &ex);
    return V::mul(V::mul(V::set1(0.5f), h), V::max(V::set1(-vmath::kMaxFloat), x));
  }
  Reg grad(Reg x) const {
    Reg ex;
    const Reg h = one_plus_erf(x, &ex);
    const Reg xc = vmath::clamp<V>(x, -kClampAbs, kClampAbs);
    return V::fmadd(V::mul(xc, ex), V::set1(kInvSqrt2Pi), V::mul(V::set1(0.5f), h));
  }
};

// Keras approximate gelu: z/2 (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3), written as
// z sigmoid(2u) (1 + tanh(u) = 2 sigmoid(2u)), which is accurate in both tails.
template <class V>
struct GeluTanh {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  static constexpr float kA = 1.59576912f;    // 2 sqrt(2/pi)
  static constexpr float kB = 0.0713548162f;  // 2 sqrt(2/pi) 0.044715
  explicit GeluTanh(const ActParams&) {}
  static Reg two_u(Reg x) { return V::mul(x, V::fmadd(V::set1(kB), V::mul(x, x), V::set1(kA))); }
  Reg fwd(Reg x) const {
    const vmath::SigmoidParts<V> s(two_u(x));
    return V::mul(V::max(V::set1(-vmath::kMaxFloat), x), V::fdiv(s.num, s.den));
  }
  // d/dz z s(v) = s + z s (1 - s) v',  v = 2u, v' = kA + 3 kB z^2.
  Reg grad(Reg x) const {
    const vmath::SigmoidParts<V> s(two_u(x));
    const Reg r = V::fdiv(V::set1(1.f), s.den);
    const Reg sg = V::mul(s.num, r), om = V::mul(s.other, r);
    const Reg xc = vmath::clamp<V>(x, -1e6f, 1e6f);  // s is exactly 0 or 1 beyond
    const Reg dv = V::fmadd(V::set1(3.f * kB), V::mul(xc, xc), V::set1(kA));
    return V::mul(sg, V::fmadd(V::mul(xc, om), dv, V::set1(1.f)));
  }
};

template <class V>
struct Silu {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit Silu(const ActParams&) {}
  Reg fwd(Reg x) const {
    const vmath::SigmoidParts<V> s(x);
    return V::mul(V::max(V::set1(-vmath::kMaxFloat), x), V::fdiv(s.num, s.den));
  }
  // s (1 + z (1 - s)).
  Reg grad(Reg x) const {
    const vmath::SigmoidParts<V> s(x);
    const Reg r = V::fdiv(V::set1(1.f), s.den);
    const Reg sg = V::mul(s.num, r), om = V::mul(s.other, r);
    const Reg xc = vmath::clamp<V>(x, -vmath::kMaxFloat, vmath::kMaxFloat);
    return V::mul(sg, V::fmadd(xc, om, V::set1(1.f)));
  }
};

// mish(z) = z tanh(softplus(z)) = z N / D with e = exp(-|z|):
//   z >= 0:  N = 1 + 2e,      D = N + 2e^2     (1 - N/D = 2e^2 / D)
//   z <  0:  N = e (e + 2),   D = N + 2        (1 - N/D = 2 / D)
// d/dz = t + z sigmoid(z) (1 - t)(1 + t),  t = N / D.
template <class V>
struct Mish {
  using Reg = typename V::Reg;
  static constexpr bool kNeedsX = true;
  explicit Mish(const ActParams&) {}
  struct Parts {
    Reg e, n, d, rest;  // rest = D - N
    typename V::Cmp pos;
  };
  static Parts parts(Reg x) {
    Parts q;
    const Reg two = V::set1(2.f);
    q.e = vmath::exp_bounded<V>(V::max(V::set1(-104.f), vmath::neg_abs<V>(x)));
    q.pos = V::cmp_ge(x, V::zero());
    const Reg e2 = V::mul(two, V::mul(q.e, q.e));
    q.n = V::select(q.pos, V::fmadd(two, q.e, V::set1(1.f)), V::mul(q.e, V::add(q.e, two)));
    q.rest = V::select(q.pos, e2, two);
    q.d = V::add(q.n, q.rest);
    return q;
  }
  Reg fwd(Reg x) const {
    const Parts q = parts(x);
    return V::mul(V::max(V::set1(-vmath::kMaxFloat), x), V::fdiv(q.n, q.d));
  }
  Reg grad(Reg x) const {
    const Parts q = parts(x);
    const Reg one = V::set1(1.f);
    const Reg rd = V::fdiv(one, q.d);
    const Reg t = V::mul(q.n, rd);
    const Reg sg = V::fdiv(V::select(q.pos, one, q.e), V::add(one, q.e));
    const Reg xc = vmath::clamp<V>(x, -vmath::kMaxFloat, vmath::kMaxFloat);
    const Reg w = V::mul(V::mul(V::mul(xc, sg), V::mul(q.rest, rd)), V::add(one, t));
    return V::add(t, w);
  }
};

// ---------------------------------------------------------------------------------------------
// Loops: full vectors, then one masked tail.

template <class V, bool kBias, class Op>
inline void forward_segment(const Op& op, int64_t len, const float* x, const float* b, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  int64_t j = 0;
  for (; j + W <= len; j += W) {
    Reg v = V::load(x + j);
    if constexpr (kBias) v = V::add(v, V::load(b + j));
    V::store(y + j, op.fwd(v));
  }
  if (j < len) {
    const auto m = V::mask(static_cast<int>(len - j));
    Reg v = V::maskload(x + j, m);
    if constexpr (kBias) v = V::add(v, V::maskload(b + j, m));
    V::maskstore(y + j, m, op.fwd(v));
  }
}

template <class V, class Op>
void forward_run(const Op& op, int64_t n, const float* x, const float* bias, int64_t bias_len,
                 int64_t bias_offset, float* y) {
  if (bias == nullptr) return forward_segment<V, false>(op, n, x, nullptr, y);
  // Runs along which the bias index grows by one, restarting at 0 after bias_len.
  int64_t i = 0, col = bias_offset % bias_len;
  while (i < n) {
    const int64_t len = bias_len - col < n - i ? bias_len - col : n - i;
    forward_segment<V, true>(op, len, x + i, bias + col, y + i);
    i += len;
    col = 0;
  }
}

template <class V, class Op>
void backward_run(const Op& op, int64_t n, const float* v, const float* dy, float* dx) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  int64_t j = 0;
  for (; j + W <= n; j += W) V::store(dx + j, V::mul(V::load(dy + j), op.grad(V::load(v + j))));
  if (j < n) {
    const auto m = V::mask(static_cast<int>(n - j));
    const Reg g = op.grad(V::maskload(v + j, m));
    V::maskstore(dx + j, m, V::mul(V::maskload(dy + j, m), g));
  }
}

// Calls fn(op) with the functor for `act`.
template <class V, class Fn>
void with_op(Act act, const ActParams& p, Fn&& fn) {
  switch (act) {
    case Act::kLinear:
      return fn(Linear<V>(p));
    case Act::kRelu:
      return fn(Relu<V>(p));
    case Act::kRelu6:
      return fn(Relu6<V>(p));
    case Act::kSigmoid:
      return fn(Sigmoid<V>(p));
    case Act::kHardSigmoid:
      return fn(HardSigmoid<V>(p));
    case Act::kTanh:
      return fn(Tanh<V>(p));
    case Act::kLeakyRelu:
      return fn(LeakyRelu<V>(p));
    case Act::kElu:
      return fn(EluT<V, false>(p));
    case Act::kSelu:
      return fn(EluT<V, true>(p));
    case Act::kSoftplus:
      return fn(Softplus<V>(p));
    case Act::kSoftsign:
      return fn(Softsign<V>(p));
    case Act::kGelu:
      if (p.approximate) return fn(GeluTanh<V>(p));
      return fn(GeluErf<V>(p));
    case Act::kSilu:
      return fn(Silu<V>(p));
    case Act::kExponential:
      return fn(Exponential<V>(p));
    case Act::kMish:
      return fn(Mish<V>(p));
    case Act::kCelu:
      return fn(Celu<V>(p));
    case Act::kHardSilu:
      return fn(HardSilu<V>(p));
    case Act::kHardTanh:
      return fn(HardTanh<V>(p));
    case Act::kLogSigmoid:
      return fn(LogSigmoid<V>(p));
    case Act::kHardShrink:
      return fn(HardShrink<V>(p));
    case Act::kSoftShrink:
      return fn(SoftShrink<V>(p));
    case Act::kSparsePlus:
      return fn(SparsePlus<V>(p));
    case Act::kSparseSigmoid:
      return fn(SparseSigmoid<V>(p));
    case Act::kSquareplus:
      return fn(Squareplus<V>(p));
    case Act::kTanhShrink:
      return fn(TanhShrink<V>(p));
    case Act::kSoftmax:
    case Act::kLogSoftmax:
      break;  // rowwise: softmax_forward / softmax_backward
  }
}

template <class V>
void forward(Act act, const ActParams& p, int64_t n, const float* x, const float* bias,
             int64_t bias_len, int64_t bias_offset, float* y) {
  // leaky_relu with slope 0 is relu (alpha * -inf would be NaN).
  if (act == Act::kLeakyRelu && p.alpha == 0.f) act = Act::kRelu;
  with_op<V>(act, p, [&](const auto& op) {
    forward_run<V>(op, n, x, bias, bias_len, bias_offset, y);
  });
}

template <class V>
void backward(Act act, const ActParams& p, int64_t n, const float* xy, const float* dy,
              float* dx) {
  with_op<V>(act, p, [&](const auto& op) { backward_run<V>(op, n, xy, dy, dx); });
}

// ---------------------------------------------------------------------------------------------
// Softmax over rows.
//
//   pass 1  m = max_j z_j                      z_j = x_j + b_j
//   pass 2  e_j = exp(z_j - m); k = #{j : z_j == m}; s' = sum of e_j over the others
//           (softmax stores e_j in y)
//   pass 3  softmax: y_j = e_j / (k + s');  log_softmax: y_j = (z_j - m) - log1p(k - 1 + s')
//
// Keeping the k terms equal to 1 out of the float sum makes log1p(s') accurate when one
// entry dominates (log_softmax of a confident class is about -s', far below 1).

template <class V, bool kBias>
inline typename V::Reg load_z(const float* x, const float* b, int64_t j) {
  typename V::Reg v = V::load(x + j);
  if constexpr (kBias) v = V::add(v, V::load(b + j));
  return v;
}

template <class V, bool kBias>
inline typename V::Reg load_z_tail(const float* x, const float* b, int64_t j,
                                   typename V::Mask m, typename V::Reg fill) {
  typename V::Reg v = V::maskload_or(x + j, m, fill);
  if constexpr (kBias) v = V::add(v, V::maskload(b + j, m));
  return v;
}

template <class V, bool kBias>
void softmax_row(bool log, int64_t cols, const float* x, const float* b, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  const Reg ninf = V::set1(-vmath::kInf), zero = V::zero(), one = V::set1(1.f);
  const int64_t full = cols / W * W;
  const int tail = static_cast<int>(cols - full);
  const auto tm = V::mask(tail);

  Reg m0 = ninf, m1 = ninf;
  int64_t j = 0;
  for (; j + 2 * W <= full; j += 2 * W) {
    m0 = V::max(m0, load_z<V, kBias>(x, b, j));
    m1 = V::max(m1, load_z<V, kBias>(x, b, j + W));
  }
  if (j < full) m0 = V::max(m0, load_z<V, kBias>(x, b, j));
  if (tail) m1 = V::max(m1, load_z_tail<V, kBias>(x, b, full, tm, ninf));
  const Reg vm = V::set1(V::hmax(V::max(m0, m1)));

  Reg s = zero, k = zero;
  auto accumulate = [&](Reg z, float* dst, bool is_tail) {
    const Reg t = V::sub(z, vm);
    const Reg e = vmath::exp_bounded<V>(V::max(V::set1(-104.f), t));  // t <= 0 or NaN
    const auto at_max = V::cmp_eq(t, zero);
    s = V::add(s, V::select(at_max, zero, e));
    k = V::add(k, V::select(at_max, one, zero));
    if (!log) {
      if (is_tail) V::maskstore(dst, tm, e);
      else V::store(dst, e);
    }
  };
  for (j = 0; j < full; j += W) accumulate(load_z<V, kBias>(x, b, j), y + j, false);
  if (tail) accumulate(load_z_tail<V, kBias>(x, b, full, tm, ninf), y + full, true);

  const double count = static_cast<double>(V::hsum(k));
  const double rest = static_cast<double>(V::hsum(s));
  if (!log) {
    const Reg inv = V::set1(static_cast<float>(1.0 / (count + rest)));
    for (j = 0; j < full; j += W) V::store(y + j, V::mul(V::load(y + j), inv));
    if (tail) V::maskstore(y + full, tm, V::mul(V::maskload(y + full, tm), inv));
  } else {
    const Reg ls = V::set1(static_cast<float>(std::log1p(count - 1.0 + rest)));
    for (j = 0; j < full; j += W)
      V::store(y + j, V::sub(V::sub(load_z<V, kBias>(x, b, j), vm), ls));
    if (tail)
      V::maskstore(y + full, tm, V::sub(V::sub(load_z_tail<V, kBias>(x, b, full, tm, zero), vm), ls));
  }
}

// Softmax of rows no wider than a vector (classifier outputs: 10 classes), W rows at a time
// with one row per lane: the passes above, run row by row, would spend their time in the
// latency of the horizontal max and sums (about 150 cycles a row for 10 columns); across
// lanes each pass is a few vector operations per column. The sums run over the columns in
// order, and 1 / (k + s') is taken in double as above.
template <class V, bool kBias>
void softmax_rows_narrow(int64_t rows, int64_t cols, const float* x, const float* b, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  alignas(64) float zt[W * W];  // zt[j * W + r]: column j of row r0 + r, then e_j
  alignas(64) float ks[2 * W];
  const Reg ninf = V::set1(-vmath::kInf), zero = V::zero(), one = V::set1(1.f);
  for (int64_t r0 = 0; r0 < rows; r0 += W) {
    const int nr = static_cast<int>(std::min<int64_t>(W, rows - r0));
    for (int64_t j = 0; j < cols; ++j) {
      const float bj = kBias ? b[j] : 0.f;
      float* col = zt + j * W;
      for (int r = 0; r < nr; ++r) col[r] = x[(r0 + r) * cols + j] + bj;
      for (int r = nr; r < W; ++r) col[r] = 0.f;
    }
    Reg m = ninf;
    for (int64_t j = 0; j < cols; ++j) m = V::max(m, V::load(zt + j * W));
    Reg s = zero, k = zero;
    for (int64_t j = 0; j < cols; ++j) {
      const Reg t = V::sub(V::load(zt + j * W), m);
      const Reg e = vmath::exp_bounded<V>(V::max(V::set1(-104.f), t));  // t <= 0 or NaN
      const auto at_max = V::cmp_eq(t, zero);
      s = V::add(s, V::select(at_max, zero, e));
      k = V::add(k, V::select(at_max, one, zero));
      V::store(zt + j * W, e);
    }
    V::store(ks, k);
    V::store(ks + W, s);
    for (int r = 0; r < nr; ++r) {
      const float inv = static_cast<float>(1.0 / (static_cast<double>(ks[r]) + static_cast<double>(ks[W + r])));
      float* yr = y + (r0 + r) * cols;
      for (int64_t j = 0; j < cols; ++j) yr[j] = zt[j * W + r] * inv;
    }
  }
}

template <class V>
void softmax_forward(Act act, int64_t rows, int64_t cols, const float* x, const float* bias,
                     float* y) {
  const bool log = act == Act::kLogSoftmax;
  if (!log && V::kWidth >= 4 && cols <= V::kWidth) {
    if (bias) softmax_rows_narrow<V, true>(rows, cols, x, bias, y);
    else softmax_rows_narrow<V, false>(rows, cols, x, nullptr, y);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (bias) softmax_row<V, true>(log, cols, x + r * cols, bias, y + r * cols);
    else softmax_row<V, false>(log, cols, x + r * cols, nullptr, y + r * cols);
  }
}

// softmax:      dx = y (dy - <dy, y>)
// log_softmax:  dx = dy - exp(y) sum(dy)
// dx = y (dy - <dy, y>) for rows no wider than a vector, W rows at a time across the lanes
// (see softmax_rows_narrow). A block is read whole before it is written: dx may be dy.
template <class V>
void softmax_backward_narrow(int64_t rows, int64_t cols, const float* y, const float* dy, float* dx) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  alignas(64) float yt[W * W];
  alignas(64) float gt[W * W];
  for (int64_t r0 = 0; r0 < rows; r0 += W) {
    const int nr = static_cast<int>(std::min<int64_t>(W, rows - r0));
    for (int64_t j = 0; j < cols; ++j) {
      for (int r = 0; r < nr; ++r) {
        yt[j * W + r] = y[(r0 + r) * cols + j];
        gt[j * W + r] = dy[(r0 + r) * cols + j];
      }
      for (int r = nr; r < W; ++r) yt[j * W + r] = gt[j * W + r] = 0.f;
    }
    Reg dot = V::zero();
    for (int64_t j = 0; j < cols; ++j) dot = V::fmadd(V::load(gt + j * W), V::load(yt + j * W), dot);
    for (int64_t j = 0; j < cols; ++j)
      V::store(gt + j * W, V::mul(V::load(yt + j * W), V::sub(V::load(gt + j * W), dot)));
    for (int r = 0; r < nr; ++r)
      for (int64_t j = 0; j < cols; ++j) dx[(r0 + r) * cols + j] = gt[j * W + r];
  }
}

template <class V>
void softmax_backward(Act act, int64_t rows, int64_t cols, const float* y, const float* dy,
                      float* dx) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  const bool log = act == Act::kLogSoftmax;
  if (!log && W >= 4 && cols <= W) return softmax_backward_narrow<V>(rows, cols, y, dy, dx);
  const int64_t full = cols / W * W;
  const int tail = static_cast<int>(cols - full);
  const auto tm = V::mask(tail);
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* gr = dy + r * cols;
    float* dr = dx + r * cols;
    Reg a0 = V::zero(), a1 = V::zero();
    int64_t j = 0;
    if (log) {
      for (; j + 2 * W <= full; j += 2 * W) {
        a0 = V::add(a0, V::load(gr + j));
        a1 = V::add(a1, V::load(gr + j + W));
      }
      if (j < full) a0 = V::add(a0, V::load(gr + j));
      if (tail) a1 = V::add(a1, V::maskload(gr + full, tm));
    } else {
      for (; j + 2 * W <= full; j += 2 * W) {
        a0 = V::fmadd(V::load(gr + j), V::load(yr + j), a0);
        a1 = V::fmadd(V::load(gr + j + W), V::load(yr + j + W), a1);
      }
      if (j < full) a0 = V::fmadd(V::load(gr + j), V::load(yr + j), a0);
      if (tail) a1 = V::fmadd(V::maskload(gr + full, tm), V::maskload(yr + full, tm), a1);
    }
    const Reg sum = V::set1(V::hsum(V::add(a0, a1)));
    auto grad = [&](Reg yv, Reg gv) {
      return log ? V::fnmadd(vmath::exp<V>(yv), sum, gv) : V::mul(yv, V::sub(gv, sum));
    };
    for (j = 0; j < full; j += W) V::store(dr + j, grad(V::load(yr + j), V::load(gr + j)));
    if (tail)
      V::maskstore(dr + full, tm, grad(V::maskload(yr + full, tm), V::maskload(gr + full, tm)));
  }
}

// ---------------------------------------------------------------------------------------------

template <class V, class Fn>
void map(int64_t n, const float* x, float* y, Fn fn) {
  constexpr int W = V::kWidth;
  int64_t j = 0;
  for (; j + W <= n; j += W) V::store(y + j, fn(V::load(x + j)));
  if (j < n) {
    const auto m = V::mask(static_cast<int>(n - j));
    V::maskstore(y + j, m, fn(V::maskload(x + j, m)));
  }
}

template <class V>
void math(MathFn fn, int64_t n, const float* x, float* y) {
  using Reg = typename V::Reg;
  switch (fn) {
    case MathFn::kExp:
      return map<V>(n, x, y, [](Reg v) { return vmath::exp<V>(v); });
    case MathFn::kExpm1:
      return map<V>(n, x, y, [](Reg v) { return vmath::expm1<V>(v); });
    case MathFn::kLog:
      return map<V>(n, x, y, [](Reg v) { return vmath::log<V>(v); });
    case MathFn::kLog1p:
      return map<V>(n, x, y, [](Reg v) { return vmath::log1p<V>(v); });
    case MathFn::kTanh:
      return map<V>(n, x, y, [](Reg v) { return vmath::tanh<V>(v); });
    case MathFn::kErf:
      return map<V>(n, x, y, [](Reg v) { return vmath::erf<V>(v); });
    case MathFn::kErfc:
      return map<V>(n, x, y, [](Reg v) { return vmath::erfc<V>(v); });
  }
}

// Calls body(j, load, store) over j in [0, U) by vectors: full loads and stores, then one
// masked tail.
template <class V, class Body>
inline void for_units(int64_t U, const Body& body) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  int64_t j = 0;
  for (; j + W <= U; j += W)
    body(j, [](const float* p) { return V::load(p); }, [](float* p, Reg v) { V::store(p, v); });
  if (j < U) {
    const auto m = V::mask(static_cast<int>(U - j));
    body(j, [m](const float* p) { return V::maskload(p, m); },
         [m](float* p, Reg v) { V::maskstore(p, m, v); });
  }
}

// See activation.h: one pass over the units, the four gates, c and h in registers.
template <class V, bool kSave>
void lstm_cell_forward_run(int64_t U, const float* pre, const float* gx, const float* c_prev,
                           float* c, float* h, float* saved) {
  using Reg = typename V::Reg;
  auto body = [&](int64_t j, auto load, auto store) {
    const Reg i = vmath::cell_sigmoid<V>(V::add(load(pre + j), load(gx + j)));
    const Reg f = vmath::cell_sigmoid<V>(V::add(load(pre + U + j), load(gx + U + j)));
    const Reg g = vmath::cell_tanh<V>(V::add(load(pre + 2 * U + j), load(gx + 2 * U + j)));
    const Reg o = vmath::cell_sigmoid<V>(V::add(load(pre + 3 * U + j), load(gx + 3 * U + j)));
    const Reg cn = V::fmadd(f, load(c_prev + j), V::mul(i, g));
    const Reg tc = vmath::cell_tanh<V>(cn);
    if constexpr (kSave) {
      store(saved + j, i);
      store(saved + U + j, f);
      store(saved + 2 * U + j, g);
      store(saved + 3 * U + j, o);
      store(saved + 4 * U + j, tc);
    }
    store(c + j, cn);
    store(h + j, V::mul(o, tc));
  };
  for_units<V>(U, body);
}

template <class V>
void lstm_cell_forward(int64_t U, const float* pre, const float* gx, const float* c_prev,
                       float* c, float* h, float* saved) {
  if (saved)
    lstm_cell_forward_run<V, true>(U, pre, gx, c_prev, c, h, saved);
  else
    lstm_cell_forward_run<V, false>(U, pre, gx, c_prev, c, h, nullptr);
}

// See activation.h: one pass over the units with all of a step's gate gradients in registers.
template <class V, bool kDy>
void lstm_cell_backward_run(int64_t U, const float* gates, const float* tanh_c,
                            const float* c_prev, const float* dy, float* dh, float* dc,
                            float* dg) {
  using Reg = typename V::Reg;
  const Reg one = V::set1(1.f);
  auto body = [&](int64_t j, auto load, auto store) {
    const Reg i = load(gates + j), f = load(gates + U + j), g = load(gates + 2 * U + j),
              o = load(gates + 3 * U + j), t = load(tanh_c + j);
    Reg d = load(dh + j);
    if constexpr (kDy) d = V::add(d, load(dy + j));
    // d tanh(c) / dc = (1 - t)(1 + t), as the elementwise tanh gradient computes it
    const Reg dt = V::mul(V::mul(d, o), V::mul(V::sub(one, t), V::add(one, t)));
    const Reg dcv = V::add(load(dc + j), dt);
    store(dg + j, V::mul(V::mul(dcv, g), V::mul(i, V::sub(one, i))));
    store(dg + U + j, V::mul(V::mul(dcv, load(c_prev + j)), V::mul(f, V::sub(one, f))));
    store(dg + 2 * U + j, V::mul(V::mul(dcv, i), V::mul(V::sub(one, g), V::add(one, g))));
    store(dg + 3 * U + j, V::mul(V::mul(d, t), V::mul(o, V::sub(one, o))));
    store(dc + j, V::mul(dcv, f));
    store(dh + j, V::zero());
  };
  for_units<V>(U, body);
}

template <class V>
void lstm_cell_backward(int64_t U, const float* gates, const float* tanh_c, const float* c_prev,
                        const float* dy, float* dh, float* dc, float* dg) {
  if (dy)
    lstm_cell_backward_run<V, true>(U, gates, tanh_c, c_prev, dy, dh, dc, dg);
  else
    lstm_cell_backward_run<V, false>(U, gates, tanh_c, c_prev, nullptr, dh, dc, dg);
}

// See activation.h; the same products in the same order as the elementwise path.
template <class V>
void gru_cell_backward(int64_t U, const float* saved, const float* h_prev, float* dh, float* dg,
                       float* dgh) {
  using Reg = typename V::Reg;
  const Reg one = V::set1(1.f);
  auto body = [&](int64_t j, auto load, auto store) {
    const Reg z = load(saved + j), r = load(saved + U + j), hh = load(saved + 2 * U + j),
              a = load(saved + 3 * U + j), d = load(dh + j);
    const Reg dz = V::mul(V::mul(d, V::sub(load(h_prev + j), hh)), V::mul(z, V::sub(one, z)));
    const Reg dhh = V::mul(V::mul(d, V::sub(one, z)), V::mul(V::sub(one, hh), V::add(one, hh)));
    const Reg dr = V::mul(V::mul(dhh, a), V::mul(r, V::sub(one, r)));
    store(dg + j, dz);
    store(dg + U + j, dr);
    store(dg + 2 * U + j, dhh);
    store(dgh + j, dz);
    store(dgh + U + j, dr);
    store(dgh + 2 * U + j, V::mul(dhh, r));
    store(dh + j, V::mul(d, z));
  };
  for_units<V>(U, body);
}

template <class V>
const ActivationKernels& kernels(const char* isa) {
  static const ActivationKernels k{isa,
                                   &forward<V>,
                                   &backward<V>,
                                   &softmax_forward<V>,
                                   &softmax_backward<V>,
                                   &math<V>,
                                   &lstm_cell_forward<V>,
                                   &lstm_cell_backward<V>,
                                   &gru_cell_backward<V>};
  return k;
}

}  // namespace act_impl
}  // namespace pyn
