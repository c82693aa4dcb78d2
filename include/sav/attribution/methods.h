// Attribution methods (docs/design.md section 4): from one image's attention probabilities (and,
// for the class-specific methods, gradients) to one score per patch token. Pure arithmetic on
// host arrays, computed in double: nothing here knows the model, tensors or autograd.
//
// seed, rollout, last and grad-rollout are one routine, `rollup`, with different parameters:
// each layer l contributes the matrix B_l = a I + b fuse_h(G_l), and the map is row 0 (CLS) of
// B_N ... B_1 without its column 0. The seed's I + sum_h A_l is rollout's
// rownorm(w I + (1 - w) mean_h A_l) with w = 1 / (H + 1), times H + 1 (every row of
// I + sum_h A_l sums to H + 1); grad-rollout's R <- R + mean_h(G_l) R is the same product with
// a = b = 1 and G_l = max(0, dA_l * A_l).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sav::attribution {

// How the heads of one layer are combined into one n x n matrix, entry by entry.
enum class HeadFusion { kMean, kMax, kMin, kSum };

// "mean", "max", "min", "sum"; a UsageError listing them otherwise.
HeadFusion parse_fusion(const std::string& name);
std::string fusion_name(HeadFusion fusion);

// One image's attention. Row = query token, token 0 = CLS, then prefix_tokens - 1 more tokens
// that are not patches (DeiT's distillation token), then the patches.
struct AttentionStack {
  int layers = 0, heads = 0, tokens = 0;
  int prefix_tokens = 1;
  std::vector<float> probs;  // [layers, heads, tokens, tokens], softmax rows
  std::vector<float> grads;  // d logit / d probs, same layout; empty when not computed
};

struct RollupOptions {
  double identity_weight = 1.0, attention_weight = 1.0;  // B_l = a I + b fuse_h(G_l)
  HeadFusion fusion = HeadFusion::kMean;
  bool gradient_weighted = false;  // G_l = max(0, dA_l * A_l) instead of A_l (needs grads)
  bool normalize_rows = false;     // divide each row of B_l by its sum (an all-zero row stays 0)
  // In [0, 1): zero the floor(ratio * n (n - 1)) smallest entries of fuse_h(G_l) outside
  // column 0 (the CLS column is always kept); ties go to the lower row-major index.
  double discard_ratio = 0.0;
  int last_layers = 0;  // 0: every layer takes part; k > 0: only the last k
};

// The n x n matrix B_l that layer `layer` contributes, row-major, in double.
std::vector<double> layer_matrix(const AttentionStack& stack, int layer,
                                 const RollupOptions& options);

// Row 0 of B_N ... B_first without the prefix tokens' columns: tokens - prefix_tokens patch
// scores, in token order.
std::vector<float> rollup(const AttentionStack& stack, const RollupOptions& options);

// Grad-CAM on the tokens entering the last layer: tokens and token_grads are [n, d], the first
// `prefix` of them CLS (and any other non-patch token), which take no part; with w_c = mean over
// patch tokens t of token_grads[t, c], score_t = max(0, sum_c w_c tokens[t, c]) for each patch.
std::vector<float> gradcam(const std::vector<float>& tokens, const std::vector<float>& token_grads,
                           int n, int d, int prefix = 1);

// Uniform [0, 1) scores, a pure function of (seed, image_index): patch p is lane p % 4 of
// Philox block p / 4 of stream image_index. The baseline every metric is read against.
std::vector<float> random_scores(int patches, uint64_t seed, uint64_t image_index);

enum class Method { kSeed, kRollout, kLast, kGradRollout, kGradcam, kRandom };

// "seed", "rollout", "last", "grad-rollout", "gradcam", "random"; a UsageError listing them
// otherwise.
Method parse_method(const std::string& name);
std::string method_name(Method method);
const std::vector<Method>& all_methods();  // in the order above
bool needs_gradients(Method method);       // grad-rollout (attention grads), gradcam (token grads)
bool is_rollup(Method method);             // seed, rollout, last, grad-rollout

// The knobs a user may turn; only rollout reads them (the other methods are fixed rules).
struct MethodSettings {
  double residual_weight = 0.5;  // w in rownorm(w I + (1 - w) fuse_h(A_l)), in [0, 1]
  HeadFusion fusion = HeadFusion::kMean;
  double discard_ratio = 0.0;
};

// The rollup parameters of a rollup method (a sav::Error for gradcam and random).
RollupOptions rollup_options(Method method, const MethodSettings& settings = {});

// What one image offers; a method fails with a sav::Error when what it needs is missing.
struct MethodInputs {
  const AttentionStack* attention = nullptr;        // rollup methods (grads for grad-rollout)
  const std::vector<float>* tokens = nullptr;       // gradcam: [n, d_model] into the last layer
  const std::vector<float>* token_grads = nullptr;  // gradcam: d logit / d tokens, [n, d_model]
  int d_model = 0;
  int prefix_tokens = 1;  // gradcam: the tokens before the patches (CLS, DeiT's distillation)
  int patches = 0;  // random: the number of scores (tokens - prefix when 0 and attention given)
  uint64_t random_seed = 0, image_index = 0;
};

std::vector<float> compute_scores(Method method, const MethodInputs& inputs,
                                  const MethodSettings& settings = {});

// (x - min) / (max - min), so that maps compare on one scale; a constant map becomes all zeros.
std::vector<float> min_max_normalize(std::vector<float> scores);

}  // namespace sav::attribution
