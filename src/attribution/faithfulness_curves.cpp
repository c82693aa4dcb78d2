// Deletion and insertion curves: the perturbed images of a ranked map and the model's
// probabilities along them (faithfulness_curves.h).
#include "sav/attribution/faithfulness_curves.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <sstream>

#include "sav/attribution/methods.h"
#include "sav/error.h"

namespace sav::attribution {
namespace {

// Where pixel (c, y, x) of the image sits among its patch tokens (sav/nn/vit.h): token
// (y / patch) * cols + x / patch, feature (c * patch + y % patch) * patch + x % patch.
size_t token_offset(const PatchGrid& g, int c, int y, int x) {
  const int p = g.patch;
  const size_t token = static_cast<size_t>((y / p) * g.cols + x / p);
  const size_t feature = static_cast<size_t>((c * p + y % p) * p + x % p);
  return token * static_cast<size_t>(g.features()) + feature;
}

void copy_patch(const PatchGrid& g, const float* from, int patch, float* to) {
  const size_t features = static_cast<size_t>(g.features());
  std::copy(from + size_t(patch) * features, from + size_t(patch + 1) * features,
            to + size_t(patch) * features);
}

// A patch's features run over the channels first (sav/nn/vit.h), patch x patch values each.
void fill_patch(const PatchGrid& g, int patch, const std::vector<float>& fill, float* to) {
  const int per_channel = g.patch * g.patch;
  float* features = to + size_t(patch) * size_t(g.features());
  for (int f = 0; f < g.features(); ++f) features[f] = fill[size_t(f / per_channel)];
}

// The steps of `spec`, after checking that its grid, steps and fill fit together.
int checked_steps(const CurveSpec& spec) {
  check_grid(spec.grid);
  if (spec.fill.size() != static_cast<size_t>(spec.grid.channels)) {
    fail("faithfulness: the fill has ", spec.fill.size(), " values, expected one per channel (",
         spec.grid.channels, ")");
  }
  return curve_steps(spec.grid, spec.steps);
}

void check_input(const PatchGrid& grid, const CurveInput& input, size_t index) {
  if (input.patches == nullptr || input.blurred == nullptr) {
    fail("faithfulness: input ", index, " has no image or no blurred image");
  }
  std::vector<int> sorted = input.order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> all(static_cast<size_t>(grid.patches()));
  std::iota(all.begin(), all.end(), 0);
  if (sorted != all) {
    fail("faithfulness: input ", index, "'s order is not a permutation of the ", grid.patches(),
         " patches");
  }
}

// The Gaussian's weights at -radius .. radius pixels, radius ceil(3 sigma), summing to 1.
std::vector<double> gaussian_kernel(float sigma) {
  const int radius = static_cast<int>(std::ceil(3.0f * sigma));
  std::vector<double> kernel(static_cast<size_t>(2 * radius + 1));
  double total = 0;
  for (int k = -radius; k <= radius; ++k) {
    total += kernel[static_cast<size_t>(k + radius)] = std::exp(-0.5 * k * k / (sigma * sigma));
  }
  for (double& w : kernel) w /= total;
  return kernel;
}

// The horizontal pass over one channel: out[y][x] = sum_k kernel[k] * in(c, y, x + k - radius),
// the sum taken in k order, columns beyond the edge clamped to it. Each row is first copied with
// `radius` edge values on either side, so that the inner loop needs no clamping.
void blur_rows(const PatchGrid& g, const float* patches, int c, const std::vector<double>& kernel,
               double* out) {
  const int radius = static_cast<int>(kernel.size() / 2), width = g.width();
  std::vector<double> padded(static_cast<size_t>(width + 2 * radius));
  for (int y = 0; y < g.height(); ++y) {
    for (int i = 0; i < width + 2 * radius; ++i) {
      const int x = std::min(std::max(i - radius, 0), width - 1);
      padded[size_t(i)] = patches[token_offset(g, c, y, x)];
    }
    double* row = out + size_t(y) * size_t(width);
    for (int x = 0; x < width; ++x) {
      double sum = 0;
      for (size_t k = 0; k < kernel.size(); ++k) sum += kernel[k] * padded[size_t(x) + k];
      row[x] = sum;
    }
  }
}

// The vertical pass over one channel's rows, written back as patch tokens: every pixel's sum is
// taken in k order as in blur_rows, a whole row of sums at a time.
void blur_columns(const PatchGrid& g, const double* rows, int c, const std::vector<double>& kernel,
                  float* out) {
  const int radius = static_cast<int>(kernel.size() / 2), width = g.width(), height = g.height();
  std::vector<double> sums(static_cast<size_t>(width));
  for (int y = 0; y < height; ++y) {
    std::fill(sums.begin(), sums.end(), 0.0);
    for (size_t k = 0; k < kernel.size(); ++k) {
      const int from = std::min(std::max(y + static_cast<int>(k) - radius, 0), height - 1);
      const double* row = rows + size_t(from) * size_t(width);
      for (int x = 0; x < width; ++x) sums[size_t(x)] += kernel[k] * row[x];
    }
    for (int x = 0; x < width; ++x) out[token_offset(g, c, y, x)] = static_cast<float>(sums[x]);
  }
}

// "1, 2, 4 or 8": the divisors of n.
std::string divisors_text(int n) {
  std::vector<int> divisors;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0) divisors.push_back(d);
  }
  std::ostringstream text;
  for (size_t i = 0; i < divisors.size(); ++i) {
    if (i > 0) text << (i + 1 == divisors.size() ? " or " : ", ");
    text << divisors[i];
  }
  return text.str();
}

}  // namespace

