#include "common/parallel.h"

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

}  // namespace

int get_num_threads() { return thread_setting().load(std::memory_order_relaxed); }

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

}  // namespace pyn
