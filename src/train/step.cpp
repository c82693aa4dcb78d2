#include "sav/train/step.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/ops.h"

namespace sav::train {
namespace {

Tensor upload_patches(const data::Batch& batch, Device device) {
  return Tensor::from_vector({batch.size, data::kPatches, data::kPatchFeatures}, batch.patches,
                             device);
}

// The batch's tensors on the device, through `uploads`: patches, targets, labels, then `more`.
std::vector<Tensor> upload_batch(AsyncUploads& uploads, const data::Batch& batch,
                                 const std::vector<float>& targets,
                                 const std::vector<float>& labels, int64_t classes,
                                 const std::vector<HostValues>& more = {}) {
  if (batch.size < 1 ||
      static_cast<int64_t>(batch.patches.size()) !=
          batch.size * data::kPatches * data::kPatchFeatures ||
      static_cast<int64_t>(batch.labels.size()) != batch.size) {
    fail("step: a batch of ", batch.size, " images with ", batch.patches.size(),
         " patch values and ", batch.labels.size(), " labels");
  }
  std::vector<HostValues> parts = {
      {{batch.size, data::kPatches, data::kPatchFeatures}, batch.patches.data()},
      {{batch.size, classes}, targets.data()},
      {{batch.size}, labels.data()}};
  parts.insert(parts.end(), more.begin(), more.end());
  return uploads.upload(parts);
}

uintptr_t address(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr); }

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

std::vector<float> batch_targets(const data::Batch& batch, float label_smoothing, int64_t classes) {
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    fail("training loss: label smoothing must be in [0, 1), got ", label_smoothing);
  }
  const bool mixed = !batch.partner_labels.empty() && batch.mix_lambda != 1.0f;
  if (mixed && (batch.partner_labels.size() != batch.labels.size() ||
                !(batch.mix_lambda >= 0.0f && batch.mix_lambda <= 1.0f))) {
    fail("training loss: ", batch.partner_labels.size(), " partner labels for ",
         batch.labels.size(), " images, or a mixing weight ", batch.mix_lambda, " outside [0, 1]");
  }
  const double e = label_smoothing, lambda = mixed ? batch.mix_lambda : 1.0;
  const size_t rows = batch.labels.size(), width = static_cast<size_t>(classes);
  std::vector<double> targets(rows * width, e / static_cast<double>(classes));
  auto add = [&](const std::vector<int32_t>& labels, double weight) {
    for (size_t i = 0; i < rows; ++i) {
      if (labels[i] < 0 || labels[i] >= classes) {
        fail("training loss: label ", labels[i], " at index ", i, " is outside [0, ", classes, ")");
      }
      targets[i * width + static_cast<size_t>(labels[i])] += weight * (1.0 - e);
    }
  };
  add(batch.labels, lambda);
  if (mixed) add(batch.partner_labels, 1.0 - lambda);
  return std::vector<float>(targets.begin(), targets.end());
}

Tensor batch_loss(const Tensor& logits, const data::Batch& batch, float label_smoothing) {
  if (logits.shape().rank() != 2 ||
      logits.shape()[0] != static_cast<int64_t>(batch.labels.size())) {
    fail("training loss: logits ", logits.shape(), " for a batch of ", batch.labels.size(),
         " labels");
  }
  const int64_t classes = logits.shape()[1];
  return ops::cross_entropy(
      logits, Tensor::from_vector(logits.shape(), batch_targets(batch, label_smoothing, classes),
                                  logits.device()));
}

void take_step(optim::Adam& adam, const StepOptions& options) {
  if (!(options.clip_grad_norm > 0)) {
    adam.step();
    return;
  }
  const float norm = optim::gradient_norm(adam.parameters());
  adam.step(norm > options.clip_grad_norm ? options.clip_grad_norm / norm : 1.0f);
}

TrainStep::TrainStep(const nn::VisionTransformer& model, optim::Adam& adam,
                     const StepOptions& options)
    : model_(model),
      adam_(adam),
      options_(options),
      use_graphs_(options.graphs && DeviceGraph::available(model.device())),
      uploads_(model.device(), 5),
      figures_(model.device()) {}

void TrainStep::run(const data::Batch& batch, uint64_t dropout_seed, uint64_t step) {
  const int64_t classes = model_.config().classes;
  targets_ = batch_targets(batch, options_.label_smoothing, classes);
  labels_.assign(batch.labels.begin(), batch.labels.end());
  // The step's values: Adam's learning rate and bias corrections, the masks' stream offset.
  const std::array<float, optim::Adam::kValues> adam = adam_.next_values();
  values_.assign(adam.begin(), adam.end());
  values_.resize(optim::Adam::kValues + ops::kStreamOffsetFloats);
  ops::offset_values(model_.stream_offset(step), values_.data() + optim::Adam::kValues);
  const std::vector<Tensor> in =
      upload_batch(uploads_, batch, targets_, labels_, classes,
                   {{{optim::Adam::kValues}, values_.data()},
                    {{ops::kStreamOffsetFloats}, values_.data() + optim::Adam::kValues}});
  figures_.make_room();
  if (!use_graphs_) {
    queue(in, dropout_seed);
    uploads_.release();
    return;
  }
  std::vector<uintptr_t> key = graph_key(in, dropout_seed);
  const auto recorded =
      std::find_if(graphs_.begin(), graphs_.end(), [&](const Recorded& r) { return r.key == key; });
  if (recorded != graphs_.end()) {
    recorded->graph.replay();
    // What the step does on the host, the graph does not: count it.
    adam_.count_step();
    figures_.count_record();
    ++replayed_;
  } else if (graphs_.size() < kMaxGraphs &&
             std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
    // The second time: everything the step allocates once (gradients, tables) is in place.
    DeviceGraph graph = DeviceGraph::record(model_.device(), [&] { queue(in, dropout_seed); });
    graph.replay();
    graphs_.push_back({std::move(key), std::move(graph)});
  } else {
    queue(in, dropout_seed);
    if (seen_.size() == 2 * kMaxGraphs) seen_.erase(seen_.begin());
    seen_.push_back(std::move(key));
  }
  uploads_.release();
}