void check_grid(const PatchGrid& grid) {
  if (grid.channels < 1 || grid.patch < 1 || grid.rows < 1 || grid.cols < 1) {
    usage_fail("faithfulness: a grid of ", grid.rows, " x ", grid.cols, " patches of ", grid.patch,
               " x ", grid.patch, " pixels and ", grid.channels,
               " channels: every size must be at least 1");
  }
  const double values = static_cast<double>(grid.rows) * grid.cols * grid.channels * grid.patch *
                        static_cast<double>(grid.patch);
  if (values > 2147483648.0) {
    usage_fail("faithfulness: a grid of ", grid.rows, " x ", grid.cols, " patches of ", grid.patch,
               " x ", grid.patch, " pixels and ", grid.channels, " channels is over 2^31 values");
  }
}

int curve_steps(const PatchGrid& grid, int steps) {
  const int patches = grid.patches();
  if (steps == 0) return patches;
  if (steps < 1 || steps > patches || patches % steps != 0) {
    usage_fail("faithfulness: ", steps, " steps do not split the ", patches,
               " patches into equal steps; the steps must be ", divisors_text(patches),
               " (or 0: one patch a step)");
  }
  return steps;
}

std::vector<float> blur_patches(const PatchGrid& grid, const float* patches, float sigma) {
  check_grid(grid);
  if (!(sigma > 0.0f)) fail("faithfulness: blur sigma must be positive, got ", sigma);
  const std::vector<double> kernel = gaussian_kernel(sigma);
  // Separable: rows, then columns, in double precision.
  std::vector<double> rows(static_cast<size_t>(grid.height()) * size_t(grid.width()));
  std::vector<float> out(grid.image_size());
  for (int c = 0; c < grid.channels; ++c) {
    blur_rows(grid, patches, c, kernel, rows.data());
    blur_columns(grid, rows.data(), c, kernel, out.data());
  }
  return out;
}

