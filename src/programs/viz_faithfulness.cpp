#include "programs/viz_faithfulness.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "programs/progress.h"
#include "programs/viz_shares.h"
#include "sav/attribution/faithfulness.h"
#include "sav/attribution/faithfulness_report.h"
#include "sav/data/images.h"
#include "sav/dist/communicator.h"
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

// The line that says what is measured; made on every rank (it checks the steps), printed by rank 0.
std::string announcement(const attribution::FaithfulnessImages& images,
                         const FaithfulnessRun& run) {
  const auto judged = std::count_if(run.methods.begin(), run.methods.end(),
                                    [](auto m) { return m != attribution::Method::kRandom; });
  const int steps = attribution::curve_steps(images.grid, run.steps);
  std::ostringstream text;
  text << "faithfulness: " << images.ids.size() << " " << images.description << ", " << judged
       << (judged == 1 ? " method" : " methods") << " and random (" << run.random_draws
       << " draws), the " << (run.true_class ? "true" : "predicted") << " class, " << steps
       << (steps == 1 ? " step" : " steps") << " a curve";
  return text.str();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Images done of `total`, their rate and what is left: a bar on a terminal, else a line a tenth.
void show_progress(ProgressBar& bar, const std::string& what, int64_t done, int64_t total,
                   std::chrono::steady_clock::time_point start) {
  const double seconds = seconds_since(start);
  const double rate = seconds > 0 ? done / seconds : 0;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%.2f img/s", rate);
  bar.show(what, done, total, suffix, rate > 0 ? (total - done) / rate : 0);
}

// The measurement, with a progress bar on a terminal.
attribution::FaithfulnessResult measure(const nn::VisionTransformer& model,
                                        const attribution::FaithfulnessImages& images,
                                        const attribution::FaithfulnessOptions& options,
                                        std::chrono::steady_clock::time_point start) {
  ProgressBar bar(::isatty(STDERR_FILENO) == 1);
  const attribution::FaithfulnessResult result = attribution::measure_faithfulness(
      model, images, options,
      [&](int64_t done, int64_t total) { show_progress(bar, "images", done, total, start); });
  bar.clear();
  return result;
}

// What a rank sends rank 0 for one image: its index, then its part.
void write_part(int64_t image, const attribution::ImageFaithfulness& part,
                std::vector<uint8_t>& bytes) {
  ByteWriter out(bytes);
  out.put<int64_t>(image);
  out.put<uint64_t>(part.curves.size());
  for (const attribution::Curves& c : part.curves) {
    out.put_all(c.deletion);
    out.put_all(c.insertion);
  }
  out.put_all(part.randomized_correlation);
}

attribution::ImageFaithfulness read_part(ByteReader& in) {
  attribution::ImageFaithfulness part;
  for (uint64_t c = in.get<uint64_t>(); c > 0; --c) {
    attribution::Curves curves;
    curves.deletion = in.get_all<double>();
    curves.insertion = in.get_all<double>();
    part.curves.push_back(std::move(curves));
  }
  part.randomized_correlation = in.get_all<double>();
  return part;
}

// The measurement shared by the job's ranks: each measures its share of the images (in the
// batches a single process would put them in, so that every image's numbers are the same), and
// rank 0 gathers every image's part and sums them in image order, as one process does. The
// result on rank 0; an empty one on the others, which print nothing.
attribution::FaithfulnessResult measure_shared(dist::Communicator& world,
                                               const nn::VisionTransformer& model,
                                               const attribution::FaithfulnessImages& images,
                                               const attribution::FaithfulnessOptions& options,
                                               std::chrono::steady_clock::time_point start) {
  const int64_t n = static_cast<int64_t>(images.ids.size());
  const Share share = share_of(n, world.rank(), world.size());
  ProgressBar bar(world.is_root() && ::isatty(STDERR_FILENO) == 1);
  const std::string what = "images of rank 0's share";
  std::vector<uint8_t> bytes;
  attribution::measure_images(
      model, images, options, share.first, share.last,
      [&](int64_t image, attribution::ImageFaithfulness&& part) { write_part(image, part, bytes); },
      [&](int64_t done, int64_t total) {
        if (world.is_root()) show_progress(bar, what, done, total, start);
      });
  bar.clear();
  const std::vector<uint8_t> gathered = world.gather(bytes.data(), bytes.size(), 0);
  if (!world.is_root()) return {};
  attribution::FaithfulnessResult result = attribution::empty_faithfulness(images, options);
  ByteReader in(gathered.data(), gathered.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t image = in.get<int64_t>();
    if (image != i) fail("faithfulness: rank 0 expected image ", i, " from the ranks, got ", image);
    attribution::add_image(read_part(in), result);
  }
  if (!in.done()) fail("faithfulness: the ranks sent more than the ", n, " images' parts");
  attribution::finish_faithfulness(result);
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
  if (dist::world().is_root()) {
    std::cout << "faithfulness: channel means of the training set..." << std::endl;
  }
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
  dist::Communicator& world = dist::world();
  const std::string announced = announcement(images, run);
  if (world.is_root()) std::cout << announced << std::endl;

  const auto start = std::chrono::steady_clock::now();
  const attribution::FaithfulnessResult result =
      world.size() == 1 ? measure(model, images, options, start)
                        : measure_shared(world, model, images, options, start);
  if (!world.is_root()) return {};
  const std::vector<attribution::FaithfulnessRow> rows = attribution::summarize(result);
  std::cout << attribution::faithfulness_text(rows);
  std::cout << "measured in " << clock_text(seconds_since(start)) << std::endl;
  return write_report(result, rows, run);
}

}  // namespace sav
