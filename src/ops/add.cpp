#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {
namespace {

// Whether b's dimensions are a's last b.rank() dimensions.
bool is_trailing_shape(const Shape& a, const Shape& b) {
  if (b.rank() > a.rank()) return false;
  for (int i = 1; i <= b.rank(); ++i) {
    if (a[-i] != b[-i]) return false;
  }
  return true;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  detail::require_defined("add", {{"a", &a}, {"b", &b}});
  const Device device = detail::same_device("add", {{"a", &a}, {"b", &b}});
  if (!is_trailing_shape(a.shape(), b.shape())) {
    fail("add: shapes ", a.shape(), " and ", b.shape(),
         " do not match (b must have a's shape or a's trailing dimensions)");
  }
  const int64_t n = a.numel(), b_n = b.numel();
  Tensor y = Tensor::empty(a.shape(), device);
  backend_for(device).add(y.data(), a.data(), b.data(), n, b_n);

  return record(y, "add", {a, b},
                [a = a.gradient_only(), b = b.gradient_only(), n, b_n](const Tensor& dy) {
                  Backend& backend = dy.backend();
                  if (a.requires_grad()) detail::pass_gradient(a, dy.data(), n);
                  if (b.requires_grad()) {
                    if (b_n == n) {
                      detail::pass_gradient(b, dy.data(), n);
                    } else {  // b was added to every leading index: its gradient sums over them
                      backend.sum_rows_accumulate(b.grad_data(), dy.data(), n / b_n, b_n);
                    }
                  }
                });
}

Tensor scale(const Tensor& x, float factor) {
  detail::require_defined("scale", {{"input", &x}});
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().scale(y.data(), x.data(), factor, x.numel(), Write::kOverwrite);
  return record(y, "scale", {x}, [x = x.gradient_only(), factor](const Tensor& dy) {
    const Tensor::GradSlot dx = x.grad_slot();
    dy.backend().scale(dx.data, dy.data(), factor, x.numel(), detail::write_of(dx));
  });
}

}  // namespace sav::ops
