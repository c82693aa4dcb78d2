// The ViT and Adam: shapes and names, initialisation, the whole model's gradient, and training a
// tiny model until it fits a small set.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <random>

#include "gradcheck.h"
#include "reference.h"
#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"
#include "sav/train/step.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

TEST(Vit, SeedConfigurationHasTheDesignedParameters) {
  const nn::VisionTransformer model(nn::VitConfig{}, Device::cpu());
  EXPECT_EQ(model.parameter_count(), 4747578);               // docs/design.md section 2
  EXPECT_EQ(nn::parameter_count(nn::VitConfig{}), 4747578);  // without building a model
  const auto& p = model.parameters();
  ASSERT_EQ(p.size(), 3u + 6u * 12u + 2u);
  EXPECT_EQ(p[0].name, "cls_token");
  EXPECT_EQ(p[0].tensor.shape(), Shape({1, 1, 48}));
  EXPECT_EQ(p[1].name, "patch_embed.weight");
  EXPECT_EQ(p[1].tensor.shape(), Shape({256, 48}));
  EXPECT_EQ(p[3].name, "blocks.0.attn.q.weight");
  EXPECT_EQ(p[9].name, "blocks.0.ffn.fc1.weight");
  EXPECT_EQ(p[9].tensor.shape(), Shape({1024, 256}));
  EXPECT_EQ(p[11].name, "blocks.0.ffn.fc2.weight");
  EXPECT_EQ(p[11].tensor.shape(), Shape({256, 1024}));
  EXPECT_EQ(p[14].name, "blocks.0.ln2.bias");
  EXPECT_EQ(p[p.size() - 2].name, "head.weight");
  EXPECT_EQ(p.back().tensor.shape(), Shape({10}));
}

TEST(Vit, InitialisationFollowsTheSeed) {
  nn::VisionTransformer model(nn::VitConfig{}, Device::cpu());
  model.initialize(42);
  auto stats = [](const Tensor& t) {
    const auto v = t.to_vector();
    double sum = 0, squares = 0;
    for (float x : v) {
      sum += x;
      squares += double{x} * x;
    }
    const double mean = sum / v.size();
    return std::make_pair(mean, std::sqrt(squares / v.size() - mean * mean));
  };
  for (const auto& [name, tensor] : model.parameters()) {
    const auto [mean, std] = stats(tensor);
    if (name == "cls_token") {
      EXPECT_NEAR(std, 1.0, 0.35) << name;  // 48 draws of N(0, 1)
    } else if (name.find(".ln") != std::string::npos) {
      EXPECT_EQ(std, 0.0) << name;
      EXPECT_EQ(mean, name.back() == 't' ? 1.0 : 0.0) << name;  // weight 1, bias 0
    } else if (name.size() > 5 && name.substr(name.size() - 5) == ".bias") {
      EXPECT_FLOAT_EQ(static_cast<float>(mean), 0.01f) << name;
    } else {  // Kaiming normal, fan-in, ReLU gain
      const double expected = std::sqrt(2.0 / tensor.shape()[1]);
      EXPECT_NEAR(std, expected, 0.05 * expected) << name;
      EXPECT_NEAR(mean, 0.0, 0.05 * expected) << name;
    }
  }
  nn::VisionTransformer again(nn::VitConfig{}, Device::cpu());
  again.initialize(42);
  EXPECT_EQ(again.parameters()[5].tensor.to_vector(), model.parameters()[5].tensor.to_vector());
  again.initialize(43);
  EXPECT_NE(again.parameters()[5].tensor.to_vector(), model.parameters()[5].tensor.to_vector());
}

TEST(Vit, SinusoidalPositions) {
  const auto pe = nn::sinusoidal_positions(3, 8);
  EXPECT_FLOAT_EQ(pe[0 * 8 + 0], 0.0f);  // position 0: sin 0, cos 0
  EXPECT_FLOAT_EQ(pe[0 * 8 + 1], 1.0f);
  EXPECT_FLOAT_EQ(pe[2 * 8 + 0], static_cast<float>(std::sin(2.0)));
  EXPECT_FLOAT_EQ(pe[2 * 8 + 1], static_cast<float>(std::cos(2.0)));
  EXPECT_FLOAT_EQ(pe[1 * 8 + 4], static_cast<float>(std::sin(1.0 / std::pow(10000.0, 4.0 / 8))));
  EXPECT_FLOAT_EQ(pe[1 * 8 + 5], static_cast<float>(std::cos(1.0 / std::pow(10000.0, 4.0 / 8))));
}

TEST(Vit, ForwardShapesAndAttention) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(1);
  const Tensor x = Tensor::from_vector({3, 64, 48}, random_values(3 * 64 * 48, 2, 0, 1));
  const nn::VitOutput out = model.forward(x);
  EXPECT_EQ(out.logits.shape(), Shape({3, 10}));
  ASSERT_EQ(out.attention.size(), 2u);
  EXPECT_EQ(out.attention[1].shape(), Shape({3, 2, 65, 65}));
  EXPECT_EQ(out.last_layer_input.shape(), Shape({3, 65, 16}));
  // Evaluation is deterministic; training mode with dropout differs from it.
  EXPECT_EQ(model.forward(x).logits.to_vector(), out.logits.to_vector());
  EXPECT_NE(model.forward_training(x, 7, 0).logits.to_vector(), out.logits.to_vector());
  EXPECT_EQ(model.forward_training(x, 7, 3).logits.to_vector(),
            model.forward_training(x, 7, 3).logits.to_vector());
  EXPECT_THROW(model.forward(Tensor::zeros({3, 65, 48})), Error);
}

