// The recipe's features beyond the seed's: the learning-rate schedule (values at chosen steps,
// the configuration keys that ask for it, a run that follows it) and label smoothing (its loss
// and gradient against the cross-entropy with soft targets, computed directly).
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"
#include "sav/optim/weight_average.h"
#include "sav/random.h"
#include "sav/train/config.h"
#include "sav/train/schedule.h"
#include "sav/train/step.h"
#include "sav/train/trainer.h"
#include "train_fixtures.h"

namespace sav::testing {
namespace {

TEST(LrSchedule, ConstantIsTheSeedsRecipe) {
  const train::LrSchedule s = train::lr_schedule(train::Config{}, 450);
  for (const int64_t step : {0, 1, 449, 44999, 45000, 100000}) EXPECT_EQ(s.at(step), 1e-4);
}

TEST(LrSchedule, WarmUpThenCosineToTheFloor) {
  train::Config c;
  c.lr = 1e-3;
  c.min_lr = 1e-5;
  c.epochs = 10;
  c.warmup_epochs = 2;
  c.lr_schedule = train::LrShape::kCosine;
  const train::LrSchedule s = train::lr_schedule(c, 100);  // 1,000 steps, 200 of warm-up
  EXPECT_EQ(s.warmup_steps, 200);
  EXPECT_EQ(s.total_steps, 1000);
  EXPECT_DOUBLE_EQ(s.at(0), 1e-3 / 200);
  EXPECT_DOUBLE_EQ(s.at(99), 1e-3 * 100 / 200);
  EXPECT_DOUBLE_EQ(s.at(199), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(200), 1e-3);  // the cosine starts at its peak
  EXPECT_DOUBLE_EQ(s.at(599), 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + std::cos(M_PI * 399 / 799)));
  EXPECT_NEAR(s.at(599), (1e-3 + 1e-5) / 2, 2e-6);  // about halfway down
  EXPECT_DOUBLE_EQ(s.at(999), 1e-5);                // the last step is at the floor
  EXPECT_DOUBLE_EQ(s.at(5000), 1e-5);
  for (int64_t step = 200; step < 999; ++step) EXPECT_GE(s.at(step), s.at(step + 1));
}

TEST(LrSchedule, WarmUpAloneStaysAtThePeak) {
  train::Config c;
  c.warmup_epochs = 0.5;
  const train::LrSchedule s = train::lr_schedule(c, 10);  // 5 steps of warm-up
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4 / 5);
  EXPECT_DOUBLE_EQ(s.at(4), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(500), 1e-4);
}

TEST(LrSchedule, ConfigurationKeysAndTheirRefusals) {
  const train::Config c = train::parse_config(
      R"({"training": {"lr": 0.001, "epochs": 20, "lr_schedule": "cosine",
          "warmup_epochs": 2.5, "min_lr": 1e-6}})",
      "recipe.json");
  EXPECT_EQ(c.lr_schedule, train::LrShape::kCosine);
  EXPECT_EQ(c.warmup_epochs, 2.5);
  EXPECT_EQ(c.min_lr, 1e-6);
  // Stored with a checkpoint, read back the same; the seed's configuration writes none of them.
  const train::Config back = train::parse_config(train::config_to_json(c), "stored");
  EXPECT_EQ(train::first_difference(c, back), "");
  EXPECT_EQ(train::config_to_json(train::Config{}).find("lr_schedule"), std::string::npos);
  EXPECT_NE(train::first_difference(train::Config{}, c), "");
  train::Config other = c;
  other.lr_schedule = train::LrShape::kConstant;
  other.warmup_epochs = 0;
  other.min_lr = 0;
  other.lr = c.lr;
  other.epochs = c.epochs;
  EXPECT_EQ(train::first_difference(other, c),
            "training.lr_schedule (\"(default)\" vs \"cosine\")");

  for (const auto& [json, message] :
       {std::pair{R"({"training": {"lr_schedule": "linear"}})",
                  "training.lr_schedule must be \"constant\" or \"cosine\""},
        {R"({"training": {"epochs": 5, "warmup_epochs": 6}})",
         "training.warmup_epochs must be from 0 to training.epochs (5), got 6"},
        {R"({"training": {"lr": 0.001, "min_lr": 0.01}})",
         "training.min_lr must be from 0 to training.lr (0.001), got 0.01"},
        {R"({"training": {"min_lr": -1}})", "training.min_lr must be from 0"}}) {
    const std::string got = error_of([&] { train::parse_config(json, "recipe.json"); });
    EXPECT_NE(got.find(message), std::string::npos) << got;
  }
}

