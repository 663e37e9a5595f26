// See finite.h. A value is NaN or infinite exactly when its exponent bits are all ones; the
// test on the integer bits vectorises on every CPU path and is memory-bound.
#include "kernels/finite.h"

#include <cstring>
#include <vector>

#include "common/parallel.h"

namespace pyn {
namespace {

template <class F, class U, U kExp>
int64_t count_range(const F* x, int64_t n) {
  int64_t bad = 0;
  constexpr int64_t kBlock = 4096;  // a short count per block keeps the inner loop branch-free
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t m = n - i0 < kBlock ? n - i0 : kBlock;
    const F* p = x + i0;
    U hits = 0;
    for (int64_t i = 0; i < m; ++i) {
      U bits;
      std::memcpy(&bits, p + i, sizeof(U));
      hits += static_cast<U>((bits & kExp) == kExp);
    }
    bad += static_cast<int64_t>(hits);
  }
  return bad;
}

template <class F, class U, U kExp>
int64_t count_all(const F* x, int64_t n, int num_threads) {
  if (n <= 0) return 0;
  const int max_t = num_threads > 0 ? num_threads : get_num_threads();
  // A thread is worth starting for about 64 KiB of data.
  const int nt = threads_for(static_cast<double>(n) * sizeof(F), 65536.0, max_t);
  if (nt <= 1) return count_range<F, U, kExp>(x, n);
  std::vector<int64_t> part(static_cast<size_t>(nt), 0);
  parallel(nt, [&](int tid, int nth) {
    int64_t i0, i1;
    split_range(n, 64 / static_cast<int64_t>(sizeof(F)), nth, tid, &i0, &i1);
    part[static_cast<size_t>(tid)] = count_range<F, U, kExp>(x + i0, i1 - i0);
  });
  int64_t bad = 0;
  for (int64_t b : part) bad += b;
  return bad;
}

}  // namespace

int64_t count_nonfinite(const float* x, int64_t n, int num_threads) {
  return count_all<float, uint32_t, 0x7f800000u>(x, n, num_threads);
}

int64_t count_nonfinite(const double* x, int64_t n, int num_threads) {
  return count_all<double, uint64_t, 0x7ff0000000000000ull>(x, n, num_threads);
}

}  // namespace pyn
