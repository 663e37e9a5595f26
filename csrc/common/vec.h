// Vector traits: one struct per instruction set with the same static interface, so a kernel
// is written once as a template over V and compiled once per instruction set (each
// translation unit with its own target flags).
//
//   V::kWidth            float lanes per register
//   V::Reg, V::Mask      register and tail-mask types
//   V::mask(n)           mask of the first n lanes (n <= 0: none, n >= kWidth: all)
//   zero, set1, load, maskload, store, maskstore, add, mul, fmadd(a, b, c) = a * b + c
//   transpose(r)         r[0..kWidth) as a kWidth x kWidth block, transposed in registers
//
// Element-wise operations (vector math in kernels/simd/ is written with these only):
//   V::kFma              true when fmadd is one fused rounding (false: multiply, then add)
//   V::Cmp               result of a comparison (a lane mask or an all-ones/all-zeros lane)
//   V::IReg              register of kWidth int32 lanes
//   sub, div, sqrt, abs, neg, fmsub(a, b, c) = a * b - c, fnmadd(a, b, c) = c - a * b
//   fdiv(a, b)     a / b within 1 ulp (usually correctly rounded) for finite a and normal b,
//                  2^-125 < |b| < 2^125: a reciprocal estimate refined by Newton's method,
//                  several times the throughput of div; plain div where there is no estimate
//   max(a, b) = a > b ? a : b and min(a, b) = a < b ? a : b, lane by lane, exactly as the
//     x86 instructions: when either lane is NaN the result is b. So max(lo, x) and
//     min(hi, x) clamp x and keep a NaN x; max(x, lo) would turn it into lo.
//   band, bor, bxor, bandnot(a, b) = ~a & b       bit operations on float lanes
//   cmp_lt, cmp_le, cmp_gt, cmp_ge, cmp_eq        ordered: false when a lane is NaN
//   is_nan(a), cmp_and(m, k), cmp_or(m, k), select(m, a, b) = m ? a : b
//   maskload_or(p, mask, fill)                    masked load, `fill` in the other lanes
//   hsum(a), hmax(a)                              horizontal sum / max of the lanes
//   iset1, iadd, isub, slli<k>, srli<k>, srai<k>  int32 lanes (shifts by constants)
//   round_i32(a)   nearest int32, ties to even (|a| < 2^31; NaN gives an unspecified int)
//   to_f32(i)      int32 -> float;   as_f32(i) / as_i32(a)   reinterpret the bits
//   round(a)       nearest integer as a float, ties to even (|a| < 2^22; NaN stays NaN)
//   scale2(m, n)   m * 2^n for integral float n in [-252, 254], rounded once, so overflow
//                  gives inf and small results come out subnormal or 0 (NaN m: NaN)
//   frcp(b)        1 / b within about 1 ulp for normal b, 2^-125 < |b| < 2^125
//
// A traits struct is defined only when the translation unit is compiled for its
// instruction set, so no AVX code can leak into a generic build.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace pyn {

#if defined(__AVX512F__)
struct VecAvx512 {
  static constexpr int kWidth = 16;
  using Reg = __m512;
  using Mask = __mmask16;
  static inline Mask mask(int n) {
    return n >= 16 ? Mask(0xFFFF) : n <= 0 ? Mask(0) : Mask((1u << n) - 1u);
  }
  static inline Reg zero() { return _mm512_setzero_ps(); }
  static inline Reg set1(float x) { return _mm512_set1_ps(x); }
  static inline Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static inline Reg maskload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static inline void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static inline void maskstore(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static inline Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static inline Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }

