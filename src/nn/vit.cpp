#include "sav/nn/vit.h"

#include <cmath>
#include <unordered_map>

#include "sav/device.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/random.h"

namespace sav::nn {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The seed's parameters, in the order its checkpoints have always listed them.
std::vector<ParameterShape> seed_parameter_shapes(const VitConfig& c) {
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

// The standard ViT's parameters, in the order of its forward pass. The names are sav's own;
// the loaders of published checkpoints map theirs onto them.
std::vector<ParameterShape> standard_parameter_shapes(const VitConfig& c) {
  const int64_t d = c.d_model;
  std::vector<ParameterShape> shapes = {{"patch_embed.weight", {d, c.patch_features}},
                                        {"patch_embed.bias", {d}},
                                        {"cls_token", {1, 1, d}}};
  if (c.distillation_token) shapes.push_back({"dist_token", {1, 1, d}});
  shapes.push_back({"pos_embed", {c.tokens(), d}});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    shapes.push_back({p + "ln1.weight", {d}});
    shapes.push_back({p + "ln1.bias", {d}});
    for (const char* name : {"attn.q", "attn.k", "attn.v", "attn.o"}) {
      shapes.push_back({p + name + ".weight", {d, d}});
      if (c.attention_bias) shapes.push_back({p + name + ".bias", {d}});
    }
    shapes.push_back({p + "ln2.weight", {d}});
    shapes.push_back({p + "ln2.bias", {d}});
    shapes.push_back({p + "ffn.fc1.weight", {c.d_ff, d}});
    shapes.push_back({p + "ffn.fc1.bias", {c.d_ff}});
    shapes.push_back({p + "ffn.fc2.weight", {d, c.d_ff}});
    shapes.push_back({p + "ffn.fc2.bias", {d}});
  }
  if (c.final_norm) {
    shapes.push_back({"norm.weight", {d}});
    shapes.push_back({"norm.bias", {d}});
  }
  shapes.push_back({"head.weight", {c.classes, d}});
  shapes.push_back({"head.bias", {c.classes}});
  if (c.distillation_head) {
    shapes.push_back({"head_dist.weight", {c.classes, d}});
    shapes.push_back({"head_dist.bias", {c.classes}});
  }
  return shapes;
}

void check_config(const VitConfig& c) {
  for (int64_t size : {c.patch_features, c.patches, c.grid_height, c.grid_width, c.d_model, c.heads,
                       c.layers, c.d_ff, c.classes}) {
    if (size <= 0) {
      fail("vit: every size must be positive (d_model ", c.d_model, ", heads ", c.heads,
           ", layers ", c.layers, ", d_ff ", c.d_ff, ", classes ", c.classes, ", grid ",
           c.grid_height, " x ", c.grid_width, ")");
    }
  }
  if (c.patches != c.grid_height * c.grid_width) {
    fail("vit: ", c.patches, " patches do not make the ", c.grid_height, " x ", c.grid_width,
         " grid");
  }
  if (c.d_model % c.heads != 0) fail("vit: ", c.heads, " heads do not divide d_model ", c.d_model);
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) {
    fail("vit: dropout must be in [0, 1), got ", c.dropout);
  }
  if (!(c.drop_path >= 0.0f && c.drop_path < 1.0f)) {
    fail("vit: drop path must be in [0, 1), got ", c.drop_path);
  }
  if (!(c.layernorm_eps > 0.0f)) fail("vit: LayerNorm eps must be positive, got ", c.layernorm_eps);
  const bool seed = c.token_style == TokenStyle::kSeed;
  if (c.distillation_head && !c.distillation_token) {
    fail("vit: a distillation head needs the distillation token");
  }
  if (seed && (c.distillation_token || c.final_norm || c.attention_bias ||
               c.norm != NormPlacement::kPost || c.activation != Activation::kRelu)) {
    fail(
        "vit: the seed's token style goes with its post-LN, ReLU blocks without biases, "
        "distillation token or final norm");
  }
}

}  // namespace

VitConfig standard_vit(VitConfig base) {
  base.token_style = TokenStyle::kStandard;
  base.norm = NormPlacement::kPre;
  base.activation = Activation::kGelu;
  base.attention_bias = true;
  base.final_norm = true;
  base.layernorm_eps = 1e-6f;
  return base;
}

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

std::vector<ParameterShape> parameter_shapes(const VitConfig& c) {
  return c.token_style == TokenStyle::kSeed ? seed_parameter_shapes(c)
                                            : standard_parameter_shapes(c);
}

int64_t parameter_count(const VitConfig& config) {
  int64_t n = 0;
  for (const ParameterShape& p : parameter_shapes(config)) n += p.shape.numel();
  return n;
}

VisionTransformer::VisionTransformer(const VitConfig& config, Device device)
    : config_(config), device_(device) {
  check_config(config_);
  for (const ParameterShape& p : parameter_shapes(config_)) {
    Tensor t = Tensor::zeros(p.shape, device_);
    t.set_requires_grad();
    parameters_.push_back({p.name, t});
  }
  bind_parameters();
  if (config_.token_style == TokenStyle::kSeed) {
    positions_ =
        Tensor::from_vector({config_.tokens(), config_.d_model},
                            sinusoidal_positions(config_.tokens(), config_.d_model), device_);
  }
}

