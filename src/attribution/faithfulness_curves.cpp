// Deletion and insertion curves: the perturbed images of a ranked map and the model's
// probabilities along them (faithfulness_curves.h).
#include "sav/attribution/faithfulness_curves.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sav/attribution/methods.h"
#include "sav/data/images.h"
#include "sav/error.h"

namespace sav::attribution {
namespace {

using data::kGridSide;
using data::kImageSide;
using data::kPatches;
using data::kPatchFeatures;
using data::kPatchSide;

// Patch feature layout (data/images.h): pixel (c, y, x) is token (y / 4) * 8 + x / 4, feature
// c * 16 + (y % 4) * 4 + x % 4.
size_t patch_index(int c, int y, int x) {
  const int token = (y / kPatchSide) * kGridSide + x / kPatchSide;
  const int feature = c * kPatchSide * kPatchSide + (y % kPatchSide) * kPatchSide + x % kPatchSide;
  return static_cast<size_t>(token) * kPatchFeatures + static_cast<size_t>(feature);
}

void copy_patch(const float* from, int patch, float* to) {
  std::copy(from + patch * kPatchFeatures, from + (patch + 1) * kPatchFeatures,
            to + patch * kPatchFeatures);
}

void fill_patch(int patch, const std::array<float, 3>& fill, float* to) {
  const int per_channel = kPatchSide * kPatchSide;
  for (int f = 0; f < kPatchFeatures; ++f) to[patch * kPatchFeatures + f] = fill[f / per_channel];
}

void check_input(const CurveInput& input, size_t index) {
  if (input.patches == nullptr || input.blurred == nullptr) {
    fail("faithfulness: input ", index, " has no image or no blurred image");
  }
  std::vector<int> sorted = input.order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> all(kPatches);
  std::iota(all.begin(), all.end(), 0);
  if (sorted != all) {
    fail("faithfulness: input ", index, "'s order is not a permutation of the ", kPatches,
         " patches");
  }
}

}  // namespace

std::array<float, 3> channel_means(const data::RecordSet& images) {
  if (images.size() == 0) fail("faithfulness: no images to take the channel means of");
  std::array<double, 3> sums{0, 0, 0};
  std::vector<uint8_t> pixels(data::kPixelBytes);
  const int plane = kImageSide * kImageSide;
  for (int64_t i = 0; i < images.size(); ++i) {
    images.read(i, pixels.data());
    for (int c = 0; c < 3; ++c) {
      uint64_t sum = 0;
      for (int p = 0; p < plane; ++p) sum += pixels[static_cast<size_t>(c * plane + p)];
      sums[c] += static_cast<double>(sum);
    }
  }
  std::array<float, 3> means{};
  for (int c = 0; c < 3; ++c) {
    means[c] = static_cast<float>(sums[c] / (255.0 * plane * static_cast<double>(images.size())));
  }
  return means;
}

std::vector<float> blur_patches(const float* patches, float sigma) {
  if (!(sigma > 0.0f)) fail("faithfulness: blur sigma must be positive, got ", sigma);
  const int radius = static_cast<int>(std::ceil(3.0f * sigma));
  std::vector<double> kernel(static_cast<size_t>(2 * radius + 1));
  double total = 0;
  for (int k = -radius; k <= radius; ++k) {
    total += kernel[static_cast<size_t>(k + radius)] = std::exp(-0.5 * k * k / (sigma * sigma));
  }
  for (double& w : kernel) w /= total;
  // Separable: rows, then columns; pixels beyond the edge repeat the edge pixel.
  const auto clamp = [](int v) { return std::min(std::max(v, 0), kImageSide - 1); };
  std::vector<double> rows(static_cast<size_t>(3 * kImageSide * kImageSide));
  std::vector<float> out(static_cast<size_t>(kPatches * kPatchFeatures));
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < kImageSide; ++y) {
      for (int x = 0; x < kImageSide; ++x) {
        double sum = 0;
        for (int k = -radius; k <= radius; ++k) {
          sum += kernel[static_cast<size_t>(k + radius)] * patches[patch_index(c, y, clamp(x + k))];
        }
        rows[static_cast<size_t>((c * kImageSide + y) * kImageSide + x)] = sum;
      }
    }
    for (int y = 0; y < kImageSide; ++y) {
      for (int x = 0; x < kImageSide; ++x) {
        double sum = 0;
        for (int k = -radius; k <= radius; ++k) {
          sum += kernel[static_cast<size_t>(k + radius)] *
                 rows[static_cast<size_t>((c * kImageSide + clamp(y + k)) * kImageSide + x)];
        }
        out[patch_index(c, y, x)] = static_cast<float>(sum);
      }
    }
  }
  return out;
}

