// Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) for 3x3 kernels with unit strides and
// dilations and one group (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2015). Each m x m tile of output pixels is computed from an (m + 2) x (m + 2) tile of input
// pixels, per (input channel c, filter f) pair:
//
//   y_tile = A^T [ (G w G^T) (.) (B^T x_tile B) ] A,   summed over c
//
// F(2x2, 3x3), 16 products for 4 outputs instead of 36:
//   B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
//         | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
//         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
//         | 0  1  0 -1 |         |  0    0    1  |
// F(4x4, 3x3), 36 products for 16 outputs instead of 144 (interpolation points 0, +-1, +-2):
//   B^T = | 4  0 -5  0  1  0 |   G = |  1/4    0     0  |   A^T = | 1  1  1  1  1  0 |
//         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6 |         | 0  1 -1  2 -2  0 |
//         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6 |         | 0  1  1  4  4  0 |
//         | 0 -2 -1  2  1  0 |       | 1/24  1/12   1/6 |         | 0  1 -1  8 -8  1 |
//         | 0  2 -1 -2  1  0 |       | 1/24 -1/12   1/6 |
//         | 0  4  0 -5  0  1 |       |   0     0     1  |
//
// The sum over channels becomes one GEMM per position xi of the transformed tile:
//   M[xi] (tiles x F) = V[xi] (tiles x C) * U[xi] (C x F),  V = B^T x B,  U = G w G^T.
// F(2x2) transforms only add and halve, so its results stay within a few ulp of the direct sum;
// F(4x4) scales values by up to about 100 in its transforms, which costs about 3 more bits
// (relative errors of a few 1e-6 of the output's magnitude, against float64 in the tests).
// The 4x4 tiles are used unless rounding the output up to whole tiles wastes much of them.
//
// 1 x 3 kernels (Conv1D, a Conv2D of height 1) use the same matrices along the rows only:
// F(4, 3) and F(2, 3), 1 x m output tiles from 1 x (m + 2) input tiles,
//   y_tile = A^T [ (G w) (.) (B^T x_tile) ],   m + 2 positions xi, so m + 2 GEMMs,
// 6 products for 4 outputs instead of 12 (F(2, 3): 4 for 2 instead of 6).
//
// Tiles are processed in blocks of whole tile rows (m output rows of one image; in 1-D, runs
// of tiles that may end inside a row), small enough that a block's V and M stay in the L2
// cache; threads claim blocks. The backward passes:
//   dx: the forward pass on dz with the kernel rotated by 180 degrees and its channel axes
//       swapped, padding 2 - PT / 2 - PL (a 'full' convolution for 'valid', 'same' for 'same';
//       PT is 0 for 1 x 3 kernels);
//   dw: dU[xi] (C x F) += V[xi]^T Z[xi] with Z = A dz_tile A^T, summed over tiles into
//       per-thread buffers, then dw = G^T dU G (in 1-D Z = A dz_tile and dw = G^T dU).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv.h"

namespace pyn {

// The element-wise transforms, compiled once per instruction set with vector lanes along the
// channels. Tiles are numbered across the batch: tile t covers output rows m*ty .. m*ty + m - 1
// and columns m*tx .. m*tx + m - 1 of image n, with t = (n * TH + ty) * TW + tx,
// TH = ceil(OH / m), TW = ceil(OW / m). A block is `count` consecutive tiles from t0; its
// transformed arrays hold (m + 2)^2 planes of count x channels floats, plane
// xi = (m + 2) * row + column of the transformed tile, starting `plane` floats apart.
struct WinogradKernels {
  const char* name;
  int tile;  // output tile size m: F(m x m, 3x3), input tiles of (m + 2) x (m + 2)
  // v[xi][i][c] = (B^T x_tile B)[xi] of tile t0 + i (input outside the image reads as zero).
  void (*input)(const ConvGeom& g, const float* x, int64_t t0, int64_t count, float* v,
                int64_t plane);
  // y pixels of tiles t0.. = A^T m A + bias (bias may be nullptr); pixels past OH / OW are
  // not written.
  void (*output)(const ConvGeom& g, const float* m, int64_t plane, int64_t t0, int64_t count,
                 const float* bias, float* y);
  // z[xi][i][f] = (A dz_tile A^T)[xi], dz outside (OH, OW) read as zero.
  void (*grad_output)(const ConvGeom& g, const float* dz, int64_t t0, int64_t count, float* z,
                      int64_t plane);
  // The same for 1 x 3 kernels (F(m, 3) along the rows): tile t covers output columns
  // m*tx .. m*tx + m - 1 of output row oh of image n, t = (n * OH + oh) * TW + tx; m + 2 planes,
  // xi = the position in the row.
  void (*input_1d)(const ConvGeom& g, const float* x, int64_t t0, int64_t count, float* v,
                   int64_t plane);
  void (*output_1d)(const ConvGeom& g, const float* m, int64_t plane, int64_t t0, int64_t count,
                    const float* bias, float* y);
  void (*grad_output_1d)(const ConvGeom& g, const float* dz, int64_t t0, int64_t count,
                         float* z, int64_t plane);
};

// tile = 2 or 4
const WinogradKernels& winograd_kernels_generic(int tile);
const WinogradKernels& winograd_kernels_avx2(int tile);    // only callable with AVX2 + FMA
const WinogradKernels& winograd_kernels_avx512(int tile);  // only callable with AVX-512
const WinogradKernels& winograd_kernels(int tile);         // the current CPU path's

// Whether conv2d_forward / conv2d_backward use the Winograd kernels for this geometry: 3x3
// (or 1 x 3 without padding rows), unit strides and dilations, one group, padding of at most 2
// on the leading sides, and
// enough channels and filters for the per-position GEMMs to run near the microkernel's peak.
// set_conv_winograd(false) turns the Winograd kernels off process-wide (the GEMM tiles then
// run every convolution), for comparisons in tests and benchmarks; returns the previous
// setting.
bool winograd_applies(const ConvGeom& g);
bool set_conv_winograd(bool enabled);

// y = act(conv(x, w) + bias), as conv2d_forward.
void winograd_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y,
                      Act act, const ActParams& ap, int max_threads);
// dx = act_dx(conv2d^T(dz, w) + bias_dx), as conv2d_backward's dx (overwritten).
void winograd_backward_data(const ConvGeom& g, const float* w, const float* dz, float* dx,
                            const float* bias_dx, Act act_dx, const ActParams& ap, int max_threads);
// dw += conv2d weight gradient, db += sum of dz over pixels (each may be nullptr).
void winograd_backward_weights(const ConvGeom& g, const float* x, const float* dz, float* dw,
                               float* db, int max_threads);

// bias + activation over `rows` rows of `cols` values, on the calling thread (conv.cpp).
void conv_epilogue(float* y, int64_t rows, int64_t cols, const float* bias, Act act,
                   const ActParams& ap);

// Deterministic mode's weight-gradient sums (conv.cpp): `units` work units are summed in at
// most 16 fixed runs (run q covers units [q * units / runs, (q + 1) * units / runs), in order),
// each into its own zeroed buffer of `floats` floats from the calling thread's scratch; the
// buffers, one per run, are then added in order. The runs depend on `units` only.
std::vector<float*> conv_deterministic_sums(int64_t units, int64_t floats);

}  // namespace pyn
