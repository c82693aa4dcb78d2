// Tensor: a handle to float32 values of a given shape (up to 4-D), stored contiguously in a
// buffer on one device. Copying a Tensor copies the handle, not the values (like a shared_ptr);
// the buffer is freed when its last handle goes. A tensor produced by an op while gradients are
// recorded remembers that op (grad_fn) and its inputs: that chain is the autograd tape. The
// tape keeps its inputs' places in the tape but not their values (gradient_only), so a value
// lives only as long as a handle to it does: a backward function keeps what it reads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sav/device.h"
#include "sav/shape.h"

namespace sav {

class Backend;
class Buffer;
struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (e.g. "no bias")

  // Uninitialised values.
  static Tensor empty(const Shape& shape, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  // Copies `values` (shape.numel() of them) to the device.
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values,
                            Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t numel() const { return shape().numel(); }
  Device device() const;
  Backend& backend() const;
  // The values on the device. Like the handle itself, constness is about the handle.
  float* data() const;
  std::vector<float> to_vector() const;  // copies the values to the host
  // Overwrites the values with `values` (numel() of them) from the host, outside the tape.
  void copy_from(const std::vector<float>& values) const;
  float item() const;  // the value of a one-element tensor
  // A copy of the values in a new buffer on `device`, outside the tape.
  Tensor to(Device device) const;

  // Autograd.
  bool requires_grad() const;
  // Marks a leaf (a parameter, or an input under test) as wanting its gradient.
  Tensor& set_requires_grad(bool requires = true);
  bool is_leaf() const;
  const Node* grad_fn() const;
  // The accumulated gradient; undefined until a backward pass reached this tensor.
  Tensor grad() const;
  // Zeroes the gradient if there is one.
  void zero_grad() const;
  // Keeps the gradient of a non-leaf after backward (by default only leaves keep theirs).
  // Each backward pass overwrites a retained non-leaf gradient; leaves accumulate.
  void retain_grad() const;
  bool retains_grad() const;
  // Backward from a one-element tensor (its gradient seeded with 1).
  void backward() const;
  // Backward with an explicit gradient of this tensor's shape (vector-Jacobian product).
  void backward(const Tensor& grad_output) const;
  // The same values, outside the tape.
  Tensor detach() const;
  // This tensor's place in the tape (shape, device, gradient, grad_fn) without its values, which
  // it does not keep alive: what a backward function keeps of a tensor it only passes a gradient
  // to. data() on it throws.
  Tensor gradient_only() const;

  // For op implementations: the gradient buffer, allocated and zeroed on first use.
  float* grad_data() const;
  // For op implementations: where a backward function puts its whole contribution to this
  // tensor's gradient. The first contribution of a pass finds a new, unset buffer and
  // `overwrite` true: it writes every value (no zeroing first); later ones add to it.
  struct GradSlot {
    float* data;
    bool overwrite;
  };
  GradSlot grad_slot() const;
  // For op implementations: a handle sharing this tensor's buffer with another shape of the
  // same number of elements.
  Tensor view(const Shape& shape) const;
  // A handle on the first shape.numel() values of this tensor's buffer, with `shape`: a smaller
  // batch in a buffer sized for the largest (sav/upload.h).
  Tensor prefix(const Shape& shape) const;

  TensorImpl* impl() const { return impl_.get(); }

 private:
  Tensor(std::shared_ptr<TensorImpl> impl, std::shared_ptr<Buffer> values)
      : impl_(std::move(impl)), values_(std::move(values)) {}
  std::shared_ptr<TensorImpl> impl_;
  std::shared_ptr<Buffer> values_;  // null in a gradient_only handle
};

}  // namespace sav
