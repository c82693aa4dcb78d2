// Faithfulness of a heat map: does it point at the patches the model's decision rests on?
// Deletion and insertion at patch resolution (Petsiuk et al., RISE, 2018; DESIGN.md section 5):
// rank the 64 patches by the map (ties broken at random), then, one patch a step, 65 points in
// all, follow the softmax probability of the explained class while
//   - deletion takes the ranked patches away (fills them with the training set's per-channel
//     mean): a faithful map makes the probability fall fast, a low area under the curve;
//   - insertion puts them back, in the same order, into a blurred copy of the image: a faithful
//     map makes the probability rise fast, a high area.
// The model is a function from images to class probabilities, so that the curves can be
// checked on a hand-built model; vit_probabilities adapts the ViT.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sav/attribution/methods.h"
#include "sav/data/cifar10.h"
#include "sav/nn/vit.h"

namespace sav::attribution {

constexpr int kCurvePoints = 65;  // 0 .. 64 patches removed or revealed

// Class probabilities [count, classes] of `count` images given as patches [count, 64, 48].
using ProbabilityFn = std::function<std::vector<float>(const std::vector<float>& patches,
                                                       int64_t count)>;

// The ViT as a ProbabilityFn: forward passes without the tape, softmax of the logits. Images are
// sent to the model's device in batches of at most `batch` images.
ProbabilityFn vit_probabilities(const nn::VisionTransformer& model, int64_t batch = 500);

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

// The whole measurement: every method's maps on a set of test images, their curves, and the
// sanity check of Adebayo et al. 2018 (the same maps from a copy of the model with randomised
// weights: a method whose maps hardly change is not explaining the model).
struct FaithfulnessOptions {
  std::vector<Method> methods;  // the maps to judge; `random` is always measured, as the baseline
  MethodSettings settings;      // rollout's knobs
  bool true_class = false;      // follow the true class (default: the predicted one)
  int random_draws = 10;        // random maps per image, their AUCs averaged
  uint64_t seed = 0;            // random maps and tie breaks
  float blur_sigma = 2.0f;      // pixels: insertion's start
  std::array<float, 3> fill{};  // deletion's fill (channel_means of the training set)
  int64_t explain_batch = 50;   // images a forward and backward pass for the maps
  int64_t curve_batch = 1300;   // perturbed images gathered before they go to the model
  int64_t forward_batch = 100;  // images a forward pass of the ViT
  bool sanity_check = true;
};

struct MethodFaithfulness {
  std::string method;
  std::vector<double> deletion_auc, insertion_auc;       // per image (random: mean of draws)
  std::vector<double> mean_deletion, mean_insertion;     // kCurvePoints: the mean curves
  std::vector<double> randomized_correlation;            // per image; empty for random
};

struct FaithfulnessResult {
  std::vector<MethodFaithfulness> methods;  // options' order, then random
  int64_t images = 0;
  std::string target;                       // "predicted" or "true"
  int random_draws = 0;
  float blur_sigma = 0;
  std::array<float, 3> fill{};
};

// `indices` are records of `images` (the test set). `progress(done, total)` is called as images
// are finished.
FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const data::RecordSet& images,
    const std::vector<int64_t>& indices, const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace sav::attribution
