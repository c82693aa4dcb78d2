// Data-parallel training: the ranks of the job (mpirun -np 2 in the suite; one process alone
// also runs these, trivially) train the model one process trains with the same global batch,
// and a checkpoint of either resumes with the other.
//
// Tolerances: the ranks' run differs from one process's only in the order of floating-point
// sums (each rank's share of the gradient, weighted, then added over the ranks; the loss sums).
// Those differences, about 1e-7 relative a step, are carried through Adam, whose update divides
// by the root of the second moment; over this tiny model's 14 to 20 steps they stay below 1e-5
// in every weight (measured: at most 3e-7; the bound leaves room for other BLAS kernels). The
// logged losses are means over the whole batch or set, compared within 1e-5 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cifar_files.h"
#include "sav/data/loader.h"
#include "sav/dist/communicator.h"
#include "sav/error.h"
#include "sav/optim/flat_gradients.h"
#include "sav/train/checkpoint.h"
#include "sav/train/trainer.h"
#include "train_fixtures.h"

namespace sav::testing {
namespace {

constexpr float kWeightTolerance = 1e-5f;
constexpr double kLossTolerance = 1e-5;

// Dropout and augmentation on: each image's mask and crop must be the one it gets in one process.
train::Config parallel_config(int64_t batch_size, int64_t epochs) {
  train::Config c = tiny_train_config(23);
  c.dropout = 0.1;
  c.augment = true;
  c.batch_size = batch_size;
  c.epochs = epochs;
  return c;
}

// A folder every rank sees: rank 0's temporary folder, its path sent to the others.
class SharedFolder {
 public:
  explicit SharedFolder(dist::Communicator& world) {
    std::string path = world.is_root() ? own_.path() : std::string();
    uint64_t length = path.size();
    world.broadcast(&length, sizeof length, 0);
    path.resize(length);
    world.broadcast(path.data(), length, 0);
    path_ = path;
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  TempFolder own_;  // made on every rank; only rank 0's is used
  std::string path_;
};

train::TrainResult train_in(const std::string& out_dir, const train::Config& config,
                            const train::TrainData& data, dist::Communicator* communicator,
                            bool resume = false) {
  train::TrainOptions options;
  options.config = config;
  options.out_dir = out_dir;
  options.resume = resume;
  options.communicator = communicator;
  SilentObserver silent;
  return train::train(options, data, silent);
}

void expect_close_weights(const std::string& a_path, const std::string& b_path) {
  const train::Checkpoint a = train::read_checkpoint(a_path);
  const train::Checkpoint b = train::read_checkpoint(b_path);
  EXPECT_EQ(a.state.step, b.state.step);
  EXPECT_EQ(a.state.epoch, b.state.epoch);
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size());
  float largest = 0;
  for (size_t i = 0; i < a.file.tensors.size(); ++i) {
    const std::vector<float>& x = a.file.tensors[i].values;
    const std::vector<float>& y = b.file.tensors[i].values;
    ASSERT_EQ(x.size(), y.size()) << a.file.tensors[i].name;
    for (size_t j = 0; j < x.size(); ++j) {
      const float difference = std::fabs(x[j] - y[j]);
      largest = std::max(largest, difference);
      ASSERT_LE(difference, kWeightTolerance)
          << a.file.tensors[i].name << "[" << j << "]: " << x[j] << " vs " << y[j];
    }
  }
  std::cout << "largest weight difference: " << largest << std::endl;
}

void expect_close_histories(const train::TrainResult& a, const train::TrainResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t e = 0; e < a.history.size(); ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e + 1));
    const train::EpochReport &x = a.history[e], &y = b.history[e];
    for (const auto& [name, u, v] : {std::tuple{"train loss", x.train_loss, y.train_loss},
                                     std::tuple{"validation loss", x.val_loss, y.val_loss},
                                     std::tuple{"test loss", x.test_loss, y.test_loss}}) {
      EXPECT_NEAR(u, v, kLossTolerance * std::fabs(u)) << name;
    }
    // Counts of images classified right: equal unless an image sits on a decision boundary
    // within the weights' differences, which these runs do not have.
    EXPECT_EQ(x.train_accuracy, y.train_accuracy);
    EXPECT_EQ(x.val_accuracy, y.val_accuracy);
    EXPECT_EQ(x.test_accuracy, y.test_accuracy);
  }
}

// Trains `config` with every rank of the job and with rank 0 alone; compares on rank 0.
void expect_ranks_train_one_model(const train::Config& config) {
  dist::Communicator& world = dist::world();
  const SharedFolder folder(world);
  TempFolder own;  // each rank writes the data set for itself: the same records
  const train::TrainData data = tiny_train_data(own);
  train::TrainResult alone;
  if (world.is_root()) alone = train_in(folder.file("alone"), config, data, nullptr);
  world.barrier();
  const train::TrainResult ranks = train_in(folder.file("ranks"), config, data, &world);
  if (world.is_root()) {
    expect_close_histories(alone, ranks);
    for (const char* name : {"last", "best"}) {
      SCOPED_TRACE(name);
      expect_close_weights(folder.file("alone/checkpoints/") + name + ".safetensors",
                           folder.file("ranks/checkpoints/") + name + ".safetensors");
    }
  }
  world.barrier();  // the others keep the folder's data until rank 0 has read it
}

