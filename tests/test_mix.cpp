// Mixup and CutMix: the Beta draws behind them (moments over many draws), CutMix's box and
// lambda, the two operations on hand-made images, the loader's mixed batches against its
// unmixed ones (one process and a rank's share), and the soft-label loss against the
// cross-entropy with soft targets computed directly, with its gradient checked by central
// differences.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "cifar_files.h"
#include "gradcheck.h"
#include "sav/data/images.h"
#include "sav/data/loader.h"
#include "sav/data/mix.h"
#include "sav/error.h"
#include "sav/train/config.h"
#include "sav/train/step.h"
#include "test_support.h"

namespace sav::testing {
namespace {

using data::MixDraw;
using data::MixOptions;

// Gamma(alpha, 1) has mean alpha and variance alpha. Over n = 20,000 draws the sample mean's
// standard error is sqrt(alpha / n) (at most 0.011 here) and the sample variance's about
// sqrt((2 alpha^2 + 6 alpha) / n) (at most 0.04): the bounds are 5 standard errors. The draws
// are a fixed function of the seed, so the test either always passes or never does.
TEST(MixDraws, GammaHasItsMoments) {
  const int n = 20000;
  for (const double alpha : {0.3, 0.8, 1.0, 2.5}) {
    SCOPED_TRACE("alpha " + std::to_string(alpha));
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < n; ++i) {
      const double g = data::gamma_draw(alpha, 7, 3, static_cast<uint64_t>(i) * 64);
      ASSERT_GT(g, 0.0);
      sum += g;
      sum_sq += g * g;
    }
    const double mean = sum / n, variance = sum_sq / n - mean * mean;
    EXPECT_NEAR(mean, alpha, 5 * std::sqrt(alpha / n));
    EXPECT_NEAR(variance, alpha, 5 * std::sqrt((2 * alpha * alpha + 6 * alpha) / n));
  }
}

// Mixup's lambda ~ Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)). Over 10,000 batches the
// mean's standard error is at most 0.005 and the variance's below 0.002; bounds of 5 of them.
TEST(MixDraws, MixupLambdaIsBetaDistributed) {
  const int n = 10000;
  for (const double alpha : {0.2, 0.8, 1.0}) {
    SCOPED_TRACE("alpha " + std::to_string(alpha));
    MixOptions options;
    options.mixup_alpha = alpha;
    double sum = 0, sum_sq = 0;
    for (int b = 0; b < n; ++b) {
      const MixDraw draw = data::draw_mix(options, 42, 9, b);
      ASSERT_FALSE(draw.cutmix);
      ASSERT_GE(draw.lambda, 0.0f);
      ASSERT_LE(draw.lambda, 1.0f);
      sum += draw.lambda;
      sum_sq += double{draw.lambda} * draw.lambda;
    }
    const double mean = sum / n, variance = sum_sq / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.025);
    EXPECT_NEAR(variance, 1.0 / (4 * (2 * alpha + 1)), 0.01);
  }
  // A pure function of (seed, stream, batch): drawn again, the same; another batch, another.
  MixOptions options;
  options.mixup_alpha = 0.8;
  EXPECT_EQ(data::draw_mix(options, 42, 9, 5).lambda, data::draw_mix(options, 42, 9, 5).lambda);
  EXPECT_NE(data::draw_mix(options, 42, 9, 5).lambda, data::draw_mix(options, 42, 9, 6).lambda);
  EXPECT_EQ(data::draw_mix(MixOptions{}, 42, 9, 5).lambda, 1.0f);  // off: not mixed
}

// CutMix's box lies in the image, lambda is the part outside it, and with both on about half the
// batches take each.
TEST(MixDraws, CutMixBoxAndTheSwitch) {
  MixOptions options;
  options.cutmix_alpha = 1.0;
  int clipped = 0;
  for (int b = 0; b < 2000; ++b) {
    const MixDraw d = data::draw_mix(options, 1, 2, b);
    ASSERT_TRUE(d.cutmix);
    ASSERT_TRUE(0 <= d.y0 && d.y0 <= d.y1 && d.y1 <= 32 && 0 <= d.x0 && d.x0 <= d.x1 && d.x1 <= 32);
    const int area = (d.y1 - d.y0) * (d.x1 - d.x0);
    EXPECT_EQ(d.lambda, 1.0f - static_cast<float>(area) / 1024.0f);
    // The box is square before clipping: sides differ only where an edge cut one.
    if (d.y1 - d.y0 != d.x1 - d.x0) ++clipped;
  }
  EXPECT_GT(clipped, 0);
  options.mixup_alpha = 0.8;
  int cutmix = 0;
  for (int b = 0; b < 2000; ++b) cutmix += data::draw_mix(options, 1, 2, b).cutmix;
  EXPECT_NEAR(cutmix, 1000, 5 * std::sqrt(500.0));  // binomial(2000, 1/2): sd 22
}

