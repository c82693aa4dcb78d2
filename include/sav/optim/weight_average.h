// An exponential moving average of a model's weights (Polyak-Juditsky averaging as training
// recipes use it: timm's ModelEma, the "EMA" of DeiT's and others'), kept on the weights' device
// and updated after every optimizer step. Evaluating the average instead of the last weights
// smooths out the noise of the last steps.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/tensor.h"

namespace sav::optim {

class WeightAverage {
 public:
  // `averages` are tensors of the weights' shapes on their device (another model's parameters,
  // so that the average can be evaluated as a model); they are set to the weights now. Throws
  // sav::Error for a decay outside (0, 1) or tensors that do not pair up.
  WeightAverage(std::vector<Tensor> weights, std::vector<Tensor> averages, double decay);

  // averages = d * averages + (1 - d) * weights, with d = decay_at(updates()); then counts the
  // update.
  void update();
  // The decay of update `t` (counted from 0): min(decay, (1 + t) / (10 + t)), so that early on,
  // when the average would mostly hold the initial weights, it follows the weights closely
  // (TensorFlow's ExponentialMovingAverage with num_updates).
  float decay_at(int64_t t) const;

  int64_t updates() const { return updates_; }
  // After the averages were loaded from a checkpoint: the count of updates made so far.
  void restore(int64_t updates);
  const std::vector<Tensor>& averages() const { return averages_; }

 private:
  std::vector<Tensor> weights_, averages_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace sav::optim
