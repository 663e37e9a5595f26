// Pooling: output sizes, argument checks, threading and the choice of the per-ISA kernels
// (kernels/simd/pool_<isa>.cpp). Formulas and layouts are in pool.h.
//
// Threads take whole images:   x, y, dx:  [ images of thread 0 | images of thread 1 ]
// so every thread writes only its own part of y or dx and the backward scatter needs no
// atomics. Calls with little work run on the calling thread.
#include "kernels/pool.h"

#include <limits>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"

namespace pyn {
namespace {

// Window elements visited per thread before a second thread pays for its fork/join.
constexpr double kGrain = 65536.0;
// Bound on windows and strides, far above any image, so that index arithmetic cannot overflow.
constexpr int64_t kMaxWindow = int64_t(1) << 40;

const PoolKernels& current_kernels() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return pool_kernels_avx512();
    case Isa::kAvx2:
      return pool_kernels_avx2();
    default:
      return pool_kernels_generic();
  }
}

int threads_for_pool(const PoolParams& p, int num_threads) {
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  const double work = static_cast<double>(p.n) * p.oh * p.ow * p.kh * p.kw * p.c +
                      static_cast<double>(p.n) * p.h * p.w * p.c;
  int t = threads_for(work, kGrain, max_t);
  return t > p.n ? static_cast<int>(p.n) : t;
}

}  // namespace

void pool_output_size(int64_t in, int64_t k, int64_t s, bool same, int64_t* out, int64_t* pad) {
  PYN_CHECK(in > 0, "pooling: input size must be positive; got ", in);
  PYN_CHECK(k > 0, "pooling: pool size must be positive; got ", k);
  PYN_CHECK(s > 0, "pooling: stride must be positive; got ", s);
  PYN_CHECK(k <= kMaxWindow && s <= kMaxWindow, "pooling: pool size and stride must be at most ",
            kMaxWindow, "; got ", k, " and ", s);
  if (same) {
    *out = (in - 1) / s + 1;                           // ceil(in / s) without overflow
    const int64_t total = k - (in - (*out - 1) * s);  // (out - 1) s + k - in
    *pad = total > 0 ? total / 2 : 0;
  } else {
    PYN_CHECK(k <= in, "pooling: pool size ", k, " is larger than the input size ", in,
              " with padding='valid'");
    *out = (in - k) / s + 1;
    *pad = 0;
  }
}

void check_pool_params(const PoolParams& p, const char* fn) {
  PYN_CHECK(p.n >= 0 && p.h > 0 && p.w > 0 && p.c >= 0, fn,
            ": input sizes must be positive (batch and channels may be 0); got (", p.n, ", ", p.h,
            ", ", p.w, ", ", p.c, ")");
  PYN_CHECK(p.kh > 0 && p.kw > 0, fn, ": pool size must be positive; got (", p.kh, ", ", p.kw,
            ")");
  PYN_CHECK(p.sh > 0 && p.sw > 0, fn, ": strides must be positive; got (", p.sh, ", ", p.sw, ")");
  PYN_CHECK(p.kh <= kMaxWindow && p.kw <= kMaxWindow && p.sh <= kMaxWindow && p.sw <= kMaxWindow,
            fn, ": pool size and strides must be at most ", kMaxWindow);
  PYN_CHECK(p.oh > 0 && p.ow > 0, fn, ": output size must be positive; got (", p.oh, ", ", p.ow,
            ")");
  PYN_CHECK(p.pad_top >= 0 && p.pad_left >= 0 && p.pad_top < p.kh && p.pad_left < p.kw, fn,
            ": padding must be in [0, pool size); got (", p.pad_top, ", ", p.pad_left, ")");
  // Every window must hold at least one image position, and none may start past the end.
  PYN_CHECK((p.oh - 1) * p.sh - p.pad_top < p.h && (p.ow - 1) * p.sw - p.pad_left < p.w, fn,
            ": the last window starts outside the input (output (", p.oh, ", ", p.ow,
            ") for input (", p.h, ", ", p.w, "))");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;
  PYN_CHECK(p.h <= kMax / p.w && p.h * p.w <= kMax / (p.c > 0 ? p.c : 1) &&
                p.oh <= kMax / p.ow && p.oh * p.ow <= kMax / (p.c > 0 ? p.c : 1),
            fn, ": array too large");
}

void pool2d_forward(PoolMode mode, const PoolParams& p, const float* x, float* y,
                    int num_threads) {
  check_pool_params(p, "pool2d_forward");
  if (p.n == 0 || p.c == 0) return;
  PYN_CHECK(x != nullptr && y != nullptr, "pool2d_forward: x and y must not be null");
  const PoolKernels& k = current_kernels();
  parallel(threads_for_pool(p, num_threads), [&](int tid, int nt) {
    int64_t lo, hi;
    split_range(p.n, 1, nt, tid, &lo, &hi);
    k.forward(mode, p, lo, hi, x, y);
  });
}

void pool2d_backward(PoolMode mode, const PoolParams& p, const float* x, const float* y,
                     const float* dy, float* dx, int num_threads) {
  check_pool_params(p, "pool2d_backward");
  if (p.n == 0 || p.c == 0) return;
  PYN_CHECK(dy != nullptr && dx != nullptr, "pool2d_backward: dy and dx must not be null");
  PYN_CHECK(mode != PoolMode::kMax || (x != nullptr && y != nullptr),
            "pool2d_backward: max pooling reads x and y; got null");
  const PoolKernels& k = current_kernels();
  parallel(threads_for_pool(p, num_threads), [&](int tid, int nt) {
    int64_t lo, hi;
    split_range(p.n, 1, nt, tid, &lo, &hi);
    k.backward(mode, p, lo, hi, x, y, dy, dx);
  });
}

}  // namespace pyn
