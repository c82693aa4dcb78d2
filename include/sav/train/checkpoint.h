// Checkpoints (DESIGN.md section 3): the model's parameters under their PyTorch names, the
// configuration and training progress in the safetensors metadata, and, for resuming, Adam's
// moments as optim.m.<name> and optim.v.<name>.
#pragma once

#include <cstdint>
#include <string>

#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/train/config.h"

namespace sav::train {

// Where a run stands after `epoch` completed epochs.
struct TrainingState {
  int64_t epoch = 0;                 // completed epochs
  int64_t step = 0;                  // optimizer steps taken
  int64_t best_epoch = 0;            // the epoch of the best validation accuracy so far (0: none)
  double best_val_accuracy = -1.0;   // in [0, 1]; -1 before the first validation
  double best_test_accuracy = -1.0;  // the test accuracy measured at best_epoch
};

// Writes a checkpoint atomically. With `adam`, its moments and step count are stored too.
void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state,
                     const optim::Adam* adam = nullptr);

struct Checkpoint {
  std::string path;
  Config config;
  TrainingState state;
  io::SafetensorsFile file;
};

// Reads a checkpoint and its metadata. Throws sav::Error naming the file for a file that is
// missing, not safetensors, or not a sav checkpoint (no configuration in its metadata).
Checkpoint read_checkpoint(const std::string& path);

// Copies the checkpoint's weights into `model`. Throws naming the tensor when one is missing or
// its shape differs from the model's (a checkpoint of another configuration).
void load_weights(const Checkpoint& checkpoint, const nn::VisionTransformer& model);

// Restores Adam's moments and step count. Throws when the checkpoint holds none.
void load_optimizer(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                    optim::Adam& adam);

}  // namespace sav::train
