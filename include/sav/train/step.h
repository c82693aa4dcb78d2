// One training step and one evaluation batch: the only place the model, the loss, the backward
// pass and Adam meet. sav_train runs these, BM_TrainStep and BM_Inference time them, and the
// tests check them, so that what is measured and checked is what trains.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sav/data/loader.h"
#include "sav/dist/communicator.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/optim/flat_gradients.h"

namespace sav::train {

struct StepResult {
  float loss = 0;        // the batch's mean cross-entropy, before any update
  int64_t correct = 0;   // images of the batch the model classified right, before any update
  bool updated = false;  // whether the weights were updated (train_step: the loss was finite)
};

// Uploads `batch` to the model's device, runs the model with dropout (its masks drawn from
// (dropout_seed, step): the same step always gets the same masks), and, when the loss is
// finite, takes its gradient and one Adam step on `adam`, whose parameters are the model's.
// A loss that is not finite is returned with `updated` false and nothing changed, so that the
// caller can report it while the weights are still those of the last good step.
// The recipe's choices within a step (all off in the seed's).
struct StepOptions {
  // The loss is the cross-entropy against the targets (1 - e) on the label and e / classes on
  // every class (training_loss).
  float label_smoothing = 0;
  // When positive, the gradients are scaled down to this global L2 norm where theirs is larger
  // (optim::gradient_norm; the scale is applied within Adam's step).
  float clip_grad_norm = 0;
};

StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step,
                      const StepOptions& options = {});

// Adam's step on the gradients as they are, or clipped to options.clip_grad_norm.
void take_step(optim::Adam& adam, const StepOptions& options);

// The training loss of `logits` [batch, classes]: the mean cross-entropy against the labels,
// or with `label_smoothing` e in (0, 1) against the smoothed targets (Szegedy et al. 2016):
// (1 - e) CE(logits, labels) + e / classes * sum over c of CE(logits, c), the same loss and
// gradient ((softmax - targets) / batch) as a cross-entropy with soft targets.
Tensor training_loss(const Tensor& logits, const std::vector<int32_t>& labels,
                     float label_smoothing);

// The training loss of a batch: training_loss against its labels, or under Mixup / CutMix
// (batch.partner_labels) lambda x that + (1 - lambda) x training_loss against the partners'
// labels, which is the cross-entropy against the soft targets lambda * t(label) +
// (1 - lambda) * t(partner), t the (smoothed) one-hot targets: that cross-entropy is linear in
// its targets.
Tensor batch_loss(const Tensor& logits, const data::Batch& batch, float label_smoothing);

// One step of a data-parallel job: every rank of `comm` holds its share of the step's batch
// (data::LoaderOptions::shards; batch.first, batch.global_size), takes the gradient of its
// share's loss weighted by its share of the batch, and the gradients are summed over the ranks
// in one buffer (with the loss, the count classified right and the stop flags), so that every
// rank takes the same Adam step: the step one process takes on the whole batch, up to the order
// of floating-point sums. Dropout draws each image's mask from its place in the whole batch.
// The result is the whole batch's. With one rank it is train_step above, bit for bit.
//
// The sum runs on `gradients` when given (a communicator of device buffers: NCCL's on the
// model's GPU, sav/dist/device_communicator.h), otherwise on `comm`: in place where the model is
// on the CPU, through a host copy where it is on a GPU.
class ParallelStep {
 public:
  ParallelStep(const nn::VisionTransformer& model, optim::Adam& adam, dist::Communicator& comm,
               dist::Communicator* gradients = nullptr, const StepOptions& options = {});

  // `stop`: in, whether this rank was asked to stop; out, whether any rank was, so that all
  // stop after the same step.
  StepResult run(const data::Batch& share, uint64_t dropout_seed, uint64_t step, bool& stop);

 private:
  const nn::VisionTransformer& model_;
  optim::Adam& adam_;
  dist::Communicator& comm_;
  dist::Communicator* gradients_;
  StepOptions options_;
  // The gradients, then the loss, the count right and the stop flags; only in a job of several
  // ranks (one process runs train_step and needs no buffer).
  std::optional<optim::FlatGradients> flat_;
  std::vector<float> host_;  // the buffer's host copy, for a GPU model summed on the host
};

// The loss and the number classified right of one batch, dropout off, no gradients recorded.
StepResult evaluate_batch(const nn::VisionTransformer& model, const data::Batch& batch);

// How many rows of `logits` ([labels.size(), classes], on the host) have their largest value
// at the label's index.
int64_t count_correct(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                      int64_t classes);

}  // namespace sav::train