  static constexpr bool kFma = true;
  using Cmp = __mmask16;
  using IReg = __m512i;
  // Operations whose plain intrinsic starts from _mm512_undefined_*() use the merge-masked
  // form with an all-ones mask instead: the same unmasked instruction, without GCC 12's
  // false -Wmaybe-uninitialized warnings at every inlined use.
  static constexpr __mmask16 kAll = 0xFFFF;
  static inline Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static inline Reg sqrt(Reg a) { return _mm512_mask_sqrt_ps(a, kAll, a); }
  // 14-bit estimate, one Newton step (28 bits), then q + r (a - b q) with an exact residual.
  static inline Reg fdiv(Reg a, Reg b) {
    Reg r = _mm512_mask_rcp14_ps(b, kAll, b);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(b, r, set1(1.f)), r);
    const Reg q = _mm512_mul_ps(a, r);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(b, q, a), q);
  }
  static inline Reg fmsub(Reg a, Reg b, Reg c) { return _mm512_fmsub_ps(a, b, c); }
  static inline Reg fnmadd(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static inline Reg max(Reg a, Reg b) { return _mm512_mask_max_ps(a, kAll, a, b); }
  static inline Reg min(Reg a, Reg b) { return _mm512_mask_min_ps(a, kAll, a, b); }
  static inline Reg band(Reg a, Reg b) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  static inline Reg bor(Reg a, Reg b) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  static inline Reg bxor(Reg a, Reg b) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  static inline Reg bandnot(Reg a, Reg b) {
    const __m512i ai = _mm512_castps_si512(a);
    return _mm512_castsi512_ps(_mm512_mask_andnot_epi32(ai, kAll, ai, _mm512_castps_si512(b)));
  }
  static inline Reg abs(Reg a) { return bandnot(set1(-0.f), a); }
  static inline Reg neg(Reg a) { return bxor(a, set1(-0.f)); }
  static inline Cmp cmp_lt(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static inline Cmp cmp_le(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static inline Cmp cmp_gt(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static inline Cmp cmp_ge(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static inline Cmp cmp_eq(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static inline Cmp is_nan(Reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static inline Cmp cmp_and(Cmp m, Cmp k) { return Cmp(m & k); }
  static inline Cmp cmp_or(Cmp m, Cmp k) { return Cmp(m | k); }
  static inline Reg select(Cmp m, Reg a, Reg b) { return _mm512_mask_blend_ps(m, b, a); }
  static inline Reg maskload_or(const float* p, Mask m, Reg fill) {
    return _mm512_mask_loadu_ps(fill, m, p);
  }
  static inline float hsum(Reg a) { return _mm512_reduce_add_ps(a); }
  static inline float hmax(Reg a) { return _mm512_reduce_max_ps(a); }
  static inline IReg iset1(int x) { return _mm512_set1_epi32(x); }
  static inline IReg iadd(IReg a, IReg b) { return _mm512_add_epi32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return _mm512_sub_epi32(a, b); }
  template <int K>
  static inline IReg slli(IReg a) {
    return _mm512_mask_slli_epi32(a, kAll, a, K);
  }
  template <int K>
  static inline IReg srli(IReg a) {
    return _mm512_mask_srli_epi32(a, kAll, a, K);
  }
  template <int K>
  static inline IReg srai(IReg a) {
    return _mm512_mask_srai_epi32(a, kAll, a, K);
  }
  static inline IReg round_i32(Reg a) {
    return _mm512_mask_cvt_roundps_epi32(_mm512_castps_si512(a), kAll, a,
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static inline Reg to_f32(IReg a) { return _mm512_mask_cvtepi32_ps(_mm512_castsi512_ps(a), kAll, a); }
  static inline Reg round(Reg a) {
    return _mm512_mask_roundscale_ps(a, kAll, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static inline Reg scale2(Reg m, Reg n) { return _mm512_mask_scalef_ps(m, kAll, m, n); }
  static inline Reg frcp(Reg b) {
    const Reg r = _mm512_mask_rcp14_ps(b, kAll, b);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(b, r, set1(1.f)), r);
  }
  static inline Reg as_f32(IReg a) { return _mm512_castsi512_ps(a); }
  static inline IReg as_i32(Reg a) { return _mm512_castps_si512(a); }

  // 16 x 16: pairs interleaved, then 4 x 4 blocks inside each 128-bit lane, then lanes
  // exchanged across registers in two shuffle_f32x4 rounds.
  static inline void transpose(Reg* r) {
    Reg t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; ++g) {
      r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
      r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; ++q) {
      t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
      t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
      t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
      t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
    }
    for (int q = 0; q < 4; ++q) {
      r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
      r[4 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0x88);
      r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
      r[12 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0xdd);
    }
  }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
struct VecAvx2 {
  static constexpr int kWidth = 8;
  using Reg = __m256;
  using Mask = __m256i;
  static inline Mask mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static inline Reg zero() { return _mm256_setzero_ps(); }
  static inline Reg set1(float x) { return _mm256_set1_ps(x); }
  static inline Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static inline Reg maskload(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static inline void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static inline void maskstore(float* p, Mask m, Reg v) { _mm256_maskstore_ps(p, m, v); }
  static inline Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static inline Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }

  static constexpr bool kFma = true;
  using Cmp = __m256;
  using IReg = __m256i;
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static inline Reg sqrt(Reg a) { return _mm256_sqrt_ps(a); }
  // 12-bit estimate, one Newton step (about 23 bits), then q + r (a - b q).
  static inline Reg fdiv(Reg a, Reg b) {
    Reg r = _mm256_rcp_ps(b);
    r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(b, r, set1(1.f)), r);
    const Reg q = _mm256_mul_ps(a, r);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(b, q, a), q);
  }
  static inline Reg fmsub(Reg a, Reg b, Reg c) { return _mm256_fmsub_ps(a, b, c); }
  static inline Reg fnmadd(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static inline Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static inline Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static inline Reg band(Reg a, Reg b) { return _mm256_and_ps(a, b); }
  static inline Reg bor(Reg a, Reg b) { return _mm256_or_ps(a, b); }
  static inline Reg bxor(Reg a, Reg b) { return _mm256_xor_ps(a, b); }
  static inline Reg bandnot(Reg a, Reg b) { return _mm256_andnot_ps(a, b); }
  static inline Reg abs(Reg a) { return _mm256_andnot_ps(set1(-0.f), a); }
  static inline Reg neg(Reg a) { return _mm256_xor_ps(a, set1(-0.f)); }
  static inline Cmp cmp_lt(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static inline Cmp cmp_le(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static inline Cmp cmp_gt(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline Cmp cmp_ge(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static inline Cmp cmp_eq(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static inline Cmp is_nan(Reg a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static inline Cmp cmp_and(Cmp m, Cmp k) { return _mm256_and_ps(m, k); }
  static inline Cmp cmp_or(Cmp m, Cmp k) { return _mm256_or_ps(m, k); }
  static inline Reg select(Cmp m, Reg a, Reg b) { return _mm256_blendv_ps(b, a, m); }
  static inline Reg maskload_or(const float* p, Mask m, Reg fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static inline float hsum(Reg a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
  static inline float hmax(Reg a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
  static inline IReg iset1(int x) { return _mm256_set1_epi32(x); }
  static inline IReg iadd(IReg a, IReg b) { return _mm256_add_epi32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return _mm256_sub_epi32(a, b); }
  template <int K>
  static inline IReg slli(IReg a) {
    return _mm256_slli_epi32(a, K);
  }
  template <int K>
  static inline IReg srli(IReg a) {
    return _mm256_srli_epi32(a, K);
  }
  template <int K>
  static inline IReg srai(IReg a) {
    return _mm256_srai_epi32(a, K);
  }
  static inline IReg round_i32(Reg a) { return _mm256_cvtps_epi32(a); }  // MXCSR: nearest
  static inline Reg to_f32(IReg a) { return _mm256_cvtepi32_ps(a); }
  static inline Reg as_f32(IReg a) { return _mm256_castsi256_ps(a); }
  static inline IReg as_i32(Reg a) { return _mm256_castps_si256(a); }
  static inline Reg round(Reg a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // Two factors 2^(n/2) 2^(n - n/2), each a normal float.
  static inline Reg scale2(Reg m, Reg n) {
    const IReg k = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(k, 1), bias = iset1(127);
    const Reg f1 = as_f32(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    const Reg f2 = as_f32(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, h), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(m, f1), f2);
  }
  static inline Reg frcp(Reg b) {
    const Reg r = _mm256_rcp_ps(b);
    return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(b, r, set1(1.f)), r);
  }

  // 8 x 8: 4 x 4 blocks inside each 128-bit half, then halves exchanged.
  static inline void transpose(Reg* r) {
    Reg t[8], u[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; ++g) {
      u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int q = 0; q < 4; ++q) {
      r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
      r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
    }
  }
};
#endif

#if defined(__SSE2__) || defined(_M_X64)
// Baseline x86-64: 4 lanes, no FMA instruction (multiply then add).
struct VecGeneric {
  static constexpr int kWidth = 4;
  using Reg = __m128;
  using Mask = int;
  static inline Mask mask(int n) { return n < 0 ? 0 : n > 4 ? 4 : n; }
  static inline Reg zero() { return _mm_setzero_ps(); }
  static inline Reg set1(float x) { return _mm_set1_ps(x); }
  static inline Reg load(const float* p) { return _mm_loadu_ps(p); }
  static inline Reg maskload(const float* p, Mask m) {
    if (m == 4) return _mm_loadu_ps(p);
    alignas(16) float t[4] = {0.f, 0.f, 0.f, 0.f};
    for (int i = 0; i < m; ++i) t[i] = p[i];
    return _mm_load_ps(t);
  }
  static inline void store(float* p, Reg v) { _mm_storeu_ps(p, v); }
  static inline void maskstore(float* p, Mask m, Reg v) {
    if (m == 4) return _mm_storeu_ps(p, v);
    alignas(16) float t[4];
    _mm_store_ps(t, v);
    for (int i = 0; i < m; ++i) p[i] = t[i];
  }
  static inline Reg add(Reg a, Reg b) { return _mm_add_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm_mul_ps(a, b); }
  static inline Reg fmadd(Reg a, Reg b, Reg c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
  static inline void transpose(Reg* r) { _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]); }

  static constexpr bool kFma = false;
  using Cmp = __m128;
  using IReg = __m128i;
  static inline Reg sub(Reg a, Reg b) { return _mm_sub_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm_div_ps(a, b); }
  static inline Reg sqrt(Reg a) { return _mm_sqrt_ps(a); }
  static inline Reg fdiv(Reg a, Reg b) { return _mm_div_ps(a, b); }  // no FMA to refine with
  static inline Reg fmsub(Reg a, Reg b, Reg c) { return _mm_sub_ps(_mm_mul_ps(a, b), c); }
  static inline Reg fnmadd(Reg a, Reg b, Reg c) { return _mm_sub_ps(c, _mm_mul_ps(a, b)); }
  static inline Reg max(Reg a, Reg b) { return _mm_max_ps(a, b); }
  static inline Reg min(Reg a, Reg b) { return _mm_min_ps(a, b); }
  static inline Reg band(Reg a, Reg b) { return _mm_and_ps(a, b); }
  static inline Reg bor(Reg a, Reg b) { return _mm_or_ps(a, b); }
  static inline Reg bxor(Reg a, Reg b) { return _mm_xor_ps(a, b); }
  static inline Reg bandnot(Reg a, Reg b) { return _mm_andnot_ps(a, b); }
  static inline Reg abs(Reg a) { return _mm_andnot_ps(_mm_set1_ps(-0.f), a); }
  static inline Reg neg(Reg a) { return _mm_xor_ps(a, _mm_set1_ps(-0.f)); }
  static inline Cmp cmp_lt(Reg a, Reg b) { return _mm_cmplt_ps(a, b); }
  static inline Cmp cmp_le(Reg a, Reg b) { return _mm_cmple_ps(a, b); }
  static inline Cmp cmp_gt(Reg a, Reg b) { return _mm_cmpgt_ps(a, b); }
  static inline Cmp cmp_ge(Reg a, Reg b) { return _mm_cmpge_ps(a, b); }
  static inline Cmp cmp_eq(Reg a, Reg b) { return _mm_cmpeq_ps(a, b); }
  static inline Cmp is_nan(Reg a) { return _mm_cmpunord_ps(a, a); }
  static inline Cmp cmp_and(Cmp m, Cmp k) { return _mm_and_ps(m, k); }
  static inline Cmp cmp_or(Cmp m, Cmp k) { return _mm_or_ps(m, k); }
  // SSE2 has no blendv: (m & a) | (~m & b).
  static inline Reg select(Cmp m, Reg a, Reg b) {
    return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b));
  }
  static inline Reg maskload_or(const float* p, Mask m, Reg fill) {
    if (m == 4) return _mm_loadu_ps(p);
    alignas(16) float t[4];
    _mm_store_ps(t, fill);
    for (int i = 0; i < m; ++i) t[i] = p[i];
    return _mm_load_ps(t);
  }
  static inline float hsum(Reg a) {
    Reg s = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
  static inline float hmax(Reg a) {
    Reg s = _mm_max_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
  }
  static inline IReg iset1(int x) { return _mm_set1_epi32(x); }
  static inline IReg iadd(IReg a, IReg b) { return _mm_add_epi32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return _mm_sub_epi32(a, b); }
  template <int K>
  static inline IReg slli(IReg a) {
    return _mm_slli_epi32(a, K);
  }
  template <int K>
  static inline IReg srli(IReg a) {
    return _mm_srli_epi32(a, K);
  }
  template <int K>
  static inline IReg srai(IReg a) {
    return _mm_srai_epi32(a, K);
  }
  static inline IReg round_i32(Reg a) { return _mm_cvtps_epi32(a); }  // MXCSR: nearest
  static inline Reg to_f32(IReg a) { return _mm_cvtepi32_ps(a); }
  static inline Reg as_f32(IReg a) { return _mm_castsi128_ps(a); }
  static inline IReg as_i32(Reg a) { return _mm_castps_si128(a); }
  // Adding and removing 1.5 * 2^23 leaves the nearest integer (SSE2 has no round).
  static inline Reg round(Reg a) {
    const Reg magic = _mm_set1_ps(12582912.f);
    return _mm_sub_ps(_mm_add_ps(a, magic), magic);
  }
  static inline Reg scale2(Reg m, Reg n) {
    const IReg k = _mm_cvtps_epi32(n), h = _mm_srai_epi32(k, 1), bias = iset1(127);
    const Reg f1 = as_f32(_mm_slli_epi32(_mm_add_epi32(h, bias), 23));
    const Reg f2 = as_f32(_mm_slli_epi32(_mm_add_epi32(_mm_sub_epi32(k, h), bias), 23));
    return _mm_mul_ps(_mm_mul_ps(m, f1), f2);
  }
  static inline Reg frcp(Reg b) { return _mm_div_ps(_mm_set1_ps(1.f), b); }
};
#else
// Portable scalar fallback for non-x86 targets.
struct VecGeneric {
  static constexpr int kWidth = 1;
  using Reg = float;
  using Mask = int;
  static inline Mask mask(int n) { return n > 0 ? 1 : 0; }
  static inline Reg zero() { return 0.f; }
  static inline Reg set1(float x) { return x; }
  static inline Reg load(const float* p) { return *p; }
  static inline Reg maskload(const float* p, Mask m) { return m ? *p : 0.f; }
  static inline void store(float* p, Reg v) { *p = v; }
  static inline void maskstore(float* p, Mask m, Reg v) {
    if (m) *p = v;
  }
  static inline Reg add(Reg a, Reg b) { return a + b; }
  static inline Reg mul(Reg a, Reg b) { return a * b; }
  static inline Reg fmadd(Reg a, Reg b, Reg c) { return a * b + c; }
  static inline void transpose(Reg*) {}

  static constexpr bool kFma = false;
  using Cmp = bool;
  using IReg = int32_t;
  static inline Reg sub(Reg a, Reg b) { return a - b; }
  static inline Reg div(Reg a, Reg b) { return a / b; }
  static inline Reg sqrt(Reg a) { return std::sqrt(a); }
  static inline Reg fdiv(Reg a, Reg b) { return a / b; }
  static inline Reg fmsub(Reg a, Reg b, Reg c) { return a * b - c; }
  static inline Reg fnmadd(Reg a, Reg b, Reg c) { return c - a * b; }
  static inline Reg max(Reg a, Reg b) { return a > b ? a : b; }
  static inline Reg min(Reg a, Reg b) { return a < b ? a : b; }
  static inline Reg band(Reg a, Reg b) { return as_f32(as_i32(a) & as_i32(b)); }
  static inline Reg bor(Reg a, Reg b) { return as_f32(as_i32(a) | as_i32(b)); }
  static inline Reg bxor(Reg a, Reg b) { return as_f32(as_i32(a) ^ as_i32(b)); }
  static inline Reg bandnot(Reg a, Reg b) { return as_f32(~as_i32(a) & as_i32(b)); }
  static inline Reg abs(Reg a) { return std::fabs(a); }
  static inline Reg neg(Reg a) { return -a; }
  static inline Cmp cmp_lt(Reg a, Reg b) { return a < b; }
  static inline Cmp cmp_le(Reg a, Reg b) { return a <= b; }
  static inline Cmp cmp_gt(Reg a, Reg b) { return a > b; }
  static inline Cmp cmp_ge(Reg a, Reg b) { return a >= b; }
  static inline Cmp cmp_eq(Reg a, Reg b) { return a == b; }
  static inline Cmp is_nan(Reg a) { return a != a; }
  static inline Cmp cmp_and(Cmp m, Cmp k) { return m && k; }
  static inline Cmp cmp_or(Cmp m, Cmp k) { return m || k; }
  static inline Reg select(Cmp m, Reg a, Reg b) { return m ? a : b; }
  static inline Reg maskload_or(const float* p, Mask m, Reg fill) { return m ? *p : fill; }
  static inline float hsum(Reg a) { return a; }
  static inline float hmax(Reg a) { return a; }
  static inline IReg iset1(int x) { return x; }
  // Wrapping int32 arithmetic, as the vector instructions do.
  static inline IReg iadd(IReg a, IReg b) {
    return static_cast<IReg>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
  }
  static inline IReg isub(IReg a, IReg b) {
    return static_cast<IReg>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
  }
  template <int K>
  static inline IReg slli(IReg a) {
    return static_cast<IReg>(static_cast<uint32_t>(a) << K);
  }
  template <int K>
  static inline IReg srli(IReg a) {
    return static_cast<IReg>(static_cast<uint32_t>(a) >> K);
  }
  template <int K>
  static inline IReg srai(IReg a) {
    return a >> K;  // arithmetic on every supported compiler (and defined since C++20)
  }
  static inline IReg round_i32(Reg a) {
    return a == a && std::fabs(a) < 2147483520.f ? static_cast<IReg>(std::nearbyint(a))
                                                  : IReg(INT32_MIN);
  }
  static inline Reg to_f32(IReg a) { return static_cast<float>(a); }
  static inline Reg round(Reg a) { return std::nearbyint(a); }
  static inline Reg scale2(Reg m, Reg n) {
    return n == n ? std::ldexp(m, static_cast<int>(n)) : m + n;
  }
  static inline Reg frcp(Reg b) { return 1.f / b; }
  static inline Reg as_f32(IReg a) {
    float f;
    std::memcpy(&f, &a, sizeof f);
    return f;
  }
  static inline IReg as_i32(Reg a) {
    IReg i;
    std::memcpy(&i, &a, sizeof i);
    return i;
  }
};
#endif

}  // namespace pyn