// FrozenParameters: while it lives, a backward pass from the logits reaches the input and the
// activations but no parameter; afterwards every parameter takes gradients again. The input's
// gradient is the same as with the parameters taking theirs: their products do not feed it.
TEST(Vit, FrozenParametersTakeNoGradientAndThawAfterwards) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(1);
  const std::vector<float> values = random_values(2 * 64 * 48, 3, 0, 1);
  auto input_gradient = [&](bool frozen) {
    Tensor x = Tensor::from_vector({2, 64, 48}, values);
    x.set_requires_grad();
    std::unique_ptr<nn::FrozenParameters> guard;
    if (frozen) guard = std::make_unique<nn::FrozenParameters>(model);
    const nn::VitOutput out = model.forward(x);
    out.logits.backward(Tensor::full(out.logits.shape(), 1.0f));
    if (frozen) {
      for (const Tensor& p : model.parameter_tensors()) EXPECT_FALSE(p.requires_grad());
    }
    return x.grad().to_vector();
  };
  const std::vector<float> frozen = input_gradient(true);
  for (const Tensor& p : model.parameter_tensors()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());  // never given one
  }
  EXPECT_EQ(frozen, input_gradient(false));
}

// The whole model, dropout on, against central differences of its loss.
TEST(Vit, WholeModelGradientMatchesCentralDifferences) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(3);
  const Tensor x = Tensor::from_vector({2, 64, 48}, random_values(2 * 64 * 48, 4, 0, 1));
  const std::vector<int32_t> labels{3, 8};
  const GradCheckResult result = check_model_gradient(model, x, labels);
  EXPECT_TRUE(result.passed) << result.report;
  std::cout << "worst error over all parameters: " << result.worst_error << "\n";
}

TEST(Adam, MatchesTheUpdateRuleInDoublePrecision) {
  Tensor p = Tensor::from_vector({3}, {1.0f, -2.0f, 0.5f});
  p.set_requires_grad();
  optim::AdamOptions options;
  options.lr = 0.1f;
  options.weight_decay = 0.01f;
  optim::Adam adam({p}, options);
  std::vector<double> value{1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
  for (int step = 1; step <= 3; ++step) {
    adam.zero_grad();
    // loss = sum(p^2 * c) built from ops: grad = 2 c p with c = (1, 2, 3), via p * c as linear.
    const Tensor w = Tensor::from_vector({3, 3}, {1, 0, 0, 0, 2, 0, 0, 0, 3});
    const Tensor y = ops::linear(ops::reshape(p, {1, 3}), w);  // y = c * p
    y.backward(Tensor::from_vector({1, 3}, {1, 1, 1}));        // grad = c
    adam.step();
    for (int i = 0; i < 3; ++i) {
      const double g = i + 1.0;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double m_hat = m[i] / (1 - std::pow(0.9, step));
      const double v_hat = v[i] / (1 - std::pow(0.999, step));
      value[i] = value[i] * (1 - 0.1 * 0.01) - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8);
    }
  }
  expect_close(p.to_vector(), value, 1e-5);
  EXPECT_EQ(adam.steps(), 3);
}

TEST(Adam, RejectsBadOptionsAndFrozenParameters) {
  const Tensor frozen = Tensor::zeros({2});
  EXPECT_THROW(optim::Adam({frozen}, {}), Error);
  Tensor p = Tensor::zeros({2});
  p.set_requires_grad();
  optim::AdamOptions bad;
  bad.lr = 0.0f;
  EXPECT_THROW(optim::Adam({p}, bad), Error);
  bad = {};
  bad.beta2 = 1.0f;
  EXPECT_THROW(optim::Adam({p}, bad), Error);
}

// 20 random "images" with random labels: a tiny model must learn them all.
TEST(Vit, TinyModelOverfitsASmallSet) {
  nn::VitConfig config = tiny_vit_config();
  config.dropout = 0.0f;
  nn::VisionTransformer model(config, Device::cpu());
  model.initialize(5);
  const int64_t n = 20;
  data::Batch batch;
  batch.size = n;
  batch.patches = random_values(n * 64 * 48, 6, 0, 1);
  batch.labels.resize(n);
  std::mt19937 rng(7);
  for (auto& l : batch.labels) l = static_cast<int32_t>(rng() % 10);
  optim::AdamOptions options;
  options.lr = 3e-3f;
  optim::Adam adam(model.parameter_tensors(), options);
  float first_loss = 0, loss_value = 0;
  for (uint64_t step = 0; step < 150; ++step) {
    const train::StepResult result = train::train_step(model, adam, batch, 0, step);
    ASSERT_TRUE(result.updated) << "step " << step << ": loss " << result.loss;
    loss_value = result.loss;
    if (step == 0) first_loss = loss_value;
  }
  const int64_t correct = train::evaluate_batch(model, batch).correct;
  EXPECT_EQ(correct, n) << "loss " << first_loss << " -> " << loss_value;
  EXPECT_LT(loss_value, 0.05f * first_loss);
}

}  // namespace
}  // namespace sav::testing
