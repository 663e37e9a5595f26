#include "common/parallel.h"

#include "common/check.h"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace pyn {
namespace {

int default_threads() {
#ifdef _OPENMP
  int n = omp_get_max_threads();  // honours OMP_NUM_THREADS and the CPU affinity mask
  return n > 0 ? n : 1;
#else
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
#endif
}

bool choose_openmp() {
#ifdef _OPENMP
  const char* env = std::getenv("PYNNCORE_THREADING");
  return env != nullptr && std::strcmp(env, "openmp") == 0;
#else
  return false;
#endif
}

const bool g_use_openmp = choose_openmp();

// A spin-wait hint: lets the other hardware thread of the core run and saves power.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// The native team. Worker w runs as thread id w + 1; the thread that opens a region is id 0.
//
//   open:  the caller takes `run_mu` (try_lock: a second Python thread that finds the team
//          busy runs its kernel alone), writes the job, bumps `generation` and wakes sleepers;
//   work:  workers see the new generation, run the job if their id < nthreads, and count
//          `pending` down;
//   join:  the caller runs id 0, then waits for `pending` to reach 0.
//
// A region opened with `claims` (parallel_claims: work taken from shared counters, no
// barriers) does not wait for workers that have not started when the caller finishes its own
// part: a worker is admitted through `gate` (the region's sequence number, a closed bit and a
// count of admitted workers), the caller closes the gate after running id 0 and waits only for
// the workers admitted before that. A worker whose core was busy elsewhere then costs the
// caller nothing; it finds the gate closed (or a newer region's sequence number) and skips.
//
// Idle workers spin on `generation` for kSpin, then sleep on a condition variable, so a
// training loop that calls kernels every few microseconds never pays a wake-up, and an idle
// process costs nothing after a fraction of a millisecond.
class Team {
 public:
  static constexpr auto kSpin = std::chrono::microseconds(300);
  // generation word: region sequence number << kSeqShift | claims bit | thread count
  static constexpr int kCountBits = 16;  // thread counts up to 65535
  static constexpr unsigned long long kClaimsBit = 1ull << kCountBits;
  static constexpr int kSeqShift = kCountBits + 1;
  // gate word of a claims region: sequence number << kGateSeqShift | closed | admitted count
  static constexpr unsigned long long kGateCountMask = (1ull << kCountBits) - 1;
  static constexpr unsigned long long kGateClosed = 1ull << kCountBits;
  static constexpr int kGateSeqShift = kCountBits + 1;

  bool run(int nthreads, void (*call)(void*, int, int), void* ctx, bool claims) {
    std::unique_lock<std::mutex> lock(run_mu_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    if (nthreads >= (1 << kCountBits) || !ensure_workers(nthreads - 1)) return false;
    call_ = call;
    ctx_ = ctx;
    nthreads_ = nthreads;
    claims_ = claims;
    error_ = nullptr;
    bar_count_.store(0, std::memory_order_relaxed);
    pending_.store(nthreads - 1, std::memory_order_relaxed);
    // The job's thread count and mode travel in the generation word, so a worker decides
    // whether (and how) it takes part from the same value that woke it. Only the holder of
    // run_mu_ writes it.
    const unsigned long long g = generation_.load(std::memory_order_relaxed);
    const unsigned long long seq = (g >> kSeqShift) + 1;
    if (claims) {
      finished_.store(0, std::memory_order_relaxed);
      gate_.store(seq << kGateSeqShift, std::memory_order_relaxed);
    }
    generation_.store((seq << kSeqShift) | (claims ? kClaimsBit : 0ull) |
                          static_cast<unsigned long long>(nthreads),
                      std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> g(sleep_mu_); }
      sleep_cv_.notify_all();
    }
    execute(0);
    if (claims) {
      const unsigned long long admitted =
          gate_.fetch_or(kGateClosed, std::memory_order_acq_rel) & kGateCountMask;
      for (unsigned spins = 0; finished_.load(std::memory_order_acquire) != admitted; ++spins) {
        if (spins < 4096) cpu_relax();
        else std::this_thread::yield();
      }
    } else {
      for (unsigned spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < 4096) cpu_relax();
        else std::this_thread::yield();
      }
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  void barrier() {
    const int n = detail::native_team_size;
    if (n <= 1) return;
    const unsigned gen = bar_gen_.load(std::memory_order_acquire);
    if (bar_count_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
      bar_count_.store(0, std::memory_order_relaxed);
      bar_gen_.store(gen + 1, std::memory_order_release);
      return;
    }
    for (unsigned spins = 0; bar_gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4096) cpu_relax();
      else std::this_thread::yield();
    }
  }

