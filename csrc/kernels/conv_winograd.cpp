// Winograd convolution driver: weight transforms, tile blocks, the GEMMs (one per transformed
// tile position) and the threading. Formulas are in conv_winograd.h.
#include "kernels/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"
#include "kernels/gemm.h"
#include "kernels/gemm_ukr.h"

namespace pyn {

namespace {

std::atomic<bool> g_enabled{true};

thread_local ScratchBuffer tl_v;   // a block's transformed input tiles
thread_local ScratchBuffer tl_m;   // a block's products, or its transformed output gradients
thread_local ScratchBuffer tl_up;  // calling thread: the transformed, packed weights
thread_local ScratchBuffer tl_du;  // per-thread weight-gradient sums

// A block's V and M together stay under this many floats (384 KiB), in the L2 cache.
constexpr int64_t kBlockFloats = 96 * 1024;
// Weight-gradient blocks are larger: their GEMMs run over the block's tiles (their depth) and
// add into the whole dU, which a short depth would read and write for little work.
constexpr int64_t kGradBlockFloats = 384 * 1024;
// Per-thread work below which one thread runs the whole convolution (direct-sum flops).
constexpr double kGrainFlops = 1.0e6;
// Channels and filters from which the GEMMs beat im2col's one GEMM of depth 9 C.
constexpr int64_t kMinChannels = 16;
constexpr int64_t kMinFilters = 16;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// 1 x 3 kernels (Conv1D as a Conv2D of height 1) run 1-D tiles along the rows.
inline bool is_1d(const ConvGeom& g) { return g.kh == 1; }

constexpr int kMaxNr = 32;  // widest microkernel panel (avx512 12x32)
constexpr double kMaxPlaneFloats = 16.0 * 1024 * 1024;

// Distance between the planes of a block: at least `floats`, a whole number of 64-byte lines,
// and an odd number of them, so that a tile's values (one per plane) fall into different cache
// sets instead of evicting one another.
inline int64_t plane_stride(int64_t floats) {
  int64_t lines = ceil_div(floats, 16);
  if (lines % 2 == 0) ++lines;
  return lines * 16;
}

// F(4x4, 3x3) multiplies 36 / 16 per output pixel, F(2x2, 3x3) 16 / 4, each over its output
// rounded up to whole tiles: the larger tile wins unless rounding wastes much of it (a 6x6
// output runs 8x8 with 4x4 tiles). In 1-D, F(4, 3) multiplies 6 / 4 and F(2, 3) 4 / 2.
// The transformed kernel (and each thread's weight-gradient sums) take planes x C x F floats:
// layers whose 4x4-tile planes would pass kMaxPlaneFloats (64 MiB, C = F = 682) use 2x2 tiles,
// and those beyond that for 2x2 tiles (C = F = 1024) the GEMM tiles, which need no such copy.
int choose_tile(const ConvGeom& g) {
  if (is_1d(g)) return 1.5 * ceil_div(g.ow, 4) * 4.0 < 2.0 * ceil_div(g.ow, 2) * 2.0 ? 4 : 2;
  const double f4 = 2.25 * ceil_div(g.oh, 4) * 4.0 * ceil_div(g.ow, 4) * 4.0;
  const double f2 = 4.0 * ceil_div(g.oh, 2) * 2.0 * ceil_div(g.ow, 2) * 2.0;
  const bool f4_fits = 36.0 * static_cast<double>(g.c) * g.f <= kMaxPlaneFloats;
  return f4 < f2 && f4_fits ? 4 : 2;
}

// Blocks of whole units: a unit is a tile row (m output rows of one image) in 2-D, one tile in
// 1-D, where a tile row would be a whole sequence however long.
struct Blocks {
  int64_t m, mh;        // tile width and height (1 in 1-D)
  int64_t planes;       // (m + 2)^2, or m + 2 in 1-D
  int64_t th, tw;       // tiles per image: rows, columns
  int64_t unit_tiles;   // tiles per unit: tw, or 1 in 1-D
  int64_t units;        // N * th tile rows, or N * th * tw tiles in 1-D
  int64_t per;          // units per block
  int64_t count;        // blocks
  int64_t max_tiles;    // tiles in the largest block
  // First output pixel (flattened over N, OH, OW) of unit u; pixel(units) = N*OH*OW.
  int64_t pixel(const ConvGeom& g, int64_t u) const {
    if (mh == 1) return (u / tw) * g.ow + std::min(m * (u % tw), g.ow);
    return (u / th) * g.oh * g.ow + std::min(mh * (u % th), g.oh) * g.ow;
  }
};

Blocks make_blocks(const ConvGeom& g, int m, int nthreads, int64_t budget = kBlockFloats) {
  Blocks b;
  const bool one_d = is_1d(g);
  b.m = m;
  b.mh = one_d ? 1 : m;
  b.planes = one_d ? m + 2 : (m + 2) * (m + 2);
  b.th = ceil_div(g.oh, b.mh);
  b.tw = ceil_div(g.ow, m);
  b.unit_tiles = one_d ? 1 : b.tw;
  b.units = g.n * b.th * (one_d ? b.tw : 1);
  const int64_t target = std::max<int64_t>(12, budget / (b.planes * (g.c + g.f)));
  int64_t per = std::max<int64_t>(1, target / b.unit_tiles);
  // at least two blocks per thread, so that threads finishing early take more
  if (nthreads > 1) per = std::min(per, std::max<int64_t>(1, b.units / (2 * nthreads)));
  // Prefer a multiple of 12 tiles (whole register tiles of the 12-row microkernels), keeping
  // at least two thirds of the units.
  for (int64_t r = per; 3 * r >= 2 * per && r >= 1; --r) {
    if (r * b.unit_tiles % 12 == 0) {
      per = r;
      break;
    }
  }
  b.per = std::clamp<int64_t>(per, 1, std::max<int64_t>(b.units, 1));
  b.count = ceil_div(b.units, b.per);
  b.max_tiles = b.per * b.unit_tiles;
  return b;
}

// The 1-D kernel transform G k (3 values -> m + 2) of `n` kernels at once: o[r][j] from
// k0[j], k1[j], k2[j].
template <int M>
inline void kernel_1d(const float* k0, const float* k1, const float* k2, float (*o)[kMaxNr],
                      int n) {
#pragma omp simd
  for (int j = 0; j < n; ++j) {
    if constexpr (M == 2) {
      o[0][j] = k0[j];
      o[1][j] = 0.5f * (k0[j] + k1[j] + k2[j]);
      o[2][j] = 0.5f * (k0[j] - k1[j] + k2[j]);
      o[3][j] = k2[j];
    } else {
      const float s = k0[j] + k2[j], e = (1.f / 24.f) * k0[j] + (1.f / 6.f) * k2[j];
      o[0][j] = 0.25f * k0[j];
      o[1][j] = (-1.f / 6.f) * (s + k1[j]);
      o[2][j] = (-1.f / 6.f) * (s - k1[j]);
      o[3][j] = e + (1.f / 12.f) * k1[j];
      o[4][j] = e - (1.f / 12.f) * k1[j];
      o[5][j] = k2[j];
    }
  }
}

// and back, e (4 or 6 values) -> 3: G^T e.
inline void kernel_grad_1d(int m, const float* e, float* o) {
  if (m == 2) {
    o[0] = e[0] + 0.5f * (e[1] + e[2]);
    o[1] = 0.5f * (e[1] - e[2]);
    o[2] = 0.5f * (e[1] + e[2]) + e[3];
    return;
  }
  const float p = e[1] + e[2], q = e[2] - e[1], r = e[3] + e[4], d = e[3] - e[4];
  o[0] = 0.25f * e[0] - (1.f / 6.f) * p + (1.f / 24.f) * r;
  o[1] = (1.f / 6.f) * q + (1.f / 12.f) * d;
  o[2] = (-1.f / 6.f) * p + (1.f / 6.f) * r + e[5];
}

// The transformed kernel of every position xi, written straight into the GEMMs' packed B~
// layout (gemm.h: NR-column panels, k-major, zero-padded), plane xi at up + xi * ps:
//   forward:        op(B) (C x F),  op(B)[c][f] = (G k G^T)[xi],  k[a][b] = w[a][b][c][f];
//   backward_data:  op(B) (F x C),  op(B)[f][c] = (G k G^T)[xi],  k[a][b] = w[2 - a][2 - b][c][f].
// In 1-D (1 x 3 kernels, `Taps` = 3) the planes are G k with k[b] = w[0][b] (w[0][2 - b]).
// Rows [p0, p1) of every panel.
template <int M, int Taps>
void pack_transformed_weights(const float* w, int64_t C, int64_t F, bool backward_data, int nr,
                              float* up, int64_t ps, int64_t p0, int64_t p1) {
  constexpr int N = M + 2;
  const int64_t cf = C * F;
  const int64_t rows = backward_data ? F : C, cols = backward_data ? C : F;
  float kk[Taps][kMaxNr], t[3][N][kMaxNr], o[N][kMaxNr];
  for (int64_t q = 0; q * nr < cols; ++q) {
    const int len = static_cast<int>(std::min<int64_t>(nr, cols - q * nr));
    for (int64_t p = p0; p < p1; ++p) {
      for (int tap = 0; tap < Taps; ++tap) {
        // the 180-degree rotation maps tap a * 3 + b to (2 - a) * 3 + (2 - b) = 8 - tap
        const float* src = w + (backward_data ? Taps - 1 - tap : tap) * cf;
        float* d = kk[tap];
        if (backward_data) {
          for (int j = 0; j < len; ++j) d[j] = src[(q * nr + j) * F + p];
        } else {
          for (int j = 0; j < len; ++j) d[j] = src[p * F + q * nr + j];
        }
        for (int j = len; j < nr; ++j) d[j] = 0.f;
      }
      float* dst = up + q * rows * nr + p * nr;
      if constexpr (Taps == 3) {
        kernel_1d<M>(kk[0], kk[1], kk[2], o, nr);
        for (int b = 0; b < N; ++b) {
          float* d = dst + b * ps;
#pragma omp simd
          for (int j = 0; j < nr; ++j) d[j] = o[b][j];
        }
        continue;
      }
      for (int b = 0; b < 3; ++b) kernel_1d<M>(kk[b], kk[3 + b], kk[6 + b], t[b], nr);
      for (int a = 0; a < N; ++a) {
        kernel_1d<M>(t[0][a], t[1][a], t[2][a], o, nr);
        for (int b = 0; b < N; ++b) {
          float* d = dst + (a * N + b) * ps;
#pragma omp simd
          for (int j = 0; j < nr; ++j) d[j] = o[b][j];
        }
      }
    }
  }
}

double direct_flops(const ConvGeom& g) {
  return 2.0 * static_cast<double>(g.n) * g.oh * g.ow * (g.kh * g.kw) * g.c * g.f;
}

// y = act(conv(x) + bias) with the GEMMs' B operands packed in `up` (`ps` floats each).
void forward_blocks(const ConvGeom& g, int tile, const float* x, const GemmUkr& u,
                    const float* up, int64_t ps, const float* bias, float* y, Act act,
                    const ActParams& ap, int max_t) {
  const WinogradKernels& k = winograd_kernels(tile);
  const auto input = is_1d(g) ? k.input_1d : k.input;
  const auto output = is_1d(g) ? k.output_1d : k.output;
  int nt = threads_for(direct_flops(g), kGrainFlops, max_t);
  const Blocks bl = make_blocks(g, tile, nt);
  nt = static_cast<int>(std::min<int64_t>(nt, bl.count));
  const bool epilogue = act != Act::kLinear;
  std::atomic<int64_t> next{0};
  parallel_claims(nt, [&](int, int) {
    const int64_t lv = plane_stride(bl.max_tiles * g.c), lm = plane_stride(bl.max_tiles * g.f);
    float* v = tl_v.floats(static_cast<size_t>(bl.planes * lv));
    float* m = tl_m.floats(static_cast<size_t>(bl.planes * lm));
    for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < bl.count;) {
      const int64_t r0 = b * bl.per, r1 = std::min(r0 + bl.per, bl.units);
      const int64_t t0 = r0 * bl.unit_tiles, cnt = (r1 - r0) * bl.unit_tiles;
      input(g, x, t0, cnt, v, lv);
      for (int64_t xi = 0; xi < bl.planes; ++xi)
        gemm_packed_b(u, cnt, g.f, g.c, v + xi * lv, g.c, up + xi * ps, 0.f, m + xi * lm, g.f);
      output(g, m, lm, t0, cnt, bias, y);
      if (epilogue) {
        const int64_t p0 = bl.pixel(g, r0), p1 = bl.pixel(g, r1);
        conv_epilogue(y + p0 * g.f, p1 - p0, g.f, nullptr, act, ap);
      }
    }
  });
}

// Transforms w for the forward pass (or, with `backward_data`, for the input gradient) into
// the GEMMs' packed B~ planes; returns them, `*ps` floats apart.
const float* prepare_weights(const GemmUkr& u, int tile, bool one_d, const float* w, int64_t C,
                             int64_t F, bool backward_data, int max_threads, int64_t* ps) {
  PYN_CHECK(u.nr <= kMaxNr, "winograd: microkernel width ", u.nr, " above ", kMaxNr);
  const int64_t planes = one_d ? tile + 2 : (tile + 2) * (tile + 2);
  // GEMM depth and width: C x F forward; F x C (the transpose of each plane) for dx
  *ps = backward_data ? gemm_packed_b_size(u, F, C) : gemm_packed_b_size(u, C, F);
  float* up = tl_up.floats(static_cast<size_t>(planes * *ps));
  const int64_t rows = backward_data ? F : C;
  // about 150 floating-point operations per (channel, filter) pair
  const int nt = threads_for(150.0 * static_cast<double>(C) * F, kGrainFlops, max_threads);
  parallel(nt, [&](int tid, int nth) {
    int64_t p0, p1;
    split_range(rows, 1, nth, tid, &p0, &p1);
    auto* pack = &pack_transformed_weights<4, 9>;
    if (tile == 4 && one_d) pack = &pack_transformed_weights<4, 3>;
    if (tile == 2) pack = one_d ? &pack_transformed_weights<2, 3> : &pack_transformed_weights<2, 9>;
    pack(w, C, F, backward_data, u.nr, up, *ps, p0, p1);
  });
  return up;
}

// The forward pass of geometry d on `in`, with the (C, F) kernel w prepared for the forward
// pass or for the input gradient.
void run_forward(const ConvGeom& d, const float* in, const float* w, int64_t C, int64_t F,
                 bool backward_data, const float* bias, float* out, Act act, const ActParams& ap,
                 int max_threads) {
  const GemmUkr& u = gemm_ukr();
  const int tile = choose_tile(d);
  int64_t ps = 0;
  const float* up = prepare_weights(u, tile, is_1d(d), w, C, F, backward_data, max_threads, &ps);
  forward_blocks(d, tile, in, u, up, ps, bias, out, act, ap, max_threads);
}

}  // namespace

