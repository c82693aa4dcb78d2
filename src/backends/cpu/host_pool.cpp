#include "backends/cpu/host_pool.h"

#include <algorithm>
#include <cstdlib>

#include "sav/error.h"

namespace sav::cpu {

HostPool::~HostPool() { release(); }

void* HostPool::allocate(size_t bytes) {
  const size_t size = rounded(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.live += size;
    stats_.peak_live = std::max(stats_.peak_live, stats_.live);
    auto found = free_.find(size);
    if (found != free_.end() && !found->second.empty()) {
      void* ptr = found->second.back();
      found->second.pop_back();
      stats_.cached -= size;
      return ptr;
    }
    ++stats_.system_allocations;
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.live -= size;
    fail("cpu: out of memory allocating ", bytes, " bytes");
  }
  return ptr;
}

void HostPool::deallocate(void* ptr, size_t bytes) noexcept {
  if (ptr == nullptr) return;
  const size_t size = rounded(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.live -= size;
    if (stats_.cached + size <= limit_) {
      try {
        free_[size].push_back(ptr);
        stats_.cached += size;
        return;
      } catch (...) {  // no memory for the bookkeeping: give the block back instead
      }
    }
  }
  std::free(ptr);
}

void HostPool::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, blocks] : free_) {
    for (void* ptr : blocks) std::free(ptr);
  }
  free_.clear();
  stats_.cached = 0;
}

MemoryStats HostPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace sav::cpu
