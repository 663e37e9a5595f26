// The element-wise transforms of the Winograd convolutions (kernels/conv_winograd.h), written
// once over vector traits V and compiled once per instruction set by simd/winograd_<isa>.cpp.
// Lanes run along channels (NHWC keeps them contiguous). Each transform is separable: a 1-D
// transform along the rows of a tile, then along its columns; the 1-D convolutions (1 x 3
// kernels) apply the row transform only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/vec.h"
#include "kernels/conv_winograd.h"

namespace pyn {
namespace winograd_impl {

// F(2x2, 3x3): 2x2 output tiles from 4x4 input tiles.
template <class V>
struct F2 {
  using Reg = typename V::Reg;
  static constexpr int kOut = 2, kIn = 4;
  // B^T d
  static inline void input(const Reg* d, Reg* o) {
    o[0] = V::sub(d[0], d[2]);
    o[1] = V::add(d[1], d[2]);
    o[2] = V::sub(d[2], d[1]);
    o[3] = V::sub(d[1], d[3]);
  }
  // A^T m
  static inline void output(const Reg* m, Reg* o) {
    o[0] = V::add(V::add(m[0], m[1]), m[2]);
    o[1] = V::sub(V::sub(m[1], m[2]), m[3]);
  }
  // A y
  static inline void grad(const Reg* y, Reg* o) {
    o[0] = y[0];
    o[1] = V::add(y[0], y[1]);
    o[2] = V::sub(y[0], y[1]);
    o[3] = V::sub(V::zero(), y[1]);
  }
};

// F(4x4, 3x3): 4x4 output tiles from 6x6 input tiles, interpolation points 0, +-1, +-2.
template <class V>
struct F4 {
  using Reg = typename V::Reg;
  static constexpr int kOut = 4, kIn = 6;
  // B^T d: rows (4 0 -5 0 1 0), (0 -4 -4 1 1 0), (0 4 -4 -1 1 0), (0 -2 -1 2 1 0),
  //        (0 2 -1 -2 1 0), (0 4 0 -5 0 1)
  static inline void input(const Reg* d, Reg* o) {
    const Reg four = V::set1(4.f), five = V::set1(5.f), two = V::set1(2.f);
    const Reg p = V::fnmadd(four, d[2], d[4]);  // d4 - 4 d2
    const Reg q = V::fnmadd(four, d[1], d[3]);  // d3 - 4 d1
    const Reg r = V::sub(d[4], d[2]);
    const Reg s = V::mul(two, V::sub(d[3], d[1]));
    o[0] = V::fnmadd(five, d[2], V::fmadd(four, d[0], d[4]));
    o[1] = V::add(p, q);
    o[2] = V::sub(p, q);
    o[3] = V::add(r, s);
    o[4] = V::sub(r, s);
    o[5] = V::fnmadd(five, d[3], V::fmadd(four, d[1], d[5]));
  }
  // A^T m: rows (1 1 1 1 1 0), (0 1 -1 2 -2 0), (0 1 1 4 4 0), (0 1 -1 8 -8 1)
  static inline void output(const Reg* m, Reg* o) {
    const Reg a = V::add(m[1], m[2]), b = V::sub(m[1], m[2]);
    const Reg c = V::add(m[3], m[4]), d = V::sub(m[3], m[4]);
    o[0] = V::add(V::add(m[0], a), c);
    o[1] = V::fmadd(V::set1(2.f), d, b);
    o[2] = V::fmadd(V::set1(4.f), c, a);
    o[3] = V::add(V::fmadd(V::set1(8.f), d, b), m[5]);
  }
  // A y: the transpose of A^T, from 4 values to 6
  static inline void grad(const Reg* y, Reg* o) {
    const Reg e = V::add(y[0], y[2]), f = V::add(y[1], y[3]);
    const Reg e4 = V::fmadd(V::set1(4.f), y[2], y[0]), f4 = V::fmadd(V::set1(4.f), y[3], y[1]);
    o[0] = y[0];
    o[1] = V::add(e, f);
    o[2] = V::sub(e, f);
    o[3] = V::fmadd(V::set1(2.f), f4, e4);
    o[4] = V::fnmadd(V::set1(2.f), f4, e4);
    o[5] = y[3];
  }
};

// Walks tiles t0, t0 + 1, ... of the batch in order (tiles of `mh` x `mw` output pixels).
struct TileCursor {
  int64_t n, ty, tx, th, tw;
  TileCursor(const ConvGeom& g, int mh, int mw, int64_t t0) {
    th = (g.oh + mh - 1) / mh;
    tw = (g.ow + mw - 1) / mw;
    n = t0 / (th * tw);
    const int64_t rem = t0 % (th * tw);
    ty = rem / tw;
    tx = rem % tw;
  }
  void next() {
    if (++tx == tw) {
      tx = 0;
      if (++ty == th) {
        ty = 0;
        ++n;
      }
    }
  }
};

template <class V>
inline typename V::Reg load_part(const float* p, bool full, typename V::Mask m) {
  return full ? V::load(p) : V::maskload(p, m);
}
template <class V>
inline void store_part(float* p, bool full, typename V::Mask m, typename V::Reg v) {
  if (full)
    V::store(p, v);
  else
    V::maskstore(p, m, v);
}

template <class V, class T>
void input(const ConvGeom& g, const float* x, int64_t t0, int64_t count, float* v, int64_t plane) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth, N = T::kIn;
  const int64_t C = g.c;
  TileCursor tc(g, T::kOut, T::kOut, t0);
  const float* src[N][N];
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t ih0 = T::kOut * tc.ty - g.pt, iw0 = T::kOut * tc.tx - g.pl;
    for (int a = 0; a < N; ++a) {
      const int64_t ih = ih0 + a;
      for (int b = 0; b < N; ++b) {
        const int64_t iw = iw0 + b;
        src[a][b] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                        ? x + ((tc.n * g.h + ih) * g.w + iw) * C
                        : nullptr;
      }
    }
    float* dst = v + i * C;
    for (int64_t c = 0; c < C; c += W) {
      const auto m = V::mask(static_cast<int>(C - c));
      const bool full = c + W <= C;
      Reg t[N][N];  // t[b][a]: row transform of input row a, column b
      for (int a = 0; a < N; ++a) {
        Reg d[N], o[N];
        for (int b = 0; b < N; ++b)
          d[b] = src[a][b] == nullptr ? V::zero() : load_part<V>(src[a][b] + c, full, m);
        T::input(d, o);
        for (int b = 0; b < N; ++b) t[b][a] = o[b];
      }
      for (int b = 0; b < N; ++b) {
        Reg o[N];
        T::input(t[b], o);
        for (int a = 0; a < N; ++a) store_part<V>(dst + (N * a + b) * plane + c, full, m, o[a]);
      }
    }
  }
}

