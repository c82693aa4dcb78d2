// One training step and one evaluation batch: the only place the model, the loss, the backward
// pass and Adam meet. sav_train runs these, BM_TrainStep and BM_Inference time them, and the
// tests check them, so that what is measured and checked is what trains.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/data/loader.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"

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
StepResult train_step(const nn::VisionTransformer& model, optim::Adam& adam,
                      const data::Batch& batch, uint64_t dropout_seed, uint64_t step);

// The loss and the number classified right of one batch, dropout off, no gradients recorded.
StepResult evaluate_batch(const nn::VisionTransformer& model, const data::Batch& batch);

// How many rows of `logits` ([labels.size(), classes], on the host) have their largest value
// at the label's index.
int64_t count_correct(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                      int64_t classes);

}  // namespace sav::train
