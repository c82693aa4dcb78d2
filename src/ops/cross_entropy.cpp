#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {

Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels) {
  detail::require_defined("cross_entropy", {{"logits", &logits}});
  detail::require_rank("cross_entropy", "logits", logits, 2);
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  if (static_cast<int64_t>(labels.size()) != batch) {
    fail("cross_entropy: ", labels.size(), " labels given for logits ", logits.shape(),
         " (one per row expected)");
  }
  std::vector<float> one_hot(static_cast<size_t>(batch * classes), 0.0f);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail("cross_entropy: label ", labels[i], " at index ", i, " is outside [0, ", classes, ")");
    }
    one_hot[i * static_cast<size_t>(classes) + static_cast<size_t>(labels[i])] = 1.0f;
  }
  return cross_entropy(logits, Tensor::from_vector(logits.shape(), one_hot, logits.device()));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  detail::require_defined("cross_entropy", {{"logits", &logits}, {"targets", &targets}});
  detail::require_rank("cross_entropy", "logits", logits, 2);
  if (targets.shape() != logits.shape() || targets.device() != logits.device()) {
    fail("cross_entropy: targets ", targets.shape(), " on ", targets.device(), " for logits ",
         logits.shape(), " on ", logits.device(), " (the same shape and device expected)");
  }
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  Backend& backend = logits.backend();
  Tensor loss = Tensor::empty({1}, logits.device());
  Tensor probs = Tensor::empty(logits.shape(), logits.device());  // kept for the backward pass
  backend.cross_entropy_forward(loss.data(), probs.data(), logits.data(), targets.data(), batch,
                                classes);
  return record(loss, "cross_entropy", {logits},
                [logits = logits.gradient_only(), probs, targets = targets.detach(), batch,
                 classes](const Tensor& dloss) {
                  const Tensor::GradSlot dlogits = logits.grad_slot();
                  dloss.backend().cross_entropy_backward(dlogits.data, probs.data(), targets.data(),
                                                         dloss.data(), batch, classes,
                                                         detail::write_of(dlogits));
                });
}

}  // namespace sav::ops
