#include "sav/optim/weight_average.h"

#include <algorithm>

#include "backends/backend.h"
#include "sav/error.h"

namespace sav::optim {

WeightAverage::WeightAverage(std::vector<Tensor> weights, std::vector<Tensor> averages,
                             double decay)
    : weights_(std::move(weights)), averages_(std::move(averages)), decay_(decay) {
  if (!(decay_ > 0 && decay_ < 1)) fail("weight average: decay must be in (0, 1), got ", decay_);
  if (weights_.size() != averages_.size()) {
    fail("weight average: ", averages_.size(), " averages for ", weights_.size(), " weights");
  }
  for (size_t i = 0; i < weights_.size(); ++i) {
    const Tensor &w = weights_[i], &a = averages_[i];
    if (w.shape() != a.shape() || w.device() != a.device()) {
      fail("weight average: average ", i, " ", a.shape(), " on ", a.device(),
           " does not match its weight ", w.shape(), " on ", w.device());
    }
    w.backend().copy(a.data(), w.data(), static_cast<size_t>(w.numel()) * sizeof(float));
  }
}

float WeightAverage::decay_at(int64_t t) const {
  const double warm = (1.0 + static_cast<double>(t)) / (10.0 + static_cast<double>(t));
  return static_cast<float>(std::min(decay_, warm));
}

void WeightAverage::update() {
  const float d = decay_at(updates_);
  for (size_t i = 0; i < weights_.size(); ++i) {
    const Tensor &w = weights_[i], &a = averages_[i];
    Backend& backend = w.backend();
    backend.scale(a.data(), a.data(), d, a.numel(), Write::kOverwrite);
    backend.scale(a.data(), w.data(), 1.0f - d, a.numel(), Write::kAccumulate);
  }
  ++updates_;
}

void WeightAverage::restore(int64_t updates) {
  if (updates < 0) fail("weight average: ", updates, " updates");
  updates_ = updates;
}

}  // namespace sav::optim