// A run with the schedule: Adam's rate at the end is the schedule's at the last step.
TEST(LrSchedule, TrainingFollowsIt) {
  TempFolder folder;
  train::TrainOptions options;
  options.config = tiny_train_config(3);
  options.config.epochs = 2;
  options.config.lr = 1e-3;
  options.config.min_lr = 1e-4;
  options.config.warmup_epochs = 1;
  options.config.lr_schedule = train::LrShape::kCosine;
  options.out_dir = folder.file("run");
  SilentObserver silent;
  const train::TrainResult result = train::train(options, tiny_train_data(folder), silent);
  EXPECT_EQ(result.state.step, 14);  // 7 steps an epoch, the first 7 warming up
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_DOUBLE_EQ(result.history[0].lr, 1e-3);  // the warm-up's end
  EXPECT_DOUBLE_EQ(result.history[1].lr, 1e-4);  // the floor, at the last step
  const train::Checkpoint last =
      train::read_checkpoint(folder.file("run/checkpoints/last.safetensors"));
  EXPECT_EQ(last.config.lr_schedule, train::LrShape::kCosine);
  EXPECT_EQ(last.config.warmup_epochs, 1);
}

// Smoothed targets t = (1 - e) onehot + e / C: the loss is mean over rows of -sum t log softmax,
// its gradient (softmax - t) / rows; both computed here in double from the logits.
TEST(LabelSmoothing, IsTheCrossEntropyWithSoftTargets) {
  const int64_t rows = 3, classes = 4;
  const std::vector<float> z = {0.5f,  -1.0f, 2.0f,  0.0f,  1.5f,  1.5f,
                                -0.5f, 3.0f,  -2.0f, 0.25f, 0.75f, 1.0f};
  const std::vector<int32_t> labels = {2, 0, 3};
  for (const float e : {0.0f, 0.1f, 0.5f}) {
    SCOPED_TRACE("smoothing " + std::to_string(e));
    Tensor logits = Tensor::from_vector({rows, classes}, z);
    logits.set_requires_grad();
    data::Batch batch;
    batch.size = rows;
    batch.labels = labels;
    const Tensor loss = train::batch_loss(logits, batch, e);
    loss.backward();
    double expected = 0;
    std::vector<double> gradient(rows * classes);
    for (int64_t i = 0; i < rows; ++i) {
      double top = z[i * classes], sum = 0;
      for (int64_t j = 0; j < classes; ++j) top = std::max<double>(top, z[i * classes + j]);
      for (int64_t j = 0; j < classes; ++j) sum += std::exp(z[i * classes + j] - top);
      for (int64_t j = 0; j < classes; ++j) {
        const double target = (j == labels[i] ? 1.0 - e : 0.0) + e / static_cast<double>(classes);
        const double log_p = z[i * classes + j] - top - std::log(sum);
        expected -= target * log_p / rows;
        gradient[i * classes + j] = (std::exp(log_p) - target) / rows;
      }
    }
    // Float softmax and targets: within 1e-6 relative of the double values.
    EXPECT_NEAR(loss.item(), expected, 1e-6 * expected);
    const std::vector<float> got = logits.grad().to_vector();
    for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], gradient[k], 1e-6) << k;
  }
  const Tensor logits = Tensor::from_vector({rows, classes}, z);
  data::Batch batch;
  batch.size = rows;
  batch.labels = labels;
  EXPECT_NE(error_of([&] { train::batch_loss(logits, batch, 1.0f); }).find("[0, 1)"),
            std::string::npos);
  batch.labels[1] = 4;
  EXPECT_NE(error_of([&] { train::batch_loss(logits, batch, 0.1f); }).find("label 4 at index 1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              train::parse_config(R"({"training": {"label_smoothing": -0.1}})", "r.json");
            }).find("training.label_smoothing must be in [0, 1), got -0.1"),
            std::string::npos);
}

