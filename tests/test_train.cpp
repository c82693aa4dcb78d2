// Configuration, checkpoints and the training loop on a tiny model and small synthetic files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <thread>

#include "backends/backend.h"
#include "cifar_files.h"
#include "sav/error.h"
#include "sav/train/checkpoint.h"
#include "sav/train/config.h"
#include "sav/train/trainer.h"
#include "train_fixtures.h"

namespace sav::testing {
namespace {

namespace fs = std::filesystem;

train::Config tiny_config() { return tiny_train_config(9); }

train::TrainData tiny_data(const TempFolder& folder) { return tiny_train_data(folder); }

using Silent = SilentObserver;

// A run of one epoch of the tiny recipe into <folder>/out.
train::TrainOptions one_epoch_options(const TempFolder& folder) {
  train::TrainOptions options;
  options.config = tiny_config();
  options.config.epochs = 1;
  options.out_dir = folder.file("out");
  return options;
}

TEST(Config, TheSeedFileHoldsTheSeedRecipe) {
  const train::Config c = train::load_config(std::string(SAV_SOURCE_DIR) + "/data/config.json");
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.d_model, 256);
  EXPECT_EQ(c.heads, 8);
  EXPECT_EQ(c.layers, 6);
  EXPECT_EQ(c.vit().d_ff, 1024);
  EXPECT_DOUBLE_EQ(c.dropout, 0.1);
  EXPECT_EQ(c.batch_size, 100);
  EXPECT_DOUBLE_EQ(c.lr, 1e-4);
  EXPECT_EQ(c.epochs, 100);
  EXPECT_EQ(c.val_split, 5000);
}

TEST(Config, RoundTripsThroughJson) {
  train::Config c = tiny_config();
  c.augment = true;
  c.weight_decay = 0.05;
  const train::Config back = train::parse_config(train::config_to_json(c), "text");
  EXPECT_EQ(train::first_difference(c, back), "");
  back.vit();
  c.d_model = 32;
  EXPECT_EQ(train::first_difference(back, c), "model.d_model (16 vs 32)");
}

TEST(Config, BadFilesAndValuesNameTheKey) {
  TempFolder folder;
  auto parse = [](const std::string& text) {
    return error_of([&] { train::parse_config(text, "c.json"); });
  };
  EXPECT_NE(error_of([&] {
              train::load_config(folder.file("none.json"));
            }).find("cannot open configuration " + folder.file("none.json")),
            std::string::npos);
  EXPECT_NE(parse("{\"model\": {").find("c.json: not valid JSON"), std::string::npos);
  EXPECT_NE(
      parse("{\"model\": {\"d_modle\": 3}}").find("c.json: unknown key model.d_modle (known: "),
      std::string::npos);
  EXPECT_NE(parse("{\"optimizer\": {}}").find("unknown key (top level).optimizer"),
            std::string::npos);
  EXPECT_EQ(parse("{\"model\": {\"h\": \"8\"}}"), "c.json: model.h must be an integer, got \"8\"");
  EXPECT_EQ(parse("{\"training\": {\"batch_size\": 0}}"),
            "c.json: training.batch_size must be positive, got 0");
  EXPECT_EQ(parse("{\"training\": {\"lr\": -1}}"), "c.json: training.lr must be positive, got -1");
  EXPECT_NE(parse("{\"model\": {\"h\": 7}}").find("model.h 7 must divide model.d_model 256"),
            std::string::npos);
  EXPECT_NE(parse("{\"data\": {\"patch_size\": [4, 2]}}").find("data.patch_size"),
            std::string::npos);
  EXPECT_NE(parse("{\"data\": {\"random_seed\": -1}}").find("must not be negative"),
            std::string::npos);
  EXPECT_NE(parse("[1, 2]").find("must be a JSON object"), std::string::npos);
  EXPECT_THROW(train::parse_config("{\"model\": {\"dropout\": 1.0}}", "c.json"), UsageError);
}

TEST(Checkpoint, RoundTripsWeightsOptimizerAndProgressExactly) {
  TempFolder folder;
  const train::Config config = tiny_config();
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(1);
  std::vector<Tensor> params;
  for (const auto& p : model.parameters()) params.push_back(p.tensor);
  optim::Adam adam(params, {});
  for (Tensor& p : params) p.grad_data()[0] = 0.5f;  // give Adam something to remember
  adam.step();
  const train::TrainingState state{4, 40, 3, 0.625, 0.5};
  const std::string path = folder.file("c.safetensors");
  train::save_checkpoint(path, model, config, state, &adam);

  const train::Checkpoint checkpoint = train::read_checkpoint(path);
  EXPECT_EQ(train::first_difference(checkpoint.config, config), "");
  EXPECT_EQ(checkpoint.state.epoch, 4);
  EXPECT_EQ(checkpoint.state.step, 40);
  EXPECT_EQ(checkpoint.state.best_epoch, 3);
  EXPECT_DOUBLE_EQ(checkpoint.state.best_val_accuracy, 0.625);
  nn::VisionTransformer copy(config.vit(), Device::cpu());
  train::load_weights(checkpoint, copy);
  std::vector<Tensor> copy_params;
  for (const auto& p : copy.parameters()) copy_params.push_back(p.tensor);
  optim::Adam copy_adam(copy_params, {});
  train::load_optimizer(checkpoint, copy, copy_adam);
  EXPECT_EQ(copy_adam.steps(), 1);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(copy_params[i].to_vector(), params[i].to_vector()) << model.parameters()[i].name;
    EXPECT_EQ(copy_adam.first_moments()[i].to_vector(), adam.first_moments()[i].to_vector());
    EXPECT_EQ(copy_adam.second_moments()[i].to_vector(), adam.second_moments()[i].to_vector());
  }
  // The file holds exactly the design's names, then the moments.
  EXPECT_EQ(checkpoint.file.tensors.front().name, "cls_token");
  EXPECT_EQ(checkpoint.file.tensors.size(), 3 * model.parameters().size());
}

