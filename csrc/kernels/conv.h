// 2-D convolution on channels-last data, forward and backward, built on gemm.
//
//   x  (N, H, W, C)            input, NHWC
//   w  (KH, KW, C/G, F)        kernel, Keras layout (G = groups, F divisible by G)
//   y  (N, OH, OW, F)          output
//
//   y[n, oh, ow, g*Fg + f] = act( bias[g*Fg + f] +
//       sum_{kh, kw, c < Cg} x[n, oh*SH - PT + kh*DH, ow*SW - PL + kw*DW, g*Cg + c]
//                            * w[kh, kw, c, g*Fg + f] )          (Cg = C/G, Fg = F/G)
//
// Input positions outside [0, H) x [0, W) read as zero (padding). The output size (OH, OW) is
// given by the caller: any size is safe, since every tap is bounds-checked, so the same
// geometry also describes transposed convolutions (whose forward pass is conv2d_backward's
// dx) and Conv1D (H = KH = 1).
//
// The backward pass, with dz = dL/d(pre-activation), is
//   dx[n, ih, iw, g*Cg + c]   = sum over (oh, ow, kh, kw, f) that read it of dz * w
//   dw[kh, kw, c, g*Fg + f]  += sum_{n, oh, ow} x[...] * dz[n, oh, ow, g*Fg + f]
//   db[j]                    += sum_{n, oh, ow} dz[n, oh, ow, j]
//
// All three are GEMMs over tiles of output pixels. For a tile of R consecutive output pixels
// (never crossing an image) and one group g, with K = KH*KW*Cg:
//
//   col (R x K)   = im2col of the tile: row r holds, tap by tap, the Cg input channels that
//                   output pixel r reads (zeros for padding)
//   y_tile        = col * W_g                 W_g = w[:, :, :, g*Fg:(g+1)*Fg] as K x Fg, ld F
//   dcol (R x K)  = dz_tile * W_g^T           then scattered back into dx (col2im)
//   dw_g         += col^T * dz_tile           per-thread dw buffers, reduced at the end
//
// A 1x1 kernel with unit stride and no padding skips im2col: the tile of x is col itself.
// Forward applies bias and the activation to each tile right after its GEMM, while it is in
// cache. Threads claim tiles; when dx is written, threads claim whole images instead, so no
// two threads scatter into the same part of dx.
#pragma once

#include <cstdint>

#include "kernels/activation.h"

namespace pyn {

struct ConvGeom {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input (N, H, W, C)
  int64_t kh = 1, kw = 1, f = 0;       // kernel (KH, KW, C/groups, F)
  int64_t oh = 0, ow = 0;              // output (N, OH, OW, F)
  int64_t sh = 1, sw = 1;              // strides
  int64_t dh = 1, dw = 1;              // dilations
  int64_t pt = 0, pl = 0;              // zero padding before the first row / column
  int64_t groups = 1;
};

// Weight gradients of convolutions with at most 8 input channels, one group and unit strides
// and dilations are computed on shifted windows of the padded image instead of im2col rows, and
// so are their forward passes with at least 16 filters and 8 floats per window row (conv.cpp);
// set_conv_shifted_weights(false) turns both off process-wide, for comparisons in tests and
// benchmarks, and returns the previous setting.
bool set_conv_shifted_weights(bool enabled);

// Throws std::invalid_argument (PYN_CHECK) naming the bad size: negative sizes, strides or
// dilations below 1, negative padding, C or F not divisible by groups.
void conv2d_check(const ConvGeom& g);

// y = act(conv(x, w) + bias). bias may be nullptr. y must not overlap x or w.
// num_threads <= 0 uses get_num_threads(); small problems run on the calling thread.
void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* bias,
                    float* y, Act act, ActParams ap, int num_threads = 0);

// Backward pass from dz (N, OH, OW, F). Each of dx, dw, db may be nullptr (not computed).
//   dx = act_dx(conv2d^T(dz, w) + bias_dx): overwritten. bias_dx (may be nullptr) and act_dx
//        (kLinear for a plain backward pass) make this the forward pass of a transposed
//        convolution.
//   dw, db: accumulated (+=) when `accumulate`, overwritten otherwise.
// x is read only when dw is wanted, w only when dx is.
void conv2d_backward(const ConvGeom& g, const float* x, const float* w, const float* dz,
                     float* dx, float* dw, float* db, bool accumulate, const float* bias_dx,
                     Act act_dx, ActParams ap, int num_threads = 0);

}  // namespace pyn