TEST(DataParallel, RanksTrainTheModelOneProcessTrains) {
  // 100 training images at batch 16: six batches of 16 (8 a rank) and a last one of 4.
  expect_ranks_train_one_model(parallel_config(16, 2));
}

TEST(DataParallel, AnOddBatchAndAnEmptyShareTrainTheSameModel) {
  // Batch 11: shares of 5 and 6 images; the epoch's last batch has 1 image, and one rank of two
  // has none of it, yet takes part in the sum.
  expect_ranks_train_one_model(parallel_config(11, 2));
}

TEST(DataParallel, TheWholeRecipeTrainsTheSameModel) {
  // Mixup / CutMix pair images across the ranks' shares (batch 11: shares of 5 and 6), drop path
  // draws per image of the whole batch, and every rank keeps the same moving average.
  train::Config config = tiny_strong_config(23);
  config.batch_size = 11;
  config.epochs = 2;
  expect_ranks_train_one_model(config);
}

// A checkpoint written by the ranks resumes in one process, and one process's in the ranks:
// both end where an uninterrupted run of the ranks ends.
TEST(DataParallel, CheckpointsResumeWithAnotherNumberOfRanks) {
  dist::Communicator& world = dist::world();
  const SharedFolder folder(world);
  TempFolder own;
  const train::TrainData data = tiny_train_data(own);
  const train::Config two_epochs = parallel_config(16, 2), one_epoch = parallel_config(16, 1);

  const train::TrainResult straight = train_in(folder.file("straight"), two_epochs, data, &world);
  // The ranks train epoch 1; rank 0 alone resumes for epoch 2.
  train_in(folder.file("ranks_then_one"), one_epoch, data, &world);
  train::TrainResult ranks_then_one;
  if (world.is_root()) {
    ranks_then_one = train_in(folder.file("ranks_then_one"), two_epochs, data, nullptr, true);
  }
  world.barrier();
  // Rank 0 alone trains epoch 1; the ranks resume for epoch 2.
  if (world.is_root()) train_in(folder.file("one_then_ranks"), one_epoch, data, nullptr);
  world.barrier();
  train::TrainResult one_then_ranks =
      train_in(folder.file("one_then_ranks"), two_epochs, data, &world, true);
  if (world.is_root()) {
    for (const auto& [name, run] : {std::pair{"ranks_then_one", &ranks_then_one},
                                    std::pair{"one_then_ranks", &one_then_ranks}}) {
      SCOPED_TRACE(name);
      EXPECT_EQ(run->state.epoch, 2);
      expect_close_histories(straight, *run);
      expect_close_weights(folder.file("straight/checkpoints/last.safetensors"),
                           folder.file(std::string(name) + "/checkpoints/last.safetensors"));
    }
  }
  world.barrier();
}

// Each rank evaluates its part of a set; every rank gets the whole set's figures, which are one
// process's.
TEST(DataParallel, EvaluationSumsTheRanksShares) {
  dist::Communicator& world = dist::world();
  TempFolder own;
  const train::TrainData data = tiny_train_data(own);
  const train::Config config = parallel_config(16, 1);
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(5);
  const train::Evaluation alone = train::evaluate(model, data.train, 16);
  const train::Evaluation shared = train::evaluate(model, data.train, 16, &world);
  EXPECT_NEAR(shared.loss, alone.loss, kLossTolerance * alone.loss);
  EXPECT_EQ(shared.accuracy, alone.accuracy);
}

// The gradients go into one buffer in the parameters' order, followed by the extras, and come
// back; a parameter without a gradient yet contributes zeros and receives one.
TEST(DataParallel, FlatGradientsGatherAndScatterEveryValue) {
  Tensor a = Tensor::from_vector({2}, {0, 0}), b = Tensor::from_vector({3}, {0, 0, 0});
  a.set_requires_grad();
  b.set_requires_grad();
  a.backward(Tensor::from_vector({2}, {1, 2}));
  optim::FlatGradients flat({a, b}, 2);
  const Tensor& buffer = flat.gather({7, 8});
  EXPECT_EQ(buffer.to_vector(), (std::vector<float>{1, 2, 0, 0, 0, 7, 8}));
  buffer.copy_from({10, 20, 30, 40, 50, 60, 70});
  EXPECT_EQ(flat.scatter(), (std::vector<float>{60, 70}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{10, 20}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{30, 40, 50}));
  EXPECT_THROW(flat.gather({1}), Error);
  EXPECT_THROW(optim::FlatGradients({}, 0), Error);
}

// The shares of a batch cover it once, in order, whatever the number of ranks.
TEST(DataParallel, SharesCoverEveryBatchOnce) {
  for (const int ranks : {1, 2, 3, 7}) {
    for (const int64_t size : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{16}, int64_t{101}}) {
      EXPECT_EQ(data::shard_begin(size, 0, ranks), 0);
      EXPECT_EQ(data::shard_begin(size, ranks, ranks), size);
      for (int r = 0; r < ranks; ++r) {
        const int64_t count =
            data::shard_begin(size, r + 1, ranks) - data::shard_begin(size, r, ranks);
        EXPECT_GE(count, size / ranks);
        EXPECT_LE(count, size / ranks + 1);
      }
    }
  }
}

}  // namespace
}  // namespace sav::testing
