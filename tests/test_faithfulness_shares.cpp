// The faithfulness measurement shared among the processes of a job (sav_viz under mpirun): a
// share of the curves or of the images gives each image the numbers the whole measurement gives
// it, bit for bit, even from a model whose arithmetic depends on where an image sits in its batch
// (as a BLAS product's may); the parts summed in image order are the whole result; the ranks'
// shares; and the bytes that carry the parts to rank 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

#include "programs/viz_shares.h"
#include "sav/attribution/faithfulness.h"
#include "sav/attribution/faithfulness_report.h"
#include "sav/error.h"
#include "tiny_model.h"

namespace sav::testing {
namespace {

using attribution::CurveInput;
using attribution::Curves;
using attribution::PatchGrid;

const PatchGrid kCifar;             // 8 x 8 patches of 4 x 4 pixels, 3 channels
const PatchGrid kWide{3, 2, 3, 5};  // 3 x 5 patches of 2 x 2 pixels

std::vector<float> pattern_image(const PatchGrid& grid, int seed) {
  std::vector<float> image(grid.image_size());
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<float>((i * 37 + static_cast<size_t>(seed) * 11) % 101) / 100.0f;
  }
  return image;
}

// A two-class model that takes images `batch` at a time, from the first it is given, as
// vit_probabilities does, and whose probabilities depend, a little, on where an image sits in its
// batch and on the batch's size: what a matrix product that takes a batch's edge rows by other
// kernels does, exaggerated.
attribution::ProbabilityFn position_dependent_model(const PatchGrid& grid, int64_t batch) {
  return [grid, batch](const std::vector<float>& patches, int64_t count) {
    const size_t image_size = grid.image_size();
    std::vector<float> probabilities;
    for (int64_t first = 0; first < count; first += batch) {
      const int64_t n = std::min(batch, count - first);
      for (int64_t row = 0; row < n; ++row) {
        const float* image = patches.data() + size_t(first + row) * image_size;
        const double mean = std::accumulate(image, image + image_size, 0.0) / double(image_size);
        const double logit = 4.0 * (mean - 0.5) + 1e-3 * double(row) + 1e-4 * double(n);
        const float p = static_cast<float>(1.0 / (1.0 + std::exp(-logit)));
        probabilities.push_back(p);
        probabilities.push_back(1.0f - p);
      }
    }
    return probabilities;
  };
}

void expect_same_curves(const Curves& a, const Curves& b, const std::string& what) {
  EXPECT_EQ(a.deletion, b.deletion) << what;
  EXPECT_EQ(a.insertion, b.insertion) << what;
}

// 7 inputs of 12 images (5 steps of 3 patches), 2 inputs a call of the model, which takes 5 images
// at a time: its batches straddle the inputs. Every share of the inputs gets the whole run's
// curves; computing the same inputs on their own does not, which shows the model's batches matter.
TEST(FaithfulnessShares, ACurveShareGetsTheWholeRunsCurvesWhereBatchesMatter) {
  const int64_t model_batch = 5, batch_images = 24;
  const attribution::ProbabilityFn model = position_dependent_model(kWide, model_batch);
  const attribution::CurveSpec spec{kWide, 5, {0.25f, 0.5f, 0.75f}};
  std::vector<std::vector<float>> images, blurred;
  for (int i = 0; i < 7; ++i) {
    images.push_back(pattern_image(kWide, i));
    blurred.push_back(attribution::blur_patches(kWide, images.back().data(), 1.0f));
  }
  std::vector<CurveInput> inputs;
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> scores = attribution::random_scores(kWide.patches(), 5, uint64_t(i));
    inputs.push_back({images[size_t(i)].data(), blurred[size_t(i)].data(), i % 2,
                      attribution::patch_order(kWide, scores, 5, uint64_t(i))});
  }
  const std::vector<Curves> whole = attribution::compute_curves(spec, inputs, model, batch_images);
  bool alone_differs = false;
  for (size_t first = 0; first <= inputs.size(); ++first) {
    for (size_t last = first; last <= inputs.size(); ++last) {
      const std::string share =
          "inputs [" + std::to_string(first) + ", " + std::to_string(last) + ")";
      int64_t reported = -1;
      const std::vector<Curves> curves =
          attribution::compute_curve_share(spec, inputs, {first, last, model_batch}, model,
                                           batch_images, [&](int64_t done) { reported = done; });
      ASSERT_EQ(curves.size(), last - first) << share;
      for (size_t i = first; i < last; ++i) {
        expect_same_curves(curves[i - first], whole[i], share + ", input " + std::to_string(i));
      }
      EXPECT_EQ(reported, first == last ? -1 : int64_t(last - first)) << share;
      const std::vector<CurveInput> own(inputs.begin() + std::ptrdiff_t(first),
                                        inputs.begin() + std::ptrdiff_t(last));
      const std::vector<Curves> alone = attribution::compute_curves(spec, own, model, batch_images);
      for (size_t i = first; i < last; ++i) {
        alone_differs = alone_differs || alone[i - first].deletion != whole[i].deletion;
      }
    }
  }
  EXPECT_TRUE(alone_differs) << "the model's batches made no difference: the test shows nothing";

