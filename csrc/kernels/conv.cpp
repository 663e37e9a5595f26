// 2-D convolution on NHWC data as GEMMs over tiles of output pixels; formulas, layouts and
// the tiling are described in conv.h.
//
// One tile of R output pixels, one group g (K = KH*KW*Cg):
//
//           K = taps x Cg                      Fg                     Fg
//        +---------------------+          +--------+             +--------+
//   r=0  | (kh0,kw0) c0..c(Cg) | (kh0,kw1)|        |             |        |
//   ...  |  im2col of pixel r  |    x     |  W_g   |  K     =    | y tile |  R   (ld F)
//   R-1  |                     |          | (ld F) |             |        |
//        +---------------------+          +--------+             +--------+
//
// The im2col buffer is per thread and holds one tile only (R is chosen so that it stays in
// the L2 cache), never the whole input.
#include "kernels/conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "kernels/conv_direct.h"
#include "kernels/conv_winograd.h"
#include "kernels/gemm.h"
#include "kernels/gemm_ukr.h"
#include "cpu/cpuinfo.h"

namespace pyn {

void conv_epilogue(float* y, int64_t rows, int64_t cols, const float* bias, Act act,
                   const ActParams& ap) {
  if (rows == 0 || cols == 0) return;
  if (activation_is_rowwise(act)) {
    softmax_forward(act, rows, cols, y, bias, y, 1);
  } else if (bias != nullptr || act != Act::kLinear) {
    activation_forward(act, rows * cols, y, bias, cols, y, ap, 1);
  }
}

namespace {

thread_local ScratchBuffer tl_col;
thread_local ScratchBuffer tl_dcol;
thread_local ScratchBuffer tl_dw;
thread_local ScratchBuffer tl_dzt;
thread_local ScratchBuffer tl_wpack;  // calling thread: the weights packed once per call
thread_local ScratchBuffer tl_det;    // calling thread: the deterministic mode's gradient sums


// Floating-point operations per thread below which a convolution runs on one thread.
constexpr double kConvGrainFlops = 1.0e6;
// Target size of one im2col tile in floats (256 KiB), and the bounds on its row count.
constexpr int64_t kTileFloats = 65536;
constexpr int64_t kMinTileRows = 32;
constexpr int64_t kMaxTileRows = 2048;
// Backward tiles are shorter: the weight-gradient GEMM runs over a tile's rows (its depth),
// and up to 512 of them it reads the im2col buffer in place instead of packing it.
constexpr int64_t kMaxBackwardTileRows = 512;
// Groups with fewer filters than this use pixel-major tiles (see im2col_t).
constexpr int64_t kPixelMajorFilters = 16;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Plan {
  int64_t cg, fg, k;  // channels and filters per group; GEMM depth KH*KW*Cg
  int64_t pixels;     // OH*OW per image
  int64_t m;          // N*OH*OW
  bool direct;        // 1x1 kernel, unit stride, no padding, same size: x rows are col rows
  bool pixel_major;   // few filters per group: GEMMs run with n = output pixels
  int64_t rows;       // tile height (output pixels)
};

Plan make_plan(const ConvGeom& g) {
  Plan p;
  p.cg = g.c / g.groups;
  p.fg = g.f / g.groups;
  p.k = g.kh * g.kw * p.cg;
  p.pixels = g.oh * g.ow;
  p.m = g.n * p.pixels;
  p.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
             g.oh == g.h && g.ow == g.w;
  p.pixel_major = !p.direct && p.fg < kPixelMajorFilters;
  p.rows = std::clamp<int64_t>(kTileFloats / std::max<int64_t>(p.k, 1), kMinTileRows,
                               kMaxTileRows);
  return p;
}

// The weights of every group packed once per call as the B~ of the tiles' products: W
// (K x Fg, forward) or W^T (Fg x K, backward-data), `per_group` floats each. Tiles then
// multiply straight into their outputs with no packing of their own.
struct PackedWeights {
  const GemmUkr* u = nullptr;
  float* data = nullptr;
  int64_t per_group = 0;
  const float* group(int64_t grp) const { return data + grp * per_group; }
};

PackedWeights pack_weights(const ConvGeom& g, const Plan& p, const float* w, bool transposed) {
  PackedWeights pw;
  pw.u = &gemm_ukr();
  pw.per_group = transposed ? gemm_packed_b_size(*pw.u, p.fg, p.k) : gemm_packed_b_size(*pw.u, p.k, p.fg);
  pw.data = tl_wpack.floats(static_cast<size_t>(pw.per_group * g.groups));
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    if (transposed)
      gemm_pack_b(*pw.u, true, w + grp * p.fg, g.f, p.fg, p.k, pw.data + grp * pw.per_group);
    else
      gemm_pack_b(*pw.u, false, w + grp * p.fg, g.f, p.k, p.fg, pw.data + grp * pw.per_group);
  }
  return pw;
}

// Visits the input pixels that output pixels [m0, m0 + rows) read, tap by tap, for group grp.
// fn(r, offset_in_col_row, src_or_null, count): `count` floats at column offset `offset` of
// row r come from x[src .. src + count) (null: padding, zeros).
template <class Fn>
void for_each_tap(const ConvGeom& g, const Plan& p, int64_t grp, int64_t m0, int64_t rows,
                  Fn&& fn) {
  int64_t n = m0 / p.pixels, rem = m0 % p.pixels;
  int64_t oh = rem / g.ow, ow = rem % g.ow;
  const int64_t cg = p.cg, c0 = grp * cg;
  // With one group and unit dilation, the KW taps of a kernel row are one contiguous run of
  // KW*C floats whenever the whole row lies inside the input.
  const bool row_runs = g.groups == 1 && g.dw == 1;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    for (int64_t a = 0; a < g.kh; ++a) {
      const int64_t ih = ih0 + a * g.dh;
      const int64_t off = a * g.kw * cg;
      if (ih < 0 || ih >= g.h) {
        fn(r, off, static_cast<int64_t>(-1), g.kw * cg);
        continue;
      }
      const int64_t base = (n * g.h + ih) * g.w;
      if (row_runs && iw0 >= 0 && iw0 + g.kw <= g.w) {
        fn(r, off, (base + iw0) * g.c, g.kw * cg);
        continue;
      }
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t iw = iw0 + b * g.dw;
        if (iw < 0 || iw >= g.w)
          fn(r, off + b * cg, static_cast<int64_t>(-1), cg);
        else
          fn(r, off + b * cg, (base + iw) * g.c + c0, cg);
      }
    }
    if (++ow == g.ow) {
      ow = 0;
      if (++oh == g.oh) {
        oh = 0;
        ++n;
      }
    }
  }
}

