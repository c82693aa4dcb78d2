// Checkpoints (docs/design.md section 3): the model's parameters under their PyTorch names, the
// configuration and training progress in the safetensors metadata, and, for resuming, Adam's
// moments as optim.m.<name> and optim.v.<name>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// Writes a checkpoint atomically. With `adam`, its moments and step count are stored too. A
// configuration with training.ema_decay keeps the weights' moving average beside them, as
// ema.<name>: `averages`, in parameter order.
void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state,
                     const optim::Adam* adam = nullptr, const std::vector<Tensor>& averages = {});

struct Checkpoint {
  std::string path;
  Config config;
  TrainingState state;
  io::SafetensorsFile file;
};

// Reads a checkpoint and its metadata. Throws sav::Error naming the file for a file that is
// missing, not safetensors, or not a sav checkpoint (no configuration in its metadata).
// Everything is checked before it is returned, so that a model built from `config` is safe to
// allocate and load: the stored configuration (as parse_config does, with its bounds), every
// metadata field (a whole number or fraction within its range; the error names the key), and
// the tensors, which must be exactly those of nn::parameter_shapes(config.vit()), with Adam's
// moments when the metadata holds optimizer_steps. Until then nothing is allocated beyond what the
// file holds. A caller that took the path from its user reports these as UsageError.
Checkpoint read_checkpoint(const std::string& path);

// Which weights to load: those trained, or their moving average (training.ema_decay), which is
// what the run evaluated and chose its best checkpoint by.
enum class WeightSet { kTrained, kAveraged };
bool holds_average(const Checkpoint& checkpoint);

// Copies the checkpoint's weights into `model`. Throws naming the tensor when one is missing or
// its shape differs from the model's (a checkpoint of another configuration), or when the
// average is asked for and the checkpoint holds none.
void load_weights(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                  WeightSet which = WeightSet::kTrained);

// Restores Adam's moments and step count. Throws when the checkpoint holds none.
void load_optimizer(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                    optim::Adam& adam);

// How far a run had gone into epoch `state.epoch + 1` when it was stopped; all zero at an
// epoch's end. The running sums are stored exactly (a hex float, integers), so a resumed epoch
// reports the loss and accuracy an uninterrupted one would.
struct EpochProgress {
  int64_t steps = 0;           // steps of the epoch already taken
  double loss_sum = 0;         // the sum over those steps of loss x batch size
  int64_t correct = 0;         // training images classified right so far
  int64_t seen = 0;            // training images seen so far
  double train_seconds = 0;    // time spent on those steps (for images/s)
  double elapsed_seconds = 0;  // the run's elapsed time when it stopped
};

// save_checkpoint, also storing how far into the next epoch the run had gone: a point to resume
// from in the middle of an epoch.
void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state, const optim::Adam* adam,
                     const EpochProgress& progress, const std::vector<Tensor>& averages = {});

// The point in an epoch a checkpoint was saved at: all zero for one saved at an epoch's end (and
// for a checkpoint written before sav stored it). Throws naming the file for values that do not
// parse.
EpochProgress read_epoch_progress(const Checkpoint& checkpoint);

}  // namespace sav::train
