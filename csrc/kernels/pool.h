// Max and average pooling over channels-last images, forward and backward.
//
//   x  (N, H, W, C)    y, dy  (N, OH, OW, C)    dx  (N, H, W, C)       row-major float32
//
//   window of output (oh, ow):  rows ih = oh * sh - pad_top  + [0, kh)
//                               cols iw = ow * sw - pad_left + [0, kw)
//   positions outside [0, H) x [0, W) are padding: they never win a max and are not counted
//   by the average (Keras 'same' semantics; PyTorch count_include_pad=False).
//
//   max:  y = max over the window.  A NaN in the window gives NaN. Ties and NaN: the first
//         position in row-major window order wins, and the backward pass routes the whole
//         gradient to it (as PyTorch's max_pool2d does), found again from x and y:
//         dx[first (ih, iw) with x == y, or x and y both NaN] += dy.
//   avg:  y = sum over the window / (number of in-image positions);  dx[each position] +=
//         dy / count.
//
// 1-D pooling of (N, L, C) is the same with H = 1, kh = 1. Channels are the vector axis
// (SIMD over C, masked tail); the batch is split over threads, so each thread writes its own
// images of dx. Backward passes zero dx first.
#pragma once

#include <cstdint>

namespace pyn {

struct PoolParams {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input (N, H, W, C)
  int64_t oh = 0, ow = 0;              // output spatial size
  int64_t kh = 1, kw = 1;              // window
  int64_t sh = 1, sw = 1;              // strides
  int64_t pad_top = 0, pad_left = 0;   // padding before the image (after: implied by oh, ow)
};

enum class PoolMode : int { kMax = 0, kAvg = 1 };

// Output size and leading padding of one spatial axis in Keras's rules:
//   'valid': out = (in - k) / s + 1 (needs k <= in), pad = 0
//   'same':  out = ceil(in / s), pad = max((out - 1) s + k - in, 0) / 2  (the extra one after)
// Throws std::invalid_argument (PYN_CHECK) on non-positive sizes or k > in for 'valid'.
void pool_output_size(int64_t in, int64_t k, int64_t s, bool same, int64_t* out, int64_t* pad);

// Checks p (sizes positive, every window overlaps the image, counts fit int64) and throws
// std::invalid_argument naming `fn` otherwise.
void check_pool_params(const PoolParams& p, const char* fn);

void pool2d_forward(PoolMode mode, const PoolParams& p, const float* x, float* y,
                    int num_threads = 0);
// max: reads x and y (the forward output); avg: reads neither (may be nullptr).
void pool2d_backward(PoolMode mode, const PoolParams& p, const float* x, const float* y,
                     const float* dy, float* dx, int num_threads = 0);

// Per-instruction-set kernels (kernels/simd/pool_<isa>.cpp) over images [n0, n1) on the
// calling thread.
struct PoolKernels {
  const char* isa;
  void (*forward)(PoolMode mode, const PoolParams& p, int64_t n0, int64_t n1, const float* x,
                  float* y);
  void (*backward)(PoolMode mode, const PoolParams& p, int64_t n0, int64_t n1, const float* x,
                   const float* y, const float* dy, float* dx);
};

const PoolKernels& pool_kernels_generic();
const PoolKernels& pool_kernels_avx2();    // only callable with AVX2 + FMA
const PoolKernels& pool_kernels_avx512();  // only callable with AVX-512

}  // namespace pyn