void im2col(const ConvGeom& g, const Plan& p, const float* x, int64_t grp, int64_t m0,
            int64_t rows, float* col) {
  const int64_t k = p.k;
  for_each_tap(g, p, grp, m0, rows, [&](int64_t r, int64_t off, int64_t src, int64_t cnt) {
    float* d = col + r * k + off;
    // Runs are short (Cg or KW*C floats): plain loops, which the compiler inlines, beat
    // library calls here.
    if (src < 0) {
#pragma omp simd
      for (int64_t i = 0; i < cnt; ++i) d[i] = 0.f;
    } else {
      const float* s = x + src;
#pragma omp simd
      for (int64_t i = 0; i < cnt; ++i) d[i] = s[i];
    }
  });
}

void col2im_add(const ConvGeom& g, const Plan& p, const float* col, int64_t grp, int64_t m0,
                int64_t rows, float* dx) {
  const int64_t k = p.k;
  for_each_tap(g, p, grp, m0, rows, [&](int64_t r, int64_t off, int64_t src, int64_t cnt) {
    if (src < 0) return;
    const float* s = col + r * k + off;
    float* d = dx + src;
#pragma omp simd
    for (int64_t i = 0; i < cnt; ++i) d[i] += s[i];
  });
}

// Pixel-major ("transposed") tiles, used when a group has few filters (Fg < kPixelMajorFilters),
// where a GEMM with n = Fg would leave most vector lanes of the microkernel idle. The same
// products are computed with the output pixels as the GEMM's n dimension:
//
//           R pixels                    R                          R
//        +-----------+             +---------+               +---------+
//    K   |  colT     |   W_g^T  *  |  colT   |  =  yT  Fg      | yT      |  then y[r, f] = yT[f, r]
//        +-----------+   (Fg x K)  +---------+                 +---------+
//
//   yT (Fg x R)    = W_g^T * colT          forward (then transposed into y, bias + act)
//   dcolT (K x R)  = W_g * dzT             backward data (then scattered into dx)
//   dw_g (K x Fg) += colT * dz_tile        backward weights
//
// colT[(kh*KW + kw)*Cg + c][r] is the input value that output pixel r reads through that tap
// and channel. Within one output row the pixels of a tap read x with a fixed stride (SW*C
// floats, one float apart when C = 1 and SW = 1), so colT is built one (tap, channel, row
// segment) at a time: a strided copy between two runs of zeros.
// Calls fn(colT_row, r0, seg, lo, hi, src, stride) for every (tap, channel, row segment) of the
// tile: colT_row[r0 + j] for j in [0, seg) belongs to this segment; j in [lo, hi) reads
// x[src + j * stride], the rest is padding.
template <class Fn>
void for_each_segment(const ConvGeom& g, const Plan& p, int64_t grp, int64_t m0, int64_t rows,
                      Fn&& fn) {
  int64_t n = m0 / p.pixels, rem = m0 % p.pixels;
  int64_t oh = rem / g.ow, ow = rem % g.ow;
  const int64_t cg = p.cg, c0 = grp * cg, stride = g.sw * g.c;
  for (int64_t r0 = 0; r0 < rows;) {
    const int64_t seg = std::min(rows - r0, g.ow - ow);
    for (int64_t a = 0; a < g.kh; ++a) {
      const int64_t ih = oh * g.sh - g.pt + a * g.dh;
      const bool row_in = ih >= 0 && ih < g.h;
      for (int64_t b = 0; b < g.kw; ++b) {
        const int64_t iw0 = ow * g.sw - g.pl + b * g.dw;  // input column of pixel j = 0
        int64_t lo = 0, hi = 0;
        if (row_in) {
          if (g.sw == 1) {  // the common case, without divisions
            lo = std::max<int64_t>(-iw0, 0);
            hi = std::max<int64_t>(g.w - iw0, 0);
          } else {
            lo = iw0 >= 0 ? 0 : ceil_div(-iw0, g.sw);
            hi = iw0 < g.w ? ceil_div(g.w - iw0, g.sw) : 0;
          }
          lo = std::min(lo, seg);
          hi = std::clamp(hi, lo, seg);
        }
        const int64_t base = row_in ? ((n * g.h + ih) * g.w + iw0) * g.c + c0 : 0;
        const int64_t krow = (a * g.kw + b) * cg;
        for (int64_t c = 0; c < cg; ++c) fn(krow + c, r0, seg, lo, hi, base + c, stride);
      }
    }
    r0 += seg;
    ow += seg;
    if (ow == g.ow) {
      ow = 0;
      if (++oh == g.oh) {
        oh = 0;
        ++n;
      }
    }
  }
}

