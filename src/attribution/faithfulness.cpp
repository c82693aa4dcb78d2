// The faithfulness measurement: every method's maps on the caller's images from the model, their
// curves (faithfulness_curves.cpp) against random maps, and the sanity check on a randomised
// copy.
#include "sav/attribution/faithfulness.h"

#include <algorithm>
#include <iterator>
#include <memory>

#include "sav/attribution/explain.h"
#include "sav/attribution/methods.h"
#include "sav/attribution/statistics.h"
#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/random.h"

namespace sav::attribution {
namespace {

// The seed of random draw `draw`: draws differ from one another and from the tie breaks.
uint64_t draw_seed(uint64_t seed, int draw) {
  return derive_seed(seed + static_cast<uint64_t>(draw) + 1, SeedPurpose::kData);
}

// The images must be cut as the model cuts them: the same grid and the same features a patch.
void check_grid_fits(const nn::VitConfig& c, const PatchGrid& g) {
  check_grid(g);
  if (g.rows != c.grid_height || g.cols != c.grid_width || g.features() != c.patch_features) {
    usage_fail("faithfulness: the images are cut into ", g.rows, " x ", g.cols, " patches of ",
               g.features(), " values (", g.channels, " channels, ", g.patch, " x ", g.patch,
               " pixels), but the model takes ", c.grid_height, " x ", c.grid_width, " patches of ",
               c.patch_features, " values");
  }
}

// Bad images, steps, fill or draws are the caller's to fix; a bad batch size is the program's.
void check_measurement(const nn::VisionTransformer& model, const FaithfulnessImages& images,
                       const FaithfulnessOptions& options) {
  if (images.ids.empty()) usage_fail("faithfulness: no images to measure");
  if (!images.read) fail("faithfulness: the images have no reader");
  check_grid_fits(model.config(), images.grid);
  curve_steps(images.grid, options.steps);
  if (options.fill.values.size() != static_cast<size_t>(images.grid.channels)) {
    usage_fail("faithfulness: the deletion fill has ", options.fill.values.size(),
               " values, expected one per channel (", images.grid.channels, ")");
  }
  if (!(options.blur_sigma > 0.0f)) {
    usage_fail("faithfulness: the blur sigma must be positive, got ", options.blur_sigma);
  }
  if (options.random_draws < 1) usage_fail("faithfulness: random draws must be at least 1");
  if (options.explain_batch < 1 || options.curve_batch < 1 || options.curve_bytes < 1 ||
      options.forward_batch < 1) {
    fail("faithfulness: batch sizes must be positive");
  }
}

// What every batch of the measurement shares.
struct Measurement {
  const nn::VisionTransformer* model = nullptr;
  std::unique_ptr<nn::VisionTransformer> randomized;  // the sanity check's; null without one
  ProbabilityFn probabilities;
  std::vector<Method> judged;  // the methods but random, whose maps come from the model
  const FaithfulnessOptions* options = nullptr;
  const FaithfulnessImages* images = nullptr;
  CurveSpec curves;          // the grid, steps and fill
  int64_t curve_images = 0;  // perturbed images a call of compute_curves gathers
};

// At most curve_batch images and curve_bytes of them (compute_curves takes one map's images
// whatever this says): a 224 x 224 image is 150,528 floats, where a CIFAR-10 one is 3,072.
int64_t curve_images(const FaithfulnessOptions& options, const PatchGrid& grid) {
  const int64_t image_bytes = static_cast<int64_t>(grid.image_size() * sizeof(float));
  return std::max<int64_t>(1, std::min(options.curve_batch, options.curve_bytes / image_bytes));
}

Measurement prepare(const nn::VisionTransformer& model, const FaithfulnessImages& images,
                    const FaithfulnessOptions& options) {
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
  m.curves = {images.grid, options.steps, options.fill.values};
  m.curve_images = curve_images(options, images.grid);
  return m;
}

// A batch of images on its way through the measurement.
struct ImageBatch {
  int64_t first = 0;  // the index of its first image
  int64_t n = 0;
  std::vector<float> patches;                           // [n, patches, features]
  std::vector<int> targets;                             // the class followed, per image
  std::vector<ImageExplanation> maps, randomized_maps;  // empty without judged methods
  std::vector<std::vector<float>> blurred;              // per image [patches, features]
};

// The true class image i's curves follow: one the model has.
int true_class(const Measurement& m, int64_t i, int label) {
  const int classes = static_cast<int>(m.model->config().classes);
  if (label < 0) {
    usage_fail("faithfulness: the true class is to be followed, but image ", i, " (id ",
               m.images->ids[size_t(i)], ") has no known class");
  }
  if (label >= classes) {
    usage_fail("faithfulness: image ", i, " (id ", m.images->ids[size_t(i)], ") is of class ",
               label, ", but the model has ", classes, " classes");
  }
  return label;
}

// Reads the batch's images, with the classes their curves follow: the true ones, or the model's
// predictions.
ImageBatch read_batch(const Measurement& m, int64_t first, int64_t n) {
  const size_t image_size = m.curves.grid.image_size();
  ImageBatch batch{first,
                   n,
                   std::vector<float>(static_cast<size_t>(n) * image_size),
                   std::vector<int>(static_cast<size_t>(n)),
                   {},
                   {},
                   {}};
  for (int64_t i = 0; i < n; ++i) {
    const int label = m.images->read(first + i, batch.patches.data() + size_t(i) * image_size);
    if (m.options->true_class) batch.targets[size_t(i)] = true_class(m, first + i, label);
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
  const PatchGrid& grid = m.curves.grid;
  if (!m.judged.empty()) {
    ExplainOptions explain_options;
    explain_options.methods = m.judged;
    explain_options.settings = m.options->settings;
    explain_options.explained_classes = batch.targets;
    const Tensor x = Tensor::from_vector({batch.n, grid.patches(), grid.features()}, batch.patches,
                                         m.model->device());
    batch.maps = explain(*m.model, x, explain_options);
    if (m.randomized) batch.randomized_maps = explain(*m.randomized, x, explain_options);
  }
  for (int64_t i = 0; i < batch.n; ++i) {
    batch.blurred.push_back(blur_patches(grid, batch.patches.data() + size_t(i) * grid.image_size(),
                                         m.options->blur_sigma));
  }
}

// Per image, the judged methods' curves, then the random draws'.
std::vector<CurveInput> curve_inputs(const Measurement& m, const ImageBatch& batch) {
  const uint64_t seed = m.options->seed;
  const PatchGrid& grid = m.curves.grid;
  std::vector<CurveInput> inputs;
  for (int64_t i = 0; i < batch.n; ++i) {
    const uint64_t image = m.images->ids[size_t(batch.first + i)];
    const float* original = batch.patches.data() + size_t(i) * grid.image_size();
    const float* blurred = batch.blurred[size_t(i)].data();
    const int target = batch.targets[size_t(i)];
    for (size_t k = 0; k < m.judged.size(); ++k) {
      inputs.push_back({original, blurred, target,
                        patch_order(grid, batch.maps[size_t(i)].scores[k], seed, image)});
    }
    for (int d = 0; d < m.options->random_draws; ++d) {
      const std::vector<float> scores = random_scores(grid.patches(), draw_seed(seed, d), image);
      inputs.push_back({original, blurred, target, patch_order(grid, scores, seed, image)});
    }
  }
  return inputs;
}

// Image i of the batch's part: its curves (`curves`: the judged methods', then the draws') and
// the sanity check's correlations.
ImageFaithfulness image_part(const Measurement& m, const ImageBatch& batch, int64_t i,
                             std::vector<Curves>::iterator curves) {
  ImageFaithfulness part;
  const int64_t count = static_cast<int64_t>(m.judged.size()) + m.options->random_draws;
  part.curves.assign(std::make_move_iterator(curves), std::make_move_iterator(curves + count));
  if (m.randomized) {
    for (size_t k = 0; k < m.judged.size(); ++k) {
      part.randomized_correlation.push_back(spearman_correlation(
          batch.maps[size_t(i)].scores[k], batch.randomized_maps[size_t(i)].scores[k]));
    }
  }
  return part;
}

void check_part(const ImageFaithfulness& part, const FaithfulnessResult& result) {
  const size_t judged = result.methods.size() - 1;
  const size_t points = size_t(result.steps) + 1;
  bool fits = part.curves.size() == judged + size_t(result.random_draws) &&
              (part.randomized_correlation.empty() || part.randomized_correlation.size() == judged);
  for (const Curves& c : part.curves) {
    fits = fits && c.deletion.size() == points && c.insertion.size() == points;
  }
  if (!fits) {
    fail("faithfulness: an image's part has ", part.curves.size(), " curves and ",
         part.randomized_correlation.size(), " correlations; the result takes ",
         judged + size_t(result.random_draws), " curves of ", points, " points and ", judged,
         " correlations or none");
  }
}

}  // namespace

ProbabilityFn vit_probabilities(const nn::VisionTransformer& model, int64_t batch) {
  if (batch <= 0) fail("faithfulness: batch must be positive, got ", batch);
  return [&model, batch](const std::vector<float>& patches, int64_t count) {
    const nn::VitConfig& c = model.config();
    const int classes = static_cast<int>(c.classes);
    const int64_t image_size = c.patches * c.patch_features;
    if (static_cast<int64_t>(patches.size()) != count * image_size) {
      fail("faithfulness: ", patches.size(), " values are not ", count, " images of ", c.patches,
           " x ", c.patch_features);
    }
    std::vector<float> probabilities;
    probabilities.reserve(static_cast<size_t>(count * classes));
    NoGradGuard no_grad;
    for (int64_t first = 0; first < count; first += batch) {
      const int64_t n = std::min(batch, count - first);
      const auto begin = patches.begin() + first * image_size;
      const Tensor x =
          Tensor::from_vector({n, c.patches, c.patch_features},
                              std::vector<float>(begin, begin + n * image_size), model.device());
      const std::vector<float> logits = model.forward(x).logits.to_vector();
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<float> p = softmax(logits.data() + i * classes, classes);
        probabilities.insert(probabilities.end(), p.begin(), p.end());
      }
    }
    return probabilities;
  };
}

PatchGrid model_grid(const nn::VitConfig& config, int patch) {
  const int64_t pixels = int64_t{patch} * patch;
  if (patch < 1 || config.patch_features % pixels != 0) {
    usage_fail("faithfulness: ", patch, " x ", patch, " pixels do not divide the model's ",
               config.patch_features, " features a patch into channels");
  }
  PatchGrid grid;
  grid.channels = static_cast<int>(config.patch_features / pixels);
  grid.patch = patch;
  grid.rows = static_cast<int>(config.grid_height);
  grid.cols = static_cast<int>(config.grid_width);
  return grid;
}

FaithfulnessResult empty_faithfulness(const FaithfulnessImages& images,
                                      const FaithfulnessOptions& options) {
  FaithfulnessResult result;
  result.image_description = images.description;
  result.target = options.true_class ? "true" : "predicted";
  result.random_draws = options.random_draws;
  result.grid = images.grid;
  result.steps = curve_steps(images.grid, options.steps);
  result.blur_sigma = options.blur_sigma;
  result.fill = options.fill;
  for (Method m : options.methods) {
    if (m != Method::kRandom) result.methods.push_back({method_name(m), {}, {}, {}, {}, {}});
  }
  result.methods.push_back({method_name(Method::kRandom), {}, {}, {}, {}, {}});
  for (MethodFaithfulness& m : result.methods) {
    m.mean_deletion.assign(size_t(result.steps) + 1, 0.0);
    m.mean_insertion.assign(size_t(result.steps) + 1, 0.0);
  }
  return result;
}

void add_image(const ImageFaithfulness& part, FaithfulnessResult& result) {
  check_part(part, result);
  const size_t methods = result.methods.size() - 1;
  const size_t points = size_t(result.steps) + 1;
  const std::vector<Curves>& curves = part.curves;
  for (size_t k = 0; k < methods; ++k) {
    MethodFaithfulness& r = result.methods[k];
    r.deletion_auc.push_back(trapezoid_auc(curves[k].deletion));
    r.insertion_auc.push_back(trapezoid_auc(curves[k].insertion));
    for (size_t s = 0; s < points; ++s) {
      r.mean_deletion[s] += curves[k].deletion[s];
      r.mean_insertion[s] += curves[k].insertion[s];
    }
    if (!part.randomized_correlation.empty()) {
      r.randomized_correlation.push_back(part.randomized_correlation[k]);
    }
  }
  // Random's AUCs are the mean of its draws', and so are its curves.
  const int draws = result.random_draws;
  MethodFaithfulness& random = result.methods.back();
  double deletion = 0, insertion = 0;
  for (int d = 0; d < draws; ++d) {
    const Curves& c = curves[methods + size_t(d)];
    deletion += trapezoid_auc(c.deletion);
    insertion += trapezoid_auc(c.insertion);
    for (size_t s = 0; s < points; ++s) {
      random.mean_deletion[s] += c.deletion[s] / draws;
      random.mean_insertion[s] += c.insertion[s] / draws;
    }
  }
  random.deletion_auc.push_back(deletion / draws);
  random.insertion_auc.push_back(insertion / draws);
  ++result.images;
}

void finish_faithfulness(FaithfulnessResult& result) {
  for (MethodFaithfulness& m : result.methods) {
    for (double& v : m.mean_deletion) v /= static_cast<double>(result.images);
    for (double& v : m.mean_insertion) v /= static_cast<double>(result.images);
  }
}

void measure_images(const nn::VisionTransformer& model, const FaithfulnessImages& images,
                    const FaithfulnessOptions& options, int64_t first, int64_t last,
                    const std::function<void(int64_t image, ImageFaithfulness&& part)>& take,
                    const std::function<void(int64_t done, int64_t total)>& progress) {
  check_measurement(model, images, options);
  const int64_t total = static_cast<int64_t>(images.ids.size());
  if (first < 0 || first > last || last > total) {
    fail("faithfulness: images [", first, ", ", last, ") are not a share of ", total, " images");
  }
  if (first == last) return;
  const Measurement m = prepare(model, images, options);
  const int64_t curves_per_image = static_cast<int64_t>(m.judged.size()) + options.random_draws;
  const int64_t batch_size = options.explain_batch;
  // Every explanation batch that holds an image of the share, read and explained whole.
  for (int64_t begin = first / batch_size * batch_size; begin < last; begin += batch_size) {
    ImageBatch batch = read_batch(m, begin, std::min(batch_size, total - begin));
    explain_batch(m, batch);
    const int64_t from = std::max(first, begin), to = std::min(last, begin + batch.n);
    const CurveShare share{size_t((from - begin) * curves_per_image),
                           size_t((to - begin) * curves_per_image), options.forward_batch};
    std::vector<Curves> curves =
        compute_curve_share(m.curves, curve_inputs(m, batch), share, m.probabilities,
                            m.curve_images, [&](int64_t done) {
                              if (progress)
                                progress(from - first + done / curves_per_image, last - first);
                            });
    for (int64_t i = from; i < to; ++i) {
      take(i, image_part(m, batch, i - begin, curves.begin() + (i - from) * curves_per_image));
    }
    if (progress) progress(to - first, last - first);
  }
}

FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const FaithfulnessImages& images,
    const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  check_measurement(model, images, options);
  FaithfulnessResult result = empty_faithfulness(images, options);
  measure_images(
      model, images, options, 0, static_cast<int64_t>(images.ids.size()),
      [&](int64_t, ImageFaithfulness&& part) { add_image(part, result); }, progress);
  finish_faithfulness(result);
  return result;
}

}  // namespace sav::attribution
