// Deletion and insertion curves: the perturbed images, where the curves start and end, that a map
// ranking patches by their true effect beats random ones on a model built by hand, the blur
// against a direct computation, curves in steps of several patches, grids that are not CIFAR-10's
// (not square, not 4 x 4 pixels a patch), and the whole measurement on the seed's model and on a
// standard one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cifar_files.h"
#include "sav/attribution/faithfulness.h"
#include "sav/attribution/faithfulness_report.h"
#include "sav/attribution/methods.h"
#include "sav/attribution/statistics.h"
#include "sav/data/cifar10.h"
#include "sav/data/images.h"
#include "sav/error.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

using attribution::CurveInput;
using attribution::CurveSpec;
using attribution::PatchGrid;

const PatchGrid kCifar;             // the seed's: 8 x 8 patches of 4 x 4 pixels, 3 channels
const PatchGrid kWide{3, 2, 3, 5};  // 3 x 5 patches of 2 x 2 pixels: a 6 x 10 image
const std::vector<float> kFill{0.25f, 0.5f, 0.75f};

std::vector<float> pattern_image(const PatchGrid& grid, int seed) {
  std::vector<float> image(grid.image_size());
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<float>((i * 37 + static_cast<size_t>(seed) * 11) % 101) / 100.0f;
  }
  return image;
}

std::vector<int> identity_order(const PatchGrid& grid) {
  std::vector<int> order(static_cast<size_t>(grid.patches()));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

// Pixel (c, y, x) of an image given as patch tokens (the layout of sav/nn/vit.h).
float pixel(const PatchGrid& g, const std::vector<float>& tokens, int c, int y, int x) {
  const int p = g.patch;
  const size_t token = size_t((y / p) * g.cols + x / p);
  return tokens[token * size_t(g.features()) + size_t((c * p + y % p) * p + x % p)];
}

// `image` with the patches order[0 .. removed) filled with `fill`, channel by channel.
std::vector<float> with_filled(const PatchGrid& g, std::vector<float> image,
                               const std::vector<int>& order, int removed,
                               const std::vector<float>& fill) {
  const int per_channel = g.patch * g.patch;
  for (int r = 0; r < removed; ++r) {
    for (int f = 0; f < g.features(); ++f) {
      image[size_t(order[size_t(r)]) * size_t(g.features()) + size_t(f)] =
          fill[size_t(f / per_channel)];
    }
  }
  return image;
}

// Checks the perturbed images of `input` under `spec`: at point s of each curve the first
// s * patches / steps ranked patches are filled (deletion) or revealed (insertion), and no others.
void expect_perturbed_images(const CurveSpec& spec, const CurveInput& input) {
  const PatchGrid& g = spec.grid;
  const int steps = attribution::curve_steps(g, spec.steps), points = steps + 1;
  const size_t image_size = g.image_size(), features = size_t(g.features());
  std::vector<float> out(2 * size_t(points) * image_size);
  attribution::perturbed_images(spec, input, out.data());
  for (int step = 0; step < points; ++step) {
    const float* del = out.data() + size_t(step) * image_size;
    const float* ins = out.data() + size_t(points + step) * image_size;
    for (int rank = 0; rank < g.patches(); ++rank) {
      const int patch = input.order[size_t(rank)];
      const bool changed = rank < step * g.patches() / steps;
      for (size_t f = 0; f < features; ++f) {
        const size_t i = size_t(patch) * features + f;
        const float fill = spec.fill[f / size_t(g.patch * g.patch)];  // channel of feature f
        ASSERT_EQ(del[i], changed ? fill : input.patches[i])
            << "deletion step " << step << " patch " << patch;
        ASSERT_EQ(ins[i], changed ? input.patches[i] : input.blurred[i])
            << "insertion step " << step << " patch " << patch;
      }
    }
  }
}

TEST(Faithfulness, PerturbedImagesChangeOnePatchAStep) {
  const std::vector<float> image = pattern_image(kCifar, 1), blurred(kCifar.image_size(), -1.0f);
  std::vector<int> order = identity_order(kCifar);
  std::reverse(order.begin(), order.end());
  expect_perturbed_images({kCifar, 0, kFill}, {image.data(), blurred.data(), 0, order});
}

TEST(Faithfulness, PerturbedImagesChangeEqualStepsOnAnyGrid) {
  const std::vector<float> image = pattern_image(kWide, 2), blurred(kWide.image_size(), -1.0f);
  std::vector<int> order = identity_order(kWide);
  std::rotate(order.begin(), order.begin() + 4, order.end());
  for (int steps : {0, 1, 3, 5, 15}) {
    SCOPED_TRACE("steps " + std::to_string(steps));
    expect_perturbed_images({kWide, steps, kFill}, {image.data(), blurred.data(), 0, order});
  }
}

TEST(Faithfulness, StepsMustSplitThePatchesEvenly) {
  EXPECT_EQ(attribution::curve_steps(kCifar, 0), 64);  // one patch a step
  EXPECT_EQ(attribution::curve_steps(kWide, 0), 15);
  EXPECT_EQ(attribution::curve_steps(kWide, 5), 5);
  EXPECT_EQ(attribution::curve_steps(kWide, 1), 1);
  for (int bad : {4, 7, 16, -1}) {
    try {
      attribution::curve_steps(kWide, bad);
      ADD_FAILURE() << bad << " steps were accepted";
    } catch (const UsageError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(std::to_string(bad) + " steps"), std::string::npos) << message;
      EXPECT_NE(message.find("1, 3, 5 or 15"), std::string::npos) << message;
    }
  }
  try {
    attribution::curve_steps(kCifar, 48);
    ADD_FAILURE() << "48 steps of 64 patches were accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("1, 2, 4, 8, 16, 32 or 64"), std::string::npos);
  }
  // The curves refuse them too, before the model sees anything.
  const std::vector<float> image(kWide.image_size(), 0.0f);
  int calls = 0;
  const attribution::ProbabilityFn counted = [&](const std::vector<float>&, int64_t count) {
    ++calls;
    return std::vector<float>(size_t(count) * 2, 0.5f);
  };
  EXPECT_THROW(attribution::compute_curves({kWide, 4, kFill},
                                           {{image.data(), image.data(), 0, identity_order(kWide)}},
                                           counted, 100),
               UsageError);
  EXPECT_EQ(calls, 0);
}

