// One training step and one evaluation batch: the only place the model, the loss, the backward
// pass and Adam meet. sav_train runs these, BM_TrainStep and BM_Inference time them, and the
// tests check them, so that what is measured and checked is what trains.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sav/data/loader.h"
#include "sav/dist/communicator.h"
#include "sav/graph.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/optim/flat_gradients.h"
#include "sav/optim/step_figures.h"
#include "sav/upload.h"

namespace sav::train {

struct StepResult {
  float loss = 0;        // the batch's mean cross-entropy, before any update
  int64_t correct = 0;   // images of the batch the model classified right, before any update
  bool updated = false;  // whether the weights were updated (train_step: the loss was finite)
};

// The recipe's choices within a step (all off in the seed's).
struct StepOptions {
  // The loss is the cross-entropy against the targets (1 - e) on the label and e / classes on
  // every class (batch_targets).
  float label_smoothing = 0;
  // When positive, the gradients are scaled down to this global L2 norm where theirs is larger
  // (optim::StepFigures::clip; the factor is applied within Adam's step, on the device).
  float clip_grad_norm = 0;
  // Where the device has graphs (CUDA), TrainStep records the step as one and replays it
  // (sav/graph.h); false runs every step as it is issued (--no-graphs).
  bool graphs = true;
};

// sav_train's training step on one process, queued without waiting on the device: the batch's
// upload (page-locked, on the copy queue, overlapping the step before: sav/upload.h), the model
// with dropout (its masks drawn from (dropout_seed, step): the same step always gets the same
// masks), the loss against batch_targets, its gradient, clipping and one Adam step on `adam`,
// whose parameters are the model's. The loss and the count classified right are summed on the
// device (optim::StepFigures) and taken with poll() or drain(). A loss that is not finite stops
// every later update on the device, so that the weights stay those of the last good step; the
// sums say which step it was (StepSums::first_bad).
//
// What changes from step to step reaches the device as uploaded values, never as arguments of
// the step's kernels: the batch, the targets, Adam's learning rate and bias corrections, and the
// masks' stream offset. So on a device with graphs the step's work is recorded once, as a graph,
// the second time a step meets the same tensors (the same upload slot and batch size, the same
// parameters, gradients and moments), and replayed from then on: one launch a step, and nothing
// on the host but the upload. A replayed step equals one run as it is issued, bit for bit.
class TrainStep {
 public:
  TrainStep(const nn::VisionTransformer& model, optim::Adam& adam, const StepOptions& options = {});
  void run(const data::Batch& batch, uint64_t dropout_seed, uint64_t step);
  // Adds the figures of the steps since the last take to `sums`: those that have reached the
  // host (never waits; returns how many), or all of them (waits).
  int64_t poll(optim::StepSums& sums) { return figures_.poll(sums); }
  void drain(optim::StepSums& sums) { figures_.drain(sums); }
  // How many steps ran from a recorded graph, and how many graphs were recorded.
  int64_t replayed_steps() const { return replayed_; }
  int64_t recorded_graphs() const { return static_cast<int64_t>(graphs_.size()); }

  // Graphs kept at most: one for each upload slot at the full batch size and at the epoch's last,
  // smaller batch. Other steps run as they are issued.
  static constexpr size_t kMaxGraphs = 4;

 private:
  // The step's work on the device, from its uploaded tensors: patches, targets, labels, Adam's
  // values and the masks' stream offset.
  void queue(const std::vector<Tensor>& in, uint64_t dropout_seed);
  // What a recorded step depends on: the addresses and sizes of the tensors it reads and writes,
  // and the dropout seed. A step with the same key can be a replay.
  std::vector<uintptr_t> graph_key(const std::vector<Tensor>& in, uint64_t dropout_seed) const;

  struct Recorded {
    std::vector<uintptr_t> key;
    DeviceGraph graph;
  };

  const nn::VisionTransformer& model_;
  optim::Adam& adam_;
  StepOptions options_;
  bool use_graphs_;
  AsyncUploads uploads_;
  optim::StepFigures figures_;
  std::vector<float> targets_, labels_, values_;  // this step's, on the host
  std::vector<Recorded> graphs_;
  std::vector<std::vector<uintptr_t>> seen_;  // keys of steps run once as issued
  int64_t replayed_ = 0;
};

// One step that waits for its figures (tests, benchmarks): TrainStep's run, then drain.
StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step,
                      const StepOptions& options = {});

