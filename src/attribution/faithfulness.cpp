#include "sav/attribution/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "sav/attribution/explain.h"
#include "sav/attribution/methods.h"
#include "sav/attribution/statistics.h"
#include "sav/autograd.h"
#include "sav/data/images.h"
#include "sav/error.h"
#include "sav/random.h"

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

ProbabilityFn vit_probabilities(const nn::VisionTransformer& model, int64_t batch) {
  if (batch <= 0) fail("faithfulness: batch must be positive, got ", batch);
  return [&model, batch](const std::vector<float>& patches, int64_t count) {
    const int classes = static_cast<int>(model.config().classes);
    std::vector<float> probabilities;
    probabilities.reserve(static_cast<size_t>(count * classes));
    NoGradGuard no_grad;
    for (int64_t first = 0; first < count; first += batch) {
      const int64_t n = std::min(batch, count - first);
      const auto begin = patches.begin() + first * kPatches * kPatchFeatures;
      const Tensor x = Tensor::from_vector(
          {n, kPatches, kPatchFeatures},
          std::vector<float>(begin, begin + n * kPatches * kPatchFeatures), model.device());
      const std::vector<float> logits = model.forward(x, false).logits.to_vector();
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<float> p = softmax(logits.data() + i * classes, classes);
        probabilities.insert(probabilities.end(), p.begin(), p.end());
      }
    }
    return probabilities;
  };
}

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
    fail("faithfulness: a map has ", scores.size(), " scores, expected one per patch (",
         kPatches, ")");
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

namespace sav::attribution {
namespace {

// The seed of random draw `draw`: draws differ from one another and from the tie breaks.
uint64_t draw_seed(uint64_t seed, int draw) {
  return derive_seed(seed + static_cast<uint64_t>(draw) + 1, SeedPurpose::kData);
}

}  // namespace

FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const data::RecordSet& images,
    const std::vector<int64_t>& indices, const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  if (indices.empty()) usage_fail("faithfulness: no images to measure");
  for (int64_t index : indices) {
    if (index < 0 || index >= images.size()) {
      usage_fail("faithfulness: image ", index, " does not exist (the set has ", images.size(),
                 " images: 0 to ", images.size() - 1, ")");
    }
  }
  if (options.random_draws < 1) usage_fail("faithfulness: random draws must be at least 1");
  if (options.explain_batch < 1) fail("faithfulness: explain batch must be positive");
  std::vector<Method> judged;
  for (Method m : options.methods) {
    if (m != Method::kRandom) judged.push_back(m);
  }
  const size_t methods = judged.size();
  const int draws = options.random_draws;
  const int classes = static_cast<int>(model.config().classes);

  FaithfulnessResult result;
  result.target = options.true_class ? "true" : "predicted";
  result.random_draws = draws;
  result.blur_sigma = options.blur_sigma;
  result.fill = options.fill;
  for (Method m : judged) result.methods.push_back({method_name(m), {}, {}, {}, {}, {}});
  result.methods.push_back({method_name(Method::kRandom), {}, {}, {}, {}, {}});
  for (MethodFaithfulness& m : result.methods) {
    m.mean_deletion.assign(kCurvePoints, 0.0);
    m.mean_insertion.assign(kCurvePoints, 0.0);
  }

  // The sanity check's model: the same architecture, weights drawn afresh from another seed.
  std::unique_ptr<nn::VisionTransformer> randomized;
  if (options.sanity_check && methods > 0) {
    randomized = std::make_unique<nn::VisionTransformer>(model.config(), model.device());
    randomized->initialize(derive_seed(options.seed + 1, SeedPurpose::kInit));
  }
  const ProbabilityFn probabilities = vit_probabilities(model, options.forward_batch);
  ExplainOptions explain_options;
  explain_options.methods = judged;
  explain_options.settings = options.settings;

