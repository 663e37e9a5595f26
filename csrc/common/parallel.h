// The only place threads are started. Kernels open at most one parallel region per call with
// pyn::parallel(n, fn), where fn(tid, nthreads) runs once on each thread of the team, and may
// synchronise with pyn::barrier(). Inside another region, when the team is busy (another
// Python thread holds it), or in a child process forked after threads ran, fn runs once on the
// calling thread with nthreads == 1, so every kernel also works single-threaded: kernels must
// split their work by the nthreads they are given, not by the count they asked for.
//
// Two backends run a region:
//   native (default): a persistent team of worker threads that spin briefly between regions
//                     and then sleep; starting and joining a region costs about 0.1 us, a
//                     barrier about the same (libgomp's fork/join costs 0.7-5 us here).
//   openmp:           `#pragma omp parallel` (libgomp), chosen with PYNNCORE_THREADING=openmp
//                     in builds with OpenMP.
#pragma once

#include <cstdint>
#include <type_traits>

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

// The backend that runs regions ("native" or "openmp"), fixed when the library loads.
const char* threading_backend();
// Fails (an error naming the variable) when PYNNCORE_THREADING holds anything but "native",
// "openmp" (in a build with OpenMP) or nothing.
void check_threading_env();

namespace detail {
// True on the threads of a running native region (the caller included).
inline thread_local bool in_native_team = false;
// Size of the native region the thread is in.
inline thread_local int native_team_size = 1;
bool use_openmp();
// Runs call(ctx, tid, nthreads) on `nthreads` threads of the native team and returns true, or
// returns false without running anything when the team cannot take the region now (busy, or
// its threads could not be started). An exception thrown by any thread is rethrown here after
// all threads finished.
bool native_run(int nthreads, void (*call)(void*, int, int), void* ctx, bool claims);
void native_barrier();
}  // namespace detail

inline bool in_parallel() {
  if (detail::in_native_team) return true;
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Number of threads worth using for `work` units when one thread should get at least
// `grain` units; 1 inside an existing parallel region.
// The grains are set for the native team; under OpenMP, whose regions cost several times as
// much to open, each thread needs four times the work.
inline int threads_for(double work, double grain, int max_threads) {
  if (max_threads <= 1 || in_parallel()) return 1;
  if (detail::use_openmp()) grain *= 4;
  if (work < 2 * grain) return 1;
  double t = work / grain;
  return t < max_threads ? static_cast<int>(t) : max_threads;
}

namespace detail {
// Depth of parallel() calls running on one thread only (nthreads == 1, or inside another
// region). Their barriers must not reach the enclosing region's team: a kernel that calls
// gemm from its own per-thread work would otherwise pair gemm's barriers with other threads'.
inline thread_local int serial_depth = 0;
}  // namespace detail

namespace detail {
template <class Fn>
void run_region(int nthreads, Fn&& fn, bool claims) {
  if (nthreads > 1 && !in_parallel() && teams_usable()) {
    note_team_started();
    const int outer_serial = serial_depth;  // a real team starts afresh
    serial_depth = 0;
    struct Restore {
      int depth;
      ~Restore() { serial_depth = depth; }
    } restore{outer_serial};
#ifdef _OPENMP
    if (use_openmp()) {
#pragma omp parallel num_threads(nthreads)
      { fn(omp_get_thread_num(), omp_get_num_threads()); }
      return;
    }
#endif
    using F = std::remove_reference_t<Fn>;
    auto call = [](void* ctx, int tid, int nth) { (*static_cast<F*>(ctx))(tid, nth); };
    if (native_run(nthreads, call, const_cast<void*>(static_cast<const void*>(&fn)), claims))
      return;
  }
  ++serial_depth;
  struct Leave {
    ~Leave() { --serial_depth; }
  } leave;
  fn(0, 1);
}
}  // namespace detail

template <class Fn>
void parallel(int nthreads, Fn&& fn) {
  detail::run_region(nthreads, fn, false);
}

// A region whose threads take their work from shared counters (claims) and never wait for one
// another: fn must not call barrier() (it returns at once here) nor rely on every thread id
// running. With the native team, the caller does not wait for workers that have not started
// by the time its own fn returns; they skip this region. Each admitted thread, the caller
// included, runs fn once.
template <class Fn>
void parallel_claims(int nthreads, Fn&& fn) {
  detail::run_region(nthreads, fn, true);
}

inline void barrier() {
  if (detail::serial_depth > 0) return;
  if (detail::in_native_team) {
    detail::native_barrier();
    return;
  }
#ifdef _OPENMP
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