const WinogradKernels& winograd_kernels(int tile) {
  switch (current_isa()) {
    case Isa::kAvx512:
      return winograd_kernels_avx512(tile);
    case Isa::kAvx2:
      return winograd_kernels_avx2(tile);
    default:
      return winograd_kernels_generic(tile);
  }
}

bool set_conv_winograd(bool enabled) { return g_enabled.exchange(enabled); }

bool winograd_applies(const ConvGeom& g) {
  // 3x3 kernels with up to 2 padding rows, or 1 x 3 kernels (1-D tiles) with none
  const bool rows = (g.kh == 3 && g.pt >= 0 && g.pt <= 2) || (g.kh == 1 && g.pt == 0);
  return g_enabled.load(std::memory_order_relaxed) && rows && g.kw == 3 && g.sh == 1 &&
         g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 && g.pl >= 0 && g.pl <= 2 &&
         g.c >= kMinChannels && g.f >= kMinFilters && g.n > 0 && g.oh > 0 && g.ow > 0 &&
         16.0 * static_cast<double>(g.c) * g.f <= kMaxPlaneFloats;
}

void winograd_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y,
                      Act act, const ActParams& ap, int max_threads) {
  run_forward(g, x, w, g.c, g.f, false, bias, y, act, ap, max_threads);
}

