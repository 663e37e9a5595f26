// The only place OpenMP is touched. Kernels open at most one parallel region per call with
// pyn::parallel(n, fn), where fn(tid, nthreads) runs once on each thread of the team, and may
// synchronise with pyn::barrier(). Without OpenMP (or inside another region) fn runs once on
// the calling thread with nthreads == 1, so every kernel also works single-threaded.
#pragma once

#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyn {

// Thread count used by kernels when the caller does not give one. Defaults to
// OMP_NUM_THREADS, or the number of cores available to the process.
int get_num_threads();
void set_num_threads(int n);
bool openmp_enabled();

// Deterministic mode: reductions whose partial sums would otherwise follow the thread split
// add fixed-size blocks in a fixed order instead, so results do not depend on the thread
// count. Off by default (the thread-split sums are a little faster).
bool deterministic();
void set_deterministic(bool on);

// Fork safety. libgomp's worker pool does not survive fork(): in a child process forked after
// this process ran a parallel region, opening another region would wait forever for workers
// that do not exist there. A pthread_atfork handler marks such a child, and from then on
// parallel() runs every kernel on the calling thread (get_num_threads() reports 1 and
// set_num_threads() is accepted but cannot add threads). A child forked before any parallel
// region ran keeps full threading.
bool teams_usable();
void note_team_started();
bool forked_single_threaded();

inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Number of threads worth using for `work` units when one thread should get at least
// `grain` units; 1 inside an existing parallel region.
inline int threads_for(double work, double grain, int max_threads) {
  if (max_threads <= 1 || in_parallel() || work < 2 * grain) return 1;
  double t = work / grain;
  return t < max_threads ? static_cast<int>(t) : max_threads;
}

namespace detail {
// Depth of parallel() calls running on one thread only (nthreads == 1, or inside another
// region). Their barriers must not reach the enclosing region's team: a kernel that calls
// gemm from its own per-thread work would otherwise pair gemm's barriers with other threads'.
inline thread_local int serial_depth = 0;
}  // namespace detail

template <class Fn>
void parallel(int nthreads, Fn&& fn) {
#ifdef _OPENMP
  if (nthreads > 1 && !in_parallel() && teams_usable()) {
    note_team_started();
    const int outer_serial = detail::serial_depth;  // a real team starts afresh
    detail::serial_depth = 0;
#pragma omp parallel num_threads(nthreads)
    { fn(omp_get_thread_num(), omp_get_num_threads()); }
    detail::serial_depth = outer_serial;
    return;
  }
#endif
  (void)nthreads;
  ++detail::serial_depth;
  struct Leave {
    ~Leave() { --detail::serial_depth; }
  } leave;
  fn(0, 1);
}

inline void barrier() {
#ifdef _OPENMP
  if (detail::serial_depth > 0) return;
#pragma omp barrier
#endif
}

// Split [0, n) into `parts` nearly equal chunks aligned to `align`; chunk `i` is [*lo, *hi).
inline void split_range(int64_t n, int64_t align, int parts, int i, int64_t* lo, int64_t* hi) {
  int64_t blocks = (n + align - 1) / align;
  int64_t b0 = blocks * i / parts, b1 = blocks * (i + 1) / parts;
  *lo = b0 * align < n ? b0 * align : n;
  *hi = b1 * align < n ? b1 * align : n;
}

}  // namespace pyn
