// Attribution methods on hand-computed cases (2 layers, 2 heads, 3 tokens), and the identities
// that tie the rollups together on random attention of the real model's size.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sav/attribution/methods.h"
#include "sav/random.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using namespace sav::attribution;

// probs [2 layers, 2 heads, 3, 3]; every row sums to 1. Quarters and halves, so that every
// expected value below is a small fraction worked out by hand.
AttentionStack hand_stack() {
  AttentionStack stack;
  stack.layers = 2;
  stack.heads = 2;
  stack.tokens = 3;
  stack.probs = {
      0.5f,  0.25f, 0.25f, 0.0f, 1.0f, 0.0f, 0.5f, 0.0f, 0.5f,  // layer 1, head 1
      0.5f,  0.5f,  0.0f,  0.0f, 0.5f, 0.5f, 0.5f, 0.5f, 0.0f,  // layer 1, head 2
      0.25f, 0.25f, 0.5f,  1.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f,  // layer 2, head 1
      0.75f, 0.25f, 0.0f,  0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 1.0f,  // layer 2, head 2
  };
  return stack;
}

// Gradients chosen so that dA * A is a small integer matrix with some negative entries.
AttentionStack hand_stack_with_grads() {
  AttentionStack stack = hand_stack();
  stack.grads = {
      2,  4,  -4, 1, 1,  1, -2, 3,  2,   // relu(dA * A) = [1 1 0; 0 1 0; 0 0 1]
      -2, 2,  5,  0, -2, 2, 2,  -2, 1,   // [0 1 0; 0 0 1; 1 0 0]
      4,  -4, 2,  1, 0,  0, 0,  2,  -2,  // [1 0 1; 1 0 0; 0 1 0]
      0,  4,  0,  2, -2, 0, 0,  0,  2,   // [0 1 0; 1 0 0; 0 0 2]
  };
  return stack;
}

// Softmax rows of random logits (scaled so that some heads are peaked).
AttentionStack random_stack(int layers, int heads, int tokens, uint64_t seed) {
  AttentionStack stack;
  stack.layers = layers;
  stack.heads = heads;
  stack.tokens = tokens;
  stack.probs.resize(size_t(layers) * heads * tokens * tokens);
  for (size_t row = 0; row < stack.probs.size(); row += size_t(tokens)) {
    double sum = 0;
    for (int k = 0; k < tokens; ++k) {
      sum += stack.probs[row + k] = std::exp(2.0f * normal_at(seed, 7, row + k));
    }
    for (int k = 0; k < tokens; ++k) stack.probs[row + k] /= static_cast<float>(sum);
  }
  return stack;
}

void expect_scores(const std::vector<float>& actual, const std::vector<double>& expected,
                   double tolerance = 1e-6) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "patch " << i;
  }
}

std::vector<float> rollout(const AttentionStack& stack, double residual, HeadFusion fusion,
                           double discard = 0.0) {
  return rollup(stack, rollup_options(Method::kRollout, {residual, fusion, discard}));
}

TEST(Attribution, SeedIsRowZeroOfTheProductOfIdentityPlusHeadSums) {
  // (I + sum_h A_2) row 0 = [2 .5 .5]; I + sum_h A_1 = [2 .75 .25; 0 2.5 .5; 1 .5 1.5]
  // -> row 0 of the product = [4.5 3 1.5].
  expect_scores(rollup(hand_stack(), rollup_options(Method::kSeed)), {3.0, 1.5});
}

TEST(Attribution, RolloutWithEachHeadFusion) {
  const AttentionStack stack = hand_stack();
  // mean: B_l = (I + S_l) / 4, row 0 = [.59375 .265625 .140625].
  expect_scores(rollout(stack, 0.5, HeadFusion::kMean), {17.0 / 64, 9.0 / 64});
  // max: B_1 = [2/3 2/9 1/9; 0 .8 .2; .2 .2 .6], B_2 row 0 = [.7 .1 .2].
  expect_scores(rollout(stack, 0.5, HeadFusion::kMax), {62.0 / 225, 49.0 / 225});
  // min: B_1 = [6/7 1/7 0; 0 1 0; 1/3 0 2/3], B_2 row 0 = [5/6 1/6 0].
  expect_scores(rollout(stack, 0.5, HeadFusion::kMin), {2.0 / 7, 0.0});
}