template <class V, class T>
void output(const ConvGeom& g, const float* mm, int64_t plane, int64_t t0, int64_t count,
            const float* bias, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth, N = T::kIn, M = T::kOut;
  const int64_t F = g.f;
  TileCursor tc(g, M, M, t0);
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t oh0 = M * tc.ty, ow0 = M * tc.tx;
    const int rows = static_cast<int>(std::min<int64_t>(M, g.oh - oh0));
    const int cols = static_cast<int>(std::min<int64_t>(M, g.ow - ow0));
    float* y0 = y + ((tc.n * g.oh + oh0) * g.ow + ow0) * F;
    const float* src = mm + i * F;
    for (int64_t f = 0; f < F; f += W) {
      const auto m = V::mask(static_cast<int>(F - f));
      const bool full = f + W <= F;
      Reg s[M][N];  // s[j][a]: output column j of row a's transform
      for (int a = 0; a < N; ++a) {
        Reg r[N], o[M];
        for (int b = 0; b < N; ++b) r[b] = load_part<V>(src + (N * a + b) * plane + f, full, m);
        T::output(r, o);
        for (int j = 0; j < M; ++j) s[j][a] = o[j];
      }
      const Reg bv = bias == nullptr ? V::zero() : load_part<V>(bias + f, full, m);
      for (int j = 0; j < cols; ++j) {
        Reg o[M];
        T::output(s[j], o);
        for (int r = 0; r < rows; ++r)
          store_part<V>(y0 + (r * g.ow + j) * F + f, full, m, V::add(o[r], bv));
      }
    }
  }
}

template <class V, class T>
void grad_output(const ConvGeom& g, const float* dz, int64_t t0, int64_t count, float* z,
                 int64_t plane) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth, N = T::kIn, M = T::kOut;
  const int64_t F = g.f;
  TileCursor tc(g, M, M, t0);
  const float* src[M][M];
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t oh0 = M * tc.ty, ow0 = M * tc.tx;
    for (int a = 0; a < M; ++a)
      for (int b = 0; b < M; ++b)
        src[a][b] = (oh0 + a < g.oh && ow0 + b < g.ow)
                        ? dz + ((tc.n * g.oh + oh0 + a) * g.ow + ow0 + b) * F
                        : nullptr;
    float* dst = z + i * F;
    for (int64_t f = 0; f < F; f += W) {
      const auto m = V::mask(static_cast<int>(F - f));
      const bool full = f + W <= F;
      Reg t[N][M];  // t[b][a]: column b of row a's transform
      for (int a = 0; a < M; ++a) {
        Reg d[M], o[N];
        for (int b = 0; b < M; ++b)
          d[b] = src[a][b] == nullptr ? V::zero() : load_part<V>(src[a][b] + f, full, m);
        T::grad(d, o);
        for (int b = 0; b < N; ++b) t[b][a] = o[b];
      }
      for (int b = 0; b < N; ++b) {
        Reg o[N];
        T::grad(t[b], o);
        for (int a = 0; a < N; ++a) store_part<V>(dst + (N * a + b) * plane + f, full, m, o[a]);
      }
    }
  }
}