TEST(Faithfulness, CurvesStartAndEndWhereTheyMust) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(3);
  const attribution::ProbabilityFn probabilities = attribution::vit_probabilities(model, 50);
  const CurveSpec spec{kCifar, 0, {0.49f, 0.48f, 0.45f}};
  std::vector<std::vector<float>> images, blurred;
  std::vector<CurveInput> inputs;
  for (int i = 0; i < 3; ++i) {
    images.push_back(pattern_image(kCifar, i));
    blurred.push_back(attribution::blur_patches(kCifar, images.back().data(), 2.0f));
  }
  for (int i = 0; i < 3; ++i) {
    const std::vector<float> scores = attribution::random_scores(kCifar.patches(), 5, i);
    inputs.push_back({images[size_t(i)].data(), blurred[size_t(i)].data(), i,
                      attribution::patch_order(kCifar, scores, 5, i)});
  }
  // Batches of 200 images: one input (130 images) a batch, so that batching is exercised too.
  const std::vector<attribution::Curves> curves =
      attribution::compute_curves(spec, inputs, probabilities, 200);
  ASSERT_EQ(curves.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& c = curves[size_t(i)];
    ASSERT_EQ(c.deletion.size(), 65u);
    ASSERT_EQ(c.insertion.size(), 65u);
    const std::vector<float> filled =
        with_filled(kCifar, images[size_t(i)], identity_order(kCifar), kCifar.patches(), spec.fill);
    const auto p = [&](const std::vector<float>& image) {
      return double{probabilities(image, 1)[size_t(i)]};
    };
    EXPECT_NEAR(c.deletion.front(), p(images[size_t(i)]), 1e-6);    // the image itself
    EXPECT_NEAR(c.deletion.back(), p(filled), 1e-6);                // every patch filled
    EXPECT_NEAR(c.insertion.front(), p(blurred[size_t(i)]), 1e-6);  // the blurred image
    EXPECT_NEAR(c.insertion.back(), p(images[size_t(i)]), 1e-6);    // every patch revealed
  }
}