// colT (K x rows, ld rows) for output pixels [m0, m0 + rows) and group grp.
void im2col_t(const ConvGeom& g, const Plan& p, const float* x, int64_t grp, int64_t m0,
              int64_t rows, float* colT) {
  for_each_segment(g, p, grp, m0, rows,
                   [&](int64_t kr, int64_t r0, int64_t seg, int64_t lo, int64_t hi, int64_t src,
                       int64_t stride) {
                     float* d = colT + kr * rows + r0;
                     for (int64_t j = 0; j < lo; ++j) d[j] = 0.f;
                     // src + j * stride is inside x for every j in [lo, hi); src itself may
                     // lie before x when lo > 0, so index from x rather than offset a pointer.
                     if (stride == 1) {
                       const float* s = x + (src + lo);
#pragma omp simd
                       for (int64_t j = lo; j < hi; ++j) d[j] = s[j - lo];
                     } else {
                       for (int64_t j = lo; j < hi; ++j) d[j] = x[src + j * stride];
                     }
                     for (int64_t j = hi; j < seg; ++j) d[j] = 0.f;
                   });
}

// dx[...] += dcolT (K x rows, ld rows), the scatter that im2col_t gathers.
void col2im_t_add(const ConvGeom& g, const Plan& p, const float* dcolT, int64_t grp, int64_t m0,
                  int64_t rows, float* dx) {
  for_each_segment(g, p, grp, m0, rows,
                   [&](int64_t kr, int64_t r0, int64_t, int64_t lo, int64_t hi, int64_t src,
                       int64_t stride) {
                     const float* s = dcolT + kr * rows + r0;
                     if (stride == 1) {
                       float* d = dx + (src + lo);
#pragma omp simd
                       for (int64_t j = lo; j < hi; ++j) d[j - lo] += s[j];
                     } else {
                       for (int64_t j = lo; j < hi; ++j) dx[src + j * stride] += s[j];
                     }
                   });
}

// dst (cols x rows, ld rows) = transpose of src (rows x cols, ld lds).
void transpose_to(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * lds;
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = s[c];
  }
}


// After a barrier: adds the per-thread buffers priv[t] (wsize dw floats, then f db floats;
// element i of the result is read at src(i)) into dw and db, each thread a slice.
// `count` buffers are summed (in order): one per thread that ran, or the deterministic mode's
// fixed slots.
template <class Src>
void add_private_sums(const std::vector<float*>& priv, int64_t count, int tid, int nth,
                      int64_t wsize, int64_t f, float* dw, float* db, Src src) {
  int64_t lo, hi;
  split_range(wsize + f, 16, nth, tid, &lo, &hi);
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t from = src(i);
    float s = 0.f;
    for (int64_t t = 0; t < count; ++t) s += priv[static_cast<size_t>(t)][from];
    if (i < wsize) {
      if (dw != nullptr) dw[i] += s;
    } else if (db != nullptr) {
      db[i - wsize] += s;
    }
  }
}

double conv_flops(const ConvGeom& g, const Plan& p) {
  return 2.0 * static_cast<double>(p.m) * static_cast<double>(p.k) * static_cast<double>(g.f);
}

}  // namespace

std::vector<float*> conv_deterministic_sums(int64_t units, int64_t floats) {
  constexpr int64_t kMaxRuns = 16;  // whatever the thread count
  const int64_t runs = std::min(kMaxRuns, units);
  float* buf = tl_det.floats(static_cast<size_t>(runs * floats));
  std::fill(buf, buf + runs * floats, 0.f);
  std::vector<float*> sums(static_cast<size_t>(runs));
  for (int64_t q = 0; q < runs; ++q) sums[static_cast<size_t>(q)] = buf + q * floats;
  return sums;
}

void conv2d_check(const ConvGeom& g) {
  PYN_CHECK(g.n >= 0 && g.h >= 0 && g.w >= 0 && g.c >= 0 && g.f >= 0 && g.oh >= 0 && g.ow >= 0,
            "conv2d: sizes must be non-negative; got input (", g.n, ", ", g.h, ", ", g.w, ", ",
            g.c, "), filters ", g.f, ", output (", g.oh, ", ", g.ow, ")");
  PYN_CHECK(g.kh >= 1 && g.kw >= 1, "conv2d: kernel size must be >= 1; got (", g.kh, ", ", g.kw,
            ")");
  PYN_CHECK(g.sh >= 1 && g.sw >= 1, "conv2d: strides must be >= 1; got (", g.sh, ", ", g.sw, ")");
  PYN_CHECK(g.dh >= 1 && g.dw >= 1, "conv2d: dilation must be >= 1; got (", g.dh, ", ", g.dw,
            ")");
  PYN_CHECK(g.pt >= 0 && g.pl >= 0, "conv2d: padding must be >= 0; got (", g.pt, ", ", g.pl, ")");
  PYN_CHECK(g.groups >= 1, "conv2d: groups must be >= 1; got ", g.groups);
  PYN_CHECK(g.c % g.groups == 0, "conv2d: input channels ", g.c, " not divisible by groups ",
            g.groups);
  PYN_CHECK(g.f % g.groups == 0, "conv2d: filters ", g.f, " not divisible by groups ", g.groups);
}

