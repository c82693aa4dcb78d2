// Element-wise ops: relu, gelu and dropout.
#include "backends/backend.h"
#include "ops/checks.h"
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
    dy.backend().relu_backward(x.grad_data(), y.data(), dy.data(), x.numel());
  });
}

Tensor gelu(const Tensor& x) {
  detail::require_defined("gelu", {{"input", &x}});
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().gelu_forward(y.data(), x.data(), x.numel());
  // The derivative needs x itself: gelu is not monotonic (its minimum is near x = -0.75), so the
  // output does not determine it.
  return record(y, "gelu", {x}, [x](const Tensor& dy) {
    dy.backend().gelu_backward(x.grad_data(), x.data(), dy.data(), x.numel());
  });
}

Tensor dropout(const Tensor& x, float p, uint64_t seed, uint64_t stream) {
  detail::require_defined("dropout", {{"input", &x}});
  if (!(p >= 0.0f && p < 1.0f)) fail("dropout: probability must be in [0, 1), got ", p);
  if (p == 0.0f) return x;
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().dropout_forward(y.data(), x.data(), x.numel(), p, seed, stream);
  return record(y, "dropout", {x}, [x = x.gradient_only(), p, seed, stream](const Tensor& dy) {
    dy.backend().dropout_backward(x.grad_data(), dy.data(), x.numel(), p, seed, stream);
  });
}

}  // namespace sav::ops