// A two-class model on `grid` whose class-0 logit is sum_p w_p * (mean of patch p) + bias:
// removing patch p (filling it with 0) lowers it by exactly w_p * mean_p.
attribution::ProbabilityFn linear_model(const PatchGrid& grid, const std::vector<double>& weights,
                                        double bias) {
  return [grid, weights, bias](const std::vector<float>& patches, int64_t count) {
    EXPECT_EQ(patches.size(), size_t(count) * grid.image_size());
    const int features = grid.features();
    std::vector<float> probabilities;
    for (int64_t n = 0; n < count; ++n) {
      double logit = bias;
      for (int p = 0; p < grid.patches(); ++p) {
        const float* patch = patches.data() + size_t(n) * grid.image_size() + p * features;
        logit += weights[size_t(p)] * std::accumulate(patch, patch + features, 0.0) / features;
      }
      const float p0 = static_cast<float>(1.0 / (1.0 + std::exp(-logit)));
      probabilities.push_back(p0);
      probabilities.push_back(1.0f - p0);
    }
    return probabilities;
  };
}

// Ranking patches by w_p (on an image of ones) is the truth; it beats every random order.
TEST(Faithfulness, TrueEffectsBeatRandomMaps) {
  const int patches = kCifar.patches();
  std::vector<double> weights(size_t(patches), 0.0);
  for (int p = 0; p < patches; ++p) weights[size_t(p)] = 0.02 * ((p * 29) % patches);
  const attribution::ProbabilityFn model = linear_model(kCifar, weights, -20.0);
  const std::vector<float> image(kCifar.image_size(), 1.0f), blurred(kCifar.image_size(), 0.0f);
  const std::vector<float> truth(weights.begin(), weights.end());

  std::vector<CurveInput> inputs{
      {image.data(), blurred.data(), 0, attribution::patch_order(kCifar, truth, 1, 0)}};
  for (uint64_t draw = 0; draw < 10; ++draw) {
    const std::vector<float> scores = attribution::random_scores(patches, 9, draw);
    inputs.push_back(
        {image.data(), blurred.data(), 0, attribution::patch_order(kCifar, scores, 9, draw)});
  }
  const auto curves = attribution::compute_curves({kCifar, 0, {0, 0, 0}}, inputs, model, 1000);
  const double truth_deletion = attribution::trapezoid_auc(curves[0].deletion);
  const double truth_insertion = attribution::trapezoid_auc(curves[0].insertion);
  for (size_t draw = 1; draw < curves.size(); ++draw) {
    EXPECT_LT(truth_deletion, attribution::trapezoid_auc(curves[draw].deletion)) << "draw " << draw;
    EXPECT_GT(truth_insertion, attribution::trapezoid_auc(curves[draw].insertion))
        << "draw " << draw;
  }
  // The deletion curve of the true order falls monotonically.
  for (int s = 1; s < patches + 1; ++s)
    EXPECT_LE(curves[0].deletion[size_t(s)], curves[0].deletion[size_t(s - 1)]);
}

