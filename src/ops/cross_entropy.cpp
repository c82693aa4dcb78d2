#include "backends/backend.h"
#include "backends/buffer.h"
#include "ops/checks.h"
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
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      fail("cross_entropy: label ", labels[i], " at index ", i, " is outside [0, ", classes, ")");
    }
  }
  Backend& backend = logits.backend();
  auto device_labels = std::make_shared<Buffer>(backend, sizeof(int32_t) * labels.size());
  backend.upload(device_labels->data(), labels.data(), sizeof(int32_t) * labels.size());
  const auto* label_data = reinterpret_cast<const int32_t*>(device_labels->data());

  Tensor loss = Tensor::empty({1}, logits.device());
  Tensor probs = Tensor::empty(logits.shape(), logits.device());  // kept for the backward pass
  backend.cross_entropy_forward(loss.data(), probs.data(), logits.data(), label_data, batch,
                                classes);
  return record(loss, "cross_entropy", {logits},
                [logits = logits.gradient_only(), probs, device_labels, label_data, batch,
                 classes](const Tensor& dloss) {
                  dloss.backend().cross_entropy_backward(logits.grad_data(), probs.data(),
                                                         label_data, dloss.data(), batch, classes);
                });
}

}  // namespace sav::ops
