// The direct convolution for inputs with few channels (kernels/conv_direct.h) written once over
// vector traits V and compiled once per instruction set by simd/conv_direct_<isa>.cpp. Filters
// are taken in blocks of up to 16; the block size is a template parameter so that the block's
// accumulators stay in registers.
//
// Layouts: xp holds one image's C channels as padded planes, xp[(c * hp + row) * wp + col];
// w is Keras's (KH, KW, C, F); a filter block is F_B filters starting at f0.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "common/vec.h"
#include "kernels/conv_direct.h"

namespace pyn {
namespace conv_direct_impl {

template <class V, int FB>
void forward_f(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w, const float* bias,
               int64_t f0, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  alignas(64) float tmp[FB * W];
  const int64_t C = g.c, F = g.f;
  float bf[FB];
  for (int f = 0; f < FB; ++f) bf[f] = bias != nullptr ? bias[f0 + f] : 0.f;
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += W) {
      Reg acc[FB];
#pragma GCC unroll 16
      for (int f = 0; f < FB; ++f) acc[f] = V::zero();
      for (int64_t a = 0; a < g.kh; ++a) {
        for (int64_t b = 0; b < g.kw; ++b) {
          const float* wt = w + (a * g.kw + b) * C * F + f0;
          for (int64_t c = 0; c < C; ++c) {
            const Reg xv = V::load(xp + (c * hp + oh + a) * wp + ow0 + b);
            const float* wc = wt + c * F;
#pragma GCC unroll 16
            for (int f = 0; f < FB; ++f) acc[f] = V::fmadd(xv, V::set1(wc[f]), acc[f]);
          }
        }
      }
#pragma GCC unroll 16
      for (int f = 0; f < FB; ++f) V::store(tmp + f * W, acc[f]);
      const int64_t cnt = g.ow - ow0 < W ? g.ow - ow0 : W;
      float* yr = y + (oh * g.ow + ow0) * F + f0;
      for (int64_t j = 0; j < cnt; ++j)
#pragma GCC unroll 16
        for (int f = 0; f < FB; ++f) yr[j * F + f] = tmp[f * W + j] + bf[f];
    }
  }
}

// dzt: dz transposed per row, dzt[(oh * F + f) * owp + ow] (zero for ow >= OW).
template <class V, int FB>
void backward_f(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w, const float* dzt,
                int64_t owp, int64_t f0, float* dw, float* dxp) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  const int64_t C = g.c, F = g.f;
  if (dw != nullptr) {
    // For each tap (a, b, c) the block's accumulators stay in registers over the whole image.
    alignas(64) float lanes[W];
    for (int64_t a = 0; a < g.kh; ++a) {
      for (int64_t b = 0; b < g.kw; ++b) {
        for (int64_t c = 0; c < C; ++c) {
          Reg acc[FB];
#pragma GCC unroll 16
          for (int f = 0; f < FB; ++f) acc[f] = V::zero();
          for (int64_t oh = 0; oh < g.oh; ++oh) {
            const float* row = xp + (c * hp + oh + a) * wp + b;
            const float* d = dzt + (oh * F + f0) * owp;
            for (int64_t ow0 = 0; ow0 < owp; ow0 += W) {
              const Reg xv = V::load(row + ow0);
#pragma GCC unroll 16
              for (int f = 0; f < FB; ++f) acc[f] = V::fmadd(xv, V::load(d + f * owp + ow0), acc[f]);
            }
          }
          float* dwt = dw + ((a * g.kw + b) * C + c) * F + f0;
          for (int f = 0; f < FB; ++f) {
            V::store(lanes, acc[f]);
            float s = 0.f;
            for (int j = 0; j < W; ++j) s += lanes[j];
            dwt[f] += s;
          }
        }
      }
    }
  }
  if (dxp != nullptr) {
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      for (int64_t ow0 = 0; ow0 < owp; ow0 += W) {
        Reg dv[FB];
#pragma GCC unroll 16
        for (int f = 0; f < FB; ++f) dv[f] = V::load(dzt + (oh * F + f0 + f) * owp + ow0);
        for (int64_t a = 0; a < g.kh; ++a) {
          for (int64_t b = 0; b < g.kw; ++b) {
            const float* wt = w + (a * g.kw + b) * C * F + f0;
            for (int64_t c = 0; c < C; ++c) {
              const float* wc = wt + c * F;
              Reg t = V::mul(dv[0], V::set1(wc[0]));
#pragma GCC unroll 16
              for (int f = 1; f < FB; ++f) t = V::fmadd(dv[f], V::set1(wc[f]), t);
              float* row = dxp + (c * hp + oh + a) * wp + ow0 + b;
              V::store(row, V::add(V::load(row), t));
            }
          }
        }
      }
    }
  }
}

using ForwardFn = void (*)(const ConvGeom&, const float*, int64_t, int64_t, const float*, const float*, int64_t,
                           float*);
using BackwardFn = void (*)(const ConvGeom&, const float*, int64_t, int64_t, const float*, const float*, int64_t,
                            int64_t, float*, float*);

template <class V, size_t... I>
constexpr auto forward_table(std::index_sequence<I...>) {
  return std::array<ForwardFn, sizeof...(I)>{&forward_f<V, int(I) + 1>...};
}

template <class V, size_t... I>
constexpr auto backward_table(std::index_sequence<I...>) {
  return std::array<BackwardFn, sizeof...(I)>{&backward_f<V, int(I) + 1>...};
}

// Filters in blocks of 16 (the last block smaller).
template <class V>
void forward(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w, const float* bias,
             float* y) {
  static constexpr auto table = forward_table<V>(std::make_index_sequence<16>{});
  for (int64_t f0 = 0; f0 < g.f; f0 += 16) {
    const int64_t fb = g.f - f0 < 16 ? g.f - f0 : 16;
    table[static_cast<size_t>(fb - 1)](g, xp, hp, wp, w, bias, f0, y);
  }
}

template <class V>
void backward(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w, const float* dzt,
              int64_t owp, float* dw, float* dxp) {
  static constexpr auto table = backward_table<V>(std::make_index_sequence<16>{});
  for (int64_t f0 = 0; f0 < g.f; f0 += 16) {
    const int64_t fb = g.f - f0 < 16 ? g.f - f0 : 16;
    table[static_cast<size_t>(fb - 1)](g, xp, hp, wp, w, dzt, owp, f0, dw, dxp);
  }
}

template <class V>
const ConvDirectKernels& kernels(const char* name) {
  static const ConvDirectKernels k{name, &forward<V>, &backward<V>, V::kWidth};
  return k;
}

}  // namespace conv_direct_impl
}  // namespace pyn
