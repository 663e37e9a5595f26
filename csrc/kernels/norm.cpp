// Batch normalization: argument checks, row grouping, threading and the choice of the per-ISA
// kernels (kernels/simd/norm_<isa>.cpp). Formulas are in norm.h.
//
// Rows are grouped k at a time (k * C >= kMinRowLen) so the kernels see `groups` rows of
// L = k * C values, with every per-channel constant repeated k times; the rows % k left over
// are done as rows of C values by the last thread. Each thread sums its rows into its own
// float64 partials, one barrier, thread 0 folds partials and groups into per-channel results
// and the constants of the second pass, another barrier, and every thread writes its rows:
//
//   x (rows, C) = [ group rows of thread 0 | ... of thread 1 | leftover rows ]
//   partial[t] : 2 x L doubles         ->  mean/var (or dbeta/dgamma) : C
#include "kernels/norm.h"

#include <cmath>
#include <vector>

#include "common/buffer.h"
#include "common/check.h"
#include "common/parallel.h"
#include "cpu/cpuinfo.h"

namespace pyn {
namespace {

constexpr int64_t kMinRowLen = 64;
constexpr double kGrain = 32768.0;  // elements per thread

const NormKernels& current_kernels() {
  switch (current_isa()) {
    case Isa::kAvx512:
      return norm_kernels_avx512();
    case Isa::kAvx2:
      return norm_kernels_avx2();
    default:
      return norm_kernels_generic();
  }
}

struct Grouping {
  int64_t k, len, groups, rest;  // rows = groups * k + rest
};

Grouping group_rows(int64_t rows, int64_t c) {
  Grouping g;
  g.k = c >= kMinRowLen ? 1 : (kMinRowLen + c - 1) / c;
  if (g.k > rows) g.k = rows > 0 ? rows : 1;
  g.len = g.k * c;
  g.groups = rows / g.k;
  g.rest = rows % g.k;
  return g;
}

int threads_for_norm(int64_t rows, int64_t c, int num_threads) {
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  return threads_for(static_cast<double>(rows) * static_cast<double>(c), kGrain, max_t);
}

// v[0..c) repeated to fill len values.
void repeat(const float* v, int64_t c, int64_t len, float* out) {
  for (int64_t j = 0; j < len; ++j) out[j] = v[j % c];
}

// Calls fn(offset, rows, row_len) on thread tid's share of the rows: its groups of k rows as
// rows of g.len values starting at element offset, then (last thread) the rest at length c.
template <class Fn>
void for_thread_rows(const Grouping& g, int64_t c, int tid, int nt, Fn&& fn) {
  int64_t lo, hi;
  split_range(g.groups, 1, nt, tid, &lo, &hi);
  fn(lo * g.len, hi - lo, g.len);
  if (tid == nt - 1 && g.rest > 0) fn(g.groups * g.len, g.rest, c);
}

// The two per-thread partial sums of channel ch: thread th holds 2 * g.len doubles in part,
// its first and second sums for value j of a group at [j] and [g.len + j].
void channel_sums(const std::vector<double>& part, int nt, const Grouping& g, int64_t c,
                  int64_t ch, double* s1, double* s2) {
  double a = 0.0, b = 0.0;
  for (int th = 0; th < nt; ++th) {
    const double* q = part.data() + static_cast<size_t>(th) * 2 * g.len;
    for (int64_t j = ch; j < g.len; j += c) {
      a += q[j];
      b += q[g.len + j];
    }
  }
  *s1 = a;
  *s2 = b;
}

void check_sizes(const char* fn, int64_t rows, int64_t c) {
  PYN_CHECK(rows >= 0 && c >= 0, fn, ": sizes must be >= 0; got rows=", rows, ", channels=", c);
  PYN_CHECK(c == 0 || rows <= (int64_t(1) << 62) / c, fn, ": array too large");
}

ScratchBuffer& thread_scratch() {
  thread_local ScratchBuffer buf;
  return buf;
}

}  // namespace

void batch_norm_forward_train(int64_t rows, int64_t c, const float* x, const float* gamma,
                              const float* beta, float eps, float* y, float* mean, float* var,
                              float* inv_std, int num_threads) {
  constexpr const char* fn = "batch_norm_forward_train";
  check_sizes(fn, rows, c);
  PYN_CHECK(rows >= 1, fn, ": needs at least one row for batch statistics; got 0");
  PYN_CHECK(std::isfinite(eps) && eps > 0.f, fn, ": epsilon must be finite and > 0; got ", eps);
  if (c == 0) return;
  PYN_CHECK(x && y && mean && var && inv_std, fn, ": arrays must not be null");
  const NormKernels& k = current_kernels();
  const Grouping g = group_rows(rows, c);
  const int t = threads_for_norm(rows, c, num_threads);
  std::vector<float> consts(4 * static_cast<size_t>(g.len));
  float* shift = consts.data();
  float* mean_rep = shift + g.len;
  float* a_rep = mean_rep + g.len;
  float* b_rep = a_rep + g.len;
  repeat(x, c, g.len, shift);  // the first row
  std::vector<double> part(static_cast<size_t>(t) * 2 * static_cast<size_t>(g.len), 0.0);
  parallel(t, [&](int tid, int nt) {
    double* p1 = part.data() + static_cast<size_t>(tid) * 2 * g.len;
    double* p2 = p1 + g.len;
    float* buf = thread_scratch().floats(2 * static_cast<size_t>(g.len));
    for_thread_rows(g, c, tid, nt, [&](int64_t off, int64_t r, int64_t len) {
      k.col_moments(r, len, x + off, shift, buf, p1, p2);
    });
    barrier();
    if (tid == 0) {
      const double n = static_cast<double>(rows);
      for (int64_t ch = 0; ch < c; ++ch) {
        double s1, s2;
        channel_sums(part, nt, g, c, ch, &s1, &s2);
        const double d = s1 / n;
        double v = s2 / n - d * d;
        if (!(v >= 0.0) && !std::isnan(v)) v = 0.0;
        const double m = static_cast<double>(shift[ch]) + d;
        const double is = 1.0 / std::sqrt(v + static_cast<double>(eps));
        mean[ch] = static_cast<float>(m);
        var[ch] = static_cast<float>(v);
        inv_std[ch] = static_cast<float>(is);
        mean_rep[ch] = mean[ch];
        a_rep[ch] = static_cast<float>(gamma ? static_cast<double>(gamma[ch]) * is : is);
        b_rep[ch] = beta ? beta[ch] : 0.f;
      }
      repeat(mean_rep, c, g.len, mean_rep);
      repeat(a_rep, c, g.len, a_rep);
      repeat(b_rep, c, g.len, b_rep);
    }
    barrier();
    for_thread_rows(g, c, tid, nt, [&](int64_t off, int64_t r, int64_t len) {
      k.affine(r, len, x + off, mean_rep, a_rep, b_rep, y + off);
    });
  });
}

void batch_norm_forward_infer(int64_t rows, int64_t c, const float* x, const float* mean,
                              const float* var, const float* gamma, const float* beta, float eps,
                              float* y, int num_threads) {
  constexpr const char* fn = "batch_norm_forward_infer";
  check_sizes(fn, rows, c);
  PYN_CHECK(std::isfinite(eps) && eps > 0.f, fn, ": epsilon must be finite and > 0; got ", eps);
  if (rows == 0 || c == 0) return;
  PYN_CHECK(x && y && mean && var, fn, ": arrays must not be null");
  const NormKernels& k = current_kernels();
  const Grouping g = group_rows(rows, c);
  std::vector<float> consts(3 * static_cast<size_t>(g.len));
  float* mean_rep = consts.data();
  float* a_rep = mean_rep + g.len;
  float* b_rep = a_rep + g.len;
  for (int64_t ch = 0; ch < c; ++ch) {
    const double is = 1.0 / std::sqrt(static_cast<double>(var[ch]) + static_cast<double>(eps));
    mean_rep[ch] = mean[ch];
    a_rep[ch] = static_cast<float>(gamma ? static_cast<double>(gamma[ch]) * is : is);
    b_rep[ch] = beta ? beta[ch] : 0.f;
  }
  repeat(mean_rep, c, g.len, mean_rep);
  repeat(a_rep, c, g.len, a_rep);
  repeat(b_rep, c, g.len, b_rep);
  parallel(threads_for_norm(rows, c, num_threads), [&](int tid, int nt) {
    for_thread_rows(g, c, tid, nt, [&](int64_t off, int64_t r, int64_t len) {
      k.affine(r, len, x + off, mean_rep, a_rep, b_rep, y + off);
    });
  });
}

void batch_norm_backward(int64_t rows, int64_t c, const float* x, const float* dy,
                         const float* mean, const float* inv_std, const float* gamma, float* dx,
                         float* dgamma, float* dbeta, int num_threads) {
  constexpr const char* fn = "batch_norm_backward";
  check_sizes(fn, rows, c);
  PYN_CHECK(rows >= 1, fn, ": needs at least one row; got 0");
  if (c == 0) return;
  PYN_CHECK(x && dy && mean && inv_std, fn, ": arrays must not be null");
  const NormKernels& k = current_kernels();
  const Grouping g = group_rows(rows, c);
  const int t = threads_for_norm(rows, c, num_threads);
  std::vector<float> consts(4 * static_cast<size_t>(g.len));
  float* mean_rep = consts.data();
  float* a_rep = mean_rep + g.len;
  float* b_rep = a_rep + g.len;
  float* d_rep = b_rep + g.len;
  repeat(mean, c, g.len, mean_rep);
  std::vector<double> part(static_cast<size_t>(t) * 2 * static_cast<size_t>(g.len), 0.0);
  parallel(t, [&](int tid, int nt) {
    double* p1 = part.data() + static_cast<size_t>(tid) * 2 * g.len;
    double* p2 = p1 + g.len;
    float* buf = thread_scratch().floats(2 * static_cast<size_t>(g.len));
    for_thread_rows(g, c, tid, nt, [&](int64_t off, int64_t r, int64_t len) {
      k.grad_sums(r, len, x + off, dy + off, mean_rep, buf, p1, p2);
    });
    barrier();
    if (tid == 0) {
      const double n = static_cast<double>(rows);
      for (int64_t ch = 0; ch < c; ++ch) {
        double s1, s2;
        channel_sums(part, nt, g, c, ch, &s1, &s2);
        const double is = static_cast<double>(inv_std[ch]);
        const double dg = s2 * is;  // sum dy * xh
        if (dbeta) dbeta[ch] = static_cast<float>(s1);
        if (dgamma) dgamma[ch] = static_cast<float>(dg);
        const double a = (gamma ? static_cast<double>(gamma[ch]) : 1.0) * is;
        a_rep[ch] = static_cast<float>(a);
        b_rep[ch] = static_cast<float>(-a * is * dg / n);
        d_rep[ch] = static_cast<float>(-a * s1 / n);
      }
      repeat(a_rep, c, g.len, a_rep);
      repeat(b_rep, c, g.len, b_rep);
      repeat(d_rep, c, g.len, d_rep);
    }
    if (dx == nullptr) return;
    barrier();
    for_thread_rows(g, c, tid, nt, [&](int64_t off, int64_t r, int64_t len) {
      k.grad_input(r, len, x + off, dy + off, mean_rep, a_rep, b_rep, d_rep, dx + off);
    });
  });
}

}  // namespace pyn