TEST(Checkpoint, OtherConfigurationTruncatedOrForeignFilesAreRefused) {
  TempFolder folder;
  const train::Config config = tiny_config();
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(1);
  const std::string path = folder.file("c.safetensors");
  train::save_checkpoint(path, model, config, {});

  train::Config wider = config;
  wider.d_model = 32;
  const nn::VisionTransformer other(wider.vit(), Device::cpu());
  const train::Checkpoint checkpoint = train::read_checkpoint(path);
  EXPECT_EQ(error_of([&] { train::load_weights(checkpoint, other); }),
            path +
                ": tensor patch_embed.weight has shape [16, 48] but the model's is [32, 48] (a "
                "checkpoint of another configuration)");
  std::vector<Tensor> params;
  for (const auto& p : model.parameters()) params.push_back(p.tensor);
  optim::Adam adam(params, {});
  EXPECT_NE(error_of([&] {
              train::load_optimizer(checkpoint, model, adam);
            }).find("holds no optimizer state"),
            std::string::npos);

  fs::resize_file(path, fs::file_size(path) - 100);
  EXPECT_NE(error_of([&] { train::read_checkpoint(path); }).find(path), std::string::npos);

  io::save_safetensors(folder.file("foreign.safetensors"), {{}, {{"w", {2}, {1, 2}}}});
  EXPECT_NE(error_of([&] {
              train::read_checkpoint(folder.file("foreign.safetensors"));
            }).find("not a sav checkpoint"),
            std::string::npos);
}

TEST(Trainer, WritesCheckpointsLogAndCurves) {
  TempFolder folder;
  train::TrainOptions options;
  options.config = tiny_config();
  options.config.epochs = 2;
  options.out_dir = folder.file("out");
  Silent silent;
  const train::TrainResult result = train::train(options, tiny_data(folder), silent);
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.state.epoch, 2);
  EXPECT_EQ(result.state.step, 2 * 7);  // 100 records in batches of 16
  for (const char* file : {"checkpoints/last.safetensors", "checkpoints/best.safetensors",
                           "outputs/train_log.csv", "outputs/curves.png"}) {
    EXPECT_TRUE(fs::exists(options.out_dir + "/" + file)) << file;
  }
  std::ifstream csv(options.out_dir + "/outputs/train_log.csv");
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header.substr(0, 28), "epoch,train_loss,train_accur");
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  EXPECT_EQ(rows, 2);
  const train::Checkpoint best =
      train::read_checkpoint(options.out_dir + "/checkpoints/best.safetensors");
  EXPECT_EQ(best.state.best_epoch, result.state.best_epoch);
  EXPECT_GE(result.state.best_val_accuracy, 0.0);
}

