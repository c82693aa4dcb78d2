#include "sav/nn/vit.h"

#include <cmath>

#include "sav/backend.h"
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
  for (int64_t size : {c.patch_features, c.patches, c.d_model, c.heads, c.layers, c.d_ff, c.classes}) {
    if (size <= 0) fail("vit: every size must be positive (d_model ", c.d_model, ", heads ", c.heads,
                        ", layers ", c.layers, ", d_ff ", c.d_ff, ", classes ", c.classes, ")");
  }
  if (c.d_model % c.heads != 0) fail("vit: ", c.heads, " heads do not divide d_model ", c.d_model);
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) fail("vit: dropout must be in [0, 1), got ", c.dropout);

  cls_ = add_parameter("cls_token", {1, 1, c.patch_features});
  embed_weight_ = add_parameter("patch_embed.weight", {c.d_model, c.patch_features});
  embed_bias_ = add_parameter("patch_embed.bias", {c.d_model});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    Block b;
    b.q = add_parameter(p + "attn.q.weight", {c.d_model, c.d_model});
    b.k = add_parameter(p + "attn.k.weight", {c.d_model, c.d_model});
    b.v = add_parameter(p + "attn.v.weight", {c.d_model, c.d_model});
    b.o = add_parameter(p + "attn.o.weight", {c.d_model, c.d_model});
    b.ln1_weight = add_parameter(p + "ln1.weight", {c.d_model});
    b.ln1_bias = add_parameter(p + "ln1.bias", {c.d_model});
    b.fc1_weight = add_parameter(p + "ffn.fc1.weight", {c.d_ff, c.d_model});
    b.fc1_bias = add_parameter(p + "ffn.fc1.bias", {c.d_ff});
    b.fc2_weight = add_parameter(p + "ffn.fc2.weight", {c.d_model, c.d_ff});
    b.fc2_bias = add_parameter(p + "ffn.fc2.bias", {c.d_model});
    b.ln2_weight = add_parameter(p + "ln2.weight", {c.d_model});
    b.ln2_bias = add_parameter(p + "ln2.bias", {c.d_model});
    blocks_.push_back(b);
  }
  head_weight_ = add_parameter("head.weight", {c.classes, c.d_model});
  head_bias_ = add_parameter("head.bias", {c.classes});
  positions_ = Tensor::from_vector({c.tokens(), c.d_model},
                                   sinusoidal_positions(c.tokens(), c.d_model), device_);
}

Tensor VisionTransformer::add_parameter(const std::string& name, const Shape& shape) {
  Tensor t = Tensor::zeros(shape, device_);
  t.set_requires_grad();
  parameters_.push_back({name, t});
  return t;
}

int64_t VisionTransformer::parameter_count() const {
  int64_t n = 0;
  for (const NamedTensor& p : parameters_) n += p.tensor.numel();
  return n;
}

void VisionTransformer::initialize(uint64_t seed) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const std::string& name = parameters_[index].name;
    Tensor& t = parameters_[index].tensor;
    std::vector<float> values(t.numel());
    const bool layernorm = name.find(".ln") != std::string::npos;
    if (name == "cls_token" || (!layernorm && ends_with(name, ".weight"))) {
      // Kaiming normal, fan-in mode, ReLU gain sqrt(2): std = sqrt(2 / in_features).
      const float std = name == "cls_token" ? 1.0f
                                            : std::sqrt(2.0f / static_cast<float>(t.shape()[1]));
      for (size_t i = 0; i < values.size(); ++i) values[i] = std * normal_at(seed, index, i);
    } else if (layernorm) {
      std::fill(values.begin(), values.end(), ends_with(name, ".weight") ? 1.0f : 0.0f);
    } else {  // Linear biases
      std::fill(values.begin(), values.end(), 0.01f);
    }
    t.backend().upload(t.data(), values.data(), sizeof(float) * values.size());
  }
}

VitOutput VisionTransformer::forward(const Tensor& patches, bool training, uint64_t dropout_seed,
                                     uint64_t step) const {
  const VitConfig& c = config_;
  if (patches.shape().rank() != 3 || patches.shape()[1] != c.patches ||
      patches.shape()[2] != c.patch_features) {
    fail("vit: input ", patches.shape(), " is not [batch, ", c.patches, ", ", c.patch_features, "]");
  }
  const int64_t batch = patches.shape()[0];
  const float p = training ? c.dropout : 0.0f;
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
