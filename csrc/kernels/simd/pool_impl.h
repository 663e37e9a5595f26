// Pooling kernels written once over vector traits V (common/vec.h) and compiled once per
// instruction set by simd/pool_<isa>.cpp. The formulas and layouts are in kernels/pool.h.
//
// For each output pixel the channels are walked in V::kWidth blocks (the last one masked), and
// for each block the window is walked in row-major order with the running max / sum in a
// register:
//
//   x[n, ih, iw, c0 : c0 + kWidth]   for (ih, iw) in the clipped window   ->  y[n, oh, ow, c0 : ...]
//
// Max keeps the first maximum: a later value replaces it only when strictly greater, or when
// it is NaN and the running value is not (so the first NaN sticks). The backward pass finds the
// same position again from x == y and routes dy there; `rest` holds the part of dy not routed
// yet (zero once a lane has found its position), so later equal values add nothing.
//
// Backward writes: when windows overlap (stride < pool on an axis) dx is zeroed and every
// window adds into it; otherwise each position belongs to at most one window, so the window
// stores its values directly and only positions outside every window are zeroed.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "common/vec.h"
#include "kernels/pool.h"

namespace pyn {
namespace pool_impl {

struct Window {
  int64_t h0, h1, w0, w1;
};

inline Window window(const PoolParams& p, int64_t oh, int64_t ow) {
  Window r;
  const int64_t hs = oh * p.sh - p.pad_top, ws = ow * p.sw - p.pad_left;
  r.h0 = hs < 0 ? 0 : hs;
  r.h1 = hs + p.kh < p.h ? hs + p.kh : p.h;
  r.w0 = ws < 0 ? 0 : ws;
  r.w1 = ws + p.kw < p.w ? ws + p.kw : p.w;
  return r;
}

// One channel block [c0, c0 + kWidth) of one output pixel. kTail: masked loads and stores.
template <class V, bool kTail>
inline void max_block(const PoolParams& p, const float* xn, const Window& win, int64_t c0,
                      typename V::Mask m, float* yp) {
  using Reg = typename V::Reg;
  Reg acc = V::set1(-std::numeric_limits<float>::infinity());
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    const float* row = xn + (ih * p.w) * p.c + c0;
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      const Reg v = kTail ? V::maskload(row + iw * p.c, m) : V::load(row + iw * p.c);
      acc = V::select(V::cmp_or(V::cmp_gt(v, acc), V::cmp_and(V::is_nan(v), V::cmp_eq(acc, acc))),
                      v, acc);
    }
  }
  if (kTail)
    V::maskstore(yp + c0, m, acc);
  else
    V::store(yp + c0, acc);
}

template <class V, bool kTail>
inline void avg_block(const PoolParams& p, const float* xn, const Window& win, int64_t c0,
                      typename V::Mask m, typename V::Reg scale, float* yp) {
  using Reg = typename V::Reg;
  Reg acc = V::zero();
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    const float* row = xn + (ih * p.w) * p.c + c0;
    for (int64_t iw = win.w0; iw < win.w1; ++iw)
      acc = V::add(acc, kTail ? V::maskload(row + iw * p.c, m) : V::load(row + iw * p.c));
  }
  acc = V::mul(acc, scale);
  if (kTail)
    V::maskstore(yp + c0, m, acc);
  else
    V::store(yp + c0, acc);
}

template <class V, bool kTail, bool kStore>
inline void max_back_block(const PoolParams& p, const float* xn, float* dxn, const Window& win,
                           int64_t c0, typename V::Mask m, const float* yp, const float* dyp) {
  using Reg = typename V::Reg;
  const Reg yv = kTail ? V::maskload(yp + c0, m) : V::load(yp + c0);
  const typename V::Cmp ynan = V::is_nan(yv);
  Reg rest = kTail ? V::maskload(dyp + c0, m) : V::load(dyp + c0);
  const Reg zero = V::zero();
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    const int64_t off = (ih * p.w) * p.c + c0;
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      const float* xp = xn + off + iw * p.c;
      float* dxp = dxn + off + iw * p.c;
      const Reg v = kTail ? V::maskload(xp, m) : V::load(xp);
      const typename V::Cmp hit = V::cmp_or(V::cmp_eq(v, yv), V::cmp_and(V::is_nan(v), ynan));
      const Reg add = V::select(hit, rest, zero);
      rest = V::select(hit, zero, rest);
      const Reg out = kStore ? add : V::add(kTail ? V::maskload(dxp, m) : V::load(dxp), add);
      if (kTail)
        V::maskstore(dxp, m, out);
      else
        V::store(dxp, out);
    }
  }
}

template <class V, bool kTail, bool kStore>
inline void avg_back_block(const PoolParams& p, float* dxn, const Window& win, int64_t c0,
                           typename V::Mask m, typename V::Reg scale, const float* dyp) {
  using Reg = typename V::Reg;
  const Reg g = V::mul(kTail ? V::maskload(dyp + c0, m) : V::load(dyp + c0), scale);
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    float* row = dxn + (ih * p.w) * p.c + c0;
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      float* dxp = row + iw * p.c;
      const Reg out = kStore ? g : V::add(kTail ? V::maskload(dxp, m) : V::load(dxp), g);
      if (kTail)
        V::maskstore(dxp, m, out);
      else
        V::store(dxp, out);
    }
  }
}