// Three epochs in one go, and one epoch then a resumption for two more: the same weights, bit
// for bit (data order, dropout masks and Adam's state all carry over).
TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  Silent silent;
  train::TrainOptions straight;
  straight.config = tiny_config();
  straight.config.augment = true;
  straight.out_dir = folder.file("straight");
  const train::TrainResult full = train::train(straight, data, silent);

  train::TrainOptions first = straight;
  first.out_dir = folder.file("resumed");
  first.config.epochs = 1;
  train::train(first, data, silent);
  train::TrainOptions rest = first;
  rest.config.epochs = 3;
  rest.resume = true;
  const train::TrainResult resumed = train::train(rest, data, silent);

  EXPECT_EQ(resumed.state.step, full.state.step);
  ASSERT_EQ(resumed.history.size(), 3u);  // the first epoch's row read back from the log
  EXPECT_DOUBLE_EQ(resumed.history.back().train_loss, full.history.back().train_loss);
  const auto a = train::read_checkpoint(straight.out_dir + "/checkpoints/last.safetensors");
  const auto b = train::read_checkpoint(first.out_dir + "/checkpoints/last.safetensors");
  ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size());
  for (size_t i = 0; i < a.file.tensors.size(); ++i) {
    EXPECT_EQ(a.file.tensors[i].values, b.file.tensors[i].values) << a.file.tensors[i].name;
  }
}

TEST(Trainer, ResumeRefusesAnotherConfigurationOrNothingToResume) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  Silent silent;
  train::TrainOptions options = one_epoch_options(folder);
  options.resume = true;
  EXPECT_NE(error_of([&] { train::train(options, data, silent); }).find("nothing to resume"),
            std::string::npos);
  options.resume = false;
  train::train(options, data, silent);
  options.resume = true;
  EXPECT_NE(error_of([&] { train::train(options, data, silent); }).find("has finished 1 of 1"),
            std::string::npos);
  options.config.epochs = 2;
  options.config.lr = 2e-3;
  EXPECT_NE(error_of([&] {
              train::train(options, data, silent);
            }).find("its configuration differs in training.lr"),
            std::string::npos);
}

TEST(Trainer, ResumeReadsTheLogOnlyFromARegularFile) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  Silent silent;
  train::TrainOptions options = one_epoch_options(folder);
  train::train(options, data, silent);
  const std::string log = options.out_dir + "/outputs/train_log.csv";
  std::filesystem::remove(log);
  FifoWatchdog watchdog(log);
  options.resume = true;
  options.config.epochs = 2;
  const std::string message = error_of([&] { train::train(options, data, silent); });
  EXPECT_FALSE(watchdog.blocked()) << "the trainer waited for a writer on its log";
  EXPECT_NE(message.find("cannot open training log " + log + ": it is a FIFO"), std::string::npos)
      << message;
}

