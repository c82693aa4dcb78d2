// Element-wise ops: relu, gelu, dropout and drop path.
#include <cstdint>
#include <cstring>

#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {

Tensor relu(const Tensor& x) {
  detail::require_defined("relu", {{"input", &x}});
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().relu_forward(y.data(), x.data(), x.numel());
  // The backward reads the output (y > 0 exactly where x > 0), which the next op keeps anyway,
  // so that x itself can be freed.
  return record(y, "relu", {x}, [x = x.gradient_only(), y = y.detach()](const Tensor& dy) {
    const Tensor::GradSlot dx = x.grad_slot();
    dy.backend().relu_backward(dx.data, y.data(), dy.data(), x.numel(), detail::write_of(dx));
  });
}

Tensor gelu(const Tensor& x) {
  detail::require_defined("gelu", {{"input", &x}});
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().gelu_forward(y.data(), x.data(), x.numel());
  // The derivative needs x itself: gelu is not monotonic (its minimum is near x = -0.75), so the
  // output does not determine it.
  return record(y, "gelu", {x}, [x](const Tensor& dy) {
    const Tensor::GradSlot dx = x.grad_slot();
    dy.backend().gelu_backward(dx.data, x.data(), dy.data(), x.numel(), detail::write_of(dx));
  });
}

void offset_values(uint64_t offset, float* values) {
  static_assert(sizeof(float) * kStreamOffsetFloats == sizeof(uint64_t));
  std::memcpy(values, &offset, sizeof offset);
}

const uint64_t* offset_of(const Tensor& stream_offset, const Tensor& x, const char* op) {
  if (!stream_offset.defined()) return nullptr;
  if (stream_offset.numel() != kStreamOffsetFloats || stream_offset.device() != x.device()) {
    fail(op, ": a stream offset ", stream_offset.shape(), " on ", stream_offset.device(), " (",
         kStreamOffsetFloats, " values on the input's ", x.device(), " expected)");
  }
  const float* data = stream_offset.data();
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    fail(op, ": a stream offset must start on an 8-byte boundary");
  }
  return reinterpret_cast<const uint64_t*>(data);
}

Tensor dropout(const Tensor& x, float p, uint64_t seed, uint64_t stream, int64_t first_row,
               const Tensor& stream_offset) {
  detail::require_defined("dropout", {{"input", &x}});
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout: probability must be in [0, 1), got ", p);
  if (first_row < 0) fail("dropout: first_row must be 0 or more, got ", first_row);
  if (first_row > 0 && x.shape().rank() == 0) fail("dropout: a scalar has no rows");
  if (p == 0.0f) return x;
  const int64_t rows = x.shape().rank() == 0 ? 1 : x.shape()[0];
  const uint64_t first =
      rows == 0 ? 0 : static_cast<uint64_t>(first_row) * static_cast<uint64_t>(x.numel() / rows);
  const uint64_t* offset = offset_of(stream_offset, x, "dropout");
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().dropout_forward(y.data(), x.data(), x.numel(), p, seed, stream, offset, first);
  return record(
      y, "dropout", {x},
      [x = x.gradient_only(), p, seed, stream, stream_offset, offset, first](const Tensor& dy) {
        const Tensor::GradSlot dx = x.grad_slot();
        dy.backend().dropout_backward(dx.data, dy.data(), x.numel(), p, seed, stream, offset, first,
                                      detail::write_of(dx));
      });
}

Tensor drop_path(const Tensor& x, float p, uint64_t seed, uint64_t stream, int64_t first_row,
                 const Tensor& stream_offset) {
  detail::require_defined("drop path", {{"input", &x}});
  if (!(p >= 0.0f && p < 1.0f)) fail("drop path: probability must be in [0, 1), got ", p);
  if (first_row < 0) fail("drop path: first_row must be 0 or more, got ", first_row);
  if (x.shape().rank() == 0) fail("drop path: a scalar has no images");
  if (p == 0.0f) return x;
  const int64_t rows = x.shape()[0];
  const int64_t cols = rows == 0 ? 0 : x.numel() / rows;
  const uint64_t first = static_cast<uint64_t>(first_row);
  const uint64_t* offset = offset_of(stream_offset, x, "drop path");
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().drop_path_forward(y.data(), x.data(), rows, cols, p, seed, stream, offset, first);
  return record(y, "drop_path", {x},
                [x = x.gradient_only(), rows, cols, p, seed, stream, stream_offset, offset,
                 first](const Tensor& dy) {
                  const Tensor::GradSlot dx = x.grad_slot();
                  dy.backend().drop_path_backward(dx.data, dy.data(), rows, cols, p, seed, stream,
                                                  offset, first, detail::write_of(dx));
                });
}

Tensor residual(const Tensor& x, const Tensor& branch, const BranchDrop& drop) {
  const char* op = "residual";
  detail::require_defined(op, {{"x", &x}, {"branch", &branch}});
  detail::same_device(op, {{"x", &x}, {"branch", &branch}});
  if (!(drop.p >= 0.0f && drop.p < 1.0f) || !(drop.path_p >= 0.0f && drop.path_p < 1.0f)) {
    fail(op, ": dropout and drop path probabilities must be in [0, 1), got ", drop.p, " and ",
         drop.path_p);
  }
  if (drop.first_row < 0) fail(op, ": first_row must be 0 or more, got ", drop.first_row);
  if (drop.p == 0.0f && drop.path_p == 0.0f) return add(x, branch);
  if (x.shape() != branch.shape() || x.shape().rank() == 0) {
    fail(op, ": x ", x.shape(), " and its branch ", branch.shape(),
         " must have one shape, with a batch dimension");
  }
  const int64_t rows = x.shape()[0];
  const int64_t cols = rows == 0 ? 0 : x.numel() / rows;
  BranchMasks masks;
  masks.p = drop.p;
  masks.stream = drop.stream;
  masks.path_p = drop.path_p;
  masks.path_stream = drop.path_stream;
  masks.seed = drop.seed;
  masks.stream_offset = offset_of(drop.stream_offset, x, op);
  masks.first_row = static_cast<uint64_t>(drop.first_row);
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().branch_masks_forward(y.data(), x.data(), branch.data(), rows, cols, masks);
  return record(y, op, {x, branch},
                [x = x.gradient_only(), branch = branch.gradient_only(), rows, cols, masks,
                 offset = drop.stream_offset](const Tensor& dy) {
                  if (x.requires_grad()) detail::pass_gradient(x, dy.data(), dy.numel());
                  if (branch.requires_grad()) {
                    const Tensor::GradSlot db = branch.grad_slot();
                    dy.backend().branch_masks_backward(db.data, dy.data(), rows, cols, masks,
                                                       detail::write_of(db));
                  }
                });
}

}  // namespace sav::ops