namespace {

// -- direct single-channel convolution (conv_direct.h) ---------------------------------------

struct DirectSizes {
  int64_t owp, wp, hp;  // output row padded to whole vectors; padded image width and height
};

DirectSizes direct_sizes(const ConvGeom& g, int width) {
  DirectSizes d;
  d.owp = ceil_div(g.ow, width) * width;
  d.wp = d.owp + g.kw - 1;
  d.hp = g.oh + g.kh - 1;
  return d;
}

// xp (C planes of hp x wp) = image x_img (H, W, C) placed at (PT, PL), zeros around it; rows
// and columns that no output reads are left out.
void pad_planes(const ConvGeom& g, const float* x_img, const DirectSizes& d, float* xp) {
  std::fill(xp, xp + g.c * d.hp * d.wp, 0.f);
  const int64_t iw1 = std::min(g.w, d.wp - g.pl);
  if (iw1 <= 0) return;
  for (int64_t ih = 0; ih < g.h; ++ih) {
    const int64_t r = ih + g.pt;
    if (r >= d.hp) break;
    const float* src = x_img + ih * g.w * g.c;
    if (g.c == 1) {
      std::memcpy(xp + r * d.wp + g.pl, src, static_cast<size_t>(iw1) * sizeof(float));
      continue;
    }
    for (int64_t c = 0; c < g.c; ++c) {
      float* dst = xp + (c * d.hp + r) * d.wp + g.pl;
      for (int64_t iw = 0; iw < iw1; ++iw) dst[iw] = src[iw * g.c + c];
    }
  }
}

void direct_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y,
                    Act act, const ActParams& ap, int max_t) {
  const ConvDirectKernels& k = conv_direct_kernels();
  const DirectSizes d = direct_sizes(g, k.width);
  const double flops = 2.0 * g.n * g.oh * g.ow * g.kh * g.kw * g.c * g.f;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(flops, kConvGrainFlops, max_t), g.n));
  std::atomic<int64_t> next{0};
  parallel_claims(nt, [&](int, int) {
    float* xp = tl_col.floats(static_cast<size_t>(g.c * d.hp * d.wp));
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < g.n;) {
      pad_planes(g, x + i * g.h * g.w * g.c, d, xp);
      float* yi = y + i * g.oh * g.ow * g.f;
      k.forward(g, xp, d.hp, d.wp, w, bias, yi);  // the bias is added in the store: a bias of a few
      conv_epilogue(yi, g.oh * g.ow, g.f, nullptr, act, ap);  // floats is slow to broadcast later
    }
  });
}

// Hands out images one at a time: in claim order, or in the deterministic mode (slots > 0)
// each fixed slot's run of images in order, pointing `pw` at the slot's gradient buffer.
struct ImageClaims {
  std::atomic<int64_t>& next;
  const std::vector<float*>& priv;
  int64_t slots, n;
  int64_t slot_end = 0, next_image = 0;

  int64_t operator()(float*& pw) {
    if (slots == 0) return next.fetch_add(1, std::memory_order_relaxed);
    while (next_image >= slot_end) {
      const int64_t slot = next.fetch_add(1, std::memory_order_relaxed);
      if (slot >= slots) return n;
      pw = priv[static_cast<size_t>(slot)];
      next_image = slot * n / slots;
      slot_end = (slot + 1) * n / slots;
    }
    return next_image++;
  }
};

void direct_backward(const ConvGeom& g, const float* x, const float* w, const float* dz, float* dx, float* dw,
                     float* db, const float* bias_dx, Act act_dx, const ActParams& ap, int max_t) {
  const ConvDirectKernels& k = conv_direct_kernels();
  const DirectSizes d = direct_sizes(g, k.width);
  const int64_t wsize = g.kh * g.kw * g.c * g.f, pix = g.oh * g.ow, plane = d.hp * d.wp;
  const double flops = 2.0 * g.n * pix * g.kh * g.kw * g.c * g.f * ((dx != nullptr) + (dw != nullptr));
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(flops, kConvGrainFlops, max_t), g.n));
  const bool want_w = dw != nullptr || db != nullptr;
  // deterministic mode: fixed runs of images summed into fixed buffers (see conv2d_backward)
  const bool det = want_w && deterministic();
  std::vector<float*> priv = det ? conv_deterministic_sums(g.n, wsize + g.f)
                                 : std::vector<float*>(static_cast<size_t>(nt), nullptr);
  const int64_t slots = det ? static_cast<int64_t>(priv.size()) : 0;
  std::atomic<int64_t> next{0};
  parallel(nt, [&](int tid, int nth) {
    float* xp = dw != nullptr ? tl_col.floats(static_cast<size_t>(g.c * plane)) : nullptr;
    float* dxp = dx != nullptr ? tl_dcol.floats(static_cast<size_t>(g.c * plane)) : nullptr;
    float* dzt = tl_dzt.floats(static_cast<size_t>(g.oh * g.f * d.owp));
    float* pw = nullptr;
    if (want_w && !det) {
      pw = tl_dw.floats(static_cast<size_t>(wsize + g.f));
      std::fill(pw, pw + wsize + g.f, 0.f);
      priv[static_cast<size_t>(tid)] = pw;
    }
    ImageClaims claim{next, priv, slots, g.n};
    for (int64_t i; (i = claim(pw)) < g.n;) {
      const float* dzi = dz + i * pix * g.f;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        for (int64_t f = 0; f < g.f; ++f) {
          float* row = dzt + (oh * g.f + f) * d.owp;
          const float* s = dzi + oh * g.ow * g.f + f;
          for (int64_t ow = 0; ow < g.ow; ++ow) row[ow] = s[ow * g.f];
          for (int64_t ow = g.ow; ow < d.owp; ++ow) row[ow] = 0.f;
        }
      }
      if (db != nullptr) {
        float* pb = pw + wsize;
        for (int64_t q = 0; q < pix; ++q)
          for (int64_t f = 0; f < g.f; ++f) pb[f] += dzi[q * g.f + f];
      }
      if (xp != nullptr) pad_planes(g, x + i * g.h * g.w * g.c, d, xp);
      if (dxp != nullptr) std::fill(dxp, dxp + g.c * plane, 0.f);
      k.backward(g, xp, d.hp, d.wp, w, dzt, d.owp, dw != nullptr ? pw : nullptr, dxp);
      if (dxp != nullptr) {
        float* dxi = dx + i * g.h * g.w * g.c;
        for (int64_t ih = 0; ih < g.h; ++ih) {
          const int64_t r = ih + g.pt;
          for (int64_t iw = 0; iw < g.w; ++iw) {
            const int64_t col = iw + g.pl;
            const bool inside = r < d.hp && col < d.wp;
            for (int64_t c = 0; c < g.c; ++c)
              dxi[(ih * g.w + iw) * g.c + c] = inside ? dxp[(c * d.hp + r) * d.wp + col] : 0.f;
          }
        }
        conv_epilogue(dxi, g.h * g.w, g.c, bias_dx, act_dx, ap);
      }
    }
    if (!want_w) return;
    barrier();
    add_private_sums(priv, det ? slots : nth, tid, nth, wsize, g.f, dw, db,
                     [](int64_t e) { return e; });
  });
}