// A loss that overflows stops the run, saying that there is no checkpoint yet.
TEST(Trainer, NonFiniteLossStopsAndSaysThereIsNoCheckpoint) {
  TempFolder folder;
  train::TrainOptions options;
  options.config = tiny_config();
  options.config.lr = 1e30;  // the first step throws every weight far out
  options.out_dir = folder.file("out");
  Silent silent;
  const std::string message = error_of([&] { train::train(options, tiny_data(folder), silent); });
  EXPECT_NE(message.find("the training loss became"), std::string::npos) << message;
  EXPECT_NE(message.find("at epoch 1, step 1"), std::string::npos) << message;
  EXPECT_NE(message.find("no checkpoint has been written yet"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints/last.safetensors"));
}

// With one step an epoch, the step that diverges is the epoch's last: its loss was finite, the
// weights it left are not usable. The run stops before any checkpoint, and one written before
// stays as it was.
TEST(Trainer, DivergedLastStepOfAnEpochWritesNoCheckpoint) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  for (const bool validation : {true, false}) {
    SCOPED_TRACE(validation ? "with a validation set" : "without a validation set");
    train::TrainOptions options;
    options.config = tiny_config();
    options.config.batch_size = 100;  // the 100 training records: one step an epoch
    options.config.lr = 1e30;
    options.config.epochs = 1;
    options.out_dir = folder.file(validation ? "with" : "without");
    train::TrainData used = data;
    if (!validation) used.validation = {};
    Silent silent;
    const std::string message = error_of([&] { train::train(options, used, silent); });
    EXPECT_NE(message.find("try a lower --lr); no checkpoint has been written yet"),
              std::string::npos)
        << message;
    const bool says_when = message.find("after epoch 1") != std::string::npos ||
                           message.find("at epoch 1, step 1") != std::string::npos;
    EXPECT_TRUE(says_when) << message;
    EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints/last.safetensors"));
    EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints/best.safetensors"));
  }
}

// An update that overflows the weights themselves, with the step's own loss finite: Adam's
// decoupled decay multiplies each weight by 1 - lr x decay, -3e38 here, and the LayerNorm scales
// of 1 then overflow.
TEST(Trainer, WeightsOverflowingInAnEpochsLastStepStopTheRun) {
  TempFolder folder;
  train::TrainOptions options;
  options.config = tiny_config();
  options.config.batch_size = 100;
  options.config.lr = 3e38;
  options.config.weight_decay = 1;
  options.config.epochs = 1;
  options.out_dir = folder.file("out");
  Silent silent;
  const std::string message = error_of([&] { train::train(options, tiny_data(folder), silent); });
  EXPECT_EQ(message.find("the weights became non-finite at epoch 1, step 1 ("), 0u) << message;
  EXPECT_NE(message.find("try a lower --lr); no checkpoint has been written yet"),
            std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(options.out_dir + "/checkpoints/last.safetensors"));
}

TEST(Checkpoint, WriterRefusesNonFiniteValues) {
  TempFolder folder;
  const train::Config config = tiny_config();
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(1);
  const nn::NamedTensor& victim = model.parameters()[3];
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> values = victim.tensor.to_vector();
    values[5] = bad;
    victim.tensor.copy_from(values);
    const std::string path = folder.file("c.safetensors");
    const std::string message = error_of([&] { train::save_checkpoint(path, model, config, {}); });
    EXPECT_NE(message.find("cannot write " + path + ": tensor " + victim.name + " holds "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(" at index 5 (a checkpoint must hold finite values only)"),
              std::string::npos)
        << message;
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  }
}

// The best accuracies and the running sums of an epoch come back exactly: a resumption compares
// against them and reports them.
TEST(Checkpoint, ProgressWithinAnEpochRoundTripsExactly) {
  TempFolder folder;
  const train::Config config = tiny_config();
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(1);
  const train::TrainingState state{2, 17, 1, 1.0 / 3, 2.0 / 7};
  train::EpochProgress progress;
  progress.steps = 3;
  progress.loss_sum = 0.1 + 0.2 + 1e-17 * 3;
  progress.correct = 11;
  progress.seen = 48;
  progress.train_seconds = 1.0 / 9;
  progress.elapsed_seconds = 12.345678901234567;
  const std::string path = folder.file("c.safetensors");
  train::save_checkpoint(path, model, config, state, nullptr, progress);
  const train::Checkpoint checkpoint = train::read_checkpoint(path);
  EXPECT_EQ(checkpoint.state.best_val_accuracy, 1.0 / 3);
  EXPECT_EQ(checkpoint.state.best_test_accuracy, 2.0 / 7);
  const train::EpochProgress back = train::read_epoch_progress(checkpoint);
  EXPECT_EQ(back.steps, 3);
  EXPECT_EQ(back.loss_sum, progress.loss_sum);
  EXPECT_EQ(back.correct, 11);
  EXPECT_EQ(back.seen, 48);
  EXPECT_EQ(back.train_seconds, progress.train_seconds);
  EXPECT_EQ(back.elapsed_seconds, progress.elapsed_seconds);

  train::save_checkpoint(path, model, config, state);  // at an epoch's end: nothing within one
  const train::EpochProgress none = train::read_epoch_progress(train::read_checkpoint(path));
  EXPECT_EQ(none.steps, 0);
  EXPECT_EQ(none.seen, 0);
}

// best.safetensors is written before last.safetensors: when writing best fails (here its
// temporary file cannot be made), last still holds the previous epoch and does not claim a best
// that best does not hold, and a later --resume redoes the epoch to the same result.
TEST(Trainer, FailedBestWriteLeavesLastAtThePreviousEpoch) {
  TempFolder folder;
  train::TrainData data = tiny_data(folder);
  data.validation = {};  // every epoch is then the best so far: best is written every epoch
  Silent silent;
  train::TrainOptions straight;
  straight.config = tiny_config();
  straight.config.epochs = 2;
  straight.out_dir = folder.file("straight");
  train::train(straight, data, silent);

  train::TrainOptions options = straight;
  options.out_dir = folder.file("out");
  options.config.epochs = 1;
  train::train(options, data, silent);
  const std::string last = options.out_dir + "/checkpoints/last.safetensors";
  const std::string best = options.out_dir + "/checkpoints/best.safetensors";
  fs::create_directory(best + ".tmp");  // a path that cannot be opened as a file
  options.config.epochs = 2;
  options.resume = true;
  const std::string message = error_of([&] { train::train(options, data, silent); });
  EXPECT_NE(message.find("cannot write " + best), std::string::npos) << message;
  const train::Checkpoint after = train::read_checkpoint(last);
  EXPECT_EQ(after.state.epoch, 1);
  EXPECT_EQ(after.state.best_epoch, 1);
  EXPECT_EQ(train::read_checkpoint(best).state.epoch, 1);

  fs::remove(best + ".tmp");
  train::train(options, data, silent);
  for (const char* name : {"last", "best"}) {
    const std::string file = std::string("/checkpoints/") + name + ".safetensors";
    const auto a = train::read_checkpoint(straight.out_dir + file);
    const auto b = train::read_checkpoint(options.out_dir + file);
    EXPECT_EQ(b.state.epoch, 2) << name;
    EXPECT_EQ(b.state.best_epoch, 2) << name;
    ASSERT_EQ(a.file.tensors.size(), b.file.tensors.size()) << name;
    for (size_t i = 0; i < a.file.tensors.size(); ++i) {
      EXPECT_EQ(a.file.tensors[i].values, b.file.tensors[i].values) << a.file.tensors[i].name;
    }
  }
}

// A fresh run over a folder that holds a run (a forgotten --resume) is refused before anything
// is trained; with `force` it starts over.
TEST(Trainer, FreshRunOverAnExistingRunIsRefusedUnlessForced) {
  TempFolder folder;
  const train::TrainData data = tiny_data(folder);
  Silent silent;
  train::TrainOptions options = one_epoch_options(folder);
  train::train(options, data, silent);
  const std::string last = options.out_dir + "/checkpoints/last.safetensors";
  const auto before = fs::last_write_time(last);
  try {
    train::train(options, data, silent);
    ADD_FAILURE() << "a fresh run over an existing one was not refused";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              options.out_dir + " holds a run already (" + last +
                  "): add --resume to go on with it, or --force to start over, deleting its "
                  "checkpoints and log (or pass another --out)");
  }
  EXPECT_EQ(fs::last_write_time(last), before);

  // Only best left (last deleted by hand) is still a run to protect.
  fs::remove(last);
  EXPECT_NE(error_of([&] { train::train(options, data, silent); }).find("holds a run already"),
            std::string::npos);

  options.force = true;
  options.config.epochs = 2;
  const train::TrainResult result = train::train(options, data, silent);
  EXPECT_EQ(result.history.size(), 2u);
  EXPECT_EQ(train::read_checkpoint(last).state.epoch, 2);
}

// Adam works in single precision: a configuration value it cannot hold is the configuration's
// fault (a usage error naming the key), not a failure of Adam's.
TEST(Trainer, ValuesOutOfSinglePrecisionAreUsageErrors) {
  train::Config config = tiny_config();
  config.eps = 1e-300;
  try {
    train::adam_options(config);
    ADD_FAILURE() << "eps 1e-300 was taken";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("training.eps 1e-300 is out of single precision's range"),
              std::string::npos)
        << e.what();
  }
  config.eps = 1e-8;
  config.lr = 1e39;
  EXPECT_THROW(train::adam_options(config), UsageError);
  config.lr = 1e-3;
  EXPECT_FLOAT_EQ(train::adam_options(config).lr, 1e-3f);
}

}  // namespace
}  // namespace sav::testing
