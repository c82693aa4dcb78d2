// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) over a training batch, as timm's Mixup
// does them in its "batch" mode: one draw a batch, and image i of a batch of n mixed with image
// n - 1 - i (the batch reversed), so that every image's partner is in the same batch. The loss
// then weighs the two labels by lambda and 1 - lambda (train::batch_targets).
#pragma once

#include <cstdint>

namespace sav::data {

struct MixOptions {
  double mixup_alpha = 0;   // > 0: Mixup, lambda ~ Beta(alpha, alpha)
  double cutmix_alpha = 0;  // > 0: CutMix, lambda ~ Beta(alpha, alpha), then a box of 1 - lambda
  // With both on, a batch takes CutMix with probability 1/2 (timm's switch_prob) and Mixup
  // otherwise.
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

// Throws sav::Error for an alpha that is negative, not finite, or over kMaxMixAlpha.
void check_mix_options(const MixOptions& options);
constexpr double kMaxMixAlpha = 100;

// What one batch does.
struct MixDraw {
  bool cutmix = false;
  // The weight of each image's own label; its partner's takes 1 - lambda. For CutMix, the
  // fraction of the image left outside the box (the box is clipped at the image's edges, so
  // this is not the Beta draw itself: timm's correct_lam).
  float lambda = 1;
  int y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // CutMix's box of the partner's pixels, [y0, y1) x [x0, x1)
};

// The draw of batch `batch` of an epoch, a pure function of (seed, stream, batch), from Philox
// blocks batch * 256 + k of `stream`: k = 0 the choice and the box centre, 1..64 and 65..128 the
// two Gamma draws whose ratio is the Beta draw. With options.enabled() false: lambda 1.
MixDraw draw_mix(const MixOptions& options, uint64_t seed, uint64_t stream, int64_t batch);

// Gamma(alpha, 1) (alpha > 0) by Marsaglia and Tsang's method (2000), its attempts drawn from
// Philox blocks first_block, first_block + 1, ... (at most kGammaAttempts of them: with an
// acceptance rate above 95 % for alpha >= 1, all fail with probability below 1e-80; then the
// mean, alpha, is returned). Below alpha 1: Gamma(alpha + 1) * U^(1 / alpha).
constexpr int kGammaAttempts = 64;
double gamma_draw(double alpha, uint64_t seed, uint64_t stream, uint64_t first_block);

// The position of image `position`'s partner in a batch of `size` images.
inline int64_t mix_partner(int64_t position, int64_t size) { return size - 1 - position; }

// CutMix on CIFAR-10 pixels (planar, 32 x 32): `image` takes `partner`'s pixels inside the box.
void paste_box(const MixDraw& draw, const uint8_t* partner, uint8_t* image);

// Mixup on model input: image = lambda * image + (1 - lambda) * partner, n values.
void blend(float lambda, const float* partner, float* image, int64_t n);

}  // namespace sav::data
