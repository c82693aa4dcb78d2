// A run stopped on request (Ctrl-C, SIGTERM) and resumed, and the lock on an output folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cifar_files.h"
#include "sav/data/loader.h"
#include "sav/error.h"
#include "sav/train/checkpoint.h"
#include "sav/train/trainer.h"
#include "train_fixtures.h"

namespace sav::testing {
namespace {

namespace fs = std::filesystem;

// Dropout and augmentation on, so that the masks and the crops of the resumed steps must match.
train::Config tiny_config() {
  train::Config c = tiny_train_config(11);
  c.dropout = 0.1;
  c.augment = true;
  return c;
}

train::TrainData tiny_data(const TempFolder& folder) { return tiny_train_data(folder); }

// Asks for a stop once the run has taken `stop_after` steps in this process, as a signal
// handler would.
class StopAfter : public train::TrainObserver {
 public:
  explicit StopAfter(int64_t stop_after) : stop_after_(stop_after) {}
  void on_step(int64_t, int64_t, int64_t, double, double) override {
    if (++steps_ == stop_after_) flag.store(true);
  }
  std::atomic<bool> flag{false};

 private:
  int64_t stop_after_;
  int64_t steps_ = 0;
};

using Silent = SilentObserver;

void expect_same_tensors(const std::string& a_path, const std::string& b_path) {
  const train::Checkpoint a = train::read_checkpoint(a_path);
  const train::Checkpoint b = train::read_checkpoint(b_path);
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size());
  for (size_t i = 0; i < a.file.tensors.size(); ++i) {
    EXPECT_EQ(a.file.tensors[i].name, b.file.tensors[i].name);
    EXPECT_EQ(a.file.tensors[i].values, b.file.tensors[i].values) << a.file.tensors[i].name;
  }
  EXPECT_EQ(a.file.metadata, b.file.metadata);
}

// The log without its last two columns (images/s and elapsed time, which are measurements).
std::string log_without_timings(const std::string& path) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    for (int i = 0; i < 2; ++i) line.erase(line.rfind(','));
    kept += line + "\n";
  }
  return kept;
}

// Runs stopped after the steps listed (counted from each start), each resumed, against one run
// never stopped: every tensor and metadata value of both checkpoints, the results and the log.
// With the seed's choices, and with every feature of the strong recipe on (Mixup and CutMix,
// drop path, the moving average, the schedule...).
class TrainInterruptRecipe : public ::testing::TestWithParam<bool> {};

TEST_P(TrainInterruptRecipe, StoppedAndResumedRunsEqualAnUninterruptedRun) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  Silent silent;
  train::TrainOptions straight;
  straight.config = GetParam() ? tiny_strong_config(11) : tiny_config();
  straight.out_dir = folder.file("straight");
  const train::TrainResult full = train::train(straight, data, silent);

  const std::vector<std::vector<int64_t>> cases = {
      {10},        // within epoch 2, after its step 3 of 7: epoch 3 then starts afresh
      {7},         // after epoch 1's last step, before its evaluation
      {2, 3, 6}};  // twice within epoch 1, then within epoch 2
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE("stops after " + ::testing::PrintToString(cases[c]));
    train::TrainOptions options = straight;
    options.out_dir = folder.file("stopped" + std::to_string(c));
    int64_t steps_before = 0;
    for (const int64_t stop_after : cases[c]) {
      StopAfter stopper(stop_after);
      options.stop_requested = &stopper.flag;
      const train::TrainResult stopped = train::train(options, data, stopper);
      ASSERT_TRUE(stopped.stopped) << "stop after " << stop_after;
      steps_before += stop_after;
      EXPECT_EQ(stopped.state.step, steps_before);
      EXPECT_EQ(stopped.steps_per_epoch, 7);
      EXPECT_EQ(stopped.state.epoch * 7 + stopped.progress.steps, steps_before);
      const train::Checkpoint point =
          train::read_checkpoint(options.out_dir + "/checkpoints/last.safetensors");
      EXPECT_EQ(point.state.step, steps_before);
      EXPECT_EQ(train::read_epoch_progress(point).steps, stopped.progress.steps);
      options.resume = true;
    }
    options.stop_requested = nullptr;
    const train::TrainResult resumed = train::train(options, data, silent);
    EXPECT_FALSE(resumed.stopped);
    EXPECT_EQ(resumed.state.step, full.state.step);
    EXPECT_EQ(resumed.state.best_epoch, full.state.best_epoch);
    EXPECT_EQ(resumed.state.best_val_accuracy, full.state.best_val_accuracy);
    ASSERT_EQ(resumed.history.size(), full.history.size());
    // The epoch the last stop fell in was measured partly before it: its running sums came
    // back from the checkpoint, exactly.
    const train::EpochReport& a = full.history.back();
    const train::EpochReport& b = resumed.history.back();
    EXPECT_EQ(a.train_loss, b.train_loss);
    EXPECT_EQ(a.train_accuracy, b.train_accuracy);
    EXPECT_EQ(a.val_loss, b.val_loss);
    EXPECT_EQ(a.test_accuracy, b.test_accuracy);
    for (const char* name : {"last", "best"}) {
      SCOPED_TRACE(name);
      expect_same_tensors(straight.out_dir + "/checkpoints/" + name + ".safetensors",
                          options.out_dir + "/checkpoints/" + name + ".safetensors");
    }
    EXPECT_EQ(log_without_timings(options.out_dir + "/outputs/train_log.csv"),
              log_without_timings(straight.out_dir + "/outputs/train_log.csv"));
  }
}

