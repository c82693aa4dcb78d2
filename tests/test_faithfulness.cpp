// Deletion and insertion curves: the perturbed images, where the curves start and end, and that
// a map ranking patches by their true effect beats random ones on a model built by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cifar_files.h"
#include "sav/attribution/faithfulness.h"
#include "sav/attribution/faithfulness_report.h"
#include "sav/attribution/methods.h"
#include "sav/attribution/statistics.h"
#include "sav/data/images.h"
#include "sav/error.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

using attribution::CurveInput;
using attribution::kCurvePoints;
constexpr int kPatches = data::kPatches, kFeatures = data::kPatchFeatures;
constexpr size_t kImageSize = static_cast<size_t>(kPatches * kFeatures);

std::vector<float> pattern_image(int seed) {
  std::vector<float> image(kImageSize);
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<float>((i * 37 + static_cast<size_t>(seed) * 11) % 101) / 100.0f;
  }
  return image;
}

std::vector<int> identity_order() {
  std::vector<int> order(kPatches);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

TEST(Faithfulness, PerturbedImagesChangeOnePatchAStep) {
  const std::vector<float> image = pattern_image(1), blurred(kImageSize, -1.0f);
  std::vector<int> order = identity_order();
  std::reverse(order.begin(), order.end());
  const CurveInput input{image.data(), blurred.data(), 0, order};
  std::vector<float> out(2 * kCurvePoints * kImageSize);
  attribution::perturbed_images(input, {0.25f, 0.5f, 0.75f}, out.data());
  for (int step = 0; step < kCurvePoints; ++step) {
    const float* del = out.data() + step * kImageSize;
    const float* ins = out.data() + (kCurvePoints + step) * kImageSize;
    for (int rank = 0; rank < kPatches; ++rank) {
      const int patch = order[size_t(rank)];
      const bool changed = rank < step;
      for (int f = 0; f < kFeatures; ++f) {
        const size_t i = size_t(patch) * kFeatures + size_t(f);
        const float mean = f < 16 ? 0.25f : (f < 32 ? 0.5f : 0.75f);  // channel of feature f
        ASSERT_EQ(del[i], changed ? mean : image[i])
            << "deletion step " << step << " patch " << patch;
        ASSERT_EQ(ins[i], changed ? image[i] : -1.0f)
            << "insertion step " << step << " patch " << patch;
      }
    }
  }
}

TEST(Faithfulness, CurvesStartAndEndWhereTheyMust) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(3);
  const attribution::ProbabilityFn probabilities = attribution::vit_probabilities(model, 50);
  const std::array<float, 3> fill{0.49f, 0.48f, 0.45f};
  std::vector<std::vector<float>> images, blurred;
  std::vector<CurveInput> inputs;
  for (int i = 0; i < 3; ++i) {
    images.push_back(pattern_image(i));
    blurred.push_back(attribution::blur_patches(images.back().data(), 2.0f));
  }
  for (int i = 0; i < 3; ++i) {
    inputs.push_back({images[size_t(i)].data(), blurred[size_t(i)].data(), i,
                      attribution::patch_order(attribution::random_scores(kPatches, 5, i), 5, i)});
  }
  // Batches of 200 images: one input (130 images) a batch, so that batching is exercised too.
  const std::vector<attribution::Curves> curves =
      attribution::compute_curves(inputs, fill, probabilities, 200);
  ASSERT_EQ(curves.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& c = curves[size_t(i)];
    ASSERT_EQ(c.deletion.size(), size_t(kCurvePoints));
    ASSERT_EQ(c.insertion.size(), size_t(kCurvePoints));
    std::vector<float> filled(kImageSize);
    for (size_t f = 0; f < kImageSize; ++f) filled[f] = fill[(f % kFeatures) / 16];
    const auto p = [&](const std::vector<float>& image) {
      return double{probabilities(image, 1)[size_t(i)]};
    };
    EXPECT_NEAR(c.deletion.front(), p(images[size_t(i)]), 1e-6);    // the image itself
    EXPECT_NEAR(c.deletion.back(), p(filled), 1e-6);                // every patch filled
    EXPECT_NEAR(c.insertion.front(), p(blurred[size_t(i)]), 1e-6);  // the blurred image
    EXPECT_NEAR(c.insertion.back(), p(images[size_t(i)]), 1e-6);    // every patch revealed
  }
}