TEST(Attribution, RolloutDiscardDropsTheSmallestNonClsEntries) {
  // Ratio 0.2 of the 6 entries outside column 0 drops one per layer. Layer 1's fused matrix is
  // [.5 .375 .125; 0 .75 .25; .5 .25 .25]: the 0 at (1, 0) is in the CLS column and stays, so
  // .125 at (0, 2) goes and row 0 of B_1 becomes [.8 .2 0]. Layer 2's smallest is a 0 already.
  expect_scores(rollout(hand_stack(), 0.5, HeadFusion::kMean, 0.2), {11.0 / 40, 3.0 / 32});
  // A ratio that drops fewer than one entry changes nothing.
  expect_scores(rollout(hand_stack(), 0.5, HeadFusion::kMean, 0.1), {17.0 / 64, 9.0 / 64});
}

TEST(Attribution, DiscardNeverTouchesTheClsColumn) {
  AttentionStack stack;
  stack.layers = 1;
  stack.heads = 1;
  stack.tokens = 3;
  // Column 0 holds the smallest entries of every row.
  stack.probs = {0.05f, 0.6f, 0.35f, 0.01f, 0.19f, 0.8f, 0.02f, 0.48f, 0.5f};
  RollupOptions options;
  options.identity_weight = 0.0;
  options.discard_ratio = 0.99;  // floor(0.99 * 6) = 5 of the 6 non-CLS entries
  const std::vector<double> matrix = layer_matrix(stack, 0, options);
  const std::vector<double> expected = {0.05f, 0, 0, 0.01f, 0, 0.8f, 0.02f, 0, 0};
  ASSERT_EQ(matrix.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(matrix[i], expected[i]) << "entry " << i;
  // With the rows renormalised (rollout), the CLS column is all that is left in rows 0 and 2.
  options.normalize_rows = true;
  const std::vector<double> normalized = layer_matrix(stack, 0, options);
  EXPECT_DOUBLE_EQ(normalized[0], 1.0);
  EXPECT_DOUBLE_EQ(normalized[6], 1.0);
  EXPECT_NEAR(normalized[3], 0.01 / 0.81, 1e-7);
}

TEST(Attribution, LastIsTheClsRowOfTheLastLayerMeanOverHeads) {
  AttentionStack stack = hand_stack();
  expect_scores(compute_scores(Method::kLast, {&stack}), {0.25, 0.25});
  for (int i = 0; i < 18; ++i) stack.probs[size_t(i)] = 1.0f / 3;  // layer 1 takes no part
  expect_scores(compute_scores(Method::kLast, {&stack}), {0.25, 0.25});
  stack.probs[18] = 0.0f;  // layer 2, head 1, row 0 becomes [0 .25 .5]
  stack.probs[20] = 0.75f;
  expect_scores(compute_scores(Method::kLast, {&stack}), {0.25, 0.375});
}

TEST(Attribution, GradRolloutAccumulatesTheGradientWeightedAttention) {
  // G_1 = [.5 1 0; 0 .5 .5; .5 0 .5], G_2 = [.5 .5 .5; 1 0 0; 0 .5 1];
  // row 0 of (I + G_2)(I + G_1) = [1.5 .5 .5] (I + G_1) = [2.5 2.25 1].
  const AttentionStack stack = hand_stack_with_grads();
  expect_scores(compute_scores(Method::kGradRollout, {&stack}), {2.25, 1.0});
}

TEST(Attribution, GradRolloutWithNegativeGradientsIsEmpty) {
  AttentionStack stack = hand_stack();
  stack.grads.assign(stack.probs.size(), -1.0f);  // relu(dA * A) = 0: R stays I
  expect_scores(compute_scores(Method::kGradRollout, {&stack}), {0.0, 0.0});
}

TEST(Attribution, GradRolloutWithUnitGradientsIsRolloutWithHalfResidual) {
  // dA = 1: relu(A) = A, so R = prod (I + mean_h A_l) = prod 2 (0.5 I + 0.5 mean_h A_l): rollout
  // with residual 0.5 (whose rows need no renormalising) times 2^L.
  AttentionStack stack = hand_stack();
  stack.grads.assign(stack.probs.size(), 1.0f);
  expect_scores(compute_scores(Method::kGradRollout, {&stack}), {17.0 / 16, 9.0 / 16});

  AttentionStack big = random_stack(6, 8, 65, 3);
  big.grads.assign(big.probs.size(), 1.0f);
  const std::vector<float> grad = compute_scores(Method::kGradRollout, {&big});
  const std::vector<float> roll = rollout(big, 0.5, HeadFusion::kMean);
  ASSERT_EQ(grad.size(), 64u);
  for (size_t i = 0; i < grad.size(); ++i) EXPECT_NEAR(grad[i], 64.0 * roll[i], 1e-5 * grad[i]);
}

TEST(Attribution, SeedIsRolloutWithResidualOneOverHeadsPlusOne) {
  // I + sum_h A = (H + 1) (w I + (1 - w) mean_h A) with w = 1 / (H + 1): a scale of 3^2 here.
  expect_scores(rollout(hand_stack(), 1.0 / 3, HeadFusion::kMean), {3.0 / 9, 1.5 / 9});
  for (uint64_t seed : {1, 2, 3}) {
    const AttentionStack stack = random_stack(6, 8, 65, seed);
    const std::vector<float> paper = min_max_normalize(compute_scores(Method::kSeed, {&stack}));
    const std::vector<float> roll = min_max_normalize(rollout(stack, 1.0 / 9, HeadFusion::kMean));
    ASSERT_EQ(paper.size(), 64u);
    for (size_t i = 0; i < paper.size(); ++i) EXPECT_NEAR(paper[i], roll[i], 1e-5) << i;
    // ...and not with the usual residual 0.5: the two rules rank patches differently.
    const std::vector<float> half = min_max_normalize(rollout(stack, 0.5, HeadFusion::kMean));
    double difference = 0;
    for (size_t i = 0; i < paper.size(); ++i) difference += std::fabs(paper[i] - half[i]);
    EXPECT_GT(difference, 1e-3);
  }
}

TEST(Attribution, GradcamWeighsPatchTokensByTheirMeanGradient) {
  // n = 4, d = 2. The CLS row (huge) takes no part: w = mean of rows 1..3 of dX = [2 1].
  const std::vector<float> tokens = {9, 9, 1, 2, -3, 1, 2, 1};
  const std::vector<float> grads = {100, 100, 1, 3, 3, -1, 2, 1};
  expect_scores(gradcam(tokens, grads, 4, 2), {4.0, 0.0, 5.0});  // 2*1+2, relu(-6+1), 2*3-1
  MethodInputs inputs;
  inputs.tokens = &tokens;
  inputs.token_grads = &grads;
  inputs.d_model = 2;
  expect_scores(compute_scores(Method::kGradcam, inputs), {4.0, 0.0, 5.0});
}

TEST(Attribution, RandomScoresAreUniformAndReproducible) {
  const std::vector<float> a = random_scores(64, 42, 7);
  ASSERT_EQ(a.size(), 64u);
  for (float s : a) {
    EXPECT_GE(s, 0.0f);
    EXPECT_LT(s, 1.0f);
  }
  EXPECT_EQ(a, random_scores(64, 42, 7));
  EXPECT_NE(a, random_scores(64, 42, 8));
  EXPECT_NE(a, random_scores(64, 43, 7));
  // Patch p is lane p % 4 of Philox block p / 4 of stream `image_index`.
  EXPECT_EQ(a[0], uniform_from_bits(random_block(42, 7, 0)[0]));
  EXPECT_EQ(a[13], uniform_from_bits(random_block(42, 7, 3)[1]));
  // Through the dispatcher, the patch count comes from the attention when not given.
  const AttentionStack stack = hand_stack();
  MethodInputs inputs{&stack};
  inputs.random_seed = 42;
  inputs.image_index = 7;
  EXPECT_EQ(compute_scores(Method::kRandom, inputs), random_scores(2, 42, 7));
}

TEST(Attribution, MethodNamesRoundTrip) {
  ASSERT_EQ(all_methods().size(), 6u);
  for (Method m : all_methods()) EXPECT_EQ(parse_method(method_name(m)), m);
  EXPECT_EQ(parse_method("grad-rollout"), Method::kGradRollout);
  EXPECT_TRUE(needs_gradients(Method::kGradRollout));
  EXPECT_TRUE(needs_gradients(Method::kGradcam));
  EXPECT_FALSE(needs_gradients(Method::kSeed));
  EXPECT_FALSE(needs_gradients(Method::kRandom));
  EXPECT_TRUE(is_rollup(Method::kLast));
  EXPECT_FALSE(is_rollup(Method::kGradcam));
  EXPECT_EQ(parse_fusion("max"), HeadFusion::kMax);
  EXPECT_EQ(fusion_name(HeadFusion::kMin), "min");
  EXPECT_THROW(parse_method("gradient-rollout"), UsageError);
  EXPECT_NE(error_of([] {
              parse_method("attention");
            }).find("'attention' (use one of: seed, rollout, last, grad-rollout, gradcam"),
            std::string::npos);
  EXPECT_THROW(parse_fusion("median"), UsageError);
}

TEST(Attribution, MinMaxNormalize) {
  const std::vector<float> normalized = min_max_normalize({2.0f, 4.0f, 3.0f});
  EXPECT_EQ(normalized, (std::vector<float>{0.0f, 1.0f, 0.5f}));
  EXPECT_EQ(min_max_normalize({5.0f, 5.0f}), (std::vector<float>{0.0f, 0.0f}));
  EXPECT_TRUE(min_max_normalize({}).empty());
  EXPECT_NE(error_of([] {
              min_max_normalize({1.0f, NAN});
            }).find("score 1 is nan"),
            std::string::npos);
}

bool mentions(const std::function<void()>& action, const std::string& text) {
  const std::string message = error_of(action);
  const bool found = message.find(text) != std::string::npos;
  if (!found) ADD_FAILURE() << "expected an error mentioning '" << text << "', got: " << message;
  return found;
}

TEST(Attribution, BadInputsFailWithClearMessages) {
  const RollupOptions plain;
  AttentionStack short_probs = hand_stack();
  short_probs.probs.pop_back();
  mentions([&] { rollup(short_probs, plain); }, "35 values, expected layers 2 x heads 2");
  AttentionStack bad_grads = hand_stack();
  bad_grads.grads.assign(5, 1.0f);
  mentions([&] { rollup(bad_grads, plain); }, "attention grads hold 5 values, expected 36");
  const AttentionStack stack = hand_stack();
  mentions([&] { compute_scores(Method::kGradRollout, {&stack}); }, "grads is empty");
  AttentionStack one_token = hand_stack();
  one_token.tokens = 1;
  mentions([&] { rollup(one_token, plain); }, "need at least 1 layer, 1 head, CLS and a patch");
  AttentionStack all_prefix = hand_stack();  // 3 tokens, none of them a patch
  all_prefix.prefix_tokens = 3;
  mentions([&] { rollup(all_prefix, plain); }, "3 tokens, 3 of them before the patches");
  AttentionStack negative = hand_stack();
  negative.probs[4] = -0.5f;
  mentions([&] { rollup(negative, plain); }, "probability -0.5 at layer 0, head 0, query 1");
  negative.probs[4] = NAN;
  mentions([&] { rollup(negative, plain); }, "not a finite non-negative number");

  mentions([&] { rollout(stack, 0.5, HeadFusion::kMean, 1.0); }, "discard ratio 1 is outside");
  mentions([&] { rollout(stack, 0.5, HeadFusion::kMean, -0.1); }, "discard ratio -0.1");
  mentions([&] { rollout(stack, 1.5, HeadFusion::kMean); }, "residual weight 1.5");
  RollupOptions options;
  options.last_layers = 3;
  mentions([&] { rollup(stack, options); }, "last_layers 3 is outside [0, 2]");
  options = RollupOptions();
  options.identity_weight = 0.0;
  options.attention_weight = 0.0;
  mentions([&] { rollup(stack, options); }, "not both zero");
  mentions([&] { layer_matrix(stack, 2, plain); }, "layer 2 is outside [0, 2)");

  const std::vector<float> tokens(8, 1.0f), grads(6, 1.0f);
  mentions([&] { gradcam(tokens, grads, 4, 2); }, "token gradients 6 values, expected 4 x 2");
  mentions([&] { gradcam(tokens, tokens, 1, 8); }, "need CLS and at least a patch");
  mentions([&] { gradcam(tokens, tokens, 4, 2, 4); }, "4 tokens of width 2 with 4 before");
  mentions([&] { compute_scores(Method::kGradcam, {&stack}); }, "'gradcam' needs the tokens");
  mentions([&] { compute_scores(Method::kSeed, MethodInputs()); }, "attention is null");
  mentions([&] { compute_scores(Method::kRandom, MethodInputs()); }, "number of patches");
  mentions([&] { rollup_options(Method::kRandom); }, "'random' is not a rollup");
  mentions([&] { random_scores(-1, 0, 0); }, "-1 patches");
}

}  // namespace
}  // namespace sav::testing
