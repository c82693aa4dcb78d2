#include "sav/train/step.h"

#include <algorithm>
#include <cmath>

#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::train {
namespace {

Tensor upload_patches(const data::Batch& batch, Device device) {
  return Tensor::from_vector({batch.size, data::kPatches, data::kPatchFeatures}, batch.patches,
                             device);
}

}  // namespace

int64_t count_correct(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                      int64_t classes) {
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto row = logits.begin() + static_cast<int64_t>(i) * classes;
    correct += std::max_element(row, row + classes) - row == labels[i];
  }
  return correct;
}

StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step) {
  const Tensor x = upload_patches(batch, model.device());
  adam.zero_grad();
  const nn::VitOutput forward = model.forward_training(x, dropout_seed, step);
  const Tensor loss = ops::cross_entropy(forward.logits, batch.labels);
  StepResult result;
  result.loss = loss.item();
  if (!std::isfinite(result.loss)) return result;
  loss.backward();
  adam.step();
  result.updated = true;
  result.correct = count_correct(forward.logits.to_vector(), batch.labels, model.config().classes);
  return result;
}

StepResult evaluate_batch(const nn::VisionTransformer& model, const data::Batch& batch) {
  NoGradGuard no_grad;
  const Tensor logits = model.forward(upload_patches(batch, model.device())).logits;
  StepResult result;
  result.loss = ops::cross_entropy(logits, batch.labels).item();
  result.correct = count_correct(logits.to_vector(), batch.labels, model.config().classes);
  return result;
}

}  // namespace sav::train
