#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::require_defined("linear", {{"input", &x}, {"weight", &weight}});
  detail::require_rank("linear", "weight", weight, 2);
  const Device device =
      detail::same_device("linear", {{"input", &x}, {"weight", &weight}, {"bias", &bias}});
  const int64_t out_features = weight.shape()[0], in_features = weight.shape()[1];
  if (x.shape().last() != in_features) {
    fail("linear: input ", x.shape(), " has ", x.shape().last(), " features but weight ",
         weight.shape(), " takes ", in_features);
  }
  if (bias.defined() && (bias.shape().rank() != 1 || bias.shape()[0] != out_features)) {
    fail("linear: bias ", bias.shape(), " does not match weight ", weight.shape(), " (expected [",
         out_features, "])");
  }
  const int m = static_cast<int>(x.shape().rows()), k = static_cast<int>(in_features),
            n = static_cast<int>(out_features);

  Backend& backend = backend_for(device);
  Tensor y = Tensor::empty(x.shape().with_last(out_features), device);
  // y (m, n) = x (m, k) · W^T (k, n) [+ bias]. The bias is written first and the product added
  // to it (beta = 1): one pass over y fewer than adding it afterwards.
  if (bias.defined()) backend.repeat_rows(y.data(), bias.data(), m, n);
  backend.gemm(Transpose::kNo, Transpose::kYes, m, n, k, 1.0f, x.data(), k, weight.data(), k,
               bias.defined() ? 1.0f : 0.0f, y.data(), n);

  // x's values serve dW only: where the weight takes no gradient (a frozen model being
  // explained), the tape keeps x's place but not its values, which are freed after the forward
  // pass.
  const bool weight_grad = weight.requires_grad();
  return record(
      y, "linear", {x, weight, bias},
      [x = weight_grad ? x : x.gradient_only(), weight, weight_grad,
       bias = bias.defined() ? bias.gradient_only() : Tensor(), m, n, k](const Tensor& dy) {
        Backend& backend = dy.backend();
        if (x.requires_grad()) {  // dx (m, k) (+)= dy (m, n) · W (n, k)
          const Tensor::GradSlot dx = x.grad_slot();
          backend.gemm(Transpose::kNo, Transpose::kNo, m, k, n, 1.0f, dy.data(), n, weight.data(),
                       k, dx.overwrite ? 0.0f : 1.0f, dx.data, k);
        }
        if (weight_grad) {  // dW (n, k) += dy^T (n, m) · x (m, k)
          backend.gemm(Transpose::kYes, Transpose::kNo, n, k, m, 1.0f, dy.data(), n, x.data(), k,
                       1.0f, weight.grad_data(), k);
        }
        if (bias.defined() && bias.requires_grad()) {
          backend.sum_rows_accumulate(bias.grad_data(), dy.data(), m, n);
        }
      });
}

}  // namespace sav::ops