void winograd_backward_data(const ConvGeom& g, const float* w, const float* dz, float* dx,
                            const float* bias_dx, Act act_dx, const ActParams& ap, int max_threads) {
  // dx is the forward convolution of dz (OH x OW, F channels) with w rotated and its channel
  // axes swapped, padded so that input pixel (ih, iw) is output pixel (ih, iw).
  ConvGeom d = g;
  d.h = g.oh;
  d.w = g.ow;
  d.c = g.f;
  d.f = g.c;
  d.oh = g.h;
  d.ow = g.w;
  d.pt = g.kh - 1 - g.pt;  // 0 for 1 x 3 kernels
  d.pl = 2 - g.pl;
  run_forward(d, dz, w, g.c, g.f, true, bias_dx, dx, act_dx, ap, max_threads);
}

void winograd_backward_weights(const ConvGeom& g, const float* x, const float* dz, float* dw,
                               float* db, int max_threads) {
  if (dw == nullptr && db == nullptr) return;
  const int tile = choose_tile(g), n = tile + 2;
  const bool one_d = is_1d(g);
  const WinogradKernels& k = winograd_kernels(tile);
  const auto input = one_d ? k.input_1d : k.input;
  const auto grad_output = one_d ? k.grad_output_1d : k.grad_output;
  const int64_t cf = g.c * g.f;
  int nt = threads_for(direct_flops(g), kGrainFlops, max_threads);
  // Deterministic mode: blocks that do not depend on the thread count, summed into a fixed
  // number of buffers (each a fixed run of blocks, in order) that are then added in order.
  const bool det = deterministic();
  const Blocks bl = make_blocks(g, tile, det ? 1 : nt, kGradBlockFloats);
  nt = static_cast<int>(std::min<int64_t>(nt, bl.count));
  const int64_t ldu = plane_stride(cf);
  const int64_t du_floats = dw != nullptr ? bl.planes * ldu : 0;
  const int64_t priv_floats = du_floats + g.f;
  std::vector<float*> priv = det ? conv_deterministic_sums(bl.count, priv_floats)
                                 : std::vector<float*>(static_cast<size_t>(nt), nullptr);
  const int64_t slots = det ? static_cast<int64_t>(priv.size()) : 0;
  std::atomic<int64_t> next{0};
  parallel(nt, [&](int tid, int nth) {
    const int64_t lv = plane_stride(bl.max_tiles * g.c), lz = plane_stride(bl.max_tiles * g.f);
    float* v = dw != nullptr ? tl_v.floats(static_cast<size_t>(bl.planes * lv)) : nullptr;
    float* z = dw != nullptr ? tl_m.floats(static_cast<size_t>(bl.planes * lz)) : nullptr;
    auto run_block = [&](int64_t b, float* acc) {
      const int64_t r0 = b * bl.per, r1 = std::min(r0 + bl.per, bl.units);
      if (db != nullptr) {
        float* pdb = acc + du_floats;
        const int64_t p0 = bl.pixel(g, r0), p1 = bl.pixel(g, r1);
        for (int64_t p = p0; p < p1; ++p) {
          const float* s = dz + p * g.f;
#pragma omp simd
          for (int64_t f = 0; f < g.f; ++f) pdb[f] += s[f];
        }
      }
      if (dw == nullptr) return;
      const int64_t t0 = r0 * bl.unit_tiles, cnt = (r1 - r0) * bl.unit_tiles;
      input(g, x, t0, cnt, v, lv);
      grad_output(g, dz, t0, cnt, z, lz);
      for (int64_t xi = 0; xi < bl.planes; ++xi)
        gemm_unpacked(true, false, g.c, g.f, cnt, 1.f, v + xi * lv, g.c, z + xi * lz, g.f, 1.f,
                      acc + xi * ldu, g.f);
    };
    if (det) {
      for (int64_t q; (q = next.fetch_add(1, std::memory_order_relaxed)) < slots;)
        for (int64_t b = q * bl.count / slots; b < (q + 1) * bl.count / slots; ++b)
          run_block(b, priv[static_cast<size_t>(q)]);
    } else {
      float* acc = tl_du.floats(static_cast<size_t>(priv_floats));
      std::fill(acc, acc + priv_floats, 0.f);
      priv[static_cast<size_t>(tid)] = acc;
      for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < bl.count;)
        run_block(b, acc);
    }
    barrier();
    // the buffers in use: every slot, or one per thread that ran (fewer than asked for when
    // the team was busy)
    const size_t used = det ? priv.size() : static_cast<size_t>(nth);
    int64_t lo, hi;
    split_range(cf + g.f, 16, nth, tid, &lo, &hi);
    if (db != nullptr) {
      for (int64_t i = std::max(lo, cf); i < hi; ++i) {
        float s = 0.f;
        for (size_t q = 0; q < used; ++q) s += priv[q][du_floats + (i - cf)];
        db[i - cf] += s;
      }
    }
    if (dw == nullptr) return;
    // Each thread sums a slice of the (channel, filter) pairs over the threads' buffers and
    // transforms it back, dw[a][b] += (G^T dU G)[a][b], kChunk pairs at a time.
    constexpr int64_t kChunk = 64;
    float e[36][kChunk], t[3][6][kChunk];
    for (int64_t i0 = lo; i0 < std::min(hi, cf); i0 += kChunk) {
      const int64_t len = std::min({kChunk, hi - i0, cf - i0});
      for (int xi = 0; xi < bl.planes; ++xi) {
        float* ex = e[xi];
        const float* p0 = priv[0] + xi * ldu + i0;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) ex[j] = p0[j];
        for (size_t q = 1; q < used; ++q) {
          const float* pq = priv[q] + xi * ldu + i0;
#pragma omp simd
          for (int64_t j = 0; j < len; ++j) ex[j] += pq[j];
        }
      }
      if (one_d) {  // dw[b] += (G^T e)[b]
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) {
          float row[6], o[3];
          for (int b = 0; b < n; ++b) row[b] = e[b][j];
          kernel_grad_1d(tile, row, o);
          for (int b = 0; b < 3; ++b) dw[b * cf + i0 + j] += o[b];
        }
        continue;
      }
      for (int b = 0; b < n; ++b) {  // t[.][b] = G^T applied to column b of e
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) {
          float col[6], o[3];
          for (int a = 0; a < n; ++a) col[a] = e[a * n + b][j];
          kernel_grad_1d(tile, col, o);
          for (int a = 0; a < 3; ++a) t[a][b][j] = o[a];
        }
      }
      for (int a = 0; a < 3; ++a) {  // then along the rows
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) {
          float row[6], o[3];
          for (int b = 0; b < n; ++b) row[b] = t[a][b][j];
          kernel_grad_1d(tile, row, o);
          for (int b = 0; b < 3; ++b) dw[(a * 3 + b) * cf + i0 + j] += o[b];
        }
      }
    }
  });
}

}  // namespace pyn
