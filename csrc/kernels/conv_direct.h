// Direct convolution for inputs with few channels (a network's first layers: grey or RGB
// images, LeNet's C1 and C3): vector lanes along the output pixels of a row instead of an
// im2col matrix, whose rows would hold only KH*KW*C floats. Used by conv2d_forward /
// conv2d_backward when conv_direct_applies(g) / conv_direct_backward_applies(g): few channels,
// one group, unit strides and dilations.
//
// Each image is first copied into zero-padded channel planes (the padding becomes plain
// zeros), so the inner loops read x without bounds checks:
//
//   forward:   y[oh, ow:ow+W, f]       = sum_{a,b,c} xp[c, oh + a, ow + b : +W] * w[a, b, c, f]
//   dw:        dw[a, b, c, f]         += sum_{oh, ow} xp[c, oh + a, ow + b : +W] * dz[oh, ow : +W, f]
//   dx:        dxp[c, oh + a, ow + b : +W] += sum_f w[a, b, c, f] * dz[oh, ow : +W, f]
//
// (W = the vector width; dz is transposed per row so that its pixels are contiguous.) Filters
// are taken 16 at a time. The forward pass writes the convolution plus the bias; the caller
// applies the activation.
#pragma once

#include <cstdint>

#include "kernels/conv.h"

namespace pyn {

struct ConvDirectKernels {
  const char* name;
  // y (OH, OW, F) = conv + bias (bias may be nullptr) of one image from xp, its C padded
  // planes of hp x wp floats (hp = OH + KH - 1, wp = OW rounded up to whole vectors + KW - 1).
  void (*forward)(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w,
                  const float* bias, float* y);
  // One image's contributions: dw (KH*KW*C*F, +=) and/or dxp (C planes of hp x wp, +=) from
  // dzt, the image's dz transposed per row: dzt[(oh * F + f) * owp + ow], zero for ow >= OW.
  void (*backward)(const ConvGeom& g, const float* xp, int64_t hp, int64_t wp, const float* w,
                   const float* dzt, int64_t owp, float* dw, float* dxp);
  int width;  // vector width W
};

const ConvDirectKernels& conv_direct_kernels_generic();
const ConvDirectKernels& conv_direct_kernels_avx2();    // only callable with AVX2 + FMA
const ConvDirectKernels& conv_direct_kernels_avx512();  // only callable with AVX-512
const ConvDirectKernels& conv_direct_kernels();         // the current CPU path's

// The forward pass runs direct for up to 8 channels; the backward pass only for one channel and
// up to 16 filters, where it beats im2col + GEMM (measured at 1 thread: LeNet's C1 backward
// 2.8 -> 1.0 ms, while C6->16 and C3->32 backward ran 1.5-1.6x slower direct than with GEMMs).
// Other few-channel weight gradients run on shifted windows of the padded image (conv.cpp).
inline bool conv_direct_applies(const ConvGeom& g) {
  return g.c >= 1 && g.c <= 8 && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.f >= 1 && g.ow >= 4;
}
inline bool conv_direct_backward_applies(const ConvGeom& g) {
  return conv_direct_applies(g) && g.c == 1 && g.f <= 16;
}

}  // namespace pyn
