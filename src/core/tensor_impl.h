// The storage behind a Tensor handle. Internal to the core library.
#pragma once

#include <memory>

#include "sav/autograd.h"
#include "sav/backend.h"
#include "sav/shape.h"

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

struct TensorImpl {
  TensorImpl() = default;
  // Releases the graph behind this tensor iteratively: a long chain of ops must not be torn
  // down by recursion as deep as the chain.
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  Shape shape;
  std::shared_ptr<Buffer> storage;
  std::shared_ptr<Buffer> grad;     // same size as storage, allocated on first use
  std::shared_ptr<Node> grad_fn;    // the op that made this tensor; null for a leaf
  bool requires_grad = false;
  bool retain_grad = false;
};

}  // namespace sav
