// The standard ViT family (timm's and Hugging Face's ViT and DeiT) as configurations of sav's one
// model: its parameters, its forward pass and its gradient.
#include <gtest/gtest.h>

#include <iostream>

#include "gradcheck.h"
#include "reference.h"
#include "sav/error.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

// A 3 x 2 grid of 4 x 4 patches (an image that is not square), d 12, 3 heads, 2 blocks.
nn::VitConfig tiny_standard(bool distilled) { return tiny_standard_config(3, 2, 48, 5, distilled); }

TEST(VitFamily, StandardParametersAreTheStandardViTs) {
  const nn::VitConfig c = tiny_standard(true);
  const std::vector<nn::ParameterShape> shapes = nn::parameter_shapes(c);
  // embed (2), cls, dist, pos, 2 blocks of 16, final norm (2), two heads (4)
  ASSERT_EQ(shapes.size(), 5u + 2u * 16u + 2u + 4u);
  EXPECT_EQ(shapes[0].name, "patch_embed.weight");
  EXPECT_EQ(shapes[0].shape, Shape({12, 48}));
  EXPECT_EQ(shapes[3].name, "dist_token");
  EXPECT_EQ(shapes[4].name, "pos_embed");
  EXPECT_EQ(shapes[4].shape, Shape({8, 12}));  // 2 prefix tokens + 6 patches
  EXPECT_EQ(shapes[5].name, "blocks.0.ln1.weight");
  EXPECT_EQ(shapes[8].name, "blocks.0.attn.q.bias");
  EXPECT_EQ(shapes.back().name, "head_dist.bias");
  int64_t total = 0;
  for (const nn::ParameterShape& s : shapes) total += s.shape.numel();
  EXPECT_EQ(nn::parameter_count(c), total);
  const nn::VisionTransformer model(c, Device::cpu());
  EXPECT_EQ(model.parameter_count(), total);
}

TEST(VitFamily, ForwardShapesFollowTheGridAndPrefixTokens) {
  for (const bool distilled : {false, true}) {
    nn::VisionTransformer model(tiny_standard(distilled), Device::cpu());
    model.initialize(4);
    const Tensor x = Tensor::from_vector({2, 6, 48}, random_values(2 * 6 * 48, 5, -1, 1));
    const nn::VitOutput out = model.forward(x);
    const int64_t tokens = distilled ? 8 : 7;
    EXPECT_EQ(out.logits.shape(), Shape({2, 5}));
    ASSERT_EQ(out.attention.size(), 2u);
    EXPECT_EQ(out.attention[0].shape(), Shape({2, 3, tokens, tokens}));
    EXPECT_EQ(out.last_layer_input.shape(), Shape({2, tokens, 12}));
    // The same image at another batch position gives the same logits (one image's tokens never
    // meet another's).
    const std::vector<float> both = out.logits.to_vector(), input = x.to_vector();
    const Tensor one =
        Tensor::from_vector({1, 6, 48}, std::vector<float>(input.begin() + 288, input.end()));
    const std::vector<float> alone = model.forward(one).logits.to_vector();
    for (int k = 0; k < 5; ++k) EXPECT_NEAR(alone[k], both[5 + k], 1e-5f) << k;
  }
}

TEST(VitFamily, RefusesMixedFamilies) {
  nn::VitConfig seed_with_bias;
  seed_with_bias.attention_bias = true;
  EXPECT_THROW(nn::VisionTransformer(seed_with_bias, Device::cpu()), Error);
  nn::VitConfig head_without_token = tiny_standard(false);
  head_without_token.distillation_head = true;
  EXPECT_THROW(nn::VisionTransformer(head_without_token, Device::cpu()), Error);
  nn::VitConfig wrong_grid = tiny_standard(false);
  wrong_grid.patches = 7;
  EXPECT_THROW(nn::VisionTransformer(wrong_grid, Device::cpu()), Error);
}

// The whole standard model (pre-LN, GELU, biases, learned tokens and positions, final norm, two
// heads averaged), dropout on, against central differences of its loss.
TEST(VitFamily, WholeModelGradientMatchesCentralDifferences) {
  nn::VitConfig c = tiny_standard(true);
  c.dropout = 0.1f;
  nn::VisionTransformer model(c, Device::cpu());
  model.initialize(3);
  // Tokens and positions of the size trained ones reach: at their initial 0.02 the distillation
  // token's LayerNorm divides by a tiny deviation, too curved for a central difference.
  uint32_t seed = 20;
  for (const nn::NamedTensor& p : model.parameters()) {
    if (p.name == "dist_token" || p.name == "pos_embed") {
      p.tensor.copy_from(random_values(static_cast<size_t>(p.tensor.numel()), seed++, -1, 1));
    }
  }
  const Tensor x = Tensor::from_vector({2, 6, 48}, random_values(2 * 6 * 48, 4, -1, 1));
  const std::vector<int32_t> labels{3, 1};
  const GradCheckResult result = check_model_gradient(model, x, labels);
  EXPECT_TRUE(result.passed) << result.report;
  std::cout << "worst error over all parameters: " << result.worst_error << "\n";
}

}  // namespace
}  // namespace sav::testing
