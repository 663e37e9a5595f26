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
// A traits struct is defined only when the translation unit is compiled for its
// instruction set, so no AVX code can leak into a generic build.
#pragma once

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
};
#endif

}  // namespace pyn
