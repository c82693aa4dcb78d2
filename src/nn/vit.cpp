#include "sav/nn/vit.h"

#include <cmath>

#include "sav/device.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/random.h"

namespace sav::nn {

std::vector<float> sinusoidal_positions(int64_t tokens, int64_t d_model) {
  std::vector<float> table(tokens * d_model);
  for (int64_t pos = 0; pos < tokens; ++pos) {
    for (int64_t i = 0; i < d_model; ++i) {
      const double angle = pos / std::pow(10000.0, static_cast<double>(i - i % 2) / d_model);
      table[pos * d_model + i] = static_cast<float>(i % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return table;
}

VisionTransformer::VisionTransformer(const VitConfig& config, Device device)
    : config_(config), device_(device) {
  const VitConfig& c = config_;
  for (int64_t size :
       {c.patch_features, c.patches, c.d_model, c.heads, c.layers, c.d_ff, c.classes}) {
    if (size <= 0)
      fail("vit: every size must be positive (d_model ", c.d_model, ", heads ", c.heads,
           ", layers ", c.layers, ", d_ff ", c.d_ff, ", classes ", c.classes, ")");
  }
  if (c.d_model % c.heads != 0) fail("vit: ", c.heads, " heads do not divide d_model ", c.d_model);
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f))
    fail("vit: dropout must be in [0, 1), got ", c.dropout);

  for (const ParameterShape& p : parameter_shapes(c)) {
    Tensor t = Tensor::zeros(p.shape, device_);
    t.set_requires_grad();
    parameters_.push_back({p.name, t});
  }
  // Bound in the order parameter_shapes lists them.
  auto next = parameters_.begin();
  auto take = [&next] { return (next++)->tensor; };
  cls_ = take();
  embed_weight_ = take();
  embed_bias_ = take();
  for (int64_t i = 0; i < c.layers; ++i) {
    Block b;
    for (Tensor* t : {&b.q, &b.k, &b.v, &b.o, &b.ln1_weight, &b.ln1_bias, &b.fc1_weight,
                      &b.fc1_bias, &b.fc2_weight, &b.fc2_bias, &b.ln2_weight, &b.ln2_bias}) {
      *t = take();
    }
    blocks_.push_back(b);
  }
  head_weight_ = take();
  head_bias_ = take();
  positions_ = Tensor::from_vector({c.tokens(), c.d_model},
                                   sinusoidal_positions(c.tokens(), c.d_model), device_);
}

std::vector<ParameterShape> parameter_shapes(const VitConfig& c) {
  std::vector<ParameterShape> shapes = {{"cls_token", {1, 1, c.patch_features}},
                                        {"patch_embed.weight", {c.d_model, c.patch_features}},
                                        {"patch_embed.bias", {c.d_model}}};
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    for (const char* name : {"attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight"}) {
      shapes.push_back({p + name, {c.d_model, c.d_model}});
    }
    shapes.push_back({p + "ln1.weight", {c.d_model}});
    shapes.push_back({p + "ln1.bias", {c.d_model}});
    shapes.push_back({p + "ffn.fc1.weight", {c.d_ff, c.d_model}});
    shapes.push_back({p + "ffn.fc1.bias", {c.d_ff}});
    shapes.push_back({p + "ffn.fc2.weight", {c.d_model, c.d_ff}});
    shapes.push_back({p + "ffn.fc2.bias", {c.d_model}});
    shapes.push_back({p + "ln2.weight", {c.d_model}});
    shapes.push_back({p + "ln2.bias", {c.d_model}});
  }
  shapes.push_back({"head.weight", {c.classes, c.d_model}});
  shapes.push_back({"head.bias", {c.classes}});
  return shapes;
}

int64_t parameter_count(const VitConfig& config) {
  int64_t n = 0;
  for (const ParameterShape& p : parameter_shapes(config)) n += p.shape.numel();
  return n;
}

std::vector<Tensor> VisionTransformer::parameter_tensors() const {
  std::vector<Tensor> tensors;
  for (const NamedTensor& p : parameters_) tensors.push_back(p.tensor);
  return tensors;
}

int64_t VisionTransformer::parameter_count() const {
  int64_t n = 0;
  for (const NamedTensor& p : parameters_) n += p.tensor.numel();
  return n;
}

void VisionTransformer::initialize(uint64_t seed) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const std::string& name = parameters_[index].name;
    Tensor& t = parameters_[index].tensor;
    std::vector<float> values(t.numel());
    const bool layernorm = name.find(".ln") != std::string::npos;
    if (name == "cls_token" || (!layernorm && ends_with(name, ".weight"))) {
      // Kaiming normal, fan-in mode, ReLU gain sqrt(2): std = sqrt(2 / in_features).
      const float std =
          name == "cls_token" ? 1.0f : std::sqrt(2.0f / static_cast<float>(t.shape()[1]));
      for (size_t i = 0; i < values.size(); ++i) values[i] = std * normal_at(seed, index, i);
    } else if (layernorm) {
      std::fill(values.begin(), values.end(), ends_with(name, ".weight") ? 1.0f : 0.0f);
    } else {  // Linear biases
      std::fill(values.begin(), values.end(), 0.01f);
    }
    t.copy_from(values);
  }
}

VitOutput VisionTransformer::forward(const Tensor& patches) const {
  return forward_pass(patches, 0.0f, 0, 0);
}

VitOutput VisionTransformer::forward_training(const Tensor& patches, uint64_t dropout_seed,
                                              uint64_t step) const {
  return forward_pass(patches, config_.dropout, dropout_seed, step);
}

VitOutput VisionTransformer::forward_pass(const Tensor& patches, float p, uint64_t dropout_seed,
                                          uint64_t step) const {
  const VitConfig& c = config_;
  if (patches.shape().rank() != 3 || patches.shape()[1] != c.patches ||
      patches.shape()[2] != c.patch_features) {
    fail("vit: input ", patches.shape(), " is not [batch, ", c.patches, ", ", c.patch_features,
         "]");
  }
  const int64_t batch = patches.shape()[0];
  // Two dropout calls a layer; each call of each step draws from its own stream.
  uint64_t stream = step * static_cast<uint64_t>(2 * c.layers);

  VitOutput out;
  Tensor x = ops::linear(ops::concat_tokens(cls_, patches), embed_weight_, embed_bias_);
  x = ops::add(x, positions_);  // [batch, tokens, d_model]
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    if (i + 1 == blocks_.size()) out.last_layer_input = x;
    ops::AttentionResult attn = ops::multi_head_attention(
        ops::linear(x, b.q), ops::linear(x, b.k), ops::linear(x, b.v), static_cast<int>(c.heads));
    out.attention.push_back(attn.probs);
    const Tensor mixed = ops::linear(attn.out, b.o);
    x = ops::layernorm(ops::add(x, ops::dropout(mixed, p, dropout_seed, stream++)), b.ln1_weight,
                       b.ln1_bias);
    const Tensor ffn =
        ops::linear(ops::relu(ops::linear(x, b.fc1_weight, b.fc1_bias)), b.fc2_weight, b.fc2_bias);
    x = ops::layernorm(ops::add(x, ops::dropout(ffn, p, dropout_seed, stream++)), b.ln2_weight,
                       b.ln2_bias);
  }
  const Tensor cls = ops::reshape(ops::slice_tokens(x, 0, 1), {batch, c.d_model});
  out.logits = ops::linear(cls, head_weight_, head_bias_);
  return out;
}

}  // namespace sav::nn
