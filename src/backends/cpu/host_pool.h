// Host memory for the CPU backend, kept for reuse.
//
// A training step allocates and frees the same sizes every time (activations, gradients,
// workspaces). Handing those blocks back to the C library returns the large ones to the kernel,
// and the next step pays a page fault and a page clear for every 4 KiB of them again. The pool
// keeps freed blocks by size and hands them out again, so the steady-state step allocates
// nothing from the system. It holds at most `limit` bytes of free blocks; beyond that, freed
// blocks go back to the system.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backends/backend.h"

namespace sav::cpu {

class HostPool {
 public:
  static constexpr size_t kAlignment = 64;

  explicit HostPool(size_t limit) : limit_(limit) {}
  ~HostPool();
  HostPool(const HostPool&) = delete;
  HostPool& operator=(const HostPool&) = delete;

  // 64-byte aligned, uninitialised; throws sav::Error when the system has no memory left.
  void* allocate(size_t bytes);
  // `bytes` is what was passed to allocate for this block.
  void deallocate(void* ptr, size_t bytes) noexcept;
  // Returns every free block to the system.
  void release();

  MemoryStats stats() const;

 private:
  static size_t rounded(size_t bytes) {
    return bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }

  const size_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // rounded size -> free blocks
  MemoryStats stats_;
};

}  // namespace sav::cpu
