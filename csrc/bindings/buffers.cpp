// See arrays.h: the cache of output buffers behind new_f32.
//
// A block is [header | data]: the 64-byte header holds the block's size class, so that
// buffer_free needs only the data pointer (a numpy capsule's destructor gets nothing else).
// Size classes are eight per power of two (at most 12.5 % unused), so a training loop whose
// last batch is smaller still reuses blocks. Free blocks wait in one list per class; the lists
// hold at most kCacheBytes in all, and a block that would go beyond is given back at once.
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <pthread.h>

#include "bindings/arrays.h"

namespace pyn {
namespace {

constexpr size_t kHeader = 64;
constexpr size_t kCacheBytes = size_t(256) << 20;
constexpr size_t kMaxCachedBlock = kCacheBytes / 4;

size_t size_class(size_t bytes) {
  if (bytes <= 4096) return 4096;
  size_t top = 4096;
  while (top < bytes) top <<= 1;  // bytes in (top / 2, top]
  const size_t step = top / 16;   // eight classes between top / 2 and top
  return (bytes + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;  // class -> blocks
  size_t cached = 0;
};

// Never destroyed: arrays may be freed after static destructors ran (at interpreter exit).
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// A child forked while another thread held the lock would wait forever: it starts with a
// fresh lock (and the lists as they were, which stay valid in its copy of the memory).
void reset_lock_in_child() { new (&cache().mu) std::mutex(); }
const bool kAtfork = [] {
  pthread_atfork(nullptr, nullptr, &reset_lock_in_child);
  return true;
}();

}  // namespace

void* buffer_alloc(size_t bytes) {
  (void)kAtfork;
  const size_t cls = size_class(bytes);
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.mu);
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      return static_cast<char*>(block) + kHeader;
    }
  }
  void* block = std::aligned_alloc(64, cls + kHeader);
  if (block == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(block) = cls;
  return static_cast<char*>(block) + kHeader;
}

void buffer_free(void* data) {
  if (data == nullptr) return;
  void* block = static_cast<char*>(data) - kHeader;
  const size_t cls = *static_cast<size_t*>(block);
  if (cls <= kMaxCachedBlock) {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.mu);
    if (c.cached + cls <= kCacheBytes) {
      c.free[cls].push_back(block);
      c.cached += cls;
      return;
    }
  }
  std::free(block);
}

size_t release_cached_buffers() {
  Cache& c = cache();
  std::vector<void*> blocks;
  size_t released;
  {
    std::lock_guard<std::mutex> g(c.mu);
    for (auto& kv : c.free) blocks.insert(blocks.end(), kv.second.begin(), kv.second.end());
    c.free.clear();
    released = c.cached;
    c.cached = 0;
  }
  for (void* b : blocks) std::free(b);
  return released;
}

size_t cached_buffer_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.mu);
  return c.cached;
}

}  // namespace pyn
