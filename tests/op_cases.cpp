#include "op_cases.h"

#include "sav/ops.h"

namespace sav::testing {

const std::vector<std::string>& op_set() {
  static const std::vector<std::string> names = {
      "linear",       "add",           "scale",     "layernorm",    "relu",
      "gelu",         "dropout",       "drop_path", "residual",     "multi_head_attention",
      "slice_tokens", "concat_tokens", "reshape",   "cross_entropy"};
  return names;
}

// Tolerance: every case holds the default, 1e-3 of the gradient's scale. Each op is smooth on
// the drawn inputs (relu's are kept off its kink), so the central difference is accurate to
// O(step^2); what is left is float32 rounding in the forward pass, amplified by 1 / step.
// Measured errors are about 1e-5 or less (gelu: 1.1e-5); a wrong backward is off by O(1)
// (test_gradcheck_rejects).
const std::vector<OpCase>& all_op_cases() {
  using V = std::vector<Tensor>;
  static const std::vector<OpCase> cases = {
      {"linear_with_bias",
       {{{2, 3, 5}}, {{4, 5}}, {{4}}},
       [](const V& in) { return ops::linear(in[0], in[1], in[2]); }},
      {"linear_without_bias",
       {{{6, 5}}, {{3, 5}}},
       [](const V& in) { return ops::linear(in[0], in[1]); }},
      {"add_same_shape",
       {{{2, 3, 4}}, {{2, 3, 4}}},
       [](const V& in) { return ops::add(in[0], in[1]); }},
      {"add_broadcast_trailing",
       {{{2, 3, 4}}, {{3, 4}}},
       [](const V& in) { return ops::add(in[0], in[1]); }},
      {"scale", {{{3, 5}}}, [](const V& in) { return ops::scale(in[0], -0.75f); }},
      {"layernorm",
       {{{2, 3, 6}, -2.0f, 2.0f}, {{6}, 0.5f, 1.5f}, {{6}}},
       [](const V& in) { return ops::layernorm(in[0], in[1], in[2]); }},
      // Inputs kept 0.05 away from relu's kink at 0, beyond the 1e-2 step.
      {"relu", {{{3, 7}, -1.0f, 1.0f, 0.05f}}, [](const V& in) { return ops::relu(in[0]); }},
      // Over [-3, 3], GELU's curved part and both tails; smooth everywhere, so no gap at 0.
      {"gelu", {{{4, 9}, -3.0f, 3.0f}}, [](const V& in) { return ops::gelu(in[0]); }},
      {"dropout", {{{4, 9}}}, [](const V& in) { return ops::dropout(in[0], 0.3f, 42, 5); }},
      // Six images at p = 0.5 under this seed: some kept, some dropped (DropPath tests both).
      {"drop_path",
       {{{6, 3, 4}}},
       [](const V& in) { return ops::drop_path(in[0], 0.5f, 42, 5, 3); }},
      // Both masks, from image 3 of a batch, and drop path alone.
      {"residual",
       {{{6, 3, 4}}, {{6, 3, 4}}},
       [](const V& in) {
         ops::BranchDrop drop;
         drop.p = 0.3f;
         drop.stream = 5;
         drop.path_p = 0.5f;
         drop.path_stream = 9;
         drop.seed = 42;
         drop.first_row = 3;
         return ops::residual(in[0], in[1], drop);
       }},
      {"residual_drop_path",
       {{{6, 3, 4}}, {{6, 3, 4}}},
       [](const V& in) {
         ops::BranchDrop drop;
         drop.path_p = 0.5f;
         drop.path_stream = 9;
         drop.seed = 42;
         return ops::residual(in[0], in[1], drop);
       }},
      {"multi_head_attention",
       {{{2, 5, 8}}, {{2, 5, 8}}, {{2, 5, 8}}},
       [](const V& in) { return ops::multi_head_attention(in[0], in[1], in[2], 2).out; }},
      {"slice_tokens", {{{2, 6, 4}}}, [](const V& in) { return ops::slice_tokens(in[0], 1, 3); }},
      {"concat_tokens",
       {{{2, 2, 4}}, {{2, 3, 4}}},
       [](const V& in) { return ops::concat_tokens(in[0], in[1]); }},
      {"concat_tokens_shared_first",
       {{{1, 1, 4}}, {{3, 5, 4}}},
       [](const V& in) { return ops::concat_tokens(in[0], in[1]); }},
      {"reshape",
       {{{2, 3, 4}}},
       [](const V& in) {
         return ops::reshape(in[0], {6, 4});
       }},
      {"cross_entropy",
       {{{4, 5}, -3.0f, 3.0f}},
       [](const V& in) {
         return ops::cross_entropy(in[0], {0, 4, 2, 2});
       }},
      {"cross_entropy_soft_targets",  // smoothed and mixed rows, each summing to 1
       {{{3, 4}, -3.0f, 3.0f}},
       [](const V& in) {
         const std::vector<float> targets = {0.7f,   0.1f,   0.1f, 0.1f, 0.025f, 0.025f,
                                             0.325f, 0.625f, 0.0f, 0.0f, 1.0f,   0.0f};
         return ops::cross_entropy(in[0], Tensor::from_vector({3, 4}, targets, in[0].device()));
       }},
  };
  return cases;
}

}  // namespace sav::testing