  const int64_t total = static_cast<int64_t>(indices.size());
  const size_t image_size = static_cast<size_t>(kPatches * kPatchFeatures);
  const int64_t curves_per_image = static_cast<int64_t>(methods) + draws;
  std::vector<uint8_t> pixels(data::kPixelBytes);
  for (int64_t first = 0; first < total; first += options.explain_batch) {
    const int64_t n = std::min(options.explain_batch, total - first);
    std::vector<float> patches(static_cast<size_t>(n) * image_size);
    std::vector<int> targets(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      targets[size_t(i)] = images.read(indices[size_t(first + i)], pixels.data());
      data::image_to_patches(pixels.data(), {}, patches.data() + size_t(i) * image_size);
    }
    if (!options.true_class) {  // the predicted classes
      const std::vector<float> p = probabilities(patches, n);
      for (int64_t i = 0; i < n; ++i) {
        const auto row = p.begin() + i * classes;
        targets[size_t(i)] = static_cast<int>(std::max_element(row, row + classes) - row);
      }
    }
    explain_options.explained_classes = targets;
    std::vector<ImageExplanation> maps, randomized_maps;
    if (methods > 0) {
      const Tensor x = Tensor::from_vector({n, kPatches, kPatchFeatures}, patches, model.device());
      maps = explain(model, x, explain_options);
      if (randomized) randomized_maps = explain(*randomized, x, explain_options);
    }

    std::vector<std::vector<float>> blurred;
    for (int64_t i = 0; i < n; ++i) {
      blurred.push_back(blur_patches(patches.data() + size_t(i) * image_size, options.blur_sigma));
    }
    std::vector<CurveInput> inputs;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t image = static_cast<uint64_t>(indices[size_t(first + i)]);
      const float* original = patches.data() + size_t(i) * image_size;
      for (size_t m = 0; m < methods; ++m) {
        inputs.push_back({original, blurred[size_t(i)].data(), targets[size_t(i)],
                          patch_order(maps[size_t(i)].scores[m], options.seed, image)});
      }
      for (int d = 0; d < draws; ++d) {
        const std::vector<float> scores = random_scores(kPatches, draw_seed(options.seed, d), image);
        inputs.push_back({original, blurred[size_t(i)].data(), targets[size_t(i)],
                          patch_order(scores, options.seed, image)});
      }
    }
    const std::vector<Curves> curves = compute_curves(
        inputs, options.fill, probabilities, options.curve_batch, [&](int64_t done) {
          if (progress) progress(first + done / curves_per_image, total);
        });

    for (int64_t i = 0; i < n; ++i) {
      const Curves* image_curves = curves.data() + i * curves_per_image;
      for (size_t m = 0; m < methods; ++m) {
        MethodFaithfulness& r = result.methods[m];
        r.deletion_auc.push_back(trapezoid_auc(image_curves[m].deletion));
        r.insertion_auc.push_back(trapezoid_auc(image_curves[m].insertion));
        for (int s = 0; s < kCurvePoints; ++s) {
          r.mean_deletion[size_t(s)] += image_curves[m].deletion[size_t(s)];
          r.mean_insertion[size_t(s)] += image_curves[m].insertion[size_t(s)];
        }
        if (randomized) {
          r.randomized_correlation.push_back(spearman_correlation(
              maps[size_t(i)].scores[m], randomized_maps[size_t(i)].scores[m]));
        }
      }
      MethodFaithfulness& random = result.methods.back();
      double deletion = 0, insertion = 0;
      for (int d = 0; d < draws; ++d) {
        const Curves& c = image_curves[methods + size_t(d)];
        deletion += trapezoid_auc(c.deletion);
        insertion += trapezoid_auc(c.insertion);
        for (int s = 0; s < kCurvePoints; ++s) {
          random.mean_deletion[size_t(s)] += c.deletion[size_t(s)] / draws;
          random.mean_insertion[size_t(s)] += c.insertion[size_t(s)] / draws;
        }
      }
      random.deletion_auc.push_back(deletion / draws);
      random.insertion_auc.push_back(insertion / draws);
    }
    if (progress) progress(first + n, total);
  }
  for (MethodFaithfulness& m : result.methods) {
    for (double& v : m.mean_deletion) v /= static_cast<double>(total);
    for (double& v : m.mean_insertion) v /= static_cast<double>(total);
  }
  result.images = total;
  return result;
}

}  // namespace sav::attribution