// The augmentation policy's keys, stored with a checkpoint, and a run that draws it.
TEST(AugmentPolicy, ConfigurationKeysAndARun) {
  const train::Config c = train::parse_config(
      R"({"data": {"augment": true, "augment_policy": "rand_augment", "rand_augment_ops": 3,
          "rand_augment_magnitude": 12}})",
      "recipe.json");
  EXPECT_EQ(c.augment_policy.kind, data::AugmentKind::kRandAugment);
  EXPECT_EQ(c.augment_policy.num_ops, 3);
  EXPECT_EQ(c.augment_policy.magnitude, 12);
  EXPECT_EQ(train::first_difference(c, train::parse_config(train::config_to_json(c), "stored")),
            "");
  EXPECT_EQ(train::config_to_json(train::Config{}).find("augment_policy"), std::string::npos);
  for (const auto& [json, message] :
       {std::pair{R"({"data": {"augment_policy": "autoaugment"}})",
                  "data.augment_policy must be \"none\", \"trivial_augment\" or"},
        {R"({"data": {"rand_augment_ops": 0}})", "data.rand_augment_ops must be from 1 to 16"},
        {R"({"data": {"rand_augment_magnitude": 31}})",
         "data.rand_augment_magnitude from 0 to 30, got 2 and 31"}}) {
    const std::string got = error_of([&] { train::parse_config(json, "recipe.json"); });
    EXPECT_NE(got.find(message), std::string::npos) << got;
  }

  // The same run with TrivialAugment on trains another model than without it.
  TempFolder folder;
  const train::TrainData data = tiny_train_data(folder);
  SilentObserver silent;
  train::TrainOptions options;
  options.config = tiny_train_config(4);
  options.config.epochs = 1;
  options.out_dir = folder.file("plain");
  const train::TrainResult plain = train::train(options, data, silent);
  options.config.augment_policy.kind = data::AugmentKind::kTrivialAugment;
  options.out_dir = folder.file("trivial");
  const train::TrainResult trivial = train::train(options, data, silent);
  EXPECT_NE(plain.history[0].train_loss, trivial.history[0].train_loss);
  EXPECT_EQ(train::read_checkpoint(folder.file("trivial/checkpoints/last.safetensors"))
                .config.augment_policy.kind,
            data::AugmentKind::kTrivialAugment);
}

// AdamW's decay on the parameters flagged only: with zero gradients, a decayed parameter shrinks
// by (1 - lr wd) a step and the other stays as it is.
TEST(WeightDecay, OnlyOnTheParametersFlagged) {
  Tensor a = Tensor::from_vector({2}, {1.0f, -2.0f}), b = Tensor::from_vector({2}, {3.0f, 4.0f});
  a.set_requires_grad();
  b.set_requires_grad();
  optim::AdamOptions options;
  options.lr = 0.1f;
  options.weight_decay = 0.5f;
  optim::Adam adam({a, b}, options, {true, false});
  a.grad_data();  // zero gradients
  b.grad_data();
  adam.step();
  adam.step();
  EXPECT_FLOAT_EQ(a.to_vector()[0], 0.95f * 0.95f);
  EXPECT_FLOAT_EQ(a.to_vector()[1], -2.0f * 0.95f * 0.95f);
  EXPECT_EQ(b.to_vector(), (std::vector<float>{3.0f, 4.0f}));
  EXPECT_THROW(optim::Adam({a, b}, options, {true}), Error);
  EXPECT_TRUE(train::parse_config(R"({"training": {"decay_matrices_only": true}})", "r.json")
                  .decay_matrices_only);
  EXPECT_EQ(train::config_to_json(train::Config{}).find("decay_matrices_only"), std::string::npos);

  // On the model: the products' matrices, not the biases, norms or the class token.
  train::Config config = tiny_train_config(1);
  const nn::VisionTransformer model(config.vit(), Device::cpu());
  for (const bool bool_flag : {false, true}) {
    config.decay_matrices_only = bool_flag;
    const std::vector<bool> flags = train::decayed_parameters(model, config);
    ASSERT_EQ(flags.size(), model.parameters().size());
    for (size_t i = 0; i < flags.size(); ++i) {
      const std::string& name = model.parameters()[i].name;
      const bool matrix = name == "patch_embed.weight" || name == "head.weight" ||
                          name.find("attn.") != std::string::npos ||
                          name.find("ffn.fc") != std::string::npos;
      const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
      EXPECT_EQ(flags[i], !bool_flag || (matrix && !bias)) << name;
    }
  }
}

