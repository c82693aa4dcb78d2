// The learning rate of each step: constant (the seed's recipe), or a linear warm-up followed by a
// cosine decay to a floor (the usual ViT recipe: Dosovitskiy et al. 2021, Touvron et al. 2021).
#pragma once

#include <cstdint>

#include "sav/train/config.h"

namespace sav::train {

struct LrSchedule {
  double lr = 1e-4;          // the peak: after warm-up, and throughout when constant
  double min_lr = 0;         // where the cosine ends, at the last step
  int64_t warmup_steps = 0;  // steps 0 .. warmup_steps - 1 rise linearly to lr
  int64_t total_steps = 1;   // the run's steps: epochs x steps an epoch
  bool cosine = false;

  // The rate of step `step` (0-based): lr * (step + 1) / warmup_steps during the warm-up, then
  // lr, or with `cosine` min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2 where t runs from 0 at
  // the first step after the warm-up to 1 at the last step of the run. Steps past the run keep
  // min_lr.
  double at(int64_t step) const;
};

// The schedule `config` asks for, over `epochs` of `steps_per_epoch` steps.
LrSchedule lr_schedule(const Config& config, int64_t steps_per_epoch);

}  // namespace sav::train