 private:
  void execute(int tid) {
    detail::in_native_team = true;
    detail::native_team_size = claims_ ? 1 : nthreads_;  // claims regions have no barriers
    try {
      call_(ctx_, tid, nthreads_);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
    detail::in_native_team = false;
    detail::native_team_size = 1;
  }

  bool ensure_workers(int n) {
    try {
      while (static_cast<int>(workers_) < n) {
        // a new worker starts from the current generation: the next one is its first job
        const unsigned long long seen = generation_.load(std::memory_order_relaxed);
        std::thread t([this, id = static_cast<int>(workers_) + 1, seen] { work(id, seen); });
        t.detach();
        ++workers_;
      }
    } catch (const std::system_error&) {
      return false;  // no more threads: the region runs on fewer or the caller alone
    }
    return true;
  }

  void work(int id, unsigned long long seen) {
    for (;;) {
      seen = wait_for_job(seen);
      if (id >= static_cast<int>(seen & ((1ull << kCountBits) - 1))) continue;
      if ((seen & kClaimsBit) == 0) {
        execute(id);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      } else if (admit(seen >> kSeqShift)) {
        execute(id);
        finished_.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  }

  // Admission to claims region `seq`: fails once the caller has closed its gate, or when the
  // gate already belongs to a newer region (this worker woke late).
  bool admit(unsigned long long seq) {
    unsigned long long v = gate_.load(std::memory_order_acquire);
    for (;;) {
      if ((v >> kGateSeqShift) != seq || (v & kGateClosed) != 0) return false;
      if (gate_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return true;
    }
  }

  unsigned long long wait_for_job(unsigned long long seen) {
    using clock = std::chrono::steady_clock;
    const auto until = clock::now() + kSpin;
    for (unsigned spins = 1;; ++spins) {
      const unsigned long long g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      cpu_relax();
      if ((spins & 255) == 0 && clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lock(sleep_mu_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    unsigned long long g;
    while ((g = generation_.load(std::memory_order_seq_cst)) == seen) sleep_cv_.wait(lock);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return g;
  }

  std::mutex run_mu_;
  unsigned workers_ = 0;  // started so far (under run_mu_)
  std::exception_ptr error_;
  std::mutex error_mu_;
  // The job shares the cache line of the generation word it is published with: a waiting
  // worker fetches both in one transfer between cores.
  alignas(64) std::atomic<unsigned long long> generation_{0};
  void (*call_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int nthreads_ = 1;
  bool claims_ = false;
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::atomic<unsigned long long> gate_{0};
  alignas(64) std::atomic<unsigned long long> finished_{0};
  alignas(64) std::atomic<int> bar_count_{0};
  alignas(64) std::atomic<unsigned> bar_gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
};

// Never destroyed: workers may still be running when static destructors run at exit.
Team& team() {
  static Team* t = new Team();
  return *t;
}

std::atomic<int>& thread_setting() {
  static std::atomic<int> n{default_threads()};
  return n;
}

std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_team_started{false};  // this process has opened a parallel region
std::atomic<bool> g_forked_child{false};  // forked after a region ran: no more teams

// Runs in the child right after fork(), before fork() returns there; only async-signal-safe
// work (atomic stores) happens here.
void on_fork_child() {
  if (g_team_started.load(std::memory_order_relaxed))
    g_forked_child.store(true, std::memory_order_relaxed);
}

// Registered once when the library is loaded.
const int g_atfork_registered = pthread_atfork(nullptr, nullptr, &on_fork_child);

}  // namespace

int get_num_threads() {
  if (g_forked_child.load(std::memory_order_relaxed)) return 1;
  return thread_setting().load(std::memory_order_relaxed);
}

void set_num_threads(int n) { thread_setting().store(n > 0 ? n : 1, std::memory_order_relaxed); }

const char* threading_backend() { return g_use_openmp ? "openmp" : "native"; }

void check_threading_env() {
  const char* env = std::getenv("PYNNCORE_THREADING");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "native") == 0) return;
  PYN_CHECK(std::strcmp(env, "openmp") == 0,
            "PYNNCORE_THREADING: expected 'native' or 'openmp'; got '", env, "'");
  PYN_CHECK(openmp_enabled(),
            "PYNNCORE_THREADING=openmp: this build of pynncore has no OpenMP; use 'native'");
}

namespace detail {
bool use_openmp() { return g_use_openmp; }
bool native_run(int nthreads, void (*call)(void*, int, int), void* ctx, bool claims) {
  return team().run(nthreads, call, ctx, claims);
}
void native_barrier() { team().barrier(); }
}  // namespace detail

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

bool deterministic() { return g_deterministic.load(std::memory_order_relaxed); }

void set_deterministic(bool on) { g_deterministic.store(on, std::memory_order_relaxed); }

bool teams_usable() {
  (void)g_atfork_registered;
  return !g_forked_child.load(std::memory_order_relaxed);
}

void note_team_started() {
  if (!g_team_started.load(std::memory_order_relaxed))
    g_team_started.store(true, std::memory_order_relaxed);
}

bool forked_single_threaded() { return g_forked_child.load(std::memory_order_relaxed); }

}  // namespace pyn