// Clipping by global norm: the norm of all gradients together, and a step on gradients of norm
// 5 clipped to 1 equals the step on those gradients divided by 5.
TEST(GradientClipping, ScalesTheGradientsToTheBound) {
  auto make = [](const std::vector<float>& a_grad, const std::vector<float>& b_grad) {
    Tensor a = Tensor::from_vector({2}, {1.0f, 2.0f}), b = Tensor::from_vector({1, 1}, {3.0f});
    a.set_requires_grad();
    b.set_requires_grad();
    a.backward(Tensor::from_vector({2}, a_grad));
    b.backward(Tensor::from_vector({1, 1}, b_grad));
    return std::pair{a, b};
  };
  const auto [a, b] = make({3.0f, 0.0f}, {4.0f});  // norm 5
  EXPECT_FLOAT_EQ(optim::gradient_norm({a, b}), 5.0f);
  EXPECT_EQ(optim::gradient_norm({Tensor::zeros({3})}), 0.0f);  // no gradient: nothing to add
  const auto [c, d] = make({0.6f, 0.0f}, {0.8f});               // the same, divided by 5
  optim::Adam clipped({a, b}, {}), plain({c, d}, {});
  train::StepOptions options;
  options.clip_grad_norm = 1.0f;
  for (int step = 0; step < 3; ++step) {
    train::take_step(clipped, options);
    train::take_step(plain, {});
  }
  // Adam's steps hardly see a gradient's scale; its moments do (m = 0.1 g after one step), so
  // both are compared. Products of 1/5 and 5 in float: within a few units in the last place.
  for (size_t i = 0; i < 2; ++i) {
    for (const auto& [x, y] : {std::pair{clipped.parameters()[i], plain.parameters()[i]},
                               std::pair{clipped.first_moments()[i], plain.first_moments()[i]},
                               std::pair{clipped.second_moments()[i], plain.second_moments()[i]}}) {
      const std::vector<float> u = x.to_vector(), v = y.to_vector();
      for (size_t k = 0; k < u.size(); ++k) EXPECT_NEAR(u[k], v[k], 1e-6f) << i << ", " << k;
    }
  }
  EXPECT_EQ(
      train::parse_config(R"({"training": {"clip_grad_norm": 1.5}})", "r.json").clip_grad_norm,
      1.5);
  EXPECT_NE(error_of([&] {
              train::parse_config(R"({"training": {"clip_grad_norm": -1}})", "r.json");
            }).find("training.clip_grad_norm must be 0 (off) or a positive number, got -1"),
            std::string::npos);
}

// Drop path keeps or drops each image's whole branch, kept ones scaled by 1 / (1 - p), each
// image drawing element first_row + i as dropout numbers them; a share of a batch takes the
// whole batch's draws; its gradient is the same mask (the op table's central differences check
// it, and here with a whole model).
TEST(DropPath, WholeImagesKeptOrDroppedAsTheBatchDraws) {
  const int64_t rows = 64, cols = 6;
  std::vector<float> values(rows * cols);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f + static_cast<float>(i % 7);
  const Tensor x = Tensor::from_vector({rows, 2, 3}, values);
  const float p = 0.25f;
  const std::vector<float> y = ops::drop_path(x, p, 42, 9).to_vector();
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const bool keep = uniform_from_bits(random_block(42, 9, r / 4)[r % 4]) >= p;
    kept += keep;
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_EQ(y[r * cols + c], keep ? values[r * cols + c] * (1.0f / (1.0f - p)) : 0.0f) << r;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, rows);
  // Rows 37.. of the batch, alone: the batch's draws for them.
  const Tensor share = Tensor::from_vector(
      {rows - 37, 2, 3}, std::vector<float>(values.begin() + 37 * cols, values.end()));
  EXPECT_EQ(ops::drop_path(share, p, 42, 9, 37).to_vector(),
            std::vector<float>(y.begin() + 37 * cols, y.end()));
  EXPECT_EQ(ops::drop_path(x, 0.0f, 42, 9).to_vector(), values);  // 0: the input itself
  EXPECT_NE(error_of([&] { ops::drop_path(x, 1.0f, 1, 1); }).find("[0, 1)"), std::string::npos);

  // A model with drop path (dropout off, so that drop path's masks are what the backward pass
  // must replay): its gradient against central differences; its training forward pass differs
  // from the same model's without, its inference does not.
  train::Config config = tiny_train_config(3);
  config.drop_path = 0.5;
  config.dropout = 0.0;
  nn::VisionTransformer model(config.vit(), Device::cpu());
  model.initialize(5);
  std::vector<float> input(4 * 64 * 48);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.37f * static_cast<float>(i));
  const Tensor patches = Tensor::from_vector({4, 64, 48}, input);
  const GradCheckResult check = check_model_gradient(model, patches, {1, 2, 3, 4});
  EXPECT_TRUE(check.passed) << check.report;
  const std::vector<float> with = model.forward_training(patches, 11, 5).logits.to_vector();
  config.drop_path = 0.0;
  nn::VisionTransformer plain(config.vit(), Device::cpu());
  plain.initialize(5);
  EXPECT_NE(plain.forward_training(patches, 11, 5).logits.to_vector(), with);
  EXPECT_EQ(plain.forward(patches).logits.to_vector(), model.forward(patches).logits.to_vector());
}

