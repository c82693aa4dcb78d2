// ViT-CIFAR (docs/design.md section 2): a learned CLS token prepended in patch space, one linear
// patch embedding, fixed sinusoidal positions, post-LN encoder layers, a linear head on CLS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sav/tensor.h"

namespace sav::nn {

struct VitConfig {
  int64_t patch_features = 48;  // 3 channels x 4 x 4
  int64_t patches = 64;         // 8 x 8 grid
  int64_t d_model = 256;
  int64_t heads = 8;
  int64_t layers = 6;
  int64_t d_ff = 1024;
  int64_t classes = 10;
  float dropout = 0.1f;

  int64_t tokens() const { return patches + 1; }  // with CLS
};

// A parameter's checkpoint name and shape.
struct ParameterShape {
  std::string name;
  Shape shape;
};

// The parameters of the model `config` describes, in checkpoint order (as
// VisionTransformer::parameters() lists them), and their count, without building the model.
std::vector<ParameterShape> parameter_shapes(const VitConfig& config);
int64_t parameter_count(const VitConfig& config);

struct NamedTensor {
  std::string name;  // the checkpoint name, e.g. "blocks.0.attn.q.weight"
  Tensor tensor;
};

struct VitOutput {
  Tensor logits;                  // [batch, classes]
  std::vector<Tensor> attention;  // per layer: A [batch, heads, tokens, tokens]
  Tensor last_layer_input;        // [batch, tokens, d_model], the tokens entering the last layer
};

class VisionTransformer {
 public:
  // Parameters are allocated on `device`, uninitialised until initialize() or a checkpoint.
  VisionTransformer(const VitConfig& config, Device device);

  // The seed's initialisation: Kaiming-normal (fan-in, ReLU gain) weights, biases 0.01,
  // CLS ~ N(0, 1), LayerNorm weight 1 and bias 0; drawn from Philox under `seed`.
  void initialize(uint64_t seed);

  // patches [batch, 64, 48], dropout off: inference and evaluation.
  VitOutput forward(const Tensor& patches) const;
  // The same with dropout on, its masks drawn from (dropout_seed, step): the same step always
  // gets the same masks.
  VitOutput forward_training(const Tensor& patches, uint64_t dropout_seed, uint64_t step) const;

  const VitConfig& config() const { return config_; }
  Device device() const { return device_; }
  // In checkpoint order (docs/design.md section 3); every one requires a gradient.
  const std::vector<NamedTensor>& parameters() const { return parameters_; }
  // The same tensors without their names (what an optimizer takes).
  std::vector<Tensor> parameter_tensors() const;
  int64_t parameter_count() const;

 private:
  struct Block {
    Tensor q, k, v, o, ln1_weight, ln1_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias, ln2_weight,
        ln2_bias;
  };
  VitOutput forward_pass(const Tensor& patches, float dropout, uint64_t dropout_seed,
                         uint64_t step) const;

  VitConfig config_;
  Device device_;
  std::vector<NamedTensor> parameters_;
  Tensor cls_, embed_weight_, embed_bias_, head_weight_, head_bias_;
  std::vector<Block> blocks_;
  Tensor positions_;  // [tokens, d_model], fixed
};

// Fixed sinusoidal positions [tokens, d_model]: sin on even dims, cos on odd, base 10000.
std::vector<float> sinusoidal_positions(int64_t tokens, int64_t d_model);

}  // namespace sav::nn
