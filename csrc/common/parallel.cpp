#include "common/parallel.h"

#include <pthread.h>

#include <atomic>
#include <thread>

namespace pyn {
namespace {

int default_threads() {
#ifdef _OPENMP
  int n = omp_get_max_threads();  // honours OMP_NUM_THREADS and the CPU affinity mask
  return n > 0 ? n : 1;
#else
  return 1;
#endif
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

void set_num_threads(int n) {
#ifdef _OPENMP
  thread_setting().store(n > 0 ? n : 1, std::memory_order_relaxed);
#else
  (void)n;  // a build without OpenMP always runs on one thread
#endif
}

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