// The fields the forward pass reads, found by name; one a configuration leaves out stays
// undefined.
void VisionTransformer::bind_parameters() {
  std::unordered_map<std::string, Tensor> by_name;
  for (const NamedTensor& p : parameters_) by_name.emplace(p.name, p.tensor);
  auto get = [&by_name](const std::string& name) {
    const auto found = by_name.find(name);
    return found == by_name.end() ? Tensor() : found->second;
  };
  cls_ = get("cls_token");
  dist_ = get("dist_token");
  embed_weight_ = get("patch_embed.weight");
  embed_bias_ = get("patch_embed.bias");
  if (config_.token_style == TokenStyle::kStandard) positions_ = get("pos_embed");
  for (int64_t i = 0; i < config_.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    blocks_.push_back({get(p + "attn.q.weight"), get(p + "attn.k.weight"), get(p + "attn.v.weight"),
                       get(p + "attn.o.weight"), get(p + "attn.q.bias"), get(p + "attn.k.bias"),
                       get(p + "attn.v.bias"), get(p + "attn.o.bias"), get(p + "ln1.weight"),
                       get(p + "ln1.bias"), get(p + "ffn.fc1.weight"), get(p + "ffn.fc1.bias"),
                       get(p + "ffn.fc2.weight"), get(p + "ffn.fc2.bias"), get(p + "ln2.weight"),
                       get(p + "ln2.bias")});
  }
  norm_weight_ = get("norm.weight");
  norm_bias_ = get("norm.bias");
  head_weight_ = get("head.weight");
  head_bias_ = get("head.bias");
  head_dist_weight_ = get("head_dist.weight");
  head_dist_bias_ = get("head_dist.bias");
}

std::vector<Tensor> VisionTransformer::parameter_tensors() const {
  std::vector<Tensor> tensors;
  for (const NamedTensor& p : parameters_) tensors.push_back(p.tensor);
  return tensors;
}

FrozenParameters::FrozenParameters(const VisionTransformer& model) {
  for (Tensor t : model.parameter_tensors()) {
    if (t.requires_grad()) {
      t.set_requires_grad(false);
      frozen_.push_back(t);
    }
  }
}

FrozenParameters::~FrozenParameters() {
  for (Tensor& t : frozen_) t.set_requires_grad(true);
}

int64_t VisionTransformer::parameter_count() const {
  int64_t n = 0;
  for (const NamedTensor& p : parameters_) n += p.tensor.numel();
  return n;
}

void VisionTransformer::initialize(uint64_t seed) {
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const std::string& name = parameters_[index].name;
    Tensor& t = parameters_[index].tensor;
    std::vector<float> values(t.numel());
    const bool layernorm = name.find(".ln") != std::string::npos || name.rfind("norm.", 0) == 0;
    if (name == "cls_token" || (!layernorm && ends_with(name, ".weight"))) {
      // Kaiming normal, fan-in mode, ReLU gain sqrt(2): std = sqrt(2 / in_features).
      const float std =
          name == "cls_token" ? 1.0f : std::sqrt(2.0f / static_cast<float>(t.shape()[1]));
      for (size_t i = 0; i < values.size(); ++i) values[i] = std * normal_at(seed, index, i);
    } else if (name == "dist_token" || name == "pos_embed") {
      // As timm starts them: small, so that the patches' content dominates at first.
      for (size_t i = 0; i < values.size(); ++i) values[i] = 0.02f * normal_at(seed, index, i);
    } else if (layernorm) {
      std::fill(values.begin(), values.end(), ends_with(name, ".weight") ? 1.0f : 0.0f);
    } else {  // Linear biases
      std::fill(values.begin(), values.end(), 0.01f);
    }
    t.copy_from(values);
  }
}

VitOutput VisionTransformer::forward(const Tensor& patches) const {
  return forward_pass(patches, DropoutDraw{}, 0);
}

VitOutput VisionTransformer::forward_training(const Tensor& patches, uint64_t dropout_seed,
                                              uint64_t step, int64_t first_image) const {
  return forward_pass(
      patches, DropoutDraw{config_.dropout, config_.drop_path, dropout_seed, first_image, {}},
      step);
}

VitOutput VisionTransformer::forward_training(const Tensor& patches, uint64_t dropout_seed,
                                              const Tensor& stream_offset,
                                              int64_t first_image) const {
  if (!stream_offset.defined()) fail("vit: forward_training without its stream offset");
  return forward_pass(
      patches,
      DropoutDraw{config_.dropout, config_.drop_path, dropout_seed, first_image, stream_offset}, 0);
}

uint64_t VisionTransformer::stream_offset(uint64_t step) const {
  return step * static_cast<uint64_t>(2 * config_.layers);
}

