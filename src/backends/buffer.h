// Device memory with one owner, for the tensor core and for an op that keeps device data of its
// own (cross_entropy's integer labels).
#pragma once

#include <cstddef>

#include "backends/backend.h"

namespace sav {

// Device memory with one owner: freed by its backend when the last reference goes.
class Buffer {
 public:
  Buffer(Backend& backend, size_t bytes)
      : backend_(backend), data_(backend.allocate(bytes)), bytes_(bytes) {}
  ~Buffer() { backend_.deallocate(data_, bytes_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  Backend& backend() const { return backend_; }
  float* data() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  Backend& backend_;
  void* data_;
  size_t bytes_;
};

}  // namespace sav