// -- weight gradients of few-channel layers on shifted windows ---------------------------------
//
// With few channels the im2col rows of the weight-gradient product hold only KH*KW*C floats,
// and building them cost more than the product (C3->32: the copies took as long as the
// GEMM). With unit strides and dilations the rows are windows of the zero-padded image itself:
// with the image padded to Wp = OW + KW - 1 columns and dz laid out with the same row length
// (zeros in the Wp - OW extra columns), output pixel q = oh * Wp + ow reads through kernel row a
// the KW * C consecutive floats at xpad[(a * Wp + q) * C], so
//
//   dw[a, :, :, f] (KW*C x F) += sum_q xpad[(a * Wp + q) * C + i] * dzp[q, f]
//
// is a product whose A is read in place with a column stride of C floats (the windows
// overlap): the microkernel's transposed-A variant, one call per kernel row, row block and
// column panel over a run of pixels. The extra columns' zeros add nothing.

std::atomic<bool> g_shifted_weights{true};
const float kOne = 1.f;

bool shifted_weights_apply(const ConvGeom& g) {
  return g_shifted_weights.load(std::memory_order_relaxed) && g.groups == 1 && g.c >= 1 && g.c <= 8 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.oh >= 1 && g.ow >= 1;
}

// xp (hp x wp x C, channels last) = the image inside zeros, placed at (PT, PL); rows and columns
// that no output reads are left out.
void pad_image(const ConvGeom& g, const float* x_img, int64_t wp, int64_t hp, float* xp) {
  std::fill(xp, xp + hp * wp * g.c, 0.f);
  const int64_t iw1 = std::min(g.w, wp - g.pl);
  if (iw1 <= 0) return;
  for (int64_t ih = 0; ih < g.h && ih + g.pt < hp; ++ih)
    std::memcpy(xp + ((ih + g.pt) * wp + g.pl) * g.c, x_img + ih * g.w * g.c,
                static_cast<size_t>(iw1 * g.c) * sizeof(float));
}

void shifted_backward_weights(const ConvGeom& g, const float* x, const float* dz, float* dw, float* db,
                              int max_t) {
  const GemmUkr& u = gemm_ukr();
  const int64_t wp = g.ow + g.kw - 1, hp = g.oh + g.kh - 1, wc = g.kw * g.c;
  const int64_t wsize = g.kh * wc * g.f, pix = g.oh * g.ow;
  const int64_t qn = (g.oh - 1) * wp + g.ow;  // pixels in the padded layout, the last row's extras left out
  // Runs of pixels: each run's dz rows (up to 256 KiB) stay in L2 for the KH kernel rows.
  const int64_t run = std::max<int64_t>(wp, std::min<int64_t>(qn, (int64_t(1) << 16) / std::max<int64_t>(g.f, 1)));
  const double flops = 2.0 * g.n * pix * g.kh * wc * g.f;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(flops, kConvGrainFlops, max_t), g.n));
  // deterministic mode: fixed runs of images summed into fixed buffers (see conv2d_backward)
  const bool det = deterministic();
  std::vector<float*> priv = det ? conv_deterministic_sums(g.n, wsize + g.f)
                                 : std::vector<float*>(static_cast<size_t>(nt), nullptr);
  const int64_t slots = det ? static_cast<int64_t>(priv.size()) : 0;
  std::atomic<int64_t> next{0};
  parallel(nt, [&](int tid, int nth) {
    float* xp = tl_col.floats(static_cast<size_t>(hp * wp * g.c));
    float* dzp = tl_dzt.floats(static_cast<size_t>(g.oh * wp * g.f));
    float* pw = nullptr;
    if (!det) {
      pw = tl_dw.floats(static_cast<size_t>(wsize + g.f));
      std::fill(pw, pw + wsize + g.f, 0.f);
      priv[static_cast<size_t>(tid)] = pw;
    }
    ImageClaims claim{next, priv, slots, g.n};
    for (int64_t i; (i = claim(pw)) < g.n;) {
      const float* xi = x + i * g.h * g.w * g.c;
      const float* dzi = dz + i * pix * g.f;
      pad_image(g, xi, wp, hp, xp);
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        float* d = dzp + oh * wp * g.f;
        std::memcpy(d, dzi + oh * g.ow * g.f, static_cast<size_t>(g.ow * g.f) * sizeof(float));
        std::fill(d + g.ow * g.f, d + wp * g.f, 0.f);
      }
      for (int64_t q0 = 0; q0 < qn; q0 += run) {
        const int64_t kq = std::min(run, qn - q0);
        // db: the same product with a row of ones for A (a column stride of 0)
        if (db != nullptr)
          for (int64_t j0 = 0; j0 < g.f; j0 += u.nr)
            u.cols(kq, &kOne, 1, 0, dzp + q0 * g.f + j0, g.f, pw + wsize + j0, g.f, 1,
                   static_cast<int>(std::min<int64_t>(u.nr, g.f - j0)), 1.f, 1.f);
        if (dw == nullptr) continue;
        for (int64_t a = 0; a < g.kh; ++a) {
          const float* base = xp + (a * wp + q0) * g.c;
          for (int64_t i0 = 0; i0 < wc; i0 += u.mr) {
            const int rows = static_cast<int>(std::min<int64_t>(u.mr, wc - i0));
            for (int64_t j0 = 0; j0 < g.f; j0 += u.nr)
              u.cols(kq, base + i0, 1, g.c, dzp + q0 * g.f + j0, g.f, pw + (a * wc + i0) * g.f + j0, g.f,
                     rows, static_cast<int>(std::min<int64_t>(u.nr, g.f - j0)), 1.f, 1.f);
          }
        }
      }
    }
    barrier();
    add_private_sums(priv, det ? slots : nth, tid, nth, wsize, g.f, dw, db, [](int64_t e) { return e; });
  });
}