// On a 3 x 5 grid in 5 steps of 3 patches: 6 points a curve, each the probability of the image
// with the first 3 s ranked patches filled (deletion) or revealed on the blurred image
// (insertion); each batch holds at least one input's 12 images, however small it is asked to be.
TEST(Faithfulness, CurvesInStepsOnANonSquareGrid) {
  std::vector<double> weights(size_t(kWide.patches()));
  for (int p = 0; p < kWide.patches(); ++p) weights[size_t(p)] = 0.3 * ((p * 7) % 15) - 2.0;
  const attribution::ProbabilityFn linear = linear_model(kWide, weights, 0.5);
  std::vector<int64_t> batch_sizes;
  const attribution::ProbabilityFn model = [&](const std::vector<float>& patches, int64_t count) {
    batch_sizes.push_back(count);
    return linear(patches, count);
  };
  const CurveSpec spec{kWide, 5, kFill};
  std::vector<std::vector<float>> images, blurred;
  std::vector<CurveInput> inputs;
  for (int i = 0; i < 3; ++i) {
    images.push_back(pattern_image(kWide, i));
    blurred.push_back(attribution::blur_patches(kWide, images.back().data(), 1.0f));
  }
  for (int i = 0; i < 3; ++i) {
    const std::vector<float> scores = attribution::random_scores(kWide.patches(), 3, i);
    inputs.push_back({images[size_t(i)].data(), blurred[size_t(i)].data(), i % 2,
                      attribution::patch_order(kWide, scores, 3, i)});
  }
  const auto curves = attribution::compute_curves(spec, inputs, model, 1);
  EXPECT_EQ(batch_sizes, std::vector<int64_t>({12, 12, 12}));
  ASSERT_EQ(curves.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const CurveInput& in = inputs[i];
    ASSERT_EQ(curves[i].deletion.size(), 6u);
    ASSERT_EQ(curves[i].insertion.size(), 6u);
    const auto p = [&](const std::vector<float>& image) {
      return double{linear(image, 1)[size_t(in.target)]};
    };
    const int features = kWide.features();
    for (int s = 0; s <= 5; ++s) {
      EXPECT_EQ(curves[i].deletion[size_t(s)],
                p(with_filled(kWide, images[i], in.order, 3 * s, spec.fill)))
          << "input " << i << " deletion point " << s;
      std::vector<float> revealed = blurred[i];
      for (int r = 0; r < 3 * s; ++r) {
        const size_t first = size_t(in.order[size_t(r)] * features);
        std::copy(images[i].begin() + long(first), images[i].begin() + long(first) + features,
                  revealed.begin() + long(first));
      }
      EXPECT_EQ(curves[i].insertion[size_t(s)], p(revealed))
          << "input " << i << " insertion point " << s;
    }
  }
}

TEST(Faithfulness, PatchOrderRanksHighestFirstAndBreaksTiesAtRandom) {
  std::vector<float> scores(size_t(kCifar.patches()), 0.0f);
  scores[10] = 3.0f;
  scores[20] = 2.0f;
  const std::vector<int> order = attribution::patch_order(kCifar, scores, 1, 0);
  EXPECT_EQ(order[0], 10);
  EXPECT_EQ(order[1], 20);
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, identity_order(kCifar));
  // A constant map: a random order, the same for the same (seed, image), another for another.
  const std::vector<float> constant(size_t(kCifar.patches()), 1.0f);
  const std::vector<int> a = attribution::patch_order(kCifar, constant, 1, 0);
  EXPECT_NE(a, identity_order(kCifar));
  EXPECT_EQ(a, attribution::patch_order(kCifar, constant, 1, 0));
  EXPECT_NE(a, attribution::patch_order(kCifar, constant, 1, 1));
  EXPECT_THROW(attribution::patch_order(kCifar, std::vector<float>(63, 0.0f), 1, 0), Error);
  EXPECT_THROW(attribution::patch_order(kWide, constant, 1, 0), Error);  // 64 scores, 15 patches
  std::vector<float> bad(size_t(kCifar.patches()), 0.0f);
  bad[5] = std::nanf("");
  EXPECT_THROW(attribution::patch_order(kCifar, bad, 1, 0), Error);
}

TEST(Faithfulness, BlurKeepsConstantsAndSmoothsEdges) {
  const std::vector<float> constant(kCifar.image_size(), 0.3f);
  for (float v : attribution::blur_patches(kCifar, constant.data(), 2.0f)) {
    ASSERT_NEAR(v, 0.3f, 1e-6);
  }
  // Patches alternating 0 and 1 like a chess board: blurring pulls every value toward 0.5.
  std::vector<float> board(kCifar.image_size());
  const int features = kCifar.features();
  for (int p = 0; p < kCifar.patches(); ++p) {
    const float v = ((p / 8 + p % 8) % 2 == 0) ? 1.0f : 0.0f;
    std::fill(board.begin() + p * features, board.begin() + (p + 1) * features, v);
  }
  const std::vector<float> blurred = attribution::blur_patches(kCifar, board.data(), 2.0f);
  double before = 0, after = 0;
  for (size_t i = 0; i < board.size(); ++i) {
    before += std::abs(board[i] - 0.5);
    after += std::abs(blurred[i] - 0.5);
  }
  EXPECT_LT(after, 0.5 * before);
  EXPECT_THROW(attribution::blur_patches(kCifar, board.data(), 0.0f), Error);
}

