#include "sav/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace sav::train {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) {
    return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  if (!cosine) return lr;
  const int64_t decay_steps = total_steps - warmup_steps;
  if (decay_steps <= 1) return step < total_steps ? lr : min_lr;
  const double t = std::min(
      1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps - 1));
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

LrSchedule lr_schedule(const Config& config, int64_t steps_per_epoch) {
  LrSchedule s;
  s.lr = config.lr;
  s.min_lr = config.min_lr;
  s.cosine = config.lr_schedule == LrShape::kCosine;
  s.total_steps = std::max<int64_t>(1, config.epochs * steps_per_epoch);
  s.warmup_steps =
      std::min(s.total_steps, static_cast<int64_t>(std::llround(
                                  config.warmup_epochs * static_cast<double>(steps_per_epoch))));
  return s;
}

}  // namespace sav::train
