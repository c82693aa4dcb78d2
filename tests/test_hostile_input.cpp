// Hostile input: configurations and checkpoints written to crash, hang or exhaust memory must be
// refused with a message naming the file and the key, before anything large is allocated. The
// inputs are small, so a regression fails fast instead of allocating what the file asks for.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <tuple>

#include "cifar_files.h"
#include "sav/data/cifar10.h"
#include "sav/error.h"
#include "sav/io/json.h"
#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"
#include "sav/shape.h"
#include "sav/train/checkpoint.h"
#include "sav/train/config.h"
#include "test_support.h"

namespace sav::testing {
namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string config_error(const std::string& text) {
  return error_of([&] { train::parse_config(text, "c.json"); });
}

std::string model_config(const std::string& model_keys) {
  return "{\"model\": {" + model_keys + "}}";
}

TEST(HostileShape, ElementCountsThatOverflowAreRefused) {
  EXPECT_EQ(checked_mul(int64_t{1} << 31, int64_t{1} << 31), int64_t{1} << 62);
  EXPECT_FALSE(checked_mul(int64_t{1} << 62, 4).has_value());
  EXPECT_FALSE(checked_add(INT64_MAX, 1).has_value());
  const int64_t big = int64_t{1} << 31;
  EXPECT_TRUE(contains(error_of([&] { Shape({big, big, big}); }), "more than 2^60 elements"));
  EXPECT_TRUE(contains(error_of([&] { Shape({big, 1}).with_last(big); }), "more than 2^60"));
  EXPECT_EQ(Shape({big, big / 4}).numel(), int64_t{1} << 60);  // the limit itself is allowed
}

TEST(HostileConfig, SizesAreBoundedAndNamedByKey) {
  const std::string huge = std::to_string(int64_t{1} << 62);
  EXPECT_EQ(
      config_error(model_config("\"d_ff\": " + huge)),
      "c.json: model.d_ff must be at most 65536 (4 x the largest model.d_model), got " + huge);
  EXPECT_EQ(config_error(model_config("\"d_model\": " + huge + ", \"h\": 1")),
            "c.json: model.d_model must be at most 16384, got " + huge);
  EXPECT_TRUE(contains(config_error(model_config("\"N\": " + huge)),
                       "c.json: model.N must be at most 1024"));
  EXPECT_TRUE(
      contains(config_error(model_config("\"h\": " + huge)), "c.json: model.h must be at most"));
  for (const char* key : {"batch_size", "epochs", "val_split"}) {
    const std::string error =
        config_error(std::string("{\"training\": {\"") + key + "\": " + huge + "}}");
    EXPECT_TRUE(contains(error, std::string("c.json: training.") + key + " must be at most"))
        << error;
  }
  // Beyond int64_t: nlohmann holds these as unsigned, which must not wrap to negative.
  EXPECT_EQ(config_error(model_config("\"d_model\": 18446744073709551615")),
            "c.json: model.d_model is far too large, got 18446744073709551615");
  EXPECT_TRUE(contains(config_error("{\"data\": {\"patch_size\": [9223372036854775808, "
                                    "9223372036854775808]}}"),
                       "data.patch_size must be two equal integers"));
  EXPECT_THROW(train::parse_config(model_config("\"d_ff\": " + huge), "c.json"), UsageError);
}

TEST(HostileConfig, ProductsOfBoundedSizesAreBoundedToo) {
  // Each size within its bound, but 1,024 layers of d_model 16,384 would be 3.3 T parameters.
  const std::string error = config_error(model_config("\"d_model\": 16384, \"N\": 1024"));
  EXPECT_TRUE(contains(error,
                       "c.json: model.d_model 16384, model.d_ff 65536 and model.N 1024 "
                       "make a model of "))
      << error;
  EXPECT_TRUE(contains(error, "more than the 1073741824 sav allows")) << error;
  const std::string batch =
      config_error("{\"model\": {\"h\": 256}, \"training\": {\"batch_size\": 65536}}");
  EXPECT_TRUE(contains(batch, "training.batch_size 65536 with model.h 256")) << batch;
  // Large sizes, one at a time, are accepted.
  EXPECT_NO_THROW(train::parse_config(model_config("\"d_model\": 8192, \"h\": 16, \"N\": 1"), "c"));
  EXPECT_NO_THROW(train::parse_config(model_config("\"d_model\": 16, \"h\": 1, \"N\": 1024"), "c"));
  EXPECT_NO_THROW(
      train::parse_config("{\"training\": {\"epochs\": 1000000, \"batch_size\": 1000}}", "c"));
}

TEST(HostileConfig, ParameterCountIsTheModels) {
  train::Config config;  // the seed's
  for (const auto& [d_model, layers, d_ff] : {std::tuple{256, 6, 0}, std::tuple{16, 2, 40}}) {
    config.d_model = d_model;
    config.layers = layers;
    config.d_ff = d_ff;
    config.heads = 2;
    const nn::VisionTransformer model(config.vit(), Device::cpu());
    EXPECT_EQ(train::parameter_count(config), model.parameter_count());
  }
  config.d_model = int64_t{1} << 62;
  EXPECT_FALSE(train::parameter_count(config).has_value());
}

TEST(HostileConfig, DeepNestingIsRefusedBeforeParsing) {
  // 100,000 levels: nlohmann::json prints (and copies) values recursively, out of stack.
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string error = config_error(model_config("\"d_model\": " + deep));
  EXPECT_EQ(error,
            "c.json: arrays and objects nested more than 32 deep (at byte 52); a "
            "configuration nests 3");
  EXPECT_EQ(io::find_excess_nesting("[[[]]]", 3), std::string::npos);
  EXPECT_EQ(io::find_excess_nesting("{\"a\": [[[]]]}", 3), 8u);
  EXPECT_EQ(io::find_excess_nesting("[\"[[[[\", \"\\\"[[[[\"]", 1), std::string::npos);
}

TEST(HostileConfig, NumbersBeyondDoubleAreAUsageError) {
  // nlohmann::json throws out_of_range, not parse_error, for these: once an uncaught exception.
  EXPECT_TRUE(contains(config_error("1e999"), "c.json: not valid JSON: ")) << config_error("1e999");
  EXPECT_TRUE(contains(config_error(model_config("\"d_model\": -1e400")), "not valid JSON"));
}

TEST(HostileConfig, LongKeysAndValuesAreQuotedShort) {
  const std::string long_text(100'000, 'x');
  for (const std::string& text :
       {model_config("\"" + long_text + "\": 1"), model_config("\"h\": \"" + long_text + "\""),
        "{\"training\": {\"betas\": \"" + long_text + "\"}}", "{\"model\": \"" + long_text}) {
    const std::string error = config_error(text);
    EXPECT_LT(error.size(), 400u) << error.substr(0, 400);
    EXPECT_TRUE(contains(error, "xxx...")) << error.substr(0, 400);
  }
}

TEST(HostileConfig, FilesThatAreNotRegularOrTooLargeAreRefusedUnread) {
  TempFolder folder;
  const std::string large = folder.file("large.json");
  write_text(large, "{" + std::string(train::kMaxConfigBytes, ' ') + "}");
  const std::string error = error_of([&] { train::load_config(large); });
  EXPECT_TRUE(contains(error, "cannot open configuration " + large +
                                  ": it holds 1048578 bytes, "
                                  "more than the 1048576"))
      << error.substr(0, 300);
  EXPECT_TRUE(contains(error_of([&] { train::load_config(folder.path()); }),
                       "cannot open configuration " + folder.path() + ": it is a folder"));
  const std::string fifo = folder.file("config.json");
  FifoWatchdog watchdog(fifo);
  std::string message = "(no UsageError)";
  try {
    train::load_config(fifo);
  } catch (const UsageError& e) {
    message = e.what();
  }
  EXPECT_FALSE(watchdog.blocked()) << "load_config opened a FIFO and waited for a writer";
  EXPECT_TRUE(contains(message, "cannot open configuration " + fifo + ": it is a FIFO")) << message;
}

TEST(HostileFiles, FifosInPlaceOfCheckpointsOrDataAreRefusedWithoutBlocking) {
  TempFolder folder;
  {
    const std::string fifo = folder.file("model.safetensors");
    FifoWatchdog watchdog(fifo);
    const std::string error = error_of([&] { io::load_safetensors(fifo); });
    EXPECT_FALSE(watchdog.blocked());
    EXPECT_EQ(error, "cannot open " + fifo +
                         ": it is a FIFO (named pipe), not a regular file (sav "
                         "reads only regular files)");
  }
  const std::string data = folder.file("cifar");
  std::filesystem::create_directory(data);
  for (const char* name : {"data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"}) {
    write_records(folder, std::string("cifar/") + name, 0, 1);
  }
  {
    FifoWatchdog watchdog(data + "/data_batch_1.bin");
    const std::string error = error_of([&] { data::open_cifar10(data); });
    EXPECT_FALSE(watchdog.blocked()) << "the CIFAR-10 reader waited on a FIFO";
    EXPECT_TRUE(contains(error, data + "/data_batch_1.bin: it is a FIFO")) << error;
  }
  std::filesystem::remove(data + "/data_batch_1.bin");  // writing a FIFO would wait for a reader
  write_records(folder, "cifar/data_batch_1.bin", 0, 1);
  {
    FifoWatchdog watchdog(data + "/batches.meta.txt");
    const std::string error = error_of([&] { data::open_cifar10(data); });
    EXPECT_FALSE(watchdog.blocked()) << "the class names were read from a FIFO";
    EXPECT_TRUE(contains(error, data + "/batches.meta.txt: it is a FIFO")) << error;
  }
}

// A checkpoint of the tests' tiny model, and a copy of it with `edit` applied to its contents.
class HostileCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.d_model = 16;
    config_.heads = 2;
    config_.layers = 2;
    config_.d_ff = 32;
    nn::VisionTransformer model(config_.vit(), Device::cpu());
    model.initialize(1);
    std::vector<Tensor> parameters;
    for (const auto& p : model.parameters()) parameters.push_back(p.tensor);
    optim::Adam adam(parameters, {});
    train::save_checkpoint(good_, model, config_, {3, 30, 2, 0.5, 0.25}, &adam);
  }