// Adam's step on the gradients as they are, or clipped to options.clip_grad_norm (the norm read
// on the host: a job of several ranks, which reads its sums there anyway).
void take_step(optim::Adam& adam, const StepOptions& options);

// The targets of a batch's training loss, [batch.size, classes] row-major, each row summing to 1:
// t(label), where t is the one-hot vector or, with `label_smoothing` e in (0, 1), the smoothed
// one (Szegedy et al. 2016) (1 - e) on the label plus e / classes on every class; under Mixup /
// CutMix (batch.partner_labels) lambda t(label) + (1 - lambda) t(partner), whose cross-entropy
// is lambda CE(label) + (1 - lambda) CE(partner), the cross-entropy being linear in its targets.
// Computed in double, rounded once.
std::vector<float> batch_targets(const data::Batch& batch, float label_smoothing, int64_t classes);

// The training loss of a batch: the mean cross-entropy of `logits` [batch, classes] against
// batch_targets, uploaded to the logits' device.
Tensor batch_loss(const Tensor& logits, const data::Batch& batch, float label_smoothing);

// One step of a data-parallel job: every rank of `comm` holds its share of the step's batch
// (data::LoaderOptions::shards; batch.first, batch.global_size), takes the gradient of its
// share's loss weighted by its share of the batch, and the gradients are summed over the ranks
// in one buffer (with the loss, the count classified right and the stop flags), so that every
// rank takes the same Adam step: the step one process takes on the whole batch, up to the order
// of floating-point sums. Dropout draws each image's mask from its place in the whole batch.
// The figures are the whole batch's. With one rank it is TrainStep above, bit for bit.
//
// The sum runs on `gradients` when given (a communicator of device buffers: NCCL's on the
// model's GPU, sav/dist/device_communicator.h), otherwise on `comm`: in place where the model is
// on the CPU, through a host copy where it is on a GPU.
class ParallelStep {
 public:
  ParallelStep(const nn::VisionTransformer& model, optim::Adam& adam, dist::Communicator& comm,
               dist::Communicator* gradients = nullptr, const StepOptions& options = {});

  // `stop`: in, whether this rank was asked to stop; out, whether any rank was, so that all
  // stop after the same step. One process queues the step (TrainStep); ranks take it, reading
  // its figures on the host, where the sums meet.
  void run(const data::Batch& share, uint64_t dropout_seed, uint64_t step, bool& stop);
  // The figures since the last take, as TrainStep's. Ranks have theirs at once, after every
  // step, so that all ranks see the same figures at the same step.
  int64_t poll(optim::StepSums& sums);
  void drain(optim::StepSums& sums);
  // TrainStep's counts on one process; 0 for a job of ranks, which records no graphs.
  int64_t replayed_steps() const { return one_ ? one_->replayed_steps() : 0; }
  int64_t recorded_graphs() const { return one_ ? one_->recorded_graphs() : 0; }

 private:
  const nn::VisionTransformer& model_;
  optim::Adam& adam_;
  dist::Communicator& comm_;
  dist::Communicator* gradients_;
  StepOptions options_;
  std::optional<TrainStep> one_;  // one process
  // The gradients, then the loss, the count right and the stop flags; only in a job of several
  // ranks (one process needs no buffer).
  std::optional<optim::FlatGradients> flat_;
  std::vector<float> host_;  // the buffer's host copy, for a GPU model summed on the host
  std::vector<optim::StepRecord> rank_steps_;  // a job of ranks: the steps since the last take
  bool bad_ = false;  // a job of ranks: a loss was not finite; no more updates
};

// Evaluation batches queued as TrainStep queues a step: the upload, the model without dropout and
// without gradients, the cross-entropy against the labels, and the figures on the device, taken
// when every batch is queued.
class EvalStep {
 public:
  explicit EvalStep(const nn::VisionTransformer& model);
  void run(const data::Batch& batch);
  void drain(optim::StepSums& sums) { figures_.drain(sums); }

 private:
  const nn::VisionTransformer& model_;
  AsyncUploads uploads_;
  optim::StepFigures figures_;
  std::vector<float> targets_, labels_;  // this batch's, on the host
};

// The loss and the number classified right of one batch, dropout off, no gradients recorded
// (EvalStep's run, then drain).
StepResult evaluate_batch(const nn::VisionTransformer& model, const data::Batch& batch);

// How many rows of `logits` ([labels.size(), classes], on the host) have their largest value
// at the label's index.
int64_t count_correct(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                      int64_t classes);

}  // namespace sav::train
