// Grow-only, 64-byte aligned scratch memory. Kernels keep one per thread (thread_local) so
// that steady-state calls never allocate or touch fresh pages.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace pyn {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  // Returns at least `n` floats; the contents are unspecified.
  float* floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (bytes > capacity_) {
      void* p = std::aligned_alloc(64, bytes);
      if (p == nullptr) throw std::bad_alloc();
      std::free(data_);
      data_ = p;
      capacity_ = bytes;
    }
    return static_cast<float*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace pyn
