// The training loop behind sav_train: epochs of Adam steps on shuffled batches, evaluation on
// the validation and test sets after each, checkpoints and logs under the output folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sav/data/cifar10.h"
#include "sav/device.h"
#include "sav/nn/vit.h"
#include "sav/train/checkpoint.h"
#include "sav/train/config.h"

namespace sav::train {

struct TrainData {
  data::RecordSet train, validation, test;  // validation may be empty (then best = last)
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;  // running means over the epoch, dropout on
  double val_loss = 0, val_accuracy = 0;      // NaN without a validation set
  double test_loss = 0, test_accuracy = 0;
  double images_per_second = 0;  // training throughput of the epoch
  double elapsed_seconds = 0;    // since the run began, across resumptions
  bool best = false;             // this epoch's checkpoint became best.safetensors
};

// What a display sees of the run.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_start(const std::string& /*message*/) {}
  virtual void on_step(int64_t /*epoch*/, int64_t /*step_in_epoch*/, int64_t /*steps_per_epoch*/,
                       double /*loss*/, double /*images_per_second*/) {}
  virtual void on_epoch(const EpochReport& /*report*/) {}
};

struct TrainOptions {
  Config config;
  std::string out_dir = "data";  // checkpoints/ and outputs/ go under it
  Device device = Device::cpu();
  bool resume = false;           // continue from <out_dir>/checkpoints/last.safetensors
};

struct TrainResult {
  std::vector<EpochReport> history;
  TrainingState state;
  double final_test_accuracy = 0;
};

// Trains, writing after every epoch <out>/checkpoints/last.safetensors (with Adam's state),
// best.safetensors (best validation accuracy), outputs/train_log.csv and outputs/curves.png.
// Throws sav::Error for a checkpoint that does not fit, or a loss that stops being finite (the
// checkpoints of the last finished epoch stay as they were).
TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer);

struct Evaluation {
  double loss = 0, accuracy = 0;
};
// Mean loss and accuracy of `model` (dropout off) over `records`.
Evaluation evaluate(const nn::VisionTransformer& model, const data::RecordSet& records,
                    int64_t batch_size);

}  // namespace sav::train
