#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {

Tensor layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  detail::require_defined("layernorm", {{"input", &x}, {"weight", &weight}, {"bias", &bias}});
  const Device device =
      detail::same_device("layernorm", {{"input", &x}, {"weight", &weight}, {"bias", &bias}});
  const int64_t cols = x.shape().last(), rows = x.shape().rows();
  const Shape param_shape{cols};
  if (weight.shape() != param_shape || bias.shape() != param_shape) {
    fail("layernorm: input ", x.shape(), " needs weight and bias of shape ", param_shape,
         ", got weight ", weight.shape(), " and bias ", bias.shape());
  }
  if (!(eps > 0.0f)) fail("layernorm: eps must be positive, got ", eps);

  Backend& backend = backend_for(device);
  Tensor y = Tensor::empty(x.shape(), device);
  Tensor mean = Tensor::empty({rows}, device);  // kept for the backward pass
  Tensor rstd = Tensor::empty({rows}, device);
  backend.layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), weight.data(),
                            bias.data(), rows, cols, eps);

  return record(y, "layernorm", {x, weight, bias},
                [x, weight, bias = bias.gradient_only(), mean, rstd, rows, cols](const Tensor& dy) {
                  const Tensor::GradSlot dx =
                      x.requires_grad() ? x.grad_slot() : Tensor::GradSlot{nullptr, false};
                  dy.backend().layernorm_backward(
                      dx.data, weight.requires_grad() ? weight.grad_data() : nullptr,
                      bias.requires_grad() ? bias.grad_data() : nullptr, dy.data(), x.data(),
                      weight.data(), mean.data(), rstd.data(), rows, cols, detail::write_of(dx));
                });
}

}  // namespace sav::ops
