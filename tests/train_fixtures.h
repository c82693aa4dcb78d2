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