  std::string edited(const std::function<void(io::SafetensorsFile&)>& edit) {
    io::SafetensorsFile file = io::load_safetensors(good_);
    edit(file);
    const std::string path = folder_.file("edited.safetensors");
    io::save_safetensors(path, file);
    return path;
  }
  std::string with_metadata(const std::string& key, const std::string& value) {
    return edited([&](io::SafetensorsFile& file) { file.metadata[key] = value; });
  }
  std::string with_config(const std::string& key, int64_t value) {
    train::Config config = config_;
    if (key == "N") config.layers = value;
    if (key == "d_ff") config.d_ff = value;
    return with_metadata("config", train::config_to_json(config));
  }
  std::string read_error(const std::string& path) {
    try {
      train::read_checkpoint(path);
    } catch (const UsageError& e) {
      return std::string("(a UsageError: the program decides) ") + e.what();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  TempFolder folder_;
  train::Config config_;
  const std::string good_ = folder_.file("good.safetensors");
};

TEST_F(HostileCheckpoint, TheTensorLayoutIsTheModels) {
  const nn::VisionTransformer model(config_.vit(), Device::cpu());
  const std::vector<nn::ParameterShape> shapes = nn::parameter_shapes(config_.vit());
  ASSERT_EQ(shapes.size(), model.parameters().size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(shapes[i].name, model.parameters()[i].name);
    EXPECT_EQ(shapes[i].shape, model.parameters()[i].tensor.shape()) << shapes[i].name;
  }
  EXPECT_EQ(nn::parameter_count(config_.vit()), model.parameter_count());
  EXPECT_NO_THROW(train::read_checkpoint(good_));
}

TEST_F(HostileCheckpoint, AStoredConfigurationOfAHugeModelIsRefusedBeforeItIsBuilt) {
  // A file of a few kilobytes claiming 10,000,000 layers allocated 11 GB before failing.
  std::string path = with_config("N", 10'000'000);
  EXPECT_EQ(read_error(path), path +
                                  " (its stored configuration): model.N must be at most 1024, "
                                  "got 10000000");
  path = with_config("d_ff", int64_t{1} << 62);
  EXPECT_TRUE(contains(read_error(path), "(its stored configuration): model.d_ff must be at most"));
  // Within the bounds, the tensors the configuration implies are checked against the header
  // before any model is built.
  path = with_config("N", 1000);
  EXPECT_EQ(read_error(path),
            path +
                ": tensor blocks.2.attn.q.weight is missing, but its stored configuration "
                "(model.N 1000, model.d_model 16, model.d_ff 32, with Adam's state) needs it "
                "(a damaged checkpoint, or not one sav wrote)");
  path = with_config("d_ff", 64);
  EXPECT_TRUE(contains(read_error(path), path + ": tensor blocks.0.ffn.fc1.weight has shape "
                                                "[32, 16] but its stored configuration "
                                                "(model.N 2, model.d_model 16, model.d_ff 64) "
                                                "makes it [64, 16]"));
}

TEST_F(HostileCheckpoint, TensorsMustBeExactlyTheConfigurations) {
  std::string path = edited([](io::SafetensorsFile& file) {
    file.tensors.push_back({std::string(1000, 'x'), {1}, {0.0f}});
  });
  std::string error = read_error(path);
  EXPECT_TRUE(contains(error, path + ": tensor 'xxxxxxxx")) << error;
  EXPECT_TRUE(contains(error, "...' is not a parameter of the model")) << error;
  EXPECT_LT(error.size(), path.size() + 300);
  path = edited([](io::SafetensorsFile& file) { file.metadata.erase("optimizer_steps"); });
  EXPECT_TRUE(contains(read_error(path),
                       "tensor 'optim.m.cls_token' is not a parameter of the "
                       "model its stored configuration"));
  path = edited([](io::SafetensorsFile& file) { file.tensors.pop_back(); });
  EXPECT_TRUE(contains(read_error(path), "tensor optim.v.head.bias is missing"));
}

TEST_F(HostileCheckpoint, EveryMetadataFieldIsCheckedAndNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"epoch", "-3"},
      {"epoch", "12abc"},
      {"epoch", ""},
      {"epoch", "99999999999999999999"},
      {"step", "1e3"},
      {"best_epoch", "4"},  // later than the epoch (3)
      {"best_val_accuracy", "nan"},
      {"best_val_accuracy", "1.5"},
      {"best_test_accuracy", "-0.5"},
      {"best_test_accuracy", " 0.5"},
      {"optimizer_steps", "lots"},
      {"optimizer_steps", "-1"}};
  for (const auto& [key, value] : cases) {
    const std::string path = with_metadata(key, value);
    const std::string error = read_error(path);
    EXPECT_TRUE(contains(error, path + ": metadata " + key + " is '" + value + "', not ")) << error;
    EXPECT_TRUE(contains(error, "(a damaged checkpoint, or not one sav wrote)")) << error;
  }
  for (const char* key : {"epoch", "step", "best_epoch", "best_val_accuracy"}) {
    const std::string path = edited([&](io::SafetensorsFile& file) { file.metadata.erase(key); });
    EXPECT_EQ(read_error(path), path + ": its metadata has no " + key +
                                    " (a damaged checkpoint, or not one sav wrote)");
  }
  const std::string path = with_metadata("epoch", std::string(100'000, '7'));
  const std::string error = read_error(path);
  EXPECT_TRUE(contains(error, "is '7777777777")) << error.substr(0, 300);
  EXPECT_LT(error.size(), path.size() + 200) << error.substr(0, 300);
  // What sav writes reads back: the edge values of every field.
  EXPECT_NO_THROW(train::read_checkpoint(with_metadata("best_val_accuracy", "-1")));
  EXPECT_NO_THROW(train::read_checkpoint(with_metadata("best_test_accuracy", "1")));
  EXPECT_NO_THROW(train::read_checkpoint(with_metadata("best_epoch", "3")));
}

TEST_F(HostileCheckpoint, OptimizerStepsThatDoNotParseAreAnErrorNotACrash) {
  // Before it was checked, load_optimizer's std::stoll threw std::invalid_argument, which no
  // program reports by file and key.
  const std::string path = with_metadata("optimizer_steps", "lots");
  EXPECT_TRUE(contains(read_error(path), "metadata optimizer_steps is 'lots'"));
}

}  // namespace
}  // namespace sav::testing
