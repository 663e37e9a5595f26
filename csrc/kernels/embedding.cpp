// Embedding lookup and gradient; formulas, layouts and threading in embedding.h.
#include "kernels/embedding.h"

#include <cstring>

#include "common/parallel.h"

namespace pyn {
namespace {

// Below these sizes one thread does the work (an OpenMP fork/join costs microseconds).
constexpr double kLookupGrain = 1 << 16;  // floats copied per thread
constexpr double kGradGrain = 1 << 16;    // floats added per thread
constexpr int64_t kColumnBlock = 16;

inline bool valid(float x, int64_t v) {
  // NaN fails both comparisons; in double every float and every v compare exactly, and once
  // 0 <= x < v the truncating cast is defined and equals x only for integers.
  const double dx = x;
  return dx >= 0.0 && dx < static_cast<double>(v) &&
         static_cast<double>(static_cast<int64_t>(dx)) == dx;
}
inline bool valid(int32_t x, int64_t v) { return x >= 0 && static_cast<int64_t>(x) < v; }
inline bool valid(int64_t x, int64_t v) { return x >= 0 && x < v; }

template <class T>
int64_t find_bad(const T* ids, int64_t n, int64_t v) {
  for (int64_t i = 0; i < n; ++i)
    if (!valid(ids[i], v)) return i;
  return -1;
}

int max_threads(int num_threads) { return num_threads > 0 ? num_threads : get_num_threads(); }

template <class T>
int64_t lookup(const float* table, int64_t v, int64_t d, const T* ids, int64_t n, float* out,
               int num_threads) {
  const int64_t bad = find_bad(ids, n, v);
  if (bad >= 0) return bad;
  if (n == 0 || d == 0) return -1;
  const int nt = threads_for(static_cast<double>(n) * d, kLookupGrain, max_threads(num_threads));
  parallel(nt, [&](int tid, int nthr) {
    int64_t lo, hi;
    split_range(n, 1, nthr, tid, &lo, &hi);
    for (int64_t i = lo; i < hi; ++i)
      std::memcpy(out + i * d, table + static_cast<int64_t>(ids[i]) * d, sizeof(float) * d);
  });
  return -1;
}

template <class T>
int64_t grad_add(float* __restrict grad, int64_t v, int64_t d, const T* ids, int64_t n,
                 const float* __restrict dy, int num_threads) {
  const int64_t bad = find_bad(ids, n, v);
  if (bad >= 0) return bad;
  if (n == 0 || d == 0) return -1;
  const int64_t blocks = (d + kColumnBlock - 1) / kColumnBlock;
  int nt = threads_for(static_cast<double>(n) * d, kGradGrain, max_threads(num_threads));
  if (nt > blocks) nt = static_cast<int>(blocks);
  parallel(nt, [&](int tid, int nthr) {
    int64_t c0, c1;
    split_range(d, kColumnBlock, nthr, tid, &c0, &c1);
    const int64_t w = c1 - c0;
    for (int64_t i = 0; i < n; ++i) {
      float* __restrict g = grad + static_cast<int64_t>(ids[i]) * d + c0;
      const float* __restrict s = dy + i * d + c0;
      for (int64_t c = 0; c < w; ++c) g[c] += s[c];
    }
  });
  return -1;
}

}  // namespace

int64_t embedding_find_bad_id(const float* ids, int64_t n, int64_t v) { return find_bad(ids, n, v); }
int64_t embedding_find_bad_id(const int32_t* ids, int64_t n, int64_t v) { return find_bad(ids, n, v); }
int64_t embedding_find_bad_id(const int64_t* ids, int64_t n, int64_t v) { return find_bad(ids, n, v); }

int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const float* ids, int64_t n,
                         float* out, int num_threads) {
  return lookup(table, v, d, ids, n, out, num_threads);
}
int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const int32_t* ids,
                         int64_t n, float* out, int num_threads) {
  return lookup(table, v, d, ids, n, out, num_threads);
}
int64_t embedding_lookup(const float* table, int64_t v, int64_t d, const int64_t* ids,
                         int64_t n, float* out, int num_threads) {
  return lookup(table, v, d, ids, n, out, num_threads);
}

int64_t embedding_grad(float* grad, int64_t v, int64_t d, const float* ids, int64_t n,
                       const float* dy, int num_threads) {
  return grad_add(grad, v, d, ids, n, dy, num_threads);
}
int64_t embedding_grad(float* grad, int64_t v, int64_t d, const int32_t* ids, int64_t n,
                       const float* dy, int num_threads) {
  return grad_add(grad, v, d, ids, n, dy, num_threads);
}
int64_t embedding_grad(float* grad, int64_t v, int64_t d, const int64_t* ids, int64_t n,
                       const float* dy, int num_threads) {
  return grad_add(grad, v, d, ids, n, dy, num_threads);
}

}  // namespace pyn
