// Deletion and insertion curves at patch resolution (Petsiuk et al., RISE, 2018; docs/design.md
// section 5): rank the 64 patches by the map (ties broken at random), then, one patch a step, 65
// points in all, follow the softmax probability of the explained class while
//   - deletion takes the ranked patches away (fills them with the training set's per-channel
//     mean): a faithful map makes the probability fall fast, a low area under the curve;
//   - insertion puts them back, in the same order, into a blurred copy of the image: a faithful
//     map makes the probability rise fast, a high area.
// Pure functions of images and maps: the model is a function from images to class probabilities,
// so that the curves can be checked on a hand-built model.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "sav/data/cifar10.h"

namespace sav::attribution {

constexpr int kCurvePoints = 65;  // 0 .. 64 patches removed or revealed

// Class probabilities [count, classes] of `count` images given as patches [count, 64, 48].
using ProbabilityFn =
    std::function<std::vector<float>(const std::vector<float>& patches, int64_t count)>;

// The per-channel mean of a set of images in model-input units (byte / 255): what deletion
// fills a removed patch with.
std::array<float, 3> channel_means(const data::RecordSet& images);

// One image's patches [64, 48] blurred with a Gaussian of `sigma` pixels on the 32 x 32 image
// (edges clamped): the start of the insertion curve.
std::vector<float> blur_patches(const float* patches, float sigma);

// The patches in the order a map ranks them, highest score first. Equal scores are ordered at
// random, by a draw that depends on (seed, image) only, so that a constant map gives a random
// order rather than the patches' reading order.
std::vector<int> patch_order(const std::vector<float>& scores, uint64_t seed, uint64_t image);

// What one pair of curves is computed for.
struct CurveInput {
  const float* patches = nullptr;  // [64, 48] the image
  const float* blurred = nullptr;  // [64, 48] its blurred copy (blur_patches)
  int target = 0;                  // the class whose probability is followed
  std::vector<int> order;          // the 64 patches, most important first (patch_order)
};

struct Curves {
  std::vector<double> deletion;   // kCurvePoints: probability with the first s patches removed
  std::vector<double> insertion;  // kCurvePoints: probability with the first s patches revealed
};

// The deletion and insertion images of one input: out [2 * kCurvePoints, 64, 48], deletion
// steps 0 .. 64 first, then insertion steps 0 .. 64.
void perturbed_images(const CurveInput& input, const std::array<float, 3>& fill, float* out);

// Curves for every input, sending the perturbed images to `model` in batches of about
// `batch_images` (whole inputs, 130 images each). `progress`, when given, is called after each
// batch with the number of inputs done.
std::vector<Curves> compute_curves(const std::vector<CurveInput>& inputs,
                                   const std::array<float, 3>& fill, const ProbabilityFn& model,
                                   int64_t batch_images,
                                   const std::function<void(int64_t done)>& progress = {});

}  // namespace sav::attribution