// The forward pass on the same windows, for few channels and at least one vector of filters:
// output row oh, pixels ow, filters f:
//
//   y[oh, ow, f] = sum_a sum_i xpad[((oh + a) * Wp + ow) * C + i] * w[a, i, f]    (i < KW * C)
//
// one product per kernel row a whose A rows (the pixels) are read in place KW * C floats long
// and C floats apart, accumulated into y (the first kernel row overwrites it), then the bias and
// activation over the image. Each product is only KW * C deep, so the output tile makes a round
// trip through memory per kernel row: worth it from 8 floats per window row and a vector of
// filters (measured at 1 thread against the direct kernels: C6->16 5x5 64 -> 98 GFLOP/s, C3->32
// 3x3 70 -> 75, C8->64 3x3 83 -> 94; C1->16 5x5, 5 deep, 63 -> 42 and stays direct).
bool shifted_forward_applies(const ConvGeom& g) {
  return shifted_weights_apply(g) && g.f >= 16 && g.kw * g.c >= 8;
}

void shifted_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y, Act act,
                     const ActParams& ap, int max_t) {
  const GemmUkr& u = gemm_ukr();
  const int64_t wp = g.ow + g.kw - 1, hp = g.oh + g.kh - 1, wc = g.kw * g.c;
  const double flops = 2.0 * g.n * g.oh * g.ow * g.kh * wc * g.f;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(flops, kConvGrainFlops, max_t), g.n));
  // pixels of a row in ceil(OW / MR) blocks of nearly equal height (see gemm_small)
  const int64_t nblk = ceil_div(g.ow, u.mr);
  std::atomic<int64_t> next{0};
  parallel_claims(nt, [&](int, int) {
    float* xp = tl_col.floats(static_cast<size_t>(hp * wp * g.c));
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < g.n;) {
      pad_image(g, x + i * g.h * g.w * g.c, wp, hp, xp);
      float* yi = y + i * g.oh * g.ow * g.f;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        float* yrow = yi + oh * g.ow * g.f;
        for (int64_t blk = 0; blk < nblk; ++blk) {
          const int64_t ow0 = g.ow * blk / nblk;
          const int rows = static_cast<int>(g.ow * (blk + 1) / nblk - ow0);
          for (int64_t j0 = 0; j0 < g.f; j0 += u.nr) {
            const int cols = static_cast<int>(std::min<int64_t>(u.nr, g.f - j0));
            for (int64_t a = 0; a < g.kh; ++a)
              u.rows(wc, xp + ((oh + a) * wp + ow0) * g.c, g.c, 1, w + a * wc * g.f + j0, g.f,
                     yrow + ow0 * g.f + j0, g.f, rows, cols, 1.f, a == 0 ? 0.f : 1.f);
          }
        }
      }
      conv_epilogue(yi, g.oh * g.ow, g.f, bias, act, ap);
    }
  });
}

}  // namespace

bool set_conv_shifted_weights(bool enabled) { return g_shifted_weights.exchange(enabled); }

const ConvDirectKernels& conv_direct_kernels() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return conv_direct_kernels_avx512();
    case Isa::kAvx2:
      return conv_direct_kernels_avx2();
    default:
      return conv_direct_kernels_generic();
  }
}