  for (const attribution::CurveShare bad :
       {attribution::CurveShare{3, 2, 5}, attribution::CurveShare{0, 8, 5},
        attribution::CurveShare{0, 1, 0}}) {
    EXPECT_THROW(attribution::compute_curve_share(spec, inputs, bad, model, batch_images), Error);
  }
}

attribution::FaithfulnessImages pattern_images(int count) {
  attribution::FaithfulnessImages images;
  for (int i = 0; i < count; ++i) images.ids.push_back(100 + uint64_t(i));
  images.read = [](int64_t i, float* tokens) {
    const std::vector<float> image = pattern_image(kCifar, int(i));
    std::copy(image.begin(), image.end(), tokens);
    return int(i % 10);
  };
  return images;
}

void expect_same_result(const attribution::FaithfulnessResult& a,
                        const attribution::FaithfulnessResult& b) {
  EXPECT_EQ(a.images, b.images);
  ASSERT_EQ(a.methods.size(), b.methods.size());
  for (size_t m = 0; m < a.methods.size(); ++m) {
    const attribution::MethodFaithfulness &x = a.methods[m], &y = b.methods[m];
    EXPECT_EQ(x.method, y.method);
    EXPECT_EQ(x.deletion_auc, y.deletion_auc) << x.method;
    EXPECT_EQ(x.insertion_auc, y.insertion_auc) << x.method;
    EXPECT_EQ(x.mean_deletion, y.mean_deletion) << x.method;
    EXPECT_EQ(x.mean_insertion, y.mean_insertion) << x.method;
    EXPECT_EQ(x.randomized_correlation, y.randomized_correlation) << x.method;
  }
}

// 11 images in explanation batches of 4, curves in steps of 8 patches (18 images an input), 2
// inputs a call of the model, which takes 7 images at a time: for 1 to 4 ranks, each rank's share
// of the images gets the parts the whole measurement's images get, and rank 0's sum of every
// rank's parts, in order, is the whole result and report.
TEST(FaithfulnessShares, TheRanksPartsAddUpToTheWholeMeasurement) {
  nn::VisionTransformer model(tiny_vit_config(), Device::cpu());
  model.initialize(8);
  const attribution::FaithfulnessImages images = pattern_images(11);
  attribution::FaithfulnessOptions options;
  options.methods = {attribution::Method::kSeed, attribution::Method::kGradRollout,
                     attribution::Method::kGradcam};
  options.random_draws = 2;
  options.steps = 8;
  options.fill = {{0.5f, 0.5f, 0.5f}, "grey"};
  options.explain_batch = 4;
  options.curve_batch = 36;
  options.forward_batch = 7;
  const attribution::FaithfulnessResult whole =
      attribution::measure_faithfulness(model, images, options);
  std::vector<attribution::ImageFaithfulness> whole_parts;
  attribution::measure_images(model, images, options, 0, 11,
                              [&](int64_t i, attribution::ImageFaithfulness&& part) {
                                EXPECT_EQ(i, int64_t(whole_parts.size()));
                                whole_parts.push_back(std::move(part));
                              });
  ASSERT_EQ(whole_parts.size(), 11u);
  const std::string report = attribution::faithfulness_csv(attribution::summarize(whole));

  for (int ranks = 1; ranks <= 4; ++ranks) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    attribution::FaithfulnessResult sum = attribution::empty_faithfulness(images, options);
    int64_t next = 0;
    for (int rank = 0; rank < ranks; ++rank) {
      const Share share = share_of(11, rank, ranks);
      attribution::measure_images(
          model, images, options, share.first, share.last,
          [&](int64_t i, attribution::ImageFaithfulness&& part) {
            ASSERT_EQ(i, next++);
            const auto& expected = whole_parts[size_t(i)];
            ASSERT_EQ(part.curves.size(), expected.curves.size());
            for (size_t c = 0; c < part.curves.size(); ++c) {
              expect_same_curves(part.curves[c], expected.curves[c], "image " + std::to_string(i));
            }
            EXPECT_EQ(part.randomized_correlation, expected.randomized_correlation);
            attribution::add_image(part, sum);
          });
    }
    EXPECT_EQ(next, 11);
    attribution::finish_faithfulness(sum);
    expect_same_result(sum, whole);
    EXPECT_EQ(attribution::faithfulness_csv(attribution::summarize(sum)), report);
  }

  // An empty share measures nothing; a range outside the images is the program's error.
  attribution::measure_images(model, images, options, 5, 5,
                              [](int64_t, attribution::ImageFaithfulness&&) {
                                ADD_FAILURE() << "an empty share gave a part";
                              });
  const auto ignore = [](int64_t, attribution::ImageFaithfulness&&) {};
  EXPECT_THROW(attribution::measure_images(model, images, options, 6, 5, ignore), Error);
  EXPECT_THROW(attribution::measure_images(model, images, options, 0, 12, ignore), Error);
  // Bad options are refused by every rank, whatever its share, before any work.
  attribution::FaithfulnessOptions bad = options;
  bad.steps = 7;
  EXPECT_THROW(attribution::measure_images(model, images, bad, 3, 3, ignore), UsageError);
}

