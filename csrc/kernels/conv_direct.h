// Direct convolution for single-channel inputs (a network's first layer on grey images,
// LeNet's C1): vector lanes along the output pixels of a row instead of an im2col matrix,
// whose rows would hold only KH*KW floats. Used by conv2d_forward / conv2d_backward when
// conv_direct_applies(g): C = 1, one group, unit strides and dilations, F <= 16 filters.
//
// Each image is first copied into a zero-padded buffer (the padding becomes plain zeros),
// so the inner loops read x without bounds checks:
//
//   forward:   y[oh, ow:ow+W, f]     = sum_{a,b} xp[oh + a, ow + b : +W] * w[a, b, f]
//   dw:        dw[a, b, f]          += sum_{oh, ow} xp[oh + a, ow + b : +W] * dz[oh, ow : +W, f]
//   dx:        dxp[oh + a, ow + b : +W] += sum_f w[a, b, f] * dz[oh, ow : +W, f]
//
// (W = the vector width; dz is transposed per row so that its pixels are contiguous.) The
// forward pass writes the convolution plus the bias; the caller applies the activation.
#pragma once

#include <cstdint>

#include "kernels/conv.h"

namespace pyn {

struct ConvDirectKernels {
  const char* name;
  // y (OH, OW, F) = conv + bias (bias may be nullptr) of one image from xp, the padded image
  // (hp x wp, hp = OH + KH - 1, wp = OW rounded up to whole vectors + KW - 1).
  void (*forward)(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* bias, float* y);
  // One image's contributions: dw (KH*KW*F, +=) and/or dxp (hp x wp, +=) from dzt, the
  // image's dz transposed per row: dzt[(oh * F + f) * owp + ow], zero for ow >= OW.
  void (*backward)(const ConvGeom& g, const float* xp, int64_t wp, const float* w, const float* dzt,
                   int64_t owp, float* dw, float* dxp);
  int width;  // vector width W
};

const ConvDirectKernels& conv_direct_kernels_generic();
const ConvDirectKernels& conv_direct_kernels_avx2();    // only callable with AVX2 + FMA
const ConvDirectKernels& conv_direct_kernels_avx512();  // only callable with AVX-512
const ConvDirectKernels& conv_direct_kernels();         // the current CPU path's

inline bool conv_direct_applies(const ConvGeom& g) {
  return g.c == 1 && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.f >= 1 &&
         g.f <= 16 && g.kw <= 16 && g.ow >= 4;
}

}  // namespace pyn