// The moving average: its decay schedule, its values after updates worked out by hand, and a
// run that keeps one: evaluated instead of the weights, and saved beside them.
TEST(WeightAverage, AveragesTheWeightsAndIsWhatARunEvaluates) {
  Tensor w = Tensor::from_vector({2}, {1.0f, 2.0f}), a = Tensor::zeros({2});
  optim::WeightAverage average({w}, {a}, 0.9);
  EXPECT_EQ(a.to_vector(), w.to_vector());  // starts at the weights
  EXPECT_FLOAT_EQ(average.decay_at(0), 0.1f);
  EXPECT_FLOAT_EQ(average.decay_at(8), 0.5f);
  EXPECT_FLOAT_EQ(average.decay_at(1000), 0.9f);
  w.copy_from({3.0f, 6.0f});
  average.update();  // d = 0.1: 0.1 * 1 + 0.9 * 3
  EXPECT_FLOAT_EQ(a.to_vector()[0], 2.8f);
  EXPECT_FLOAT_EQ(a.to_vector()[1], 5.6f);
  average.restore(1000);
  w.copy_from({0.0f, 0.0f});
  average.update();  // d = 0.9
  EXPECT_FLOAT_EQ(a.to_vector()[0], 2.52f);
  EXPECT_EQ(average.updates(), 1001);
  EXPECT_THROW(optim::WeightAverage({w}, {a}, 1.0), Error);
  EXPECT_THROW(optim::WeightAverage({w}, {Tensor::zeros({3})}, 0.5), Error);

  TempFolder folder;
  const train::TrainData data = tiny_train_data(folder);
  SilentObserver silent;
  train::TrainOptions options;
  options.config = tiny_train_config(6);
  options.config.epochs = 2;
  options.config.ema_decay = 0.9;
  options.out_dir = folder.file("run");
  const train::TrainResult result = train::train(options, data, silent);
  for (const char* name : {"last", "best"}) {
    const train::Checkpoint checkpoint =
        train::read_checkpoint(options.out_dir + "/checkpoints/" + name + ".safetensors");
    ASSERT_TRUE(train::holds_average(checkpoint));
    nn::VisionTransformer trained(checkpoint.config.vit(), Device::cpu()),
        averaged(checkpoint.config.vit(), Device::cpu());
    train::load_weights(checkpoint, trained);
    train::load_weights(checkpoint, averaged, train::WeightSet::kAveraged);
    EXPECT_NE(trained.parameters()[0].tensor.to_vector(),
              averaged.parameters()[0].tensor.to_vector());
    // The accuracy the run recorded is the average's, not the weights'.
    const train::Evaluation val = train::evaluate(averaged, data.validation, 16);
    const train::Evaluation test = train::evaluate(averaged, data.test, 16);
    if (std::string(name) == "last") {
      EXPECT_EQ(val.accuracy, result.history.back().val_accuracy);
      EXPECT_EQ(test.loss, result.history.back().test_loss);
      EXPECT_NE(train::evaluate(trained, data.test, 16).loss, test.loss);
    } else {
      EXPECT_EQ(val.accuracy, result.state.best_val_accuracy);
    }
  }
  // A checkpoint without an average has none to load.
  options.config.ema_decay = 0;
  options.out_dir = folder.file("plain");
  train::train(options, data, silent);
  const train::Checkpoint plain =
      train::read_checkpoint(options.out_dir + "/checkpoints/last.safetensors");
  EXPECT_FALSE(train::holds_average(plain));
  nn::VisionTransformer model(plain.config.vit(), Device::cpu());
  EXPECT_NE(error_of([&] {
              train::load_weights(plain, model, train::WeightSet::kAveraged);
            }).find("holds no moving average"),
            std::string::npos);
}

}  // namespace
}  // namespace sav::testing

