// What the training tests share: a tiny recipe, a small data set the tests write, and an
// observer that shows nothing.
#pragma once

#include <cstdint>

#include "cifar_files.h"
#include "sav/data/cifar10.h"
#include "sav/train/config.h"
#include "sav/train/trainer.h"
#include "test_support.h"

namespace sav::testing {

// The tiny model (tiny_model.h) with a recipe that trains it in milliseconds a step.
inline train::Config tiny_train_config(uint64_t seed) {
  train::Config c;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.d_ff = 32;
  c.batch_size = 16;
  c.lr = 1e-3;
  c.epochs = 3;
  c.seed = seed;
  return c;
}

// The tiny recipe with every feature of the strong recipe on (data/recipes/cifar10-strong.json):
// what a resumed or data-parallel run must reproduce.
inline train::Config tiny_strong_config(uint64_t seed) {
  train::Config c = tiny_train_config(seed);
  c.dropout = 0.1;
  c.drop_path = 0.2;
  c.augment = true;
  c.augment_policy.kind = data::AugmentKind::kTrivialAugment;
  c.mix.mixup_alpha = 0.8;
  c.mix.cutmix_alpha = 1.0;
  c.lr_schedule = train::LrShape::kCosine;
  c.warmup_epochs = 0.5;
  c.min_lr = 1e-5;
  c.weight_decay = 0.05;
  c.decay_matrices_only = true;
  c.label_smoothing = 0.1;
  c.clip_grad_norm = 1.0;
  c.ema_decay = 0.9;
  return c;
}

// 100 training records (7 steps an epoch at batch 16, the last of 4 records), 30 validation and
// 20 test records of the test pattern.
inline train::TrainData tiny_train_data(const TempFolder& folder) {
  const data::RecordSet all = data::RecordSet::open({write_records(folder, "train.bin", 0, 130)});
  const data::RecordSet test = data::RecordSet::open({write_records(folder, "test.bin", 500, 20)});
  const data::TrainValidation split = data::split_train_validation(all, 30, 0);
  return {split.train, split.validation, test};
}

class SilentObserver : public train::TrainObserver {};

}  // namespace sav::testing