// On hand-made images: the box of the partner pasted, nothing else touched; and the blend.
TEST(MixOps, PasteBoxAndBlend) {
  std::vector<uint8_t> image(data::kPixelBytes, 10), partner(data::kPixelBytes, 200);
  MixDraw draw;
  draw.cutmix = true;
  draw.y0 = 2, draw.y1 = 5, draw.x0 = 30, draw.x1 = 32;
  data::paste_box(draw, partner.data(), image.data());
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        const bool inside = y >= 2 && y < 5 && x >= 30;
        EXPECT_EQ(image[c * 1024 + y * 32 + x], inside ? 200 : 10) << c << " " << y << " " << x;
      }
    }
  }
  std::vector<float> a = {1.0f, -2.0f, 0.5f}, b = {3.0f, 2.0f, 0.5f};
  data::blend(0.25f, b.data(), a.data(), 3);
  EXPECT_EQ(a, (std::vector<float>{2.5f, 1.0f, 0.5f}));
}

// The loader's mixed batches against the same loader's unmixed ones: Mixup blends image i with
// image n - 1 - i by the batch's lambda (exactly: the same float operations); CutMix takes the
// partner's pixels inside the box (traced to their tokens and features) and the image's own
// outside; the partner labels are the labels reversed. A rank's share (2 of 3) holds the
// same rows as one process's batch.
TEST(MixLoader, BatchesAreTheUnmixedBatchesMixed) {
  TempFolder folder;
  const data::RecordSet records = data::RecordSet::open({write_records(folder, "r.bin", 0, 37)});
  data::LoaderOptions plain_options;
  plain_options.batch_size = 10;  // 4 batches, the last of 7
  plain_options.flip = true;
  plain_options.crop_padding = 4;
  constexpr int64_t kInput = data::kPatches * data::kPatchFeatures;
  for (const bool cutmix : {false, true}) {
    SCOPED_TRACE(cutmix ? "cutmix" : "mixup");
    data::LoaderOptions mixed_options = plain_options;
    (cutmix ? mixed_options.mix.cutmix_alpha : mixed_options.mix.mixup_alpha) = 1.0;
    data::BatchLoader plain(records, plain_options), mixed(records, mixed_options);
    data::LoaderOptions share_options = mixed_options;
    share_options.shards = 3;
    std::vector<std::unique_ptr<data::BatchLoader>> share_loaders;
    for (int s = 0; s < 3; ++s) {
      share_options.shard = s;
      share_loaders.push_back(std::make_unique<data::BatchLoader>(records, share_options));
    }
    for (uint64_t epoch : {0, 1}) {
      plain.start_epoch(epoch);
      mixed.start_epoch(epoch);
      for (auto& loader : share_loaders) loader->start_epoch(epoch);
      data::Batch p, m;
      int64_t index = 0;
      while (plain.next(p)) {
        ASSERT_TRUE(mixed.next(m));
        const int64_t n = p.size;
        const MixDraw draw =
            data::draw_mix(mixed_options.mix, mixed_options.seed, data::mix_stream(epoch), index);
        EXPECT_EQ(m.mix_lambda, draw.lambda);
        EXPECT_EQ(m.labels, p.labels);
        ASSERT_EQ(m.partner_labels.size(), static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          EXPECT_EQ(m.partner_labels[i], p.labels[n - 1 - i]);
          const float* own = p.patches.data() + i * kInput;
          const float* other = p.patches.data() + (n - 1 - i) * kInput;
          const float* got = m.patches.data() + i * kInput;
          for (int c = 0; c < 3; ++c) {
            for (int y = 0; y < 32; ++y) {
              for (int x = 0; x < 32; ++x) {
                const int64_t k =
                    ((y / 4) * 8 + x / 4) * data::kPatchFeatures + c * 16 + (y % 4) * 4 + x % 4;
                const bool inside = y >= draw.y0 && y < draw.y1 && x >= draw.x0 && x < draw.x1;
                const float expected = cutmix ? (inside ? other[k] : own[k])
                                              : draw.lambda * own[k] + (1 - draw.lambda) * other[k];
                ASSERT_EQ(got[k], expected) << "batch " << index << " image " << i;
              }
            }
          }
        }
        // The ranks' shares, in order, make up the batch.
        std::vector<float> joined;
        std::vector<int32_t> partners;
        for (auto& loader : share_loaders) {
          data::Batch share;
          ASSERT_TRUE(loader->next(share));
          EXPECT_EQ(share.mix_lambda, m.mix_lambda);
          joined.insert(joined.end(), share.patches.begin(), share.patches.end());
          partners.insert(partners.end(), share.partner_labels.begin(), share.partner_labels.end());
        }
        EXPECT_EQ(joined, m.patches);
        EXPECT_EQ(partners, m.partner_labels);
        ++index;
      }
      EXPECT_EQ(index, 4);
    }
  }
  data::LoaderOptions bad = plain_options;
  bad.mix.mixup_alpha = -1;
  EXPECT_NE(error_of([&] { data::BatchLoader(records, bad); }).find("alpha must be from 0"),
            std::string::npos);
}

