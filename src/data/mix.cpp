#include "sav/data/mix.h"

#include <algorithm>
#include <cmath>

#include "sav/data/cifar10.h"
#include "sav/error.h"
#include "sav/random.h"

namespace sav::data {
namespace {

constexpr uint64_t kBlocksPerBatch = 256;
constexpr uint64_t kFirstGammaBlock = 1, kSecondGammaBlock = 1 + kGammaAttempts;

// A uniform double in (0, 1) from 32 random bits: never 0, so that its logarithm is finite.
double open_uniform(uint32_t bits) { return (static_cast<double>(bits) + 0.5) * 0x1.0p-32; }

double beta_draw(double alpha, uint64_t seed, uint64_t stream, uint64_t batch_block) {
  const double x = gamma_draw(alpha, seed, stream, batch_block + kFirstGammaBlock);
  const double y = gamma_draw(alpha, seed, stream, batch_block + kSecondGammaBlock);
  return x / (x + y);
}

}  // namespace

void check_mix_options(const MixOptions& options) {
  for (const double alpha : {options.mixup_alpha, options.cutmix_alpha}) {
    if (!(alpha >= 0 && alpha <= kMaxMixAlpha)) {
      fail("mixup and cutmix alpha must be from 0 (off) to ", kMaxMixAlpha, ", got ", alpha);
    }
  }
}

double gamma_draw(double alpha, uint64_t seed, uint64_t stream, uint64_t first_block) {
  const bool boost = alpha < 1;  // Gamma(alpha) = Gamma(alpha + 1) * U^(1 / alpha)
  const double a = boost ? alpha + 1 : alpha;
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (int attempt = 0; attempt < kGammaAttempts; ++attempt) {
    const PhiloxBlock bits = random_block(seed, stream, first_block + attempt);
    // Box-Muller: a standard normal from lanes 0 and 1.
    const double normal = std::sqrt(-2.0 * std::log(open_uniform(bits[0]))) *
                          std::cos(2.0 * M_PI * open_uniform(bits[1]));
    const double root = 1.0 + c * normal;
    if (root <= 0) continue;
    const double v = root * root * root;
    const double u = open_uniform(bits[2]);
    if (std::log(u) < 0.5 * normal * normal + d - d * v + d * std::log(v)) {
      const double value = d * v;
      return boost ? value * std::pow(open_uniform(bits[3]), 1.0 / alpha) : value;
    }
  }
  return alpha;
}

MixDraw draw_mix(const MixOptions& options, uint64_t seed, uint64_t stream, int64_t batch) {
  MixDraw draw;
  if (!options.enabled()) return draw;
  const uint64_t base = static_cast<uint64_t>(batch) * kBlocksPerBatch;
  const PhiloxBlock choice = random_block(seed, stream, base);
  draw.cutmix =
      options.cutmix_alpha > 0 && (options.mixup_alpha <= 0 || uniform_from_bits(choice[0]) < 0.5f);
  const double alpha = draw.cutmix ? options.cutmix_alpha : options.mixup_alpha;
  const double lambda = beta_draw(alpha, seed, stream, base);
  if (!draw.cutmix) {
    draw.lambda = static_cast<float>(lambda);
    return draw;
  }
  // timm's rand_bbox: a box of side ratio sqrt(1 - lambda) about a uniform centre, clipped.
  const double ratio = std::sqrt(1.0 - lambda);
  const int cut = static_cast<int>(kImageSide * ratio);
  const int cy = static_cast<int>(choice[1] % kImageSide);
  const int cx = static_cast<int>(choice[2] % kImageSide);
  draw.y0 = std::clamp(cy - cut / 2, 0, kImageSide);
  draw.y1 = std::clamp(cy + cut / 2, 0, kImageSide);
  draw.x0 = std::clamp(cx - cut / 2, 0, kImageSide);
  draw.x1 = std::clamp(cx + cut / 2, 0, kImageSide);
  const int area = (draw.y1 - draw.y0) * (draw.x1 - draw.x0);
  draw.lambda = 1.0f - static_cast<float>(area) / static_cast<float>(kImageSide * kImageSide);
  return draw;
}

void paste_box(const MixDraw& draw, const uint8_t* partner, uint8_t* image) {
  constexpr int kPlane = kImageSide * kImageSide;
  for (int c = 0; c < kChannels; ++c) {
    for (int y = draw.y0; y < draw.y1; ++y) {
      const int row = c * kPlane + y * kImageSide;
      std::copy(partner + row + draw.x0, partner + row + draw.x1, image + row + draw.x0);
    }
  }
}

void blend(float lambda, const float* partner, float* image, int64_t n) {
  const float other = 1.0f - lambda;
  for (int64_t i = 0; i < n; ++i) image[i] = lambda * image[i] + other * partner[i];
}

}  // namespace sav::data
