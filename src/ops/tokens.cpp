// Token-range ops: slice (the CLS token out of a sequence) and concat (the CLS token in).
#include <algorithm>

#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {

Tensor slice_tokens(const Tensor& x, int64_t start, int64_t count) {
  detail::require_defined("slice_tokens", {{"input", &x}});
  detail::require_rank("slice_tokens", "input", x, 3);
  const int64_t batch = x.shape()[0], tokens = x.shape()[1], dim = x.shape()[2];
  if (start < 0 || count <= 0 || start + count > tokens) {
    fail("slice_tokens: tokens [", start, ", ", start + count, ") are not within the ", tokens,
         " tokens of input ", x.shape());
  }
  Tensor y = Tensor::empty({batch, count, dim}, x.device());
  x.backend().copy_tokens({y.data(), count, 0}, {x.data(), tokens, start}, batch, count, dim,
                          Write::kOverwrite);
  return record(y, "slice_tokens", {x},
                [x = x.gradient_only(), batch, tokens, start, count, dim](const Tensor& dy) {
                  dy.backend().copy_tokens({x.grad_data(), tokens, start}, {dy.data(), count, 0},
                                           batch, count, dim, Write::kAccumulate);
                });
}

Tensor concat_tokens(const Tensor& a, const Tensor& b) {
  detail::require_defined("concat_tokens", {{"a", &a}, {"b", &b}});
  detail::require_rank("concat_tokens", "a", a, 3);
  detail::require_rank("concat_tokens", "b", b, 3);
  const Device device = detail::same_device("concat_tokens", {{"a", &a}, {"b", &b}});
  const int64_t batch_a = a.shape()[0], batch_b = b.shape()[0];
  const int64_t batch = std::max(batch_a, batch_b);
  const int64_t na = a.shape()[1], nb = b.shape()[1], dim = a.shape()[2];
  if (b.shape()[2] != dim || (batch_a != batch && batch_a != 1) ||
      (batch_b != batch && batch_b != 1)) {
    fail("concat_tokens: cannot join a ", a.shape(), " and b ", b.shape(),
         " (they need one width, and one batch size or batch 1)");
  }
  auto sharing = [batch](int64_t batch_of) {
    return batch_of == 1 && batch > 1 ? TokenBatch::kShared : TokenBatch::kPerItem;
  };
  const TokenBatch a_batch = sharing(batch_a), b_batch = sharing(batch_b);
  const int64_t n = na + nb;
  Tensor y = Tensor::empty({batch, n, dim}, device);
  Backend& backend = backend_for(device);
  backend.copy_tokens({y.data(), n, 0}, {a.data(), na, 0, a_batch}, batch, na, dim,
                      Write::kOverwrite);
  backend.copy_tokens({y.data(), n, na}, {b.data(), nb, 0, b_batch}, batch, nb, dim,
                      Write::kOverwrite);

  return record(y, "concat_tokens", {a, b},
                [a = a.gradient_only(), b = b.gradient_only(), a_batch, b_batch, batch, n, na, nb,
                 dim](const Tensor& dy) {
                  Backend& backend = dy.backend();
                  // Each input's gradient is one whole range of dy's: written over on its first
                  // contribution, unless shared by the batch (a sum over it: added).
                  auto give = [&](const Tensor& x, TokenBatch x_batch, int64_t tokens,
                                  int64_t start) {
                    if (!x.requires_grad()) return;
                    Tensor::GradSlot dx{nullptr, false};
                    if (x_batch == TokenBatch::kShared) {
                      dx.data = x.grad_data();
                    } else {
                      dx = x.grad_slot();
                    }
                    backend.copy_tokens({dx.data, tokens, 0, x_batch}, {dy.data(), n, start}, batch,
                                        tokens, dim, detail::write_of(dx));
                  };
                  give(a, a_batch, na, 0);
                  give(b, b_batch, nb, na);
                });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::require_defined("reshape", {{"input", &x}});
  if (shape.numel() != x.numel()) {
    fail("reshape: cannot reshape ", x.shape(), " (", x.numel(), " values) to ", shape, " (",
         shape.numel(), " values)");
  }
  return record(x.view(shape), "reshape", {x}, [x = x.gradient_only()](const Tensor& dy) {
    detail::pass_gradient(x, dy.data(), x.numel());
  });
}

}  // namespace sav::ops