namespace sav::testing {
namespace {

// ops::residual against the three ops it stands for, on `device`: the same values and the same
// gradients of both inputs, bit for bit, for each mask alone and both, from image 0 and image 5
// of a batch, with the stream offset on the device and without.
void expect_residual_is_its_parts(Device device) {
  const int64_t rows = 9, cols = 2 * 5;
  std::vector<float> xs(rows * cols), bs(rows * cols), gs(rows * cols);
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = std::sin(0.7f * static_cast<float>(i));
    bs[i] = 0.5f + std::cos(0.3f * static_cast<float>(i));
    gs[i] = std::sin(1.3f * static_cast<float>(i) + 0.2f);
  }
  std::vector<float> offset_values(ops::kStreamOffsetFloats);
  ops::offset_values(12, offset_values.data());
  for (const float p : {0.0f, 0.3f}) {
    for (const float path_p : {0.0f, 0.4f}) {
      for (const int64_t first : {int64_t{0}, int64_t{5}}) {
        for (const bool on_device : {false, true}) {
          const std::string what = "p " + std::to_string(p) + ", path " + std::to_string(path_p) +
                                   ", first " + std::to_string(first) +
                                   (on_device ? ", offset on the device" : "");
          ops::BranchDrop drop;
          drop.p = p;
          drop.stream = on_device ? 3 : 15;  // 3 + the offset 12
          drop.path_p = path_p;
          drop.path_stream = on_device ? 7 : 19;
          drop.seed = 42;
          drop.first_row = first;
          if (on_device) drop.stream_offset = Tensor::from_vector({2}, offset_values, device);
          std::vector<float> values[2], x_grads[2], b_grads[2];
          for (int fused = 0; fused < 2; ++fused) {
            Tensor x = Tensor::from_vector({rows, 2, 5}, xs, device);
            Tensor b = Tensor::from_vector({rows, 2, 5}, bs, device);
            x.set_requires_grad();
            b.set_requires_grad();
            const Tensor y = fused ? ops::residual(x, b, drop)
                                   : ops::add(x, ops::drop_path(ops::dropout(b, p, 42, 15, first),
                                                                path_p, 42, 19, first));
            y.backward(Tensor::from_vector({rows, 2, 5}, gs, device));
            values[fused] = y.to_vector();
            x_grads[fused] = x.grad().to_vector();
            b_grads[fused] = b.grad().to_vector();
          }
          EXPECT_EQ(values[1], values[0]) << what;
          EXPECT_EQ(x_grads[1], x_grads[0]) << what;
          EXPECT_EQ(b_grads[1], b_grads[0]) << what;
        }
      }
    }
  }
  const Tensor x = Tensor::zeros({2, 3}, device);
  ops::BranchDrop bad;
  bad.p = 1.0f;
  EXPECT_NE(error_of([&] { ops::residual(x, x, bad); }).find("[0, 1)"), std::string::npos);
  bad.p = 0.5f;
  EXPECT_NE(error_of([&] {
              ops::residual(x, Tensor::zeros({3, 2}, device), bad);
            }).find("one shape"),
            std::string::npos);
  bad.stream_offset = Tensor::zeros({3}, device);  // not the two floats of one offset
  EXPECT_NE(error_of([&] { ops::residual(x, x, bad); }).find("a stream offset [3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dropout(x, 0.5f, 1, 1, 0, bad.stream_offset);
            }).find("a stream offset [3]"),
            std::string::npos);
}

TEST(Residual, IsDropoutDropPathAndAddInOnePass) { expect_residual_is_its_parts(Device::cpu()); }

TEST(CudaResidual, IsDropoutDropPathAndAddInOnePass) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  expect_residual_is_its_parts(Device::cuda());
}

}  // namespace
}  // namespace sav::testing
