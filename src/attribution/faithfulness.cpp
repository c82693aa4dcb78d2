// The faithfulness measurement: every method's maps on test images from the model, their curves
// (faithfulness_curves.cpp) against random maps, and the sanity check on a randomised copy.
#include "sav/attribution/faithfulness.h"

#include <algorithm>
#include <memory>

#include "sav/attribution/explain.h"
#include "sav/attribution/methods.h"
#include "sav/attribution/statistics.h"
#include "sav/autograd.h"
#include "sav/data/images.h"
#include "sav/error.h"
#include "sav/random.h"

namespace sav::attribution {
namespace {

using data::kPatches;
using data::kPatchFeatures;

constexpr size_t kImageSize = static_cast<size_t>(kPatches * kPatchFeatures);

// The seed of random draw `draw`: draws differ from one another and from the tie breaks.
uint64_t draw_seed(uint64_t seed, int draw) {
  return derive_seed(seed + static_cast<uint64_t>(draw) + 1, SeedPurpose::kData);
}

// Bad images or draws are the caller's to fix; a bad batch size is the program's.
void check_measurement(const data::RecordSet& images, const std::vector<int64_t>& indices,
                       const FaithfulnessOptions& options) {
  if (indices.empty()) usage_fail("faithfulness: no images to measure");
  for (int64_t index : indices) {
    if (index < 0 || index >= images.size()) {
      usage_fail("faithfulness: image ", index, " does not exist (the set has ", images.size(),
                 " images: 0 to ", images.size() - 1, ")");
    }
  }
  if (options.random_draws < 1) usage_fail("faithfulness: random draws must be at least 1");
  if (options.explain_batch < 1) fail("faithfulness: explain batch must be positive");
}

// A row for every judged method, then random's, with the mean curves zeroed for the sums.
FaithfulnessResult empty_result(const FaithfulnessOptions& options,
                                const std::vector<Method>& judged) {
  FaithfulnessResult result;
  result.target = options.true_class ? "true" : "predicted";
  result.random_draws = options.random_draws;
  result.blur_sigma = options.blur_sigma;
  result.fill = options.fill;
  for (Method m : judged) result.methods.push_back({method_name(m), {}, {}, {}, {}, {}});
  result.methods.push_back({method_name(Method::kRandom), {}, {}, {}, {}, {}});
  for (MethodFaithfulness& m : result.methods) {
    m.mean_deletion.assign(kCurvePoints, 0.0);
    m.mean_insertion.assign(kCurvePoints, 0.0);
  }
  return result;
}

// What every batch of the measurement shares.
struct Measurement {
  const nn::VisionTransformer* model = nullptr;
  std::unique_ptr<nn::VisionTransformer> randomized;  // the sanity check's; null without one
  ProbabilityFn probabilities;
  std::vector<Method> judged;  // the methods but random, whose maps come from the model
  const FaithfulnessOptions* options = nullptr;
  const data::RecordSet* images = nullptr;
  const std::vector<int64_t>* indices = nullptr;
};

Measurement prepare(const nn::VisionTransformer& model, const data::RecordSet& images,
                    const std::vector<int64_t>& indices, const FaithfulnessOptions& options) {
  Measurement m;
  m.model = &model;
  for (Method method : options.methods) {
    if (method != Method::kRandom) m.judged.push_back(method);
  }
  // The sanity check's model: the same architecture, weights drawn afresh from another seed.
  if (options.sanity_check && !m.judged.empty()) {
    m.randomized = std::make_unique<nn::VisionTransformer>(model.config(), model.device());
    m.randomized->initialize(derive_seed(options.seed + 1, SeedPurpose::kInit));
  }
  m.probabilities = vit_probabilities(model, options.forward_batch);
  m.options = &options;
  m.images = &images;
  m.indices = &indices;
  return m;
}

// A batch of test images on its way through the measurement.
struct ImageBatch {
  int64_t first = 0;  // the position in `indices` of its first image
  int64_t n = 0;
  std::vector<float> patches;                           // [n, 64, 48]
  std::vector<int> targets;                             // the class followed, per image
  std::vector<ImageExplanation> maps, randomized_maps;  // empty without judged methods
  std::vector<std::vector<float>> blurred;              // per image [64, 48]: insertion's start
};

// Reads the batch's images, with the classes their curves follow: the true ones, or the model's
// predictions.
ImageBatch read_batch(const Measurement& m, int64_t first, int64_t n) {
  ImageBatch batch{first,
                   n,
                   std::vector<float>(static_cast<size_t>(n) * kImageSize),
                   std::vector<int>(static_cast<size_t>(n)),
                   {},
                   {},
                   {}};
  std::vector<uint8_t> pixels(data::kPixelBytes);
  for (int64_t i = 0; i < n; ++i) {
    batch.targets[size_t(i)] = m.images->read((*m.indices)[size_t(first + i)], pixels.data());
    data::image_to_patches(pixels.data(), {}, batch.patches.data() + size_t(i) * kImageSize);
  }
  if (!m.options->true_class) {
    const int classes = static_cast<int>(m.model->config().classes);
    const std::vector<float> p = m.probabilities(batch.patches, n);
    for (int64_t i = 0; i < n; ++i) {
      const auto row = p.begin() + i * classes;
      batch.targets[size_t(i)] = static_cast<int>(std::max_element(row, row + classes) - row);
    }
  }
  return batch;
}

// The judged methods' maps of the batch's targets, from the model and from its randomised copy,
// and the blurred images insertion starts from.
void explain_batch(const Measurement& m, ImageBatch& batch) {
  if (!m.judged.empty()) {
    ExplainOptions explain_options;
    explain_options.methods = m.judged;
    explain_options.settings = m.options->settings;
    explain_options.explained_classes = batch.targets;
    const Tensor x =
        Tensor::from_vector({batch.n, kPatches, kPatchFeatures}, batch.patches, m.model->device());
    batch.maps = explain(*m.model, x, explain_options);
    if (m.randomized) batch.randomized_maps = explain(*m.randomized, x, explain_options);
  }
  for (int64_t i = 0; i < batch.n; ++i) {
    batch.blurred.push_back(
        blur_patches(batch.patches.data() + size_t(i) * kImageSize, m.options->blur_sigma));
  }
}

// Per image, the judged methods' curves, then the random draws'.
std::vector<CurveInput> curve_inputs(const Measurement& m, const ImageBatch& batch) {
  const uint64_t seed = m.options->seed;
  std::vector<CurveInput> inputs;
  for (int64_t i = 0; i < batch.n; ++i) {
    const uint64_t image = static_cast<uint64_t>((*m.indices)[size_t(batch.first + i)]);
    const float* original = batch.patches.data() + size_t(i) * kImageSize;
    const float* blurred = batch.blurred[size_t(i)].data();
    const int target = batch.targets[size_t(i)];
    for (size_t k = 0; k < m.judged.size(); ++k) {
      inputs.push_back(
          {original, blurred, target, patch_order(batch.maps[size_t(i)].scores[k], seed, image)});
    }
    for (int d = 0; d < m.options->random_draws; ++d) {
      const std::vector<float> scores = random_scores(kPatches, draw_seed(seed, d), image);
      inputs.push_back({original, blurred, target, patch_order(scores, seed, image)});
    }
  }
  return inputs;
}

// Adds image i's curves (`curves`: the judged methods', then the draws') to the result's sums.
void add_image(const Measurement& m, const ImageBatch& batch, int64_t i, const Curves* curves,
               FaithfulnessResult& result) {
  const size_t methods = m.judged.size();
  for (size_t k = 0; k < methods; ++k) {
    MethodFaithfulness& r = result.methods[k];
    r.deletion_auc.push_back(trapezoid_auc(curves[k].deletion));
    r.insertion_auc.push_back(trapezoid_auc(curves[k].insertion));
    for (int s = 0; s < kCurvePoints; ++s) {
      r.mean_deletion[size_t(s)] += curves[k].deletion[size_t(s)];
      r.mean_insertion[size_t(s)] += curves[k].insertion[size_t(s)];
    }
    if (m.randomized) {
      r.randomized_correlation.push_back(spearman_correlation(
          batch.maps[size_t(i)].scores[k], batch.randomized_maps[size_t(i)].scores[k]));
    }
  }
  // Random's AUCs are the mean of its draws', and so are its curves.
  const int draws = m.options->random_draws;
  MethodFaithfulness& random = result.methods.back();
  double deletion = 0, insertion = 0;
  for (int d = 0; d < draws; ++d) {
    const Curves& c = curves[methods + size_t(d)];
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

// The sums of the curves become means.
void finish_result(int64_t total, FaithfulnessResult& result) {
  for (MethodFaithfulness& m : result.methods) {
    for (double& v : m.mean_deletion) v /= static_cast<double>(total);
    for (double& v : m.mean_insertion) v /= static_cast<double>(total);
  }
  result.images = total;
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
      const std::vector<float> logits = model.forward(x).logits.to_vector();
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<float> p = softmax(logits.data() + i * classes, classes);
        probabilities.insert(probabilities.end(), p.begin(), p.end());
      }
    }
    return probabilities;
  };
}

FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const data::RecordSet& images,
    const std::vector<int64_t>& indices, const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  check_measurement(images, indices, options);
  const Measurement m = prepare(model, images, indices, options);
  FaithfulnessResult result = empty_result(options, m.judged);
  const int64_t total = static_cast<int64_t>(indices.size());
  const int64_t curves_per_image = static_cast<int64_t>(m.judged.size()) + options.random_draws;
  for (int64_t first = 0; first < total; first += options.explain_batch) {
    ImageBatch batch = read_batch(m, first, std::min(options.explain_batch, total - first));
    explain_batch(m, batch);
    const std::vector<Curves> curves =
        compute_curves(curve_inputs(m, batch), options.fill, m.probabilities, options.curve_batch,
                       [&](int64_t done) {
                         if (progress) progress(first + done / curves_per_image, total);
                       });
    for (int64_t i = 0; i < batch.n; ++i) {
      add_image(m, batch, i, curves.data() + i * curves_per_image, result);
    }
    if (progress) progress(first + batch.n, total);
  }
  finish_result(total, result);
  return result;
}

}  // namespace sav::attribution