void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* bias,
                    float* y, Act act, ActParams ap, int num_threads) {
  conv2d_check(g);
  const Plan p = make_plan(g);
  if (p.m == 0 || g.f == 0) return;
  if (p.k == 0) {  // no input channels: y = act(bias)
    for (int64_t i = 0; i < p.m * g.f; ++i) y[i] = 0.f;
    conv_epilogue(y, p.m, g.f, bias, act, ap);
    return;
  }
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  if (shifted_forward_applies(g)) return shifted_forward(g, x, w, bias, y, act, ap, max_t);
  if (conv_direct_applies(g)) return direct_forward(g, x, w, bias, y, act, ap, max_t);
  if (winograd_applies(g)) return winograd_forward(g, x, w, bias, y, act, ap, max_t);
  const int64_t ntiles = ceil_div(p.m, p.rows);
  const int64_t rows = ceil_div(p.m, ntiles);
  int nt = threads_for(conv_flops(g, p), kConvGrainFlops, max_t);
  const bool outer = nt > 1 && ntiles >= 2 * nt;  // else gemm threads each tile itself
  if (!outer) nt = 1;
  // each tile on one thread: the weights are packed once for all of them
  const bool prepacked = !p.pixel_major && (outer || max_t == 1);
  const PackedWeights wpk = prepacked ? pack_weights(g, p, w, false) : PackedWeights{};

  std::atomic<int64_t> next{0};
  parallel_claims(nt, [&](int, int) {
    float* col = p.direct ? nullptr : tl_col.floats(static_cast<size_t>(rows * p.k));
    float* yT = p.pixel_major ? tl_dcol.floats(static_cast<size_t>(rows * p.fg)) : nullptr;
    const int gemm_threads = outer ? 1 : max_t;
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntiles;) {
      const int64_t m0 = t * rows, r = std::min(rows, p.m - m0);
      float* yt = y + m0 * g.f;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        if (p.pixel_major) {
          im2col_t(g, p, x, grp, m0, r, col);
          gemm(true, false, p.fg, r, p.k, 1.f, w + grp * p.fg, g.f, col, r, 0.f, yT, r,
               gemm_threads);
          // Transposed into y with the bias added: the epilogue below then runs on contiguous
          // data without a bias, which is faster than broadcasting a bias of a few floats.
          float* yg = yt + grp * p.fg;
          for (int64_t f = 0; f < p.fg; ++f) {
            const float bf = bias != nullptr ? bias[grp * p.fg + f] : 0.f;
            const float* s = yT + f * r;
            for (int64_t i = 0; i < r; ++i) yg[i * g.f + f] = s[i] + bf;
          }
          continue;
        }
        const float* a = x + m0 * g.c + grp * p.cg;
        int64_t lda = g.c;
        if (!p.direct) {
          im2col(g, p, x, grp, m0, r, col);
          a = col;
          lda = p.k;
        }
        if (prepacked)
          gemm_packed_b(*wpk.u, r, p.fg, p.k, a, lda, wpk.group(grp), 0.f, yt + grp * p.fg, g.f);
        else
          gemm(false, false, r, p.fg, p.k, 1.f, a, lda, w + grp * p.fg, g.f, 0.f,
               yt + grp * p.fg, g.f, gemm_threads);
      }
      conv_epilogue(yt, r, g.f, p.pixel_major ? nullptr : bias, act, ap);
    }
  });
}

