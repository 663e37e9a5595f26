// The direct single-channel convolution (kernels/conv_direct.h) written once over vector
// traits V and compiled once per instruction set by simd/conv_direct_<isa>.cpp. The number of
// filters is a template parameter so that their accumulators stay in registers.
#pragma once

#include <cstdint>
#include <utility>

#include "common/vec.h"
#include "kernels/conv_direct.h"

namespace pyn {
namespace conv_direct_impl {

template <class V, int F>
void forward_f(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* bias, float* y) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  alignas(64) float tmp[F * W];
  for (int64_t oh = 0; oh < g.oh; ++oh) {
    for (int64_t ow0 = 0; ow0 < g.ow; ow0 += W) {
      Reg acc[F];
#pragma GCC unroll 16
      for (int f = 0; f < F; ++f) acc[f] = V::zero();
      for (int64_t a = 0; a < g.kh; ++a) {
        const float* row = xp + (oh + a) * wp + ow0;
        const float* wa = w + a * g.kw * F;
        for (int64_t b = 0; b < g.kw; ++b) {
          const Reg xv = V::load(row + b);
#pragma GCC unroll 16
          for (int f = 0; f < F; ++f) acc[f] = V::fmadd(xv, V::set1(wa[b * F + f]), acc[f]);
        }
      }
#pragma GCC unroll 16
      for (int f = 0; f < F; ++f) V::store(tmp + f * W, acc[f]);
      const int64_t cnt = g.ow - ow0 < W ? g.ow - ow0 : W;
      float* yr = y + (oh * g.ow + ow0) * F;
      float bf[F];
#pragma GCC unroll 16
      for (int f = 0; f < F; ++f) bf[f] = bias != nullptr ? bias[f] : 0.f;
      for (int64_t j = 0; j < cnt; ++j)
#pragma GCC unroll 16
        for (int f = 0; f < F; ++f) yr[j * F + f] = tmp[f * W + j] + bf[f];
    }
  }
}

template <class V, int F>
void backward_f(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* dzt,
                int64_t owp, float* dw, float* dxp) {
  using Reg = typename V::Reg;
  constexpr int W = V::kWidth;
  if (dw != nullptr) {
    // For each tap (a, b) the F accumulators stay in registers over the whole image.
    alignas(64) float lanes[W];
    for (int64_t a = 0; a < g.kh; ++a) {
      for (int64_t b = 0; b < g.kw; ++b) {
        Reg acc[F];
#pragma GCC unroll 16
        for (int f = 0; f < F; ++f) acc[f] = V::zero();
        for (int64_t oh = 0; oh < g.oh; ++oh) {
          const float* row = xp + (oh + a) * wp + b;
          const float* d = dzt + oh * F * owp;
          for (int64_t ow0 = 0; ow0 < owp; ow0 += W) {
            const Reg xv = V::load(row + ow0);
#pragma GCC unroll 16
            for (int f = 0; f < F; ++f) acc[f] = V::fmadd(xv, V::load(d + f * owp + ow0), acc[f]);
          }
        }
        float* dwab = dw + (a * g.kw + b) * F;
        for (int f = 0; f < F; ++f) {
          V::store(lanes, acc[f]);
          float s = 0.f;
          for (int j = 0; j < W; ++j) s += lanes[j];
          dwab[f] += s;
        }
      }
    }
  }
  if (dxp != nullptr) {
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      for (int64_t ow0 = 0; ow0 < owp; ow0 += W) {
        Reg dv[F];
#pragma GCC unroll 16
        for (int f = 0; f < F; ++f) dv[f] = V::load(dzt + (oh * F + f) * owp + ow0);
        for (int64_t a = 0; a < g.kh; ++a) {
          float* row = dxp + (oh + a) * wp + ow0;
          const float* wa = w + a * g.kw * F;
          for (int64_t b = 0; b < g.kw; ++b) {
            Reg t = V::mul(dv[0], V::set1(wa[b * F]));
#pragma GCC unroll 16
            for (int f = 1; f < F; ++f) t = V::fmadd(dv[f], V::set1(wa[b * F + f]), t);
            V::store(row + b, V::add(V::load(row + b), t));
          }
        }
      }
    }
  }
}

using ForwardFn = void (*)(const ConvGeom&, const float*, int64_t, const float*, const float*, float*);
using BackwardFn = void (*)(const ConvGeom&, const float*, int64_t, const float*, const float*, int64_t,
                            float*, float*);

template <class V, size_t... I>
void forward_any(std::index_sequence<I...>, const ConvGeom& g, const float* xp, int64_t wp, const float* w,
                 const float* bias, float* y) {
  static constexpr ForwardFn table[] = {&forward_f<V, int(I) + 1>...};
  table[g.f - 1](g, xp, wp, w, bias, y);
}

template <class V, size_t... I>
void backward_any(std::index_sequence<I...>, const ConvGeom& g, const float* xp, int64_t wp, const float* w,
                  const float* dzt, int64_t owp, float* dw, float* dxp) {
  static constexpr BackwardFn table[] = {&backward_f<V, int(I) + 1>...};
  table[g.f - 1](g, xp, wp, w, dzt, owp, dw, dxp);
}

template <class V>
void forward(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* bias, float* y) {
  forward_any<V>(std::make_index_sequence<16>{}, g, xp, wp, w, bias, y);
}

template <class V>
void backward(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* dzt, int64_t owp,
              float* dw, float* dxp) {
  backward_any<V>(std::make_index_sequence<16>{}, g, xp, wp, w, dzt, owp, dw, dxp);
}

template <class V>
const ConvDirectKernels& kernels(const char* name) {
  static const ConvDirectKernels k{name, &forward<V>, &backward<V>, V::kWidth};
  return k;
}

}  // namespace conv_direct_impl
}  // namespace pyn