// A model whose class-0 logit is sum_p w_p * (mean of patch p): removing patch p (filling it
// with 0) lowers it by exactly w_p * mean_p, so ranking patches by w_p * mean_p is the truth.
TEST(Faithfulness, TrueEffectsBeatRandomMaps) {
  std::vector<double> weights(kPatches);
  for (int p = 0; p < kPatches; ++p) weights[size_t(p)] = 0.02 * ((p * 29) % kPatches);
  const attribution::ProbabilityFn model = [&](const std::vector<float>& patches, int64_t count) {
    std::vector<float> probabilities;
    for (int64_t n = 0; n < count; ++n) {
      double logit = -20.0;
      for (int p = 0; p < kPatches; ++p) {
        const float* patch = patches.data() + n * int64_t(kImageSize) + p * kFeatures;
        logit += weights[size_t(p)] * std::accumulate(patch, patch + kFeatures, 0.0) / kFeatures;
      }
      const float p0 = static_cast<float>(1.0 / (1.0 + std::exp(-logit)));
      probabilities.push_back(p0);
      probabilities.push_back(1.0f - p0);
    }
    return probabilities;
  };
  const std::vector<float> image(kImageSize, 1.0f), blurred(kImageSize, 0.0f);
  std::vector<float> truth(kPatches);
  for (int p = 0; p < kPatches; ++p) truth[size_t(p)] = static_cast<float>(weights[size_t(p)]);

  std::vector<CurveInput> inputs{
      {image.data(), blurred.data(), 0, attribution::patch_order(truth, 1, 0)}};
  for (uint64_t draw = 0; draw < 10; ++draw) {
    inputs.push_back(
        {image.data(), blurred.data(), 0,
         attribution::patch_order(attribution::random_scores(kPatches, 9, draw), 9, draw)});
  }
  const auto curves = attribution::compute_curves(inputs, {0, 0, 0}, model, 1000);
  const double truth_deletion = attribution::trapezoid_auc(curves[0].deletion);
  const double truth_insertion = attribution::trapezoid_auc(curves[0].insertion);
  for (size_t draw = 1; draw < curves.size(); ++draw) {
    EXPECT_LT(truth_deletion, attribution::trapezoid_auc(curves[draw].deletion)) << "draw " << draw;
    EXPECT_GT(truth_insertion, attribution::trapezoid_auc(curves[draw].insertion))
        << "draw " << draw;
  }
  // The deletion curve of the true order falls monotonically.
  for (int s = 1; s < kCurvePoints; ++s)
    EXPECT_LE(curves[0].deletion[size_t(s)], curves[0].deletion[size_t(s - 1)]);
}

TEST(Faithfulness, PatchOrderRanksHighestFirstAndBreaksTiesAtRandom) {
  std::vector<float> scores(kPatches, 0.0f);
  scores[10] = 3.0f;
  scores[20] = 2.0f;
  const std::vector<int> order = attribution::patch_order(scores, 1, 0);
  EXPECT_EQ(order[0], 10);
  EXPECT_EQ(order[1], 20);
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, identity_order());
  // A constant map: a random order, the same for the same (seed, image), another for another.
  const std::vector<float> constant(kPatches, 1.0f);
  const std::vector<int> a = attribution::patch_order(constant, 1, 0);
  EXPECT_NE(a, identity_order());
  EXPECT_EQ(a, attribution::patch_order(constant, 1, 0));
  EXPECT_NE(a, attribution::patch_order(constant, 1, 1));
  EXPECT_THROW(attribution::patch_order(std::vector<float>(63, 0.0f), 1, 0), Error);
  std::vector<float> bad(kPatches, 0.0f);
  bad[5] = std::nanf("");
  EXPECT_THROW(attribution::patch_order(bad, 1, 0), Error);
}

TEST(Faithfulness, BlurKeepsConstantsAndSmoothsEdges) {
  const std::vector<float> constant(kImageSize, 0.3f);
  for (float v : attribution::blur_patches(constant.data(), 2.0f)) ASSERT_NEAR(v, 0.3f, 1e-6);
  // Patches alternating 0 and 1 like a chess board: blurring pulls every value toward 0.5.
  std::vector<float> board(kImageSize);
  for (int p = 0; p < kPatches; ++p) {
    const float v = ((p / 8 + p % 8) % 2 == 0) ? 1.0f : 0.0f;
    std::fill(board.begin() + p * kFeatures, board.begin() + (p + 1) * kFeatures, v);
  }
  const std::vector<float> blurred = attribution::blur_patches(board.data(), 2.0f);
  double before = 0, after = 0;
  for (size_t i = 0; i < kImageSize; ++i) {
    before += std::abs(board[i] - 0.5);
    after += std::abs(blurred[i] - 0.5);
  }
  EXPECT_LT(after, 0.5 * before);
  EXPECT_THROW(attribution::blur_patches(board.data(), 0.0f), Error);
}