// The 1-D transforms (kernels 1 x 3): tiles of 1 x m output pixels, one row of m + 2 inputs,
// m + 2 planes (xi = the position in the row); the cursor's ty is the output row.

// One row of K vectors of `len` channels (src[k] == nullptr reads as zeros) through a 1-D
// transform to N, stored to planes dst, dst + plane, ...
template <class V, int K, int N, class Fn>
inline void transform_row(const float* const* src, int64_t len, float* dst, int64_t plane,
                          Fn fn) {
  using Reg = typename V::Reg;
  for (int64_t c = 0; c < len; c += V::kWidth) {
    const auto m = V::mask(static_cast<int>(len - c));
    const bool full = c + V::kWidth <= len;
    Reg d[K], o[N];
    for (int k = 0; k < K; ++k)
      d[k] = src[k] == nullptr ? V::zero() : load_part<V>(src[k] + c, full, m);
    fn(d, o);
    for (int k = 0; k < N; ++k) store_part<V>(dst + k * plane + c, full, m, o[k]);
  }
}

template <class V, class T>
void input_1d(const ConvGeom& g, const float* x, int64_t t0, int64_t count, float* v,
              int64_t plane) {
  using Reg = typename V::Reg;
  constexpr int N = T::kIn;
  const int64_t C = g.c;
  TileCursor tc(g, 1, T::kOut, t0);
  const float* src[N];
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t ih = tc.ty - g.pt, iw0 = T::kOut * tc.tx - g.pl;
    const bool row_in = ih >= 0 && ih < g.h;
    for (int b = 0; b < N; ++b) {
      const int64_t iw = iw0 + b;
      src[b] = (row_in && iw >= 0 && iw < g.w) ? x + ((tc.n * g.h + ih) * g.w + iw) * C : nullptr;
    }
    transform_row<V, N, N>(src, C, v + i * C, plane,
                           [](const Reg* d, Reg* o) { T::input(d, o); });
  }
}

template <class V, class T>
void output_1d(const ConvGeom& g, const float* mm, int64_t plane, int64_t t0, int64_t count,
               const float* bias, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth, N = T::kIn, M = T::kOut;
  const int64_t F = g.f;
  TileCursor tc(g, 1, M, t0);
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t ow0 = M * tc.tx;
    const int cols = static_cast<int>(std::min<int64_t>(M, g.ow - ow0));
    float* y0 = y + ((tc.n * g.oh + tc.ty) * g.ow + ow0) * F;
    const float* src = mm + i * F;
    for (int64_t f = 0; f < F; f += W) {
      const auto m = V::mask(static_cast<int>(F - f));
      const bool full = f + W <= F;
      Reg r[N], o[M];
      for (int b = 0; b < N; ++b) r[b] = load_part<V>(src + b * plane + f, full, m);
      T::output(r, o);
      const Reg bv = bias == nullptr ? V::zero() : load_part<V>(bias + f, full, m);
      for (int j = 0; j < cols; ++j) store_part<V>(y0 + j * F + f, full, m, V::add(o[j], bv));
    }
  }
}

template <class V, class T>
void grad_output_1d(const ConvGeom& g, const float* dz, int64_t t0, int64_t count, float* z,
                    int64_t plane) {
  using Reg = typename V::Reg;
  constexpr int N = T::kIn, M = T::kOut;
  const int64_t F = g.f;
  TileCursor tc(g, 1, M, t0);
  const float* src[M];
  for (int64_t i = 0; i < count; ++i, tc.next()) {
    const int64_t ow0 = M * tc.tx;
    for (int b = 0; b < M; ++b)
      src[b] = ow0 + b < g.ow ? dz + ((tc.n * g.oh + tc.ty) * g.ow + ow0 + b) * F : nullptr;
    transform_row<V, M, N>(src, F, z + i * F, plane, [](const Reg* d, Reg* o) { T::grad(d, o); });
  }
}

template <class V, class T>
WinogradKernels make(const char* name) {
  return WinogradKernels{name,           T::kOut,          &input<V, T>,    &output<V, T>,
                         &grad_output<V, T>, &input_1d<V, T>, &output_1d<V, T>,
                         &grad_output_1d<V, T>};
}

template <class V>
const WinogradKernels& kernels(const char* name, int tile) {
  static const WinogradKernels k2 = make<V, F2<V>>(name);
  static const WinogradKernels k4 = make<V, F4<V>>(name);
  return tile == 4 ? k4 : k2;
}

}  // namespace winograd_impl
}  // namespace pyn
