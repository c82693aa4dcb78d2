// Faithfulness of a heat map: does it point at the patches the model's decision rests on? The
// deletion and insertion curves (faithfulness_curves.h) of every method's maps on a set of
// images, against random maps, with a sanity check; vit_probabilities adapts the ViT to the
// curves' model. The images come from the caller, already as the model's input: nothing here
// knows a data set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sav/attribution/faithfulness_curves.h"
#include "sav/attribution/methods.h"
#include "sav/nn/vit.h"

namespace sav::attribution {

// The ViT as a ProbabilityFn: forward passes without the tape, softmax of the logits. Images are
// patch tokens as the model's configuration says, sent to its device in batches of at most
// `batch` images.
ProbabilityFn vit_probabilities(const nn::VisionTransformer& model, int64_t batch = 500);

// The grid of a model whose patches are `patch` x `patch` pixels: its configuration gives the
// rows, the columns and (from the features a patch) the channels. Throws sav::UsageError when
// patch x patch does not divide the features.
PatchGrid model_grid(const nn::VitConfig& config, int patch);

// The images to measure on, as the model takes them.
struct FaithfulnessImages {
  PatchGrid grid;  // must be the model's
  // Image i's identity, one per image (their number is the number of images): it seeds the
  // image's random maps and tie breaks, so that the same image gets the same draws in any run
  // (the test set's index for CIFAR-10).
  std::vector<uint64_t> ids;
  // Writes image i's model input [patches, features] to `tokens` and returns its true class, or
  // -1 where it is unknown.
  std::function<int(int64_t i, float* tokens)> read;
  std::string description = "images";  // what they are, for the report: "test images"
};

// What deletion fills a removed patch with.
struct DeletionFill {
  std::vector<float> values;  // per channel, in model-input units
  // For the report, which follows it with the values in parentheses: "the training set's
  // channel means" gives "the training set's channel means (0.491, 0.482, 0.447)".
  std::string description;
};

// The whole measurement: every method's maps on a set of images, their curves, and the sanity
// check of Adebayo et al. 2018 (the same maps from a copy of the model with randomised weights: a
// method whose maps hardly change is not explaining the model).
struct FaithfulnessOptions {
  std::vector<Method> methods;  // the maps to judge; `random` is always measured, as the baseline
  MethodSettings settings;      // rollout's knobs
  bool true_class = false;      // follow the true class (default: the predicted one)
  int random_draws = 10;        // random maps per image, their AUCs averaged
  uint64_t seed = 0;            // random maps and tie breaks
  int steps = 0;                // patches change in `steps` equal steps; 0: one patch a step
  float blur_sigma = 2.0f;      // pixels: insertion's start
  DeletionFill fill;            // one value per channel of the grid
  int64_t explain_batch = 50;   // images a forward and backward pass for the maps
  // Perturbed images gathered before they go to the model: at most curve_batch of them and
  // curve_bytes of floats, but always every image of one map (2 * (steps + 1)).
  int64_t curve_batch = 1300;
  int64_t curve_bytes = int64_t{256} << 20;
  int64_t forward_batch = 100;  // images a forward pass of the ViT
  bool sanity_check = true;
};

struct MethodFaithfulness {
  std::string method;
  std::vector<double> deletion_auc, insertion_auc;    // per image (random: mean of draws)
  std::vector<double> mean_deletion, mean_insertion;  // steps + 1 points: the mean curves
  std::vector<double> randomized_correlation;         // per image; empty for random
};

struct FaithfulnessResult {
  std::vector<MethodFaithfulness> methods;  // options' order, then random
  int64_t images = 0;
  std::string image_description;  // FaithfulnessImages' description
  std::string target;             // "predicted" or "true"
  int random_draws = 0;
  PatchGrid grid;
  int steps = 0;  // as used: never 0
  float blur_sigma = 0;
  DeletionFill fill;
};

// Measures on every image of `images`. `progress(done, total)` is called as images are finished.
// Throws sav::UsageError when the grid is not the model's, the steps do not divide its patches,
// the fill is not one value per channel, or the true class is followed and an image has none.
FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const FaithfulnessImages& images,
    const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress = {});

// The measurement in parts, for processes that each measure a share of the images: one image's
// part is what the result is summed from, and the sums taken in image order give
// measure_faithfulness's result, bit for bit.
struct ImageFaithfulness {
  // The judged methods' curves (options' order, random left out), then each random draw's.
  std::vector<Curves> curves;
  std::vector<double> randomized_correlation;  // per judged method; empty without the check
};

// Measures images [first, last) of `images` and hands each image's part to `take`, in order.
// Every image is computed in the batches, beside the neighbours, that measure_faithfulness puts
// it in (the explanation batch and the model batches that hold it are run whole), so that its
// part does not depend on which share it is measured in: a matrix product may treat an image's
// rows by where they sit in a batch. `progress(done, total)` counts the share's images. Bad images
// (none), grid, steps, fill or draws throw as in measure_faithfulness whatever the share, before
// any work; an image that cannot be read, or has no class to follow, throws where it is read.
void measure_images(const nn::VisionTransformer& model, const FaithfulnessImages& images,
                    const FaithfulnessOptions& options, int64_t first, int64_t last,
                    const std::function<void(int64_t image, ImageFaithfulness&& part)>& take,
                    const std::function<void(int64_t done, int64_t total)>& progress = {});

// A result with no image in it yet: every method's row, in options' order, then random's.
FaithfulnessResult empty_faithfulness(const FaithfulnessImages& images,
                                      const FaithfulnessOptions& options);

// Adds the next image's part to the result's sums. Throws sav::Error when its curves and
// correlations are not the result's methods, draws and points.
void add_image(const ImageFaithfulness& part, FaithfulnessResult& result);

// Turns the sums into means once every image is added.
void finish_faithfulness(FaithfulnessResult& result);

}  // namespace sav::attribution
