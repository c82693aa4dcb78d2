#include "programs/viz_faithfulness.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "programs/progress.h"
#include "sav/attribution/faithfulness.h"
#include "sav/attribution/faithfulness_report.h"
#include "sav/data/images.h"
#include "sav/error.h"
#include "sav/image/plot.h"
#include "sav/image/png.h"
#include "sav/io/atomic_file.h"

namespace sav {
namespace {

// Distinct colours for up to eight methods; random is drawn in grey.
image::Rgb method_color(size_t index, const std::string& method) {
  static const image::Rgb palette[] = {{31, 119, 180},  {255, 127, 14},  {44, 160, 44},
                                       {214, 39, 40},   {148, 103, 189}, {140, 86, 75},
                                       {227, 119, 194}, {188, 189, 34}};
  if (method == "random") return {127, 127, 127};
  return palette[index % (sizeof palette / sizeof palette[0])];
}

void announce(const attribution::FaithfulnessImages& images, const FaithfulnessRun& run) {
  const auto judged = std::count_if(run.methods.begin(), run.methods.end(),
                                    [](auto m) { return m != attribution::Method::kRandom; });
  const int steps = attribution::curve_steps(images.grid, run.steps);
  std::cout << "faithfulness: " << images.ids.size() << " " << images.description << ", " << judged
            << (judged == 1 ? " method" : " methods") << " and random (" << run.random_draws
            << " draws), the " << (run.true_class ? "true" : "predicted") << " class, " << steps
            << (steps == 1 ? " step" : " steps") << " a curve" << std::endl;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The measurement, with a progress bar on a terminal.
attribution::FaithfulnessResult measure(const nn::VisionTransformer& model,
                                        const attribution::FaithfulnessImages& images,
                                        const attribution::FaithfulnessOptions& options,
                                        std::chrono::steady_clock::time_point start) {
  ProgressBar bar(::isatty(STDERR_FILENO) == 1);
  const attribution::FaithfulnessResult result =
      attribution::measure_faithfulness(model, images, options, [&](int64_t done, int64_t total) {
        const double seconds = seconds_since(start);
        const double rate = seconds > 0 ? done / seconds : 0;
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "%.2f img/s", rate);
        bar.show("images", done, total, suffix, rate > 0 ? (total - done) / rate : 0);
      });
  bar.clear();
  return result;
}

// faithfulness.md, .csv and the plot of the mean curves; returns their paths.
std::vector<std::string> write_report(const attribution::FaithfulnessResult& result,
                                      const std::vector<attribution::FaithfulnessRow>& rows,
                                      const FaithfulnessRun& run) {
  std::filesystem::create_directories(run.out_dir);
  const std::string base = run.out_dir + "/faithfulness";
  io::write_file_atomically(
      base + ".md", attribution::faithfulness_markdown(result, rows, run.model_description));
  io::write_file_atomically(base + ".csv", attribution::faithfulness_csv(rows));
  std::vector<image::Series> deletion, insertion;
  for (size_t m = 0; m < result.methods.size(); ++m) {
    const attribution::MethodFaithfulness& method = result.methods[m];
    const image::Rgb color = method_color(m, method.method);
    deletion.push_back({method.method, method.mean_deletion, color});
    insertion.push_back({method.method, method.mean_insertion, color});
  }
  image::write_png(base + ".png",
                   image::draw_fraction_curves("deletion (lower is better)", deletion,
                                               "insertion (higher is better)", insertion,
                                               "fraction of patches removed / revealed"));
  return {base + ".md", base + ".csv", base + ".png"};
}

}  // namespace

attribution::FaithfulnessImages cifar_test_images(const data::Cifar10& cifar,
                                                  const std::vector<int64_t>& indices) {
  const data::RecordSet test = cifar.test;  // shares the open file
  attribution::FaithfulnessImages images;
  for (int64_t index : indices) {
    if (index < 0 || index >= test.size()) {
      usage_fail("faithfulness: test image ", index, " does not exist (the test set has ",
                 test.size(), " images: 0 to ", test.size() - 1, ")");
    }
    images.ids.push_back(static_cast<uint64_t>(index));
  }
  images.grid =
      attribution::PatchGrid{data::kChannels, data::kPatchSide, data::kGridSide, data::kGridSide};
  images.description = "test images";
  images.read = [test, indices](int64_t i, float* tokens) {
    std::vector<uint8_t> pixels(data::kPixelBytes);
    const int label = test.read(indices[size_t(i)], pixels.data());
    data::image_to_patches(pixels.data(), {}, tokens);
    return label;
  };
  return images;
}

attribution::DeletionFill cifar_training_means(const data::Cifar10& cifar) {
  std::cout << "faithfulness: channel means of the training set..." << std::endl;
  const std::array<float, 3> means = data::channel_means(cifar.train);
  return {std::vector<float>(means.begin(), means.end()), "the training set's channel means"};
}

std::vector<std::string> run_faithfulness(const nn::VisionTransformer& model,
                                          const attribution::FaithfulnessImages& images,
                                          const attribution::DeletionFill& fill,
                                          const FaithfulnessRun& run) {
  attribution::FaithfulnessOptions options;
  options.methods = run.methods;
  options.settings = run.settings;
  options.true_class = run.true_class;
  options.random_draws = run.random_draws;
  options.seed = run.seed;
  options.steps = run.steps;
  options.blur_sigma = run.blur_sigma;
  options.fill = fill;
  // Batches of about as many patch tokens on any grid: 50 and 100 CIFAR-10 images, 16 and 32 of
  // 14 x 14 patches, so that a published model's activations stay within memory.
  const int64_t patches = images.grid.patches();
  options.explain_batch = std::max<int64_t>(1, 3200 / patches);
  options.forward_batch = std::max<int64_t>(1, 6400 / patches);
  announce(images, run);

  const auto start = std::chrono::steady_clock::now();
  const attribution::FaithfulnessResult result = measure(model, images, options, start);
  const std::vector<attribution::FaithfulnessRow> rows = attribution::summarize(result);
  std::cout << attribution::faithfulness_text(rows);
  std::cout << "measured in " << clock_text(seconds_since(start)) << std::endl;
  return write_report(result, rows, run);
}

}  // namespace sav
