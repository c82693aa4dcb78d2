// The bridge from the model to the maps, and the figures sav_viz draws.
#include <gtest/gtest.h>
#include <lodepng.h>

#include <cmath>

#include "reference.h"
#include "sav/attribution/explain.h"
#include "sav/image/png.h"
#include "sav/viz/figures.h"
#include "test_support.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

using attribution::Method;

TEST(Explain, PredictionsProbabilitiesAndOneMapPerMethod) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(3);
  const Tensor x = Tensor::from_vector({3, 64, 48}, random_values(3 * 64 * 48, 4, 0, 1));
  attribution::ExplainOptions options;
  options.methods = attribution::all_methods();
  const auto result = attribution::explain(model, x, options);
  ASSERT_EQ(result.size(), 3u);
  const std::vector<float> logits = model.forward(x).logits.to_vector();
  for (size_t b = 0; b < 3; ++b) {
    const auto row = logits.begin() + b * 10;
    EXPECT_EQ(result[b].predicted, std::max_element(row, row + 10) - row);
    EXPECT_EQ(result[b].explained, result[b].predicted);
    double sum = 0;
    for (float p : result[b].probabilities) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    ASSERT_EQ(result[b].scores.size(), options.methods.size());
    for (const auto& scores : result[b].scores) EXPECT_EQ(scores.size(), 64u);
  }
}

// Each image's gradient maps are those of the image alone: one backward pass over the batch
// must not mix images. And the explained class matters to gradient maps only.
TEST(Explain, GradientMapsArePerImageAndPerClass) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(5);
  const std::vector<float> values = random_values(2 * 64 * 48, 6, 0, 1);
  const Tensor both = Tensor::from_vector({2, 64, 48}, values);
  const Tensor second =
      Tensor::from_vector({1, 64, 48}, std::vector<float>(values.begin() + 64 * 48, values.end()));
  attribution::ExplainOptions options;
  options.methods = {Method::kGradRollout, Method::kGradcam, Method::kSeed};
  options.explained_class = 2;
  const auto batch = attribution::explain(model, both, options);
  const auto alone = attribution::explain(model, second, options);
  for (size_t m = 0; m < 3; ++m)
    expect_close(batch[1].scores[m], {alone[0].scores[m].begin(), alone[0].scores[m].end()}, 1e-5);
  options.explained_class = 7;
  const auto other = attribution::explain(model, second, options);
  EXPECT_NE(other[0].scores[0], alone[0].scores[0]);  // grad-rollout follows the class
  EXPECT_EQ(other[0].scores[2], alone[0].scores[2]);  // the seed's rule does not
  EXPECT_EQ(other[0].explained, 7);
  options.explained_class = 10;
  EXPECT_THROW(attribution::explain(model, second, options), UsageError);
}

TEST(Figures, OverlayTilesAndGridHaveTheirSizes) {
  std::vector<uint8_t> pixels(3072);
  for (int i = 0; i < 3072; ++i) pixels[i] = static_cast<uint8_t>(i % 251);
  const image::Canvas picture = viz::image_from_planar(pixels.data());
  EXPECT_EQ(picture.at(5, 2).r, pixels[2 * 32 + 5]);
  EXPECT_EQ(picture.at(5, 2).g, pixels[1024 + 2 * 32 + 5]);
  EXPECT_EQ(picture.at(5, 2).b, pixels[2048 + 2 * 32 + 5]);
  viz::HeatStyle style;
  style.scale = 4;
  std::vector<float> scores(64);
  for (int i = 0; i < 64; ++i) scores[i] = static_cast<float>(i);
  const image::Canvas heat = viz::heat_overlay(picture, scores, style);
  EXPECT_EQ(heat.width(), 128);
  style.alpha = 0.0;  // no heat: the image itself, scaled up
  const image::Canvas plain = viz::heat_overlay(picture, scores, style);
  EXPECT_EQ(plain.pixels(), image::scale_nearest(picture, 4).pixels());
  const image::Canvas tile = viz::captioned_tile(picture, scores, {"a caption"}, style);
  EXPECT_EQ(tile.width(), 2 * 128 + 8);
  const image::Canvas sheet = viz::grid({tile, tile, tile, tile, tile, tile, tile}, 6, "title");
  EXPECT_EQ(sheet.width(), 8 + 6 * (tile.width() + 16));
  EXPECT_THROW(viz::heat_overlay(picture, std::vector<float>(63), style), Error);

  TempFolder folder;
  image::write_png(folder.file("tile.png"), tile);
  const image::Canvas back = image::read_png(folder.file("tile.png"));
  EXPECT_EQ(back.width(), tile.width());
  EXPECT_EQ(back.pixels(), tile.pixels());
}

}  // namespace
}  // namespace sav::testing

namespace sav::testing {
namespace {

// Encodes a 4 x 4 PNG stored with exactly `type` (no automatic choice of the smallest type).
void write_typed_png(const std::string& path, LodePNGColorType type, unsigned channels) {
  std::vector<unsigned char> pixels(4 * 4 * channels);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 13);
  lodepng::State state;
  state.encoder.auto_convert = 0;
  state.info_raw.colortype = type;
  state.info_png.color.colortype = type;
  std::vector<unsigned char> encoded;
  ASSERT_EQ(lodepng::encode(encoded, pixels, 4, 4, state), 0u);
  ASSERT_EQ(lodepng::save_file(encoded, path), 0u);
}

// sav_viz refuses greyscale pictures: png_has_color tells them from colour ones.
TEST(Figures, GreyscalePngsAreToldApartFromColourOnes) {
  TempFolder folder;
  write_typed_png(folder.file("grey.png"), LCT_GREY, 1);
  write_typed_png(folder.file("rgb.png"), LCT_RGB, 3);
  EXPECT_FALSE(image::png_has_color(folder.file("grey.png")));
  EXPECT_TRUE(image::png_has_color(folder.file("rgb.png")));
  EXPECT_THROW(image::png_has_color(folder.file("absent.png")), Error);
}

}  // namespace
}  // namespace sav::testing
