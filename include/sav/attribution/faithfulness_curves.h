// Deletion and insertion curves at patch resolution (Petsiuk et al., RISE, 2018; docs/design.md
// section 5): rank the patches of a grid by the map (ties broken at random), then, in K equal
// steps of P / K patches (K + 1 points in all), follow the softmax probability of the explained
// class while
//   - deletion takes the ranked patches away (fills them with a per-channel value the caller
//     chooses): a faithful map makes the probability fall fast, a low area under the curve;
//   - insertion puts them back, in the same order, into a blurred copy of the image: a faithful
//     map makes the probability rise fast, a high area.
// Pure functions of images and maps: the model is a function from images to class probabilities,
// so that the curves can be checked on a hand-built model. Nothing here knows a data set: images
// are the model's input, patch tokens [patches, features] on the grid the caller describes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace sav::attribution {

// How an image of channels x height x width pixels is cut into non-overlapping patch x patch
// squares, rows x cols of them, as the ViT takes it (sav/nn/vit.h): token t is the square in grid
// row t / cols, column t % cols; its features run over (channel, row in patch, column in patch).
// The defaults are the seed's CIFAR-10 grid: 8 x 8 patches of 4 x 4 pixels, 3 channels.
struct PatchGrid {
  int channels = 3, patch = 4, rows = 8, cols = 8;

  int patches() const { return rows * cols; }
  int features() const { return channels * patch * patch; }
  int height() const { return rows * patch; }
  int width() const { return cols * patch; }
  // Floats an image: patches x features.
  size_t image_size() const { return static_cast<size_t>(patches()) * size_t(features()); }
};

// Throws sav::UsageError naming the grid when a size is below 1 or an image would hold more than
// 2^31 values.
void check_grid(const PatchGrid& grid);

// The number of steps a curve takes on `grid`: `steps`, or one patch a step (the number of
// patches) when it is 0. Throws sav::UsageError naming the value and listing the valid ones when
// it is outside [1, patches] or does not divide the patches into equal steps.
int curve_steps(const PatchGrid& grid, int steps);

// What every curve of a measurement shares.
struct CurveSpec {
  PatchGrid grid;
  int steps = 0;            // patches change in `steps` equal steps; 0: one patch a step
  std::vector<float> fill;  // deletion's value per channel (grid.channels), in model-input units
};

// Class probabilities [count, classes] of `count` images given as patch tokens
// [count, patches, features].
using ProbabilityFn =
    std::function<std::vector<float>(const std::vector<float>& patches, int64_t count)>;

// One image's patches [patches, features] blurred with a Gaussian of `sigma` pixels on the
// height x width image: separable, truncated at radius ceil(3 sigma), edges clamped (pixels
// beyond the edge repeat it). The start of the insertion curve.
std::vector<float> blur_patches(const PatchGrid& grid, const float* patches, float sigma);

// The grid's patches in the order a map ranks them, highest score first. Equal scores are ordered
// at random, by a draw that depends on (seed, image) only, so that a constant map gives a random
// order rather than the patches' reading order.
std::vector<int> patch_order(const PatchGrid& grid, const std::vector<float>& scores, uint64_t seed,
                             uint64_t image);

// What one pair of curves is computed for.
struct CurveInput {
  const float* patches = nullptr;  // [patches, features] the image
  const float* blurred = nullptr;  // [patches, features] its blurred copy (blur_patches)
  int target = 0;                  // the class whose probability is followed
  std::vector<int> order;          // every patch, most important first (patch_order)
};

struct Curves {
  // steps + 1 points each: the probability with the first s * patches / steps patches removed
  // (deletion) or revealed (insertion) at point s.
  std::vector<double> deletion, insertion;
};

// The deletion and insertion images of one input: out [2 * (steps + 1), patches, features],
// deletion's points 0 .. steps first, then insertion's.
void perturbed_images(const CurveSpec& spec, const CurveInput& input, float* out);

// Curves for every input, sending the perturbed images to `model` in batches of about
// `batch_images` (whole inputs, 2 * (steps + 1) images each, at least one input a batch).
// `progress`, when given, is called after each batch with the number of inputs done.
std::vector<Curves> compute_curves(const CurveSpec& spec, const std::vector<CurveInput>& inputs,
                                   const ProbabilityFn& model, int64_t batch_images,
                                   const std::function<void(int64_t done)>& progress = {});

// Some of compute_curves' inputs, [first, last), for a process that computes a share of them.
// `model_batch` is how many images the model takes at a time (vit_probabilities' batch): a
// matrix product may treat a row by where it sits in its batch (a block's edge rows take other
// kernels), so an input's probabilities are the same, bit for bit, only from the same batches.
struct CurveShare {
  size_t first = 0, last = 0;
  int64_t model_batch = 1;
};

// The curves of inputs [share.first, share.last), in order, as compute_curves over all of
// `inputs` computes them: of each batch it would send the model, the model is sent the run of
// whole model batches that holds the share's images (neighbouring inputs' images included), and
// no batch that holds none of them. `progress`, when given, is called after each batch with the
// number of the share's inputs done.
std::vector<Curves> compute_curve_share(const CurveSpec& spec,
                                        const std::vector<CurveInput>& inputs,
                                        const CurveShare& share, const ProbabilityFn& model,
                                        int64_t batch_images,
                                        const std::function<void(int64_t done)>& progress = {});

}  // namespace sav::attribution
