// The Vision Transformer, one model for two families (docs/design.md section 2):
// - the seed's ViT-CIFAR (the defaults): a learned CLS token prepended in patch space, one linear
//   patch embedding, fixed sinusoidal positions, post-LN encoder layers with ReLU, a linear head
//   on CLS;
// - the standard ViT of timm and Hugging Face (ViT, DeiT): patch embedding, then a CLS token (and
//   DeiT's distillation token) in embedding space, learned positions, pre-LN blocks with GELU and
//   attention biases, a final LayerNorm, a head on CLS (with DeiT's second head on the
//   distillation token, the two averaged).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sav/tensor.h"

namespace sav::nn {

// Where a block's LayerNorms stand: after each residual sum (the seed's), or before each branch
// (x + Attn(LN(x)), x + MLP(LN(x)): timm's and Hugging Face's).
enum class NormPlacement { kPost, kPre };
enum class Activation { kRelu, kGelu };  // GELU: the exact one, x * Phi(x)
// The seed prepends its CLS token to the patches before the embedding, and adds fixed sinusoidal
// positions; the standard ViT prepends learned tokens to the embedded patches and learns its
// positions.
enum class TokenStyle { kSeed, kStandard };

struct VitConfig {
  int64_t patch_features = 48;  // channels x patch side x patch side: 3 x 4 x 4
  int64_t patches = 64;         // grid_height x grid_width
  int64_t grid_height = 8, grid_width = 8;
  int64_t d_model = 256;
  int64_t heads = 8;
  int64_t layers = 6;
  int64_t d_ff = 1024;
  int64_t classes = 10;
  float dropout = 0.1f;
  // Stochastic depth: block i of L drops each image's residual branches with probability
  // drop_path * i / (L - 1), from 0 at the first block to drop_path at the last (as timm spaces
  // them). 0, the seed's: none.
  float drop_path = 0.0f;
  // The family: the defaults are the seed's.
  TokenStyle token_style = TokenStyle::kSeed;
  NormPlacement norm = NormPlacement::kPost;
  Activation activation = Activation::kRelu;
  bool attention_bias = false;      // biases on q, k, v and the output projection
  bool distillation_token = false;  // DeiT's: a second prefix token after CLS
  bool distillation_head = false;   // its own head, averaged with CLS's (DeiT with its teacher)
  bool final_norm = false;          // a LayerNorm after the last block
  float layernorm_eps = 1e-5f;

  int64_t prefix_tokens() const { return distillation_token ? 2 : 1; }  // CLS (and DIST)
  int64_t tokens() const { return patches + prefix_tokens(); }
};

// The standard ViT's choices (pre-LN, GELU, biases, learned tokens, final norm) on `base`'s sizes.
VitConfig standard_vit(VitConfig base);

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
  // The same with dropout and drop path on, their masks drawn from (dropout_seed, step, image):
  // the same step always gets the same masks. `patches` holds images first_image, first_image + 1,
  // ... of the step's batch (a rank's share of it), which take the masks they take in the whole
  // batch.
  VitOutput forward_training(const Tensor& patches, uint64_t dropout_seed, uint64_t step,
                             int64_t first_image = 0) const;
  // The same masks, the step given on the device: `stream_offset` (ops::kStreamOffsetFloats
  // values on the model's device) holds stream_offset(step), read when the masks are drawn, so
  // that one recorded graph of the step replays with every step's own masks.
  VitOutput forward_training(const Tensor& patches, uint64_t dropout_seed,
                             const Tensor& stream_offset, int64_t first_image = 0) const;
  // What step `step`'s masks add to their streams (see forward_training).
  uint64_t stream_offset(uint64_t step) const;

  const VitConfig& config() const { return config_; }
  Device device() const { return device_; }
  // In checkpoint order (docs/design.md section 3); every one requires a gradient, except
  // while a FrozenParameters of the model lives.
  const std::vector<NamedTensor>& parameters() const { return parameters_; }
  // The same tensors without their names (what an optimizer takes).
  std::vector<Tensor> parameter_tensors() const;
  int64_t parameter_count() const;

 private:
  // A bias that a configuration leaves out is an undefined Tensor.
  struct Block {
    Tensor q, k, v, o, q_bias, k_bias, v_bias, o_bias, ln1_weight, ln1_bias, fc1_weight, fc1_bias,
        fc2_weight, fc2_bias, ln2_weight, ln2_bias;
  };
  void bind_parameters();
  Tensor embed(const Tensor& patches) const;
  // Dropout's and drop path's probabilities, and where their masks come from: (seed, stream,
  // image).
  struct DropoutDraw {
    float p = 0;
    float drop_path = 0;  // the last block's rate
    uint64_t seed = 0;
    int64_t first_image = 0;
    Tensor stream_offset;  // when defined: the step on the device, and `step` is 0
  };
  Tensor block(const Block& b, size_t index, const Tensor& x, const DropoutDraw& drop,
               uint64_t step, uint64_t& stream, Tensor& probs) const;
  Tensor head(const Tensor& x) const;
  VitOutput forward_pass(const Tensor& patches, const DropoutDraw& drop, uint64_t step) const;

  VitConfig config_;
  Device device_;
  std::vector<NamedTensor> parameters_;
  Tensor cls_, dist_, embed_weight_, embed_bias_, norm_weight_, norm_bias_, head_weight_,
      head_bias_, head_dist_weight_, head_dist_bias_;
  std::vector<Block> blocks_;
  Tensor positions_;  // [tokens, d_model]: fixed for the seed, the learned pos_embed otherwise
};

// Turns off the gradients of a model's parameters for its lifetime, and back on after it. A
// backward pass then computes the gradients of activations only, which is what explaining a
// model needs: no weight gradients (a third of a training step's products), and the tape frees
// the inputs of linear layers after the forward pass. The model must not be trained or explained
// by another thread meanwhile.
class FrozenParameters {
 public:
  explicit FrozenParameters(const VisionTransformer& model);
  ~FrozenParameters();
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<Tensor> frozen_;  // the parameters that required a gradient
};

// Fixed sinusoidal positions [tokens, d_model]: sin on even dims, cos on odd, base 10000.
std::vector<float> sinusoidal_positions(int64_t tokens, int64_t d_model);

}  // namespace sav::nn