std::vector<int> patch_order(const PatchGrid& grid, const std::vector<float>& scores, uint64_t seed,
                             uint64_t image) {
  const int patches = grid.patches();
  if (scores.size() != static_cast<size_t>(patches)) {
    fail("faithfulness: a map has ", scores.size(), " scores, expected one per patch (", patches,
         ")");
  }
  for (size_t p = 0; p < scores.size(); ++p) {
    if (!std::isfinite(scores[p])) fail("faithfulness: the score of patch ", p, " is not finite");
  }
  const std::vector<float> tie_breaks = random_scores(patches, seed, image);
  std::vector<int> order(static_cast<size_t>(patches));
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

void perturbed_images(const CurveSpec& spec, const CurveInput& input, float* out) {
  const int steps = checked_steps(spec);
  const PatchGrid& g = spec.grid;
  check_input(g, input, 0);
  const int per_step = g.patches() / steps;
  const size_t image_size = g.image_size();
  float* deletion = out;
  float* insertion = out + size_t(steps + 1) * image_size;
  std::copy(input.patches, input.patches + image_size, deletion);
  std::copy(input.blurred, input.blurred + image_size, insertion);
  for (int step = 1; step <= steps; ++step) {
    float* del = deletion + size_t(step) * image_size;
    float* ins = insertion + size_t(step) * image_size;
    std::copy(del - image_size, del, del);  // the previous step, with per_step more patches changed
    std::copy(ins - image_size, ins, ins);
    for (int rank = (step - 1) * per_step; rank < step * per_step; ++rank) {
      const int patch = input.order[static_cast<size_t>(rank)];
      fill_patch(g, patch, spec.fill, del);
      copy_patch(g, input.patches, patch, ins);
    }
  }
}

std::vector<Curves> compute_curves(const CurveSpec& spec, const std::vector<CurveInput>& inputs,
                                   const ProbabilityFn& model, int64_t batch_images,
                                   const std::function<void(int64_t done)>& progress) {
  return compute_curve_share(spec, inputs, {0, inputs.size(), 1}, model, batch_images, progress);
}

std::vector<Curves> compute_curve_share(const CurveSpec& spec,
                                        const std::vector<CurveInput>& inputs,
                                        const CurveShare& share, const ProbabilityFn& model,
                                        int64_t batch_images,
                                        const std::function<void(int64_t done)>& progress) {
  const int steps = checked_steps(spec);
  for (size_t i = 0; i < inputs.size(); ++i) check_input(spec.grid, inputs[i], i);
  if (share.first > share.last || share.last > inputs.size() || share.model_batch < 1) {
    fail("faithfulness: inputs [", share.first, ", ", share.last, ") in model batches of ",
         share.model_batch, " are not a share of ", inputs.size(), " inputs");
  }
  const int points = steps + 1;
  const int64_t images_per_input = 2 * points;
  const size_t input_images = static_cast<size_t>(images_per_input);
  const size_t per_batch =
      static_cast<size_t>(std::max<int64_t>(1, batch_images / images_per_input));
  const size_t model_batch = static_cast<size_t>(share.model_batch);
  const size_t image_size = spec.grid.image_size();
  std::vector<Curves> curves(share.last - share.first);
  if (share.first == share.last) return curves;
  std::vector<float> batch;
  for (size_t first = share.first / per_batch * per_batch; first < share.last; first += per_batch) {
    const size_t count = std::min(inputs.size() - first, per_batch);
    // The share's inputs in this batch; the images, counted from the batch's first, of the model
    // batches that hold theirs; and the inputs those images belong to.
    const size_t wanted_first = std::max(first, share.first);
    const size_t wanted_last = std::min(first + count, share.last);
    const size_t image_first = (wanted_first - first) * input_images / model_batch * model_batch;
    const size_t image_last =
        std::min(count * input_images, ((wanted_last - first) * input_images + model_batch - 1) /
                                           model_batch * model_batch);
    const size_t input_first = first + image_first / input_images;
    const size_t input_last = first + (image_last + input_images - 1) / input_images;
    batch.resize((input_last - input_first) * input_images * image_size);
    for (size_t i = input_first; i < input_last; ++i) {
      perturbed_images(spec, inputs[i],
                       batch.data() + (i - input_first) * input_images * image_size);
    }
    const size_t skipped = image_first - (input_first - first) * input_images;
    const int64_t images = static_cast<int64_t>(image_last - image_first);
    if (skipped != 0 || batch.size() != size_t(images) * image_size) {
      batch = std::vector<float>(
          batch.begin() + std::ptrdiff_t(skipped * image_size),
          batch.begin() + std::ptrdiff_t((skipped + size_t(images)) * image_size));
    }
    const std::vector<float> probabilities = model(batch, images);
    if (probabilities.empty() || probabilities.size() % static_cast<size_t>(images) != 0) {
      fail("faithfulness: the model gave ", probabilities.size(), " probabilities for ", images,
           " images");
    }
    const size_t classes = probabilities.size() / static_cast<size_t>(images);
    for (size_t i = wanted_first; i < wanted_last; ++i) {
      const CurveInput& input = inputs[i];
      if (input.target < 0 || static_cast<size_t>(input.target) >= classes) {
        fail("faithfulness: class ", input.target, " does not exist (the model has ", classes,
             " classes)");
      }
      Curves& c = curves[i - share.first];
      for (size_t image = 0; image < input_images; ++image) {
        const size_t row = (i - first) * input_images + image - image_first;
        const double p = probabilities[row * classes + static_cast<size_t>(input.target)];
        (image < size_t(points) ? c.deletion : c.insertion).push_back(p);
      }
    }
    if (progress) progress(static_cast<int64_t>(wanted_last - share.first));
  }
  return curves;
}

}  // namespace sav::attribution