TEST(FaithfulnessShares, AddImageRefusesAPartOfAnotherShape) {
  attribution::FaithfulnessOptions options;
  options.methods = {attribution::Method::kSeed};
  options.random_draws = 2;
  options.steps = 4;
  options.fill = {{0, 0, 0}, "zero"};
  const attribution::FaithfulnessImages images = pattern_images(1);
  attribution::FaithfulnessResult result = attribution::empty_faithfulness(images, options);
  const Curves five{std::vector<double>(5, 0.5), std::vector<double>(5, 0.5)};
  attribution::add_image({{five, five, five}, {0.25}}, result);  // seed and two draws
  EXPECT_EQ(result.images, 1);
  EXPECT_THROW(attribution::add_image({{five, five}, {0.25}}, result), Error);
  EXPECT_THROW(attribution::add_image({{five, five, five}, {0.25, 0.5}}, result), Error);
  const Curves four{std::vector<double>(4, 0.5), std::vector<double>(5, 0.5)};
  EXPECT_THROW(attribution::add_image({{five, four, five}, {}}, result), Error);
  EXPECT_EQ(result.images, 1);
}

TEST(FaithfulnessShares, RanksTakeContiguousSharesInRankOrder) {
  for (int64_t n : {0, 1, 5, 11, 100}) {
    for (int ranks = 1; ranks <= 5; ++ranks) {
      int64_t next = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const Share share = share_of(n, rank, ranks);
        EXPECT_EQ(share.first, next) << n << " items, rank " << rank << " of " << ranks;
        EXPECT_LE(share.last - share.first, n / ranks + 1);
        EXPECT_GE(share.last - share.first, n / ranks);
        next = share.last;
      }
      EXPECT_EQ(next, n);
    }
  }
  EXPECT_EQ(share_of(11, 1, 3).first, 3);  // floor(11 / 3)
  EXPECT_EQ(share_of(11, 1, 3).last, 7);   // floor(22 / 3)
}

TEST(FaithfulnessShares, BytesReadBackAsWritten) {
  std::vector<uint8_t> bytes;
  ByteWriter out(bytes);
  out.put<int64_t>(-3);
  out.put_all(std::vector<double>{0.1, 0.2, 1e-300});
  out.put_all(std::vector<float>{});
  out.put<float>(2.5f);
  ByteReader in(bytes.data(), bytes.size());
  EXPECT_EQ(in.get<int64_t>(), -3);
  EXPECT_EQ(in.get_all<double>(), (std::vector<double>{0.1, 0.2, 1e-300}));
  EXPECT_TRUE(in.get_all<float>().empty());
  EXPECT_FALSE(in.done());
  EXPECT_EQ(in.get<float>(), 2.5f);
  EXPECT_TRUE(in.done());
  EXPECT_THROW(in.get<int32_t>(), Error);
  // A count larger than what follows is refused before anything is allocated.
  std::vector<uint8_t> lying;
  ByteWriter(lying).put<uint64_t>(uint64_t{1} << 60);
  ByteReader short_reader(lying.data(), lying.size());
  EXPECT_THROW(short_reader.get_all<double>(), Error);
}

}  // namespace
}  // namespace sav::testing
