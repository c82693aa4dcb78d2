#include "sav/train/step.h"

#include <algorithm>
#include <cmath>

#include "sav/autograd.h"
#include "sav/error.h"
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

Tensor training_loss(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing) {
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    fail("training loss: label smoothing must be in [0, 1), got ", label_smoothing);
  }
  const Tensor hard = ops::cross_entropy(logits, labels);
  if (label_smoothing == 0.0f) return hard;
  const int64_t classes = logits.shape()[1];
  Tensor uniform;  // sum over c of CE(logits, c): every row's label set to c
  for (int32_t c = 0; c < classes; ++c) {
    const Tensor term = ops::cross_entropy(logits, std::vector<int32_t>(labels.size(), c));
    uniform = uniform.defined() ? ops::add(uniform, term) : term;
  }
  return ops::add(ops::scale(hard, 1.0f - label_smoothing),
                  ops::scale(uniform, label_smoothing / static_cast<float>(classes)));
}

Tensor batch_loss(const Tensor& logits, const data::Batch& batch, float label_smoothing) {
  const Tensor own = training_loss(logits, batch.labels, label_smoothing);
  if (batch.partner_labels.empty() || batch.mix_lambda == 1.0f) return own;
  if (batch.partner_labels.size() != batch.labels.size() ||
      !(batch.mix_lambda >= 0.0f && batch.mix_lambda <= 1.0f)) {
    fail("training loss: ", batch.partner_labels.size(), " partner labels for ",
         batch.labels.size(), " images, or a mixing weight ", batch.mix_lambda, " outside [0, 1]");
  }
  const Tensor partner = training_loss(logits, batch.partner_labels, label_smoothing);
  return ops::add(ops::scale(own, batch.mix_lambda), ops::scale(partner, 1.0f - batch.mix_lambda));
}

void take_step(optim::Adam& adam, const StepOptions& options) {
  if (!(options.clip_grad_norm > 0)) {
    adam.step();
    return;
  }
  const float norm = optim::gradient_norm(adam.parameters());
  adam.step(norm > options.clip_grad_norm ? options.clip_grad_norm / norm : 1.0f);
}

StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step,
                      const StepOptions& options) {
  const Tensor x = upload_patches(batch, model.device());
  adam.zero_grad();
  const nn::VitOutput forward = model.forward_training(x, dropout_seed, step);
  const Tensor loss = batch_loss(forward.logits, batch, options.label_smoothing);
  StepResult result;
  result.loss = loss.item();
  if (!std::isfinite(result.loss)) return result;
  loss.backward();
  take_step(adam, options);
  result.updated = true;
  result.correct = count_correct(forward.logits.to_vector(), batch.labels, model.config().classes);
  return result;
}

ParallelStep::ParallelStep(const nn::VisionTransformer& model, optim::Adam& adam,
                           dist::Communicator& comm, dist::Communicator* gradients,
                           const StepOptions& options)
    : model_(model),
      adam_(adam),
      comm_(comm),
      gradients_(gradients),
      options_(options),
      flat_(comm.size() > 1
                ? std::optional<optim::FlatGradients>(std::in_place, model.parameter_tensors(), 3)
                : std::nullopt) {
  if (gradients_ != nullptr &&
      (!gradients_->device_buffers() || gradients_->size() != comm.size())) {
    fail("train step: the gradients' communicator must take device buffers and have the job's ",
         comm.size(), " ranks");
  }
}

StepResult ParallelStep::run(const data::Batch& share, uint64_t dropout_seed, uint64_t step,
                             bool& stop) {
  if (comm_.size() == 1) {
    return train_step(model_, adam_, share, dropout_seed, step, options_);
  }
  const int64_t whole = share.global_size;
  if (whole < 1 || share.first < 0 || share.first + share.size > whole) {
    fail("train step: a share of images ", share.first, " to ", share.first + share.size,
         " of a batch of ", whole);
  }
  adam_.zero_grad();
  float loss_sum = 0;  // the share's losses, summed
  float correct = 0;   // exact in float: a batch has fewer than 2^24 images
  if (share.size > 0) {
    const Tensor x = upload_patches(share, model_.device());
    const nn::VitOutput forward = model_.forward_training(x, dropout_seed, step, share.first);
    const Tensor loss = batch_loss(forward.logits, share, options_.label_smoothing);
    const float mean = loss.item();
    loss_sum = mean * static_cast<float>(share.size);
    if (std::isfinite(mean)) {
      // The whole batch's mean loss is the sum over the shares of (share / whole) x the share's
      // mean: each rank's gradient carries its weight, and the ranks' gradients are summed.
      ops::scale(loss, static_cast<float>(share.size) / static_cast<float>(whole)).backward();
      correct = static_cast<float>(
          count_correct(forward.logits.to_vector(), share.labels, model_.config().classes));
    }
  }
  // One buffer, one all-reduce: the gradients, then the loss, the count right and the stops.
  const Tensor& buffer = flat_->gather({loss_sum, correct, stop ? 1.0f : 0.0f});
  if (gradients_ != nullptr) {
    gradients_->all_reduce_sum(buffer.data(), static_cast<size_t>(buffer.numel()));
  } else if (model_.device().type == DeviceType::kCpu) {
    comm_.all_reduce_sum(buffer.data(), static_cast<size_t>(buffer.numel()));
  } else {
    host_ = buffer.to_vector();
    comm_.all_reduce_sum(host_.data(), host_.size());
    buffer.copy_from(host_);
  }
  const std::vector<float> sums = flat_->scatter();
  stop = sums[2] > 0;
  StepResult result;
  result.loss = sums[0] / static_cast<float>(whole);
  if (!std::isfinite(result.loss)) return result;
  take_step(adam_, options_);
  result.updated = true;
  result.correct = static_cast<int64_t>(sums[1]);
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