std::vector<int> patch_order(const std::vector<float>& scores, uint64_t seed, uint64_t image) {
  if (scores.size() != static_cast<size_t>(kPatches)) {
    fail("faithfulness: a map has ", scores.size(), " scores, expected one per patch (", kPatches,
         ")");
  }
  for (size_t p = 0; p < scores.size(); ++p) {
    if (!std::isfinite(scores[p])) fail("faithfulness: the score of patch ", p, " is not finite");
  }
  const std::vector<float> tie_breaks = random_scores(kPatches, seed, image);
  std::vector<int> order(kPatches);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (scores[size_t(a)] != scores[size_t(b)]) return scores[size_t(a)] > scores[size_t(b)];
    if (tie_breaks[size_t(a)] != tie_breaks[size_t(b)]) {
      return tie_breaks[size_t(a)] < tie_breaks[size_t(b)];
    }
    return a < b;
  });
  return order;
}

void perturbed_images(const CurveInput& input, const std::array<float, 3>& fill, float* out) {
  const size_t image_size = static_cast<size_t>(kPatches * kPatchFeatures);
  float* deletion = out;
  float* insertion = out + kCurvePoints * image_size;
  std::copy(input.patches, input.patches + image_size, deletion);
  std::copy(input.blurred, input.blurred + image_size, insertion);
  for (int step = 1; step < kCurvePoints; ++step) {
    const int patch = input.order[static_cast<size_t>(step - 1)];
    float* del = deletion + step * image_size;
    float* ins = insertion + step * image_size;
    std::copy(del - image_size, del, del);  // the previous step, with one more patch changed
    std::copy(ins - image_size, ins, ins);
    fill_patch(patch, fill, del);
    copy_patch(input.patches, patch, ins);
  }
}

std::vector<Curves> compute_curves(const std::vector<CurveInput>& inputs,
                                   const std::array<float, 3>& fill, const ProbabilityFn& model,
                                   int64_t batch_images,
                                   const std::function<void(int64_t done)>& progress) {
  for (size_t i = 0; i < inputs.size(); ++i) check_input(inputs[i], i);
  constexpr int64_t kImagesPerInput = 2 * kCurvePoints;
  const int64_t per_batch = std::max<int64_t>(1, batch_images / kImagesPerInput);
  const size_t image_size = static_cast<size_t>(kPatches * kPatchFeatures);
  std::vector<Curves> curves(inputs.size());
  std::vector<float> batch;
  for (size_t first = 0; first < inputs.size(); first += static_cast<size_t>(per_batch)) {
    const size_t count = std::min(inputs.size() - first, static_cast<size_t>(per_batch));
    const int64_t images = static_cast<int64_t>(count) * kImagesPerInput;
    batch.resize(static_cast<size_t>(images) * image_size);
    for (size_t i = 0; i < count; ++i) {
      perturbed_images(inputs[first + i], fill, batch.data() + i * kImagesPerInput * image_size);
    }
    const std::vector<float> probabilities = model(batch, images);
    if (probabilities.empty() || probabilities.size() % static_cast<size_t>(images) != 0) {
      fail("faithfulness: the model gave ", probabilities.size(), " probabilities for ", images,
           " images");
    }
    const size_t classes = probabilities.size() / static_cast<size_t>(images);
    for (size_t i = 0; i < count; ++i) {
      const CurveInput& input = inputs[first + i];
      if (input.target < 0 || static_cast<size_t>(input.target) >= classes) {
        fail("faithfulness: class ", input.target, " does not exist (the model has ", classes,
             " classes)");
      }
      Curves& c = curves[first + i];
      for (int step = 0; step < kImagesPerInput; ++step) {
        const size_t row = i * kImagesPerInput + static_cast<size_t>(step);
        const double p = probabilities[row * classes + static_cast<size_t>(input.target)];
        (step < kCurvePoints ? c.deletion : c.insertion).push_back(p);
      }
    }
    if (progress) progress(static_cast<int64_t>(first + count));
  }
  return curves;
}

}  // namespace sav::attribution