TEST(Faithfulness, ChannelMeansOfTheImages) {
  TempFolder folder;
  const data::RecordSet records = data::RecordSet::open({write_records(folder, "a.bin", 0, 3)});
  const std::array<float, 3> means = attribution::channel_means(records);
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int r = 0; r < 3; ++r)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) sum += pattern_pixel(r, c, y, x);
    EXPECT_NEAR(means[size_t(c)], sum / (255.0 * 3 * 1024), 1e-6) << "channel " << c;
  }
}

TEST(Faithfulness, BadInputsAreClearErrors) {
  const std::vector<float> image(kImageSize, 0.0f);
  const attribution::ProbabilityFn two_classes = [](const std::vector<float>&, int64_t count) {
    return std::vector<float>(size_t(count) * 2, 0.5f);
  };
  std::vector<int> not_a_permutation = identity_order();
  not_a_permutation[3] = 4;
  EXPECT_THROW(attribution::compute_curves({{image.data(), image.data(), 0, not_a_permutation}},
                                           {0, 0, 0}, two_classes, 130),
               Error);
  EXPECT_THROW(attribution::compute_curves({{image.data(), image.data(), 2, identity_order()}},
                                           {0, 0, 0}, two_classes, 130),
               Error);  // class 2 of a two-class model
}

TEST(Faithfulness, MeasuresEveryMethodAgainstRandomAndReports) {
  TempFolder folder;
  const data::RecordSet records = data::RecordSet::open({write_records(folder, "t.bin", 0, 5)});
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(4);
  attribution::FaithfulnessOptions options;
  options.methods = {attribution::Method::kSeed, attribution::Method::kGradcam,
                     attribution::Method::kRandom};  // random is the baseline anyway: not twice
  options.random_draws = 3;
  options.fill = attribution::channel_means(records);
  options.explain_batch = 2;  // three explain batches for 5 images
  int64_t last_done = 0, calls = 0;
  const attribution::FaithfulnessResult result = attribution::measure_faithfulness(
      model, records, {0, 2, 4, 1, 3}, options, [&](int64_t done, int64_t total) {
        EXPECT_EQ(total, 5);
        EXPECT_GE(done, last_done);
        last_done = done;
        ++calls;
      });
  EXPECT_EQ(last_done, 5);
  EXPECT_GT(calls, 0);
  ASSERT_EQ(result.methods.size(), 3u);
  EXPECT_EQ(result.methods[0].method, "seed");
  EXPECT_EQ(result.methods[1].method, "gradcam");
  EXPECT_EQ(result.methods[2].method, "random");
  EXPECT_EQ(result.images, 5);
  for (const auto& m : result.methods) {
    ASSERT_EQ(m.deletion_auc.size(), 5u) << m.method;
    ASSERT_EQ(m.insertion_auc.size(), 5u) << m.method;
    for (double auc : m.deletion_auc) EXPECT_TRUE(auc >= 0.0 && auc <= 1.0) << m.method;
    ASSERT_EQ(m.mean_deletion.size(), size_t(kCurvePoints));
    // Every method's deletion curve starts at the same image, the unperturbed one, and every
    // insertion curve ends there. That image sits at a different row of each method's batch, and
    // sgemm may treat rows by different kernel paths (a block's edge rows, another CPU's
    // kernels), which reorders the float sums behind its probability: a few float32 ulps
    // (measured up to 4e-8), far below the 1e-2 and more that separates methods' curves.
    EXPECT_NEAR(m.mean_deletion.front(), result.methods[0].mean_deletion.front(), 1e-6);
    EXPECT_NEAR(m.mean_insertion.back(), result.methods[0].mean_insertion.back(), 1e-6);
    EXPECT_EQ(m.randomized_correlation.size(), m.method == "random" ? 0u : 5u);
  }

  const std::vector<attribution::FaithfulnessRow> rows = attribution::summarize(result);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].deletion_vs_random.count, 0);  // random against itself: not shown
  EXPECT_EQ(rows[0].deletion_vs_random.count, 5);
  EXPECT_LE(rows[0].deletion.low, rows[0].deletion.mean);
  EXPECT_GE(rows[0].deletion.high, rows[0].deletion.mean);
  const std::string markdown = attribution::faithfulness_markdown(result, rows, "tiny model");
  EXPECT_NE(markdown.find("| seed |"), std::string::npos);
  EXPECT_NE(markdown.find("| random |"), std::string::npos);
  EXPECT_NE(markdown.find("5 test images, the predicted class"), std::string::npos);
  const std::string csv = attribution::faithfulness_csv(rows);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // header + 3 methods
  EXPECT_EQ(csv.rfind("random,5,", std::string::npos) != std::string::npos, true);

  EXPECT_THROW(attribution::measure_faithfulness(model, records, {5}, options), UsageError);
  EXPECT_THROW(attribution::measure_faithfulness(model, records, {}, options), UsageError);
}

}  // namespace
}  // namespace sav::testing
