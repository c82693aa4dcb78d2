// What a Tensor handle points at: its buffer of values, and its place in the tape (shape,
// device, gradient, the op that made it). Internal to the core library.
#pragma once

#include <memory>

#include "backends/buffer.h"
#include "sav/autograd.h"
#include "sav/shape.h"

namespace sav {

// A tensor's place in the tape. The values are held by the Tensor handles, not here, so that the
// tape (which keeps only this part of an op's inputs) does not keep values nobody needs.
struct TensorImpl {
  TensorImpl() = default;
  // Releases the graph behind this tensor iteratively: a long chain of ops must not be torn
  // down by recursion as deep as the chain.
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  Shape shape;
  Backend* backend = nullptr;     // the device's backend
  std::shared_ptr<Buffer> grad;   // shape's size, allocated on first use
  std::shared_ptr<Node> grad_fn;  // the op that made this tensor; null for a leaf
  bool requires_grad = false;
  bool retain_grad = false;
};

}  // namespace sav