INSTANTIATE_TEST_SUITE_P(TrainInterrupt, TrainInterruptRecipe, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "StrongRecipe" : "SeedChoices";
                         });

// A stop requested before the first step: the run takes that step, then stops and saves it.
TEST(TrainInterrupt, StopRequestedBeforeAnyStepStillSavesAStep) {
  TempFolder folder;
  train::TrainOptions options;
  options.config = tiny_config();
  options.out_dir = folder.file("out");
  std::atomic<bool> stop{true};
  options.stop_requested = &stop;
  Silent silent;
  const train::TrainResult result = train::train(options, tiny_data(folder), silent);
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.state.step, 1);
  EXPECT_EQ(result.progress.steps, 1);
  EXPECT_TRUE(result.history.empty());
  EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints/best.safetensors"));
}

// A resumption with a training set of another size cannot continue the epoch: refused.
TEST(TrainInterrupt, ResumeWithinAnEpochRefusesAnotherTrainingSet) {
  TempFolder folder;
  train::TrainData data = tiny_data(folder);
  train::TrainOptions options;
  options.config = tiny_config();
  options.out_dir = folder.file("out");
  StopAfter stopper(10);  // epoch 2, after its step 3
  options.stop_requested = &stopper.flag;
  train::train(options, data, stopper);
  options.stop_requested = nullptr;
  options.resume = true;
  Silent silent;
  options.config.epochs = 1;
  EXPECT_NE(error_of([&] {
              train::train(options, data, silent);
            }).find("stopped within epoch 2, past the 1 epochs asked for"),
            std::string::npos);
  options.config.epochs = 3;
  data.train = data::split_train_validation(data.train, 0, 16).train;  // 1 step an epoch
  try {
    train::train(options, data, silent);
    ADD_FAILURE() << "resumed on another training set";
  } catch (const UsageError& e) {
    EXPECT_NE(
        std::string(e.what()).find("stopped after step 3 of an epoch, but an epoch now has 1"),
        std::string::npos)
        << e.what();
  }
}

// The rest of an epoch from batch k on is what the whole epoch gives from its batch k on.
TEST(TrainInterrupt, LoaderStartsAnEpochAtAnyBatch) {
  TempFolder folder;
  const data::RecordSet records = data::RecordSet::open({write_records(folder, "r.bin", 0, 50)});
  data::LoaderOptions options;
  options.batch_size = 8;
  options.flip = true;
  options.crop_padding = 4;
  data::BatchLoader loader(records, options);
  auto batches = [&](int64_t first) {
    loader.start_epoch(3, first);
    std::vector<data::Batch> all;
    data::Batch batch;
    while (loader.next(batch)) all.push_back(batch);
    return all;
  };
  const std::vector<data::Batch> whole = batches(0);
  ASSERT_EQ(whole.size(), 7u);
  for (int64_t first : {1, 5, 7}) {
    const std::vector<data::Batch> rest = batches(first);
    ASSERT_EQ(rest.size(), whole.size() - first);
    for (size_t i = 0; i < rest.size(); ++i) {
      EXPECT_EQ(rest[i].records, whole[first + i].records);
      EXPECT_EQ(rest[i].patches, whole[first + i].patches);
    }
  }
  EXPECT_NE(error_of([&] { loader.start_epoch(0, 8); }).find("first batch 8 is outside"),
            std::string::npos);
}

// Two runs on one folder would overwrite each other's files: the second is refused, naming the
// process that holds the folder. The lock goes with its holder.
TEST(TrainInterrupt, SecondRunOnOneFolderIsRefused) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  train::TrainOptions options;
  options.config = tiny_config();
  options.config.epochs = 1;
  options.out_dir = folder.file("out");
  Silent silent;
  {
    const train::OutputLock held(options.out_dir);
    std::ifstream pid_file(options.out_dir + "/train.lock");
    std::string pid;
    pid_file >> pid;
    EXPECT_EQ(pid, std::to_string(::getpid()));
    EXPECT_EQ(error_of([&] { train::train(options, data, silent); }),
              options.out_dir + " is in use by another training run (process " + pid +
                  ", which holds " + options.out_dir +
                  "/train.lock): wait for it to end or stop it, or pass another --out");
    EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints"));
  }
  train::train(options, data, silent);
  EXPECT_TRUE(fs::exists(options.out_dir + "/checkpoints/last.safetensors"));
}

}  // namespace
}  // namespace sav::testing