// The mixed loss, lambda * L(labels) + (1 - lambda) * L(partners), with label smoothing, against
// the cross-entropy with soft targets lambda * t(label) + (1 - lambda) * t(partner) computed
// directly in double: the value, and the tape's gradient against central differences of it.
TEST(MixLoss, IsTheSoftTargetCrossEntropyAndItsGradient) {
  const int64_t rows = 4, classes = 5;
  const std::vector<float> z = {0.5f,  -1.0f, 2.0f,  0.0f, 1.5f, 1.5f, -0.5f, 3.0f,  -2.0f, 0.25f,
                                0.75f, 1.0f,  -1.5f, 0.3f, 0.1f, 2.2f, 0.0f,  -0.7f, 1.1f,  0.4f};
  data::Batch batch;
  batch.size = rows;
  batch.labels = {2, 0, 3, 4};
  batch.partner_labels = {4, 3, 0, 2};
  for (const auto& [lambda, e] : {std::pair{0.7f, 0.0f}, std::pair{0.3f, 0.1f},
                                  std::pair{1.0f, 0.1f}, std::pair{0.0f, 0.0f}}) {
    SCOPED_TRACE("lambda " + std::to_string(lambda) + ", smoothing " + std::to_string(e));
    batch.mix_lambda = lambda;
    Tensor logits = Tensor::from_vector({rows, classes}, z);
    logits.set_requires_grad();
    auto direct = [&, lambda = lambda, e = e]() {
      const std::vector<float> v = logits.to_vector();
      double loss = 0;
      for (int64_t i = 0; i < rows; ++i) {
        double top = v[i * classes], sum = 0;
        for (int64_t j = 0; j < classes; ++j) top = std::max<double>(top, v[i * classes + j]);
        for (int64_t j = 0; j < classes; ++j) sum += std::exp(v[i * classes + j] - top);
        for (int64_t j = 0; j < classes; ++j) {
          const double smooth = e / static_cast<double>(classes);
          const double target =
              lambda * ((j == batch.labels[i] ? 1.0 - e : 0.0) + smooth) +
              (1.0 - lambda) * ((j == batch.partner_labels[i] ? 1.0 - e : 0.0) + smooth);
          loss -= target * (v[i * classes + j] - top - std::log(sum)) / rows;
        }
      }
      return loss;
    };
    const Tensor loss = train::batch_loss(logits, batch, e);
    // Float softmax and targets: within 1e-6 relative of the double values.
    EXPECT_NEAR(loss.item(), direct(), 1e-6 * direct());
    loss.backward();
    const GradCheckResult check =
        compare_with_central_differences({{"logits", logits}}, direct, 1e-3, 1e-4);
    EXPECT_TRUE(check.passed) << check.report;
  }
  batch.partner_labels.pop_back();
  batch.mix_lambda = 0.5f;
  const Tensor logits = Tensor::from_vector({rows, classes}, z);
  EXPECT_NE(error_of([&] { train::batch_loss(logits, batch, 0.0f); }).find("3 partner labels"),
            std::string::npos);
}

// The configuration keys: off by default and not written then; stored and read back; refused
// out of range, naming the key.
TEST(MixConfig, KeysAndRefusals) {
  const train::Config c = train::parse_config(
      R"({"data": {"mixup_alpha": 0.8, "cutmix_alpha": 1.0}, "model": {"drop_path": 0.1},
          "training": {"ema_decay": 0.999}})",
      "recipe.json");
  EXPECT_EQ(c.mix.mixup_alpha, 0.8);
  EXPECT_EQ(c.mix.cutmix_alpha, 1.0);
  EXPECT_EQ(c.drop_path, 0.1);
  EXPECT_EQ(c.vit().drop_path, 0.1f);
  EXPECT_EQ(c.ema_decay, 0.999);
  EXPECT_EQ(train::first_difference(c, train::parse_config(train::config_to_json(c), "stored")),
            "");
  EXPECT_EQ(train::first_difference(c, train::Config{}),
            "data.cutmix_alpha (1.0 vs \"(default)\")");
  const std::string seed = train::config_to_json(train::Config{});
  for (const char* key : {"mixup_alpha", "cutmix_alpha", "drop_path", "ema_decay"}) {
    EXPECT_EQ(seed.find(key), std::string::npos) << key;
  }
  for (const auto& [json, message] :
       {std::pair{R"({"data": {"mixup_alpha": -0.5}})", "data.mixup_alpha must be 0 (off)"},
        {R"({"data": {"cutmix_alpha": 1000}})", "data.cutmix_alpha must be 0 (off)"},
        {R"({"model": {"drop_path": 1}})", "model.drop_path must be in [0, 1), got 1"},
        {R"({"training": {"ema_decay": 1}})", "training.ema_decay must be 0 (off) or in (0, 1)"},
        {R"({"training": {"ema_decay": -0.1}})", "training.ema_decay must be 0 (off)"}}) {
    const std::string got = error_of([&] { train::parse_config(json, "recipe.json"); });
    EXPECT_NE(got.find(message), std::string::npos) << got;
  }
}

}  // namespace
}  // namespace sav::testing