// The separable blur against the two-dimensional sum it factorises, in double precision:
// out(c, y, x) = sum_{i, j} w_i w_j in(c, clamp(y + i), clamp(x + j)), w the Gaussian at
// -radius .. radius, radius = ceil(3 sigma), normalised. The grids are not square, and a radius
// larger than the image makes the clamping matter.
TEST(Faithfulness, BlurMatchesTheDirectTwoDimensionalSum) {
  for (const auto& [grid, sigma] :
       {std::pair{kWide, 1.5f}, std::pair{kCifar, 2.0f}, std::pair{PatchGrid{1, 3, 2, 1}, 0.7f}}) {
    SCOPED_TRACE(std::to_string(grid.rows) + " x " + std::to_string(grid.cols) + " sigma " +
                 std::to_string(sigma));
    const std::vector<float> image = pattern_image(grid, 4);
    const std::vector<float> blurred = attribution::blur_patches(grid, image.data(), sigma);
    const int radius = static_cast<int>(std::ceil(3.0 * sigma));
    std::vector<double> w;
    for (int k = -radius; k <= radius; ++k) w.push_back(std::exp(-0.5 * k * k / (sigma * sigma)));
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    for (double& v : w) v /= total;
    const auto clamp = [](int v, int n) { return std::min(std::max(v, 0), n - 1); };
    for (int c = 0; c < grid.channels; ++c) {
      for (int y = 0; y < grid.height(); ++y) {
        for (int x = 0; x < grid.width(); ++x) {
          double sum = 0;
          for (int i = -radius; i <= radius; ++i) {
            for (int j = -radius; j <= radius; ++j) {
              sum += w[size_t(i + radius)] * w[size_t(j + radius)] *
                     pixel(grid, image, c, clamp(y + i, grid.height()), clamp(x + j, grid.width()));
            }
          }
          ASSERT_NEAR(pixel(grid, blurred, c, y, x), sum, 1e-6)
              << "pixel (" << c << ", " << y << ", " << x << ")";
        }
      }
    }
  }
}

// A published model's size: 14 x 14 patches of 16 x 16 pixels, sigma 14 (radius 42).
TEST(Faithfulness, BlurOfALargeImageKeepsAConstant) {
  const PatchGrid imagenet{3, 16, 14, 14};
  const std::vector<float> constant(imagenet.image_size(), -0.7f);
  const std::vector<float> blurred = attribution::blur_patches(imagenet, constant.data(), 14.0f);
  ASSERT_EQ(blurred.size(), size_t(150528));
  for (float v : blurred) ASSERT_NEAR(v, -0.7f, 1e-6);
}

TEST(Faithfulness, BadInputsAreClearErrors) {
  const std::vector<float> image(kCifar.image_size(), 0.0f);
  const attribution::ProbabilityFn two_classes = [](const std::vector<float>&, int64_t count) {
    return std::vector<float>(size_t(count) * 2, 0.5f);
  };
  std::vector<int> not_a_permutation = identity_order(kCifar);
  not_a_permutation[3] = 4;
  EXPECT_THROW(attribution::compute_curves({kCifar, 0, {0, 0, 0}},
                                           {{image.data(), image.data(), 0, not_a_permutation}},
                                           two_classes, 130),
               Error);
  EXPECT_THROW(attribution::compute_curves(
                   {kCifar, 0, {0, 0, 0}},
                   {{image.data(), image.data(), 2, identity_order(kCifar)}}, two_classes, 130),
               Error);  // class 2 of a two-class model
  EXPECT_THROW(attribution::compute_curves(
                   {kCifar, 0, {0, 0}}, {{image.data(), image.data(), 0, identity_order(kCifar)}},
                   two_classes, 130),
               Error);  // a fill of two channels for three
  EXPECT_THROW(attribution::check_grid({3, 0, 8, 8}), UsageError);
  EXPECT_THROW(attribution::check_grid({3, 4096, 8, 8}), UsageError);  // over 2^31 values
}

// CIFAR-format records as the measurement's images, as sav_viz builds them from the test set.
attribution::FaithfulnessImages record_images(const data::RecordSet& records,
                                              const std::vector<int64_t>& indices) {
  attribution::FaithfulnessImages images;
  images.ids.assign(indices.begin(), indices.end());
  images.description = "test images";
  images.read = [records, indices](int64_t i, float* tokens) {
    std::vector<uint8_t> pixels(data::kPixelBytes);
    const int label = records.read(indices[size_t(i)], pixels.data());
    data::image_to_patches(pixels.data(), {}, tokens);
    return label;
  };
  return images;
}