void TrainStep::queue(const std::vector<Tensor>& in, uint64_t dropout_seed) {
  adam_.zero_grad();
  const nn::VitOutput forward = model_.forward_training(in[0], dropout_seed, in[4]);
  const Tensor loss = ops::cross_entropy(forward.logits, in[1]);
  figures_.record(loss, forward.logits, in[2]);
  loss.backward();
  if (options_.clip_grad_norm > 0) figures_.clip(adam_.parameters(), options_.clip_grad_norm);
  adam_.step(1.0f, figures_.control(), in[3]);
}

std::vector<uintptr_t> TrainStep::graph_key(const std::vector<Tensor>& in,
                                            uint64_t dropout_seed) const {
  std::vector<uintptr_t> key = {static_cast<uintptr_t>(dropout_seed)};
  for (const Tensor& t : in) {
    key.push_back(address(t.data()));
    key.push_back(static_cast<uintptr_t>(t.numel()));
  }
  const std::vector<Tensor>& parameters = adam_.parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor grad = parameters[i].grad();
    key.push_back(address(parameters[i].data()));
    key.push_back(grad.defined() ? address(grad.data()) : 0);
    key.push_back(address(adam_.first_moments()[i].data()));
    key.push_back(address(adam_.second_moments()[i].data()));
  }
  return key;
}

StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step,
                      const StepOptions& options) {
  TrainStep train(model, adam, options);
  train.run(batch, dropout_seed, step);
  optim::StepSums sums;
  train.drain(sums);
  StepResult result;
  result.updated = sums.first_bad < 0;
  result.loss =
      result.updated ? static_cast<float>(sums.loss_sum / static_cast<double>(batch.size)) : NAN;
  result.correct = sums.correct;
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
  if (comm.size() == 1) one_.emplace(model, adam, options);
  if (gradients_ != nullptr &&
      (!gradients_->device_buffers() || gradients_->size() != comm.size())) {
    fail("train step: the gradients' communicator must take device buffers and have the job's ",
         comm.size(), " ranks");
  }
}

void ParallelStep::run(const data::Batch& share, uint64_t dropout_seed, uint64_t step, bool& stop) {
  if (one_) {
    one_->run(share, dropout_seed, step);
    return;
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
  const float loss = sums[0] / static_cast<float>(whole);
  // As on one process: no update at a loss that is not finite, nor after it.
  bad_ = bad_ || !std::isfinite(loss);
  if (!bad_) take_step(adam_, options_);
  rank_steps_.push_back({loss, static_cast<int64_t>(sums[1]), whole});
}

void ParallelStep::drain(optim::StepSums& sums) {
  if (one_) {
    one_->drain(sums);
  } else {
    poll(sums);
  }
}

int64_t ParallelStep::poll(optim::StepSums& sums) {
  if (one_) return one_->poll(sums);
  for (const optim::StepRecord& record : rank_steps_) sums.add(record);
  const auto count = static_cast<int64_t>(rank_steps_.size());
  rank_steps_.clear();
  return count;
}

EvalStep::EvalStep(const nn::VisionTransformer& model)
    : model_(model), uploads_(model.device(), 3), figures_(model.device()) {}

void EvalStep::run(const data::Batch& batch) {
  NoGradGuard no_grad;
  const int64_t classes = model_.config().classes;
  targets_ = batch_targets(batch, 0.0f, classes);
  labels_.assign(batch.labels.begin(), batch.labels.end());
  const std::vector<Tensor> in = upload_batch(uploads_, batch, targets_, labels_, classes);
  const Tensor logits = model_.forward(in[0]).logits;
  figures_.record(ops::cross_entropy(logits, in[1]), logits, in[2]);
  uploads_.release();
}

StepResult evaluate_batch(const nn::VisionTransformer& model, const data::Batch& batch) {
  EvalStep eval(model);
  eval.run(batch);
  optim::StepSums sums;
  eval.drain(sums);
  StepResult result;
  result.updated = false;
  result.loss = sums.first_bad < 0
                    ? static_cast<float>(sums.loss_sum / static_cast<double>(batch.size))
                    : NAN;
  result.correct = sums.correct;
  return result;
}

}  // namespace sav::train
