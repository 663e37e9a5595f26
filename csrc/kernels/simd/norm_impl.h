// Batch-normalization kernels written once over vector traits V (common/vec.h) and compiled
// once per instruction set by simd/norm_<isa>.cpp. Formulas and layouts are in kernels/norm.h.
//
// Column sums run down blocks of at most kNormBlockRows rows with float32 partial sums in
// `buf` (one row of them), which are then added to the float64 totals:
//
//   rows  [ block 0 | block 1 | ... ]   each block: buf[j] = sum of f(x[r, j]) over its rows
//                                       (row by row, in L1), then s[j] += (double) buf[j]
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/vec.h"
#include "kernels/norm.h"

namespace pyn {
namespace norm_impl {

// Loop over the columns [0, len) of one row in vector steps with a masked tail.
template <class V, class Fn>
inline void for_cols(int64_t len, Fn&& fn) {
  constexpr int64_t W = V::kWidth;
  const int64_t full = len / W * W;
  const typename V::Mask all = V::mask(W);
  for (int64_t j = 0; j < full; j += W) fn(j, all, std::false_type{});
  if (full < len) fn(full, V::mask(static_cast<int>(len - full)), std::true_type{});
}

template <class V, class Tail>
inline typename V::Reg ld(const float* p, typename V::Mask m, Tail) {
  if constexpr (Tail::value)
    return V::maskload(p, m);
  else
    return V::load(p);
}

template <class V, class Tail>
inline void st(float* p, typename V::Mask m, typename V::Reg v, Tail) {
  if constexpr (Tail::value)
    V::maskstore(p, m, v);
  else
    V::store(p, v);
}

// Two float64 column sums over rows, blocked as described above. load2(r, j, m, tail, a1, a2)
// adds row r's terms at columns [j, j + kWidth) to the two float32 partial-sum registers.
template <class V, class Load2>
void blocked_sums(int64_t rows, int64_t len, float* buf, double* s1, double* s2, Load2&& load2) {
  using Reg = typename V::Reg;
  float* b1 = buf;
  float* b2 = buf + len;
  for (int64_t r0 = 0; r0 < rows; r0 += kNormBlockRows) {
    const int64_t r1 = r0 + kNormBlockRows < rows ? r0 + kNormBlockRows : rows;
    for (int64_t j = 0; j < 2 * len; ++j) buf[j] = 0.f;
    for (int64_t r = r0; r < r1; ++r) {
      for_cols<V>(len, [&](int64_t j, typename V::Mask m, auto tail) {
        Reg a1 = ld<V>(b1 + j, m, tail), a2 = ld<V>(b2 + j, m, tail);
        load2(r, j, m, tail, a1, a2);
        st<V>(b1 + j, m, a1, tail);
        st<V>(b2 + j, m, a2, tail);
      });
    }
    for (int64_t j = 0; j < len; ++j) {
      s1[j] += static_cast<double>(b1[j]);
      s2[j] += static_cast<double>(b2[j]);
    }
  }
}

template <class V>
void col_moments(int64_t rows, int64_t len, const float* x, const float* shift, float* buf,
                 double* s1, double* s2) {
  using Reg = typename V::Reg;
  blocked_sums<V>(rows, len, buf, s1, s2,
                  [&](int64_t r, int64_t j, typename V::Mask m, auto tail, Reg& a1, Reg& a2) {
                    const Reg d = V::sub(ld<V>(x + r * len + j, m, tail), ld<V>(shift + j, m, tail));
                    a1 = V::add(a1, d);
                    a2 = V::fmadd(d, d, a2);
                  });
}

template <class V>
void grad_sums(int64_t rows, int64_t len, const float* x, const float* dy, const float* mean,
               float* buf, double* s1, double* s2) {
  using Reg = typename V::Reg;
  blocked_sums<V>(rows, len, buf, s1, s2,
                  [&](int64_t r, int64_t j, typename V::Mask m, auto tail, Reg& a1, Reg& a2) {
                    const Reg g = ld<V>(dy + r * len + j, m, tail);
                    const Reg d = V::sub(ld<V>(x + r * len + j, m, tail), ld<V>(mean + j, m, tail));
                    a1 = V::add(a1, g);
                    a2 = V::fmadd(g, d, a2);
                  });
}

template <class V>
void affine(int64_t rows, int64_t len, const float* x, const float* mean, const float* a,
            const float* b, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    for_cols<V>(len, [&](int64_t j, typename V::Mask m, auto tail) {
      const typename V::Reg d = V::sub(ld<V>(x + r * len + j, m, tail), ld<V>(mean + j, m, tail));
      st<V>(y + r * len + j, m, V::fmadd(d, ld<V>(a + j, m, tail), ld<V>(b + j, m, tail)), tail);
    });
  }
}

template <class V>
void grad_input(int64_t rows, int64_t len, const float* x, const float* dy, const float* mean,
                const float* a, const float* b, const float* d, float* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    for_cols<V>(len, [&](int64_t j, typename V::Mask m, auto tail) {
      const typename V::Reg xc = V::sub(ld<V>(x + r * len + j, m, tail), ld<V>(mean + j, m, tail));
      const typename V::Reg g = ld<V>(dy + r * len + j, m, tail);
      const typename V::Reg t = V::fmadd(xc, ld<V>(b + j, m, tail), ld<V>(d + j, m, tail));
      st<V>(dx + r * len + j, m, V::fmadd(g, ld<V>(a + j, m, tail), t), tail);
    });
  }
}

template <class V>
const NormKernels& kernels(const char* isa) {
  static const NormKernels k = {isa, &col_moments<V>, &affine<V>, &grad_sums<V>,
                                &grad_input<V>};
  return k;
}

}  // namespace norm_impl
}  // namespace pyn