attribution::DeletionFill means_of(const data::RecordSet& records) {
  const std::array<float, 3> means = data::channel_means(records);
  return {std::vector<float>(means.begin(), means.end()), "the training set's channel means"};
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
  options.fill = means_of(records);
  options.explain_batch = 2;  // three explain batches for 5 images
  int64_t last_done = 0, calls = 0;
  const attribution::FaithfulnessImages images = record_images(records, {0, 2, 4, 1, 3});
  const attribution::FaithfulnessResult result =
      attribution::measure_faithfulness(model, images, options, [&](int64_t done, int64_t total) {
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
  EXPECT_EQ(result.steps, 64);
  for (const auto& m : result.methods) {
    ASSERT_EQ(m.deletion_auc.size(), 5u) << m.method;
    ASSERT_EQ(m.insertion_auc.size(), 5u) << m.method;
    for (double auc : m.deletion_auc) EXPECT_TRUE(auc >= 0.0 && auc <= 1.0) << m.method;
    ASSERT_EQ(m.mean_deletion.size(), 65u);
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
  EXPECT_NE(markdown.find("tiny model: 5 test images, the predicted class"), std::string::npos);
  EXPECT_NE(markdown.find("grid of 8 x 8 patches of 4 x 4 pixels (a 32 x 32 image, 3 channels)"),
            std::string::npos);
  EXPECT_NE(markdown.find("the training set's channel means (0."), std::string::npos);
  EXPECT_NE(markdown.find("64 steps of 1 patch, 65 points a curve"), std::string::npos);
  const std::string csv = attribution::faithfulness_csv(rows);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // header + 3 methods
  EXPECT_EQ(csv.rfind("random,5,", std::string::npos) != std::string::npos, true);

  // What the caller must fix is a UsageError.
  EXPECT_THROW(attribution::measure_faithfulness(model, record_images(records, {}), options),
               UsageError);
  attribution::FaithfulnessOptions bad = options;
  bad.steps = 7;
  EXPECT_THROW(attribution::measure_faithfulness(model, images, bad), UsageError);
  bad = options;
  bad.fill.values = {0.5f};
  EXPECT_THROW(attribution::measure_faithfulness(model, images, bad), UsageError);
  attribution::FaithfulnessImages other_grid = images;
  other_grid.grid = {3, 8, 4, 4};  // the same 32 x 32 pixels in 8 x 8 patches
  EXPECT_THROW(attribution::measure_faithfulness(model, other_grid, options), UsageError);
}

// Images whose class is unknown can follow the predicted class, never the true one.
TEST(Faithfulness, TrueClassNeedsEveryImagesClass) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(5);
  attribution::FaithfulnessImages images;
  images.ids = {7, 8};
  images.read = [](int64_t i, float* tokens) {
    const std::vector<float> image = pattern_image(kCifar, int(i));
    std::copy(image.begin(), image.end(), tokens);
    return i == 0 ? 3 : -1;
  };
  attribution::FaithfulnessOptions options;
  options.random_draws = 1;
  options.fill = {{0, 0, 0}, "zero"};
  EXPECT_EQ(attribution::measure_faithfulness(model, images, options).images, 2);
  options.true_class = true;
  try {
    attribution::measure_faithfulness(model, images, options);
    ADD_FAILURE() << "an image without a class was followed by its true class";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("image 1 (id 8) has no known class"), std::string::npos)
        << e.what();
  }
  images.read = [](int64_t, float* tokens) {
    std::fill(tokens, tokens + kCifar.image_size(), 0.5f);
    return 10;  // the model has classes 0 to 9
  };
  EXPECT_THROW(attribution::measure_faithfulness(model, images, options), UsageError);
}

// The standard family (pre-LN, learned tokens, DeiT's distillation token) on a grid of 2 x 3
// patches of 2 x 2 pixels, in 3 steps of 2 patches: the measurement knows no data set, only the
// images and the grid it is given.
TEST(Faithfulness, MeasuresAStandardModelOnItsOwnGrid) {
  const nn::VitConfig c = tiny_standard_config(2, 3, 12, 4, true);
  nn::VisionTransformer model(c, Device::cpu());
  model.initialize(6);

  const PatchGrid grid = attribution::model_grid(c, 2);
  EXPECT_EQ(grid.channels, 3);
  EXPECT_EQ(grid.patch, 2);
  EXPECT_EQ(grid.rows, 2);
  EXPECT_EQ(grid.cols, 3);
  EXPECT_THROW(attribution::model_grid(c, 3), UsageError);  // 9 pixels do not divide 12 features

  attribution::FaithfulnessImages images;
  images.grid = grid;
  images.ids = {10, 11, 12};
  images.description = "photographs";
  images.read = [grid](int64_t i, float* tokens) {
    const std::vector<float> image = pattern_image(grid, int(i));
    std::copy(image.begin(), image.end(), tokens);
    return int(i % 4);
  };
  attribution::FaithfulnessOptions options;
  options.methods = {attribution::Method::kRollout, attribution::Method::kGradRollout,
                     attribution::Method::kGradcam};
  options.true_class = true;
  options.random_draws = 2;
  options.steps = 3;
  options.blur_sigma = 1.0f;
  options.fill = {{0, 0, 0}, "zero, the normalisation's mean"};
  options.explain_batch = 2;
  const attribution::FaithfulnessResult result =
      attribution::measure_faithfulness(model, images, options);
  EXPECT_EQ(result.images, 3);
  EXPECT_EQ(result.steps, 3);
  EXPECT_EQ(result.grid.cols, 3);
  ASSERT_EQ(result.methods.size(), 4u);
  for (const auto& m : result.methods) {
    ASSERT_EQ(m.deletion_auc.size(), 3u) << m.method;
    ASSERT_EQ(m.mean_deletion.size(), 4u) << m.method;
    ASSERT_EQ(m.mean_insertion.size(), 4u) << m.method;
    for (double auc : m.insertion_auc) EXPECT_TRUE(auc >= 0.0 && auc <= 1.0) << m.method;
    EXPECT_NEAR(m.mean_deletion.front(), result.methods[0].mean_deletion.front(), 1e-6);
    EXPECT_EQ(m.randomized_correlation.size(), m.method == "random" ? 0u : 3u);
  }
  // The curves follow each image's true class: deletion starts at its probability.
  const attribution::ProbabilityFn p = attribution::vit_probabilities(model);
  double start = 0;
  for (int64_t i = 0; i < 3; ++i) {
    start += p(pattern_image(grid, int(i)), 1)[size_t(i % 4)] / 3.0;
  }
  EXPECT_NEAR(result.methods[0].mean_deletion.front(), start, 1e-6);

  const std::string markdown =
      attribution::faithfulness_markdown(result, attribution::summarize(result), "a tiny DeiT");
  EXPECT_NE(markdown.find("a tiny DeiT: 3 photographs, the true class"), std::string::npos);
  EXPECT_NE(markdown.find("grid of 2 x 3 patches of 2 x 2 pixels (a 4 x 6 image, 3 channels)"),
            std::string::npos);
  EXPECT_NE(markdown.find("zero, the normalisation's mean (0.000, 0.000, 0.000)"),
            std::string::npos);
  EXPECT_NE(markdown.find("sigma 1 pixels. 3 steps of 2 patches, 4 points a curve"),
            std::string::npos);

  // One image gives means but no intervals: the report says so rather than print [x, x].
  attribution::FaithfulnessResult one = result;
  one.images = 1;
  for (auto& m : one.methods) {
    m.deletion_auc.resize(1);
    m.insertion_auc.resize(1);
    if (!m.randomized_correlation.empty()) m.randomized_correlation.resize(1);
  }
  const std::vector<attribution::FaithfulnessRow> rows = attribution::summarize(one);
  const std::string text = attribution::faithfulness_text(rows);
  EXPECT_NE(text.find("[1 image]"), std::string::npos) << text;
  const std::string csv = attribution::faithfulness_csv(rows);
  const std::string first_row = csv.substr(csv.find('\n') + 1);
  EXPECT_NE(first_row.find(",,"), std::string::npos) << csv;
}

}  // namespace
}  // namespace sav::testing
