// The training loop behind sav_train: epochs of Adam steps on shuffled batches, evaluation on
// the validation and test sets after each, checkpoints and logs under the output folder.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "sav/data/cifar10.h"
#include "sav/device.h"
#include "sav/dist/communicator.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/train/checkpoint.h"
#include "sav/train/config.h"

namespace sav::train {

struct TrainData {
  data::RecordSet train, validation, test;  // validation may be empty (then best = last)
};

struct EpochReport {
  int64_t epoch = 0;                          // 1-based
  double train_loss = 0, train_accuracy = 0;  // running means over the epoch, dropout on
  double val_loss = 0, val_accuracy = 0;      // NaN without a validation set
  double test_loss = 0, test_accuracy = 0;
  double images_per_second = 0;  // training throughput of the epoch
  double lr = 0;                 // the learning rate of the epoch's last step
  double elapsed_seconds = 0;    // since the run began, across resumptions
  bool best = false;             // this epoch's checkpoint became best.safetensors
};

// What a display sees of the run.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_start(const std::string& /*message*/) {}
  // After each step queued; `loss` is the mean loss of the latest steps whose figures reached the
  // host (NaN until some have).
  virtual void on_step(int64_t /*epoch*/, int64_t /*step_in_epoch*/, int64_t /*steps_per_epoch*/,
                       double /*loss*/, double /*images_per_second*/) {}
  virtual void on_epoch(const EpochReport& /*report*/) {}
};

struct TrainOptions {
  Config config;
  std::string out_dir = "data";  // checkpoints/ and outputs/ go under it
  Device device = Device::cpu();
  bool resume = false;  // continue from <out_dir>/checkpoints/last.safetensors
  bool force = false;   // start anew over a run already in out_dir, deleting its files
  // When set (by a signal handler, another thread or the observer), the run stops after the step
  // in progress: it writes last.safetensors at that point, in the middle of the epoch, and
  // returns with `stopped` set. Resuming from there equals an uninterrupted run, bit for bit.
  const std::atomic<bool>* stop_requested = nullptr;
  // The job's ranks, for data-parallel training (null: one process). Each rank takes its share
  // of every batch (train::ParallelStep) and of the evaluation sets; rank 0 alone writes the
  // checkpoints, the log and the curves, and alone tells the observer. A checkpoint does not
  // depend on the number of ranks, so a run resumes with another. Every rank reads the data and,
  // to resume, out_dir/checkpoints/last.safetensors: on several machines these must be on a
  // file system they share.
  dist::Communicator* communicator = nullptr;
  // Where the gradients are summed when the model is on a GPU: a communicator of device buffers
  // over the same ranks (NCCL's, sav/dist/device_communicator.h); null: through host memory.
  dist::Communicator* gradient_communicator = nullptr;
  // Where the device has graphs (CUDA), one process's steps are recorded and replayed as graphs
  // (train::TrainStep); false runs every step as it is issued. Either gives the same run.
  bool graphs = true;
};

struct TrainResult {
  std::vector<EpochReport> history;
  TrainingState state;
  double final_test_accuracy = 0;
  // A stop was requested before the last epoch ended; last.safetensors holds where the run
  // stood: `state`, and how far into epoch state.epoch + 1 it had gone (zero steps when it
  // stopped at an epoch's end).
  bool stopped = false;
  EpochProgress progress;
  int64_t steps_per_epoch = 0;
  // Of this call's training steps: how many were replayed from recorded graphs, and how many
  // graphs were recorded (TrainStep).
  int64_t replayed_steps = 0, recorded_graphs = 0;
};

// An exclusive lock on an output folder, <out_dir>/train.lock (flock), which holds the process
// id of its owner: two runs writing one folder would overwrite each other's checkpoints and
// temporary files. The operating system releases it when the process ends, however it ends.
class OutputLock {
 public:
  // Creates `out_dir` if needed and takes the lock. Throws sav::Error naming the process that
  // holds it already, or the reason the lock file cannot be made.
  explicit OutputLock(std::string out_dir);
  // What the other ranks of a job hold while rank 0 holds the lock: nothing, for `out_dir`.
  static OutputLock held_by_root(std::string out_dir);
  ~OutputLock();
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&&) = delete;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::string& out_dir() const { return out_dir_; }

 private:
  OutputLock() = default;
  std::string out_dir_;
  int fd_ = -1;
};

// What can be checked before any data is read: takes the output folder's lock, and then throws
// UsageError when `resume` finds no last.safetensors to resume, or when a fresh run finds a run
// in the folder already (a forgotten --resume) and `force` is not set. In a job of several
// ranks, rank 0 takes the lock and the others make the same checks without it.
OutputLock claim_output(const TrainOptions& options);

// Adam's settings from the configuration, in single precision. Throws UsageError, naming the
// key, for a value that single precision turns into 0 or infinity (an eps of 1e-300).
optim::AdamOptions adam_options(const Config& config);

// Which of the model's parameters weight decay applies to, in parameter order: all, or with
// training.decay_matrices_only the 2-D weights (".weight" of rank 2: the products' matrices),
// not biases, norms, position embeddings or tokens.
std::vector<bool> decayed_parameters(const nn::VisionTransformer& model, const Config& config);

// Trains, writing after every epoch <out>/checkpoints/best.safetensors (when the validation
// accuracy is the best so far), then last.safetensors (with Adam's state), outputs/train_log.csv
// and outputs/curves.png. Claims the output folder first (claim_output) unless given its lock.
// Throws UsageError for a checkpoint that does not fit the configuration, and sav::Error for a
// run that diverges (a loss or weight that stops being finite): no checkpoint is then written,
// and those of the last finished epoch stay as they were.
TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer);
TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer,
                  const OutputLock& lock);

struct Evaluation {
  double loss = 0, accuracy = 0;
};
// Mean loss and accuracy of `model` (dropout off) over `records`. With a communicator of
// several ranks, each evaluates its share of the records (a contiguous part, in batches of
// batch_size) and the sums are added up over the ranks: every rank returns the whole set's.
Evaluation evaluate(const nn::VisionTransformer& model, const data::RecordSet& records,
                    int64_t batch_size, dist::Communicator* communicator = nullptr);

}  // namespace sav::train