void conv2d_backward(const ConvGeom& g, const float* x, const float* w, const float* dz,
                     float* dx, float* dw, float* db, bool accumulate, const float* bias_dx,
                     Act act_dx, ActParams ap, int num_threads) {
  conv2d_check(g);
  Plan p = make_plan(g);
  const int64_t wsize = g.kh * g.kw * p.cg * g.f;
  if (!accumulate) {
    if (dw != nullptr) std::fill(dw, dw + wsize, 0.f);
    if (db != nullptr) std::fill(db, db + g.f, 0.f);
  }
  const int64_t in_image = g.h * g.w * g.c;
  if (dx != nullptr && (p.m == 0 || p.k == 0 || g.f == 0)) {  // nothing reaches dx
    std::fill(dx, dx + g.n * in_image, 0.f);
    if (g.n > 0) conv_epilogue(dx, g.n * g.h * g.w, g.c, bias_dx, act_dx, ap);
  }
  if (p.m == 0 || p.k == 0 || g.f == 0) return;
  if (dw == nullptr && db == nullptr && dx == nullptr) return;
  if (conv_direct_backward_applies(g))
    return direct_backward(g, x, w, dz, dx, dw, db, bias_dx, act_dx, ap,
                           num_threads > 0 ? num_threads : get_num_threads());
  if (winograd_applies(g)) {
    const int max_t = num_threads > 0 ? num_threads : get_num_threads();
    if (dx != nullptr) winograd_backward_data(g, w, dz, dx, bias_dx, act_dx, ap, max_t);
    winograd_backward_weights(g, x, dz, dw, db, max_t);
    return;
  }
  if ((dw != nullptr || db != nullptr) && shifted_weights_apply(g)) {
    shifted_backward_weights(g, x, dz, dw, db, num_threads > 0 ? num_threads : get_num_threads());
    if (dx == nullptr) return;
    dw = db = nullptr;  // the input gradient as below
  }

  // Work units: whole images when dx is written (no two threads scatter into one image),
  // otherwise tiles of the flattened N*OH*OW pixels.
  const bool by_image = dx != nullptr;
  p.rows = std::min(p.rows, kMaxBackwardTileRows);
  int64_t rows, tiles_per_unit, units;
  if (by_image) {
    tiles_per_unit = ceil_div(p.pixels, p.rows);
    rows = ceil_div(p.pixels, tiles_per_unit);
    units = g.n;
  } else {
    const int64_t ntiles = ceil_div(p.m, p.rows);
    rows = ceil_div(p.m, ntiles);
    tiles_per_unit = 1;
    units = ntiles;
  }
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  const double flops = conv_flops(g, p) * ((dx != nullptr) + (dw != nullptr));
  int nt = threads_for(flops, kConvGrainFlops, max_t);
  const bool want_w = dw != nullptr || db != nullptr;
  // Deterministic mode: the weight gradients are summed into a fixed number of buffers, each
  // over a fixed run of units in order, and the buffers added in order; every product runs on
  // one thread (the threaded GEMM groups its sums differently).
  const bool det = want_w && deterministic();
  const bool outer = det || (nt > 1 && (by_image ? units >= nt : units >= 2 * nt));
  if (!outer) nt = 1;
  const size_t private_floats = static_cast<size_t>(wsize + g.f);
  std::vector<float*> priv =
      det ? conv_deterministic_sums(units, static_cast<int64_t>(private_floats))
          : std::vector<float*>(static_cast<size_t>(nt), nullptr);
  const int64_t slots = det ? static_cast<int64_t>(priv.size()) : 0;
  // input gradients of each tile on one thread: W^T packed once for all of them
  const bool prepacked = dx != nullptr && !p.pixel_major && (outer || max_t == 1);
  const PackedWeights wpk = prepacked ? pack_weights(g, p, w, true) : PackedWeights{};
  std::atomic<int64_t> next{0};
  parallel(nt, [&](int tid, int nth) {
    const int gemm_threads = outer ? 1 : max_t;
    float* col = nullptr;
    float* dcol = nullptr;
    if (!p.direct) {
      if (dw != nullptr) col = tl_col.floats(static_cast<size_t>(rows * p.k));
      if (dx != nullptr) dcol = tl_dcol.floats(static_cast<size_t>(rows * p.k));
    }
    float* dzT = nullptr;
    if (p.pixel_major) dzT = tl_dzt.floats(static_cast<size_t>(rows * p.fg));
    float* pw = nullptr;
    float* pb = nullptr;
    if (want_w && !det) {
      pw = tl_dw.floats(private_floats);
      std::fill(pw, pw + private_floats, 0.f);
      pb = pw + wsize;
      priv[static_cast<size_t>(tid)] = pw;
    }
    auto do_tile = [&](int64_t m0, int64_t r) {
      const float* dzt = dz + m0 * g.f;
      if (db != nullptr) {
        for (int64_t i = 0; i < r; ++i) {
          const float* s = dzt + i * g.f;
#pragma omp simd
          for (int64_t j = 0; j < g.f; ++j) pb[j] += s[j];
        }
      }
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        if (p.pixel_major) {
          transpose_to(dzt + grp * p.fg, g.f, r, p.fg, dzT);
          if (dw != nullptr) {  // dw_g^T (Fg x K) += dz_tile^T * colT^T, private as F x K
            im2col_t(g, p, x, grp, m0, r, col);
            gemm(false, true, p.fg, p.k, r, 1.f, dzT, r, col, r, 1.f, pw + grp * p.fg * p.k,
                 p.k, gemm_threads);
          }
          if (dx != nullptr) {
            gemm(false, false, p.k, r, p.fg, 1.f, w + grp * p.fg, g.f, dzT, r, 0.f, dcol, r,
                 gemm_threads);
            col2im_t_add(g, p, dcol, grp, m0, r, dx);
          }
          continue;
        }
        if (dw != nullptr) {
          const float* a = x + m0 * g.c + grp * p.cg;
          int64_t lda = g.c;
          if (!p.direct) {
            im2col(g, p, x, grp, m0, r, col);
            a = col;
            lda = p.k;
          }
          if (gemm_threads == 1)  // operands just written, in cache: no packing
            gemm_unpacked(true, false, p.k, p.fg, r, 1.f, a, lda, dzt + grp * p.fg, g.f, 1.f,
                          pw + grp * p.fg, g.f);
          else
            gemm(true, false, p.k, p.fg, r, 1.f, a, lda, dzt + grp * p.fg, g.f, 1.f,
                 pw + grp * p.fg, g.f, gemm_threads);
        }
        if (dx != nullptr) {
          // dz_tile (r x Fg) W^T into dx directly (1x1) or into columns scattered back
          float* c = p.direct ? dx + m0 * g.c + grp * p.cg : dcol;
          const int64_t ldc = p.direct ? g.c : p.k;
          if (prepacked)
            gemm_packed_b(*wpk.u, r, p.k, p.fg, dzt + grp * p.fg, g.f, wpk.group(grp), 0.f, c, ldc);
          else
            gemm(false, true, r, p.k, p.fg, 1.f, dzt + grp * p.fg, g.f, w + grp * p.fg, g.f, 0.f,
                 c, ldc, gemm_threads);
          if (!p.direct) col2im_add(g, p, dcol, grp, m0, r, dx);
        }
      }
    };
    auto do_unit = [&](int64_t u) {
      if (!by_image) {
        const int64_t m0 = u * rows;
        do_tile(m0, std::min(rows, p.m - m0));
        return;
      }
      float* dxi = dx + u * in_image;
      if (!p.direct) std::fill(dxi, dxi + in_image, 0.f);
      for (int64_t t = 0; t < tiles_per_unit; ++t) {
        const int64_t o0 = t * rows;
        if (o0 >= p.pixels) break;
        do_tile(u * p.pixels + o0, std::min(rows, p.pixels - o0));
      }
      conv_epilogue(dxi, g.h * g.w, g.c, bias_dx, act_dx, ap);
    };
    if (det) {
      for (int64_t q; (q = next.fetch_add(1, std::memory_order_relaxed)) < slots;) {
        pw = priv[static_cast<size_t>(q)];
        pb = pw + wsize;
        for (int64_t u = q * units / slots; u < (q + 1) * units / slots; ++u) do_unit(u);
      }
    } else {
      for (int64_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) do_unit(u);
    }
    if (!want_w) return;
    barrier();
    // Pixel-major tiles keep the private dw transposed, as (F, KH*KW*Cg).
    add_private_sums(priv, det ? slots : nth, tid, nth, wsize, g.f, dw, db, [&](int64_t i) {
      return i < wsize && p.pixel_major ? (i % g.f) * p.k + i / g.f : i;
    });
  });
}

}  // namespace pyn