inline float inv_count(const Window& win) {
  return 1.f / static_cast<float>((win.h1 - win.h0) * (win.w1 - win.w0));
}

template <class V>
void forward(PoolMode mode, const PoolParams& p, int64_t n0, int64_t n1, const float* x,
             float* y) {
  constexpr int64_t W = V::kWidth;
  const int64_t cfull = p.c / W * W;
  const typename V::Mask full = V::mask(W), tail = V::mask(static_cast<int>(p.c - cfull));
  for (int64_t n = n0; n < n1; ++n) {
    const float* xn = x + n * p.h * p.w * p.c;
    for (int64_t oh = 0; oh < p.oh; ++oh) {
      for (int64_t ow = 0; ow < p.ow; ++ow) {
        const Window win = window(p, oh, ow);
        float* yp = y + ((n * p.oh + oh) * p.ow + ow) * p.c;
        if (mode == PoolMode::kMax) {
          for (int64_t c0 = 0; c0 < cfull; c0 += W) max_block<V, false>(p, xn, win, c0, full, yp);
          if (cfull < p.c) max_block<V, true>(p, xn, win, cfull, tail, yp);
        } else {
          const typename V::Reg s = V::set1(inv_count(win));
          for (int64_t c0 = 0; c0 < cfull; c0 += W) avg_block<V, false>(p, xn, win, c0, full, s, yp);
          if (cfull < p.c) avg_block<V, true>(p, xn, win, cfull, tail, s, yp);
        }
      }
    }
  }
}

// Whether input row (or column) i of an axis is inside some window: windows start at
// o * stride - pad for o in [0, out) and span k.
inline bool covered(int64_t i, int64_t stride, int64_t k, int64_t pad, int64_t out) {
  const int64_t q = i + pad;
  return q / stride < out && q % stride < k;
}

// Zeroes the positions of image dxn that no window covers (when windows never overlap every
// other position is written exactly once by a plain store, so dx needs no full memset).
inline void zero_uncovered(const PoolParams& p, float* dxn) {
  const size_t c_bytes = sizeof(float) * static_cast<size_t>(p.c);
  for (int64_t ih = 0; ih < p.h; ++ih) {
    float* row = dxn + ih * p.w * p.c;
    if (!covered(ih, p.sh, p.kh, p.pad_top, p.oh)) {
      std::memset(row, 0, c_bytes * static_cast<size_t>(p.w));
      continue;
    }
    for (int64_t iw = 0; iw < p.w; ++iw)
      if (!covered(iw, p.sw, p.kw, p.pad_left, p.ow)) std::memset(row + iw * p.c, 0, c_bytes);
  }
}

template <class V, bool kStore>
void backward_images(PoolMode mode, const PoolParams& p, int64_t n0, int64_t n1, const float* x,
                     const float* y, const float* dy, float* dx) {
  constexpr int64_t W = V::kWidth;
  const int64_t cfull = p.c / W * W;
  const typename V::Mask full = V::mask(W), tail = V::mask(static_cast<int>(p.c - cfull));
  const int64_t image = p.h * p.w * p.c;
  for (int64_t n = n0; n < n1; ++n) {
    const float* xn = mode == PoolMode::kMax ? x + n * image : nullptr;
    float* dxn = dx + n * image;
    if (kStore)
      zero_uncovered(p, dxn);
    else
      std::memset(dxn, 0, sizeof(float) * static_cast<size_t>(image));
    for (int64_t oh = 0; oh < p.oh; ++oh) {
      for (int64_t ow = 0; ow < p.ow; ++ow) {
        const Window win = window(p, oh, ow);
        const int64_t o = ((n * p.oh + oh) * p.ow + ow) * p.c;
        if (mode == PoolMode::kMax) {
          for (int64_t c0 = 0; c0 < cfull; c0 += W)
            max_back_block<V, false, kStore>(p, xn, dxn, win, c0, full, y + o, dy + o);
          if (cfull < p.c)
            max_back_block<V, true, kStore>(p, xn, dxn, win, cfull, tail, y + o, dy + o);
        } else {
          const typename V::Reg s = V::set1(inv_count(win));
          for (int64_t c0 = 0; c0 < cfull; c0 += W)
            avg_back_block<V, false, kStore>(p, dxn, win, c0, full, s, dy + o);
          if (cfull < p.c) avg_back_block<V, true, kStore>(p, dxn, win, cfull, tail, s, dy + o);
        }
      }
    }
  }
}

template <class V>
void backward(PoolMode mode, const PoolParams& p, int64_t n0, int64_t n1, const float* x,
              const float* y, const float* dy, float* dx) {
  if (p.sh >= p.kh && p.sw >= p.kw)
    backward_images<V, true>(mode, p, n0, n1, x, y, dy, dx);
  else
    backward_images<V, false>(mode, p, n0, n1, x, y, dy, dx);
}

template <class V>
const PoolKernels& kernels(const char* isa) {
  static const PoolKernels k = {isa, &forward<V>, &backward<V>};
  return k;
}

}  // namespace pool_impl
}  // namespace pyn