// patches [batch, patches, features] -> tokens [batch, tokens, d_model] with their positions.
Tensor VisionTransformer::embed(const Tensor& patches) const {
  if (config_.token_style == TokenStyle::kSeed) {
    const Tensor x = ops::linear(ops::concat_tokens(cls_, patches), embed_weight_, embed_bias_);
    return ops::add(x, positions_);
  }
  const Tensor prefix = dist_.defined() ? ops::concat_tokens(cls_, dist_) : cls_;
  const Tensor x = ops::concat_tokens(prefix, ops::linear(patches, embed_weight_, embed_bias_));
  return ops::add(x, positions_);
}

// The Philox streams of drop path: above 2^63, apart from dropout's (step * 2 * layers + call)
// for every step below 2^63 / (2 * layers). Both are a call's own number plus
// VisionTransformer::stream_offset(step), which the kernels may add from device memory.
namespace {
uint64_t drop_path_stream(uint64_t step, size_t block, int branch, int64_t layers) {
  return (uint64_t{1} << 63) | (step * static_cast<uint64_t>(2 * layers) + 2 * block + branch);
}
}  // namespace

// Encoder block `index`; `probs` receives its attention probabilities.
Tensor VisionTransformer::block(const Block& b, size_t index, const Tensor& x,
                                const DropoutDraw& drop, uint64_t step, uint64_t& stream,
                                Tensor& probs) const {
  const VitConfig& c = config_;
  const float eps = c.layernorm_eps;
  const bool pre = c.norm == NormPlacement::kPre;
  auto attention = [&](const Tensor& in) {
    ops::AttentionResult attn =
        ops::multi_head_attention(ops::linear(in, b.q, b.q_bias), ops::linear(in, b.k, b.k_bias),
                                  ops::linear(in, b.v, b.v_bias), static_cast<int>(c.heads));
    probs = attn.probs;
    return ops::linear(attn.out, b.o, b.o_bias);
  };
  // A residual branch after its dropout, kept or dropped whole per image (drop path) at this
  // block's share of the rate, added to the residual stream: one op.
  const float path_p =
      c.layers > 1 ? drop.drop_path * static_cast<float>(index) / static_cast<float>(c.layers - 1)
                   : drop.drop_path;
  auto residual = [&](const Tensor& x_in, const Tensor& branch, int which) {
    ops::BranchDrop masks;
    masks.p = drop.p;
    masks.stream = stream++;
    masks.path_p = path_p;
    masks.path_stream = drop_path_stream(step, index, which, c.layers);
    masks.seed = drop.seed;
    masks.first_row = drop.first_image;
    masks.stream_offset = drop.stream_offset;
    return ops::residual(x_in, branch, masks);
  };
  auto mlp = [&](const Tensor& in) {
    const Tensor hidden = ops::linear(in, b.fc1_weight, b.fc1_bias);
    const Tensor active = c.activation == Activation::kGelu ? ops::gelu(hidden) : ops::relu(hidden);
    return ops::linear(active, b.fc2_weight, b.fc2_bias);
  };
  if (pre) {
    Tensor y = ops::layernorm(x, b.ln1_weight, b.ln1_bias, eps);
    y = residual(x, attention(y), 0);
    const Tensor h = ops::layernorm(y, b.ln2_weight, b.ln2_bias, eps);
    return residual(y, mlp(h), 1);
  }
  const Tensor y = ops::layernorm(residual(x, attention(x), 0), b.ln1_weight, b.ln1_bias, eps);
  return ops::layernorm(residual(y, mlp(y), 1), b.ln2_weight, b.ln2_bias, eps);
}

// The final tokens -> logits from the CLS token (averaged with the distillation token's head).
Tensor VisionTransformer::head(const Tensor& x) const {
  const int64_t batch = x.shape()[0], d = config_.d_model;
  const Tensor tokens = norm_weight_.defined()
                            ? ops::layernorm(x, norm_weight_, norm_bias_, config_.layernorm_eps)
                            : x;
  const Tensor cls = ops::reshape(ops::slice_tokens(tokens, 0, 1), {batch, d});
  const Tensor logits = ops::linear(cls, head_weight_, head_bias_);
  if (!head_dist_weight_.defined()) return logits;
  const Tensor dist = ops::reshape(ops::slice_tokens(tokens, 1, 1), {batch, d});
  return ops::scale(ops::add(logits, ops::linear(dist, head_dist_weight_, head_dist_bias_)), 0.5f);
}

VitOutput VisionTransformer::forward_pass(const Tensor& patches, const DropoutDraw& drop,
                                          uint64_t step) const {
  const VitConfig& c = config_;
  if (patches.shape().rank() != 3 || patches.shape()[1] != c.patches ||
      patches.shape()[2] != c.patch_features) {
    fail("vit: input ", patches.shape(), " is not [batch, ", c.patches, ", ", c.patch_features,
         "]");
  }
  // Two dropout calls a layer; each call of each step draws from its own stream.
  uint64_t stream = step * static_cast<uint64_t>(2 * c.layers);

  VitOutput out;
  Tensor x = embed(patches);  // [batch, tokens, d_model]
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (i + 1 == blocks_.size()) out.last_layer_input = x;
    Tensor probs;
    x = block(blocks_[i], i, x, drop, step, stream, probs);
    out.attention.push_back(probs);
  }
  out.logits = head(x);
  return out;
}

}  // namespace sav::nn
