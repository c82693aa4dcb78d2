// sav_viz: heat maps of what a trained ViT's decisions rest on, as PNGs. Under mpirun the ranks
// share out the images and rank 0 alone prints and writes, what one process would.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "programs/command_line.h"
#include "programs/run_program.h"
#include "programs/viz_faithfulness.h"
#include "programs/viz_request.h"
#include "programs/viz_subjects.h"
#include "sav/attribution/explain.h"
#include "sav/data/cifar10.h"
#include "sav/data/images.h"
#include "sav/device.h"
#include "sav/dist/communicator.h"
#include "sav/error.h"
#include "sav/image/png.h"
#include "sav/io/npy.h"
#include "sav/viz/figures.h"

namespace {

using namespace sav;
namespace fs = std::filesystem;

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// --method, or the --compare list; with --faithfulness and neither, all of them.
std::vector<attribution::Method> chosen_methods(const VizRequest& r) {
  if (r.faithfulness && r.compare_text.empty() && !r.method_given) {
    return attribution::all_methods();
  }
  std::vector<attribution::Method> methods;
  for (const std::string& name : r.compare_text.empty() ? std::vector<std::string>{r.method_name}
                                                        : split_list(r.compare_text)) {
    methods.push_back(attribution::parse_method(name));
  }
  return methods;
}

// What the images to explain are, and flags --faithfulness cannot honour, refused rather than
// ignored.
void check_subject_flags(const VizRequest& r) {
  const bool photos = !r.user_images.empty() || !r.images_dir.empty();
  if (!r.model_path.empty() && !photos) {
    usage_fail("--model explains your photos: give --image FILE or --images-dir DIR");
  }
  if (!r.faithfulness) {
    if (r.steps != 0) usage_fail("--steps applies to --faithfulness only");
    return;
  }
  if (r.model_path.empty() && photos) {
    usage_fail(
        "--faithfulness on a sav checkpoint is measured on test images (--count or --images), "
        "not --image or --images-dir");
  }
  if (!r.model_path.empty() && r.true_class) {
    usage_fail(
        "--true-class: the classes of your photos are unknown; --faithfulness follows the "
        "predicted class");
  }
  if (!r.class_text.empty()) {
    usage_fail(
        "--faithfulness follows the predicted class, or the true one with --true-class; "
        "--class does not apply");
  }
}

viz::HeatStyle heat_style(const VizRequest& r) {
  viz::HeatStyle style;
  style.colormap = image::parse_colormap(r.colormap_name);
  style.upsample = image::parse_upsample(r.upsample_name);
  style.alpha = r.alpha;
  style.scale = r.scale;
  return style;
}

attribution::ExplainOptions explain_options(const VizRequest& r,
                                            const std::vector<attribution::Method>& methods) {
  attribution::ExplainOptions options;
  options.methods = methods;
  options.settings.residual_weight = r.residual_weight;
  options.settings.fusion = attribution::parse_fusion(r.fusion_name);
  options.settings.discard_ratio = r.discard_ratio;
  options.random_seed = r.seed;
  return options;
}

// --class: a class name, or an index.
int class_index(const std::string& text, const std::vector<std::string>& class_names) {
  const auto named = std::find(class_names.begin(), class_names.end(), text);
  if (named != class_names.end()) return static_cast<int>(named - class_names.begin());
  if (!text.empty() && text.size() < 7 &&
      text.find_first_not_of("0123456789") == std::string::npos &&
      std::stoi(text) < static_cast<int>(class_names.size())) {
    return std::stoi(text);
  }
  usage_fail("--class ", text, ": not a class index (0-", class_names.size() - 1,
             ") or the name of one");
}

// --images: every item an index into the test set.
std::vector<int64_t> listed_indices(const std::string& text, const data::RecordSet& test) {
  std::vector<int64_t> indices;
  for (const std::string& item : split_list(text)) {
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 9) {
      usage_fail("--images: '", item, "' is not an image index");
    }
    const int64_t index = std::stoll(item);
    if (index >= test.size()) {
      usage_fail("--images: index ", index, " is out of range (the test set has ", test.size(),
                 " images, 0 to ", test.size() - 1, ")");
    }
    indices.push_back(index);
  }
  if (indices.empty()) usage_fail("--images: no index given");
  return indices;
}

// The test images asked for: --images, or the first --count. --faithfulness without --count
// measures as many as the device gets through in reasonable time.
std::vector<int64_t> test_indices(const VizRequest& r, const data::RecordSet& test, Device device) {
  if (r.images_given) return listed_indices(r.images_text, test);
  int64_t count = r.count;
  if (r.faithfulness && !r.count_given) {
    count = device.type == DeviceType::kCpu ? 100 : test.size();
  }
  if (count > test.size()) {
    usage_fail("--count ", count, ": the test set has ", test.size(), " images");
  }
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < count; ++i) indices.push_back(i);
  return indices;
}

// The most images one run explains: --count's limit, for photos as for test images.
constexpr size_t kMaxSubjects = 10000;

// The user's photos (--image, --images-dir) as the model takes them.
std::vector<Subject> photo_subjects(const VizRequest& r, const ExplainedModel& model) {
  std::vector<std::string> paths = r.user_images;
  if (!r.images_dir.empty()) paths = photos_in(r.images_dir, kMaxSubjects);
  if (paths.size() > kMaxSubjects) {
    usage_fail("--image: ", paths.size(), " photos; sav_viz explains at most ", kMaxSubjects,
               " at a time");
  }
  std::vector<Subject> subjects;
  for (const std::string& path : paths) subjects.push_back(photo_subject(model, path));
  return subjects;
}

// The user's photos, or the test images asked for.
std::vector<Subject> load_subjects(const VizRequest& r, const ExplainedModel& model,
                                   Device device) {
  if (!r.user_images.empty() || !r.images_dir.empty()) return photo_subjects(r, model);
  const data::Cifar10 cifar = data::open_cifar10(r.data_dir);
  std::vector<Subject> subjects;
  std::vector<uint8_t> pixels(data::kPixelBytes);
  for (int64_t index : test_indices(r, cifar.test, device)) {
    const int label = cifar.test.read(index, pixels.data());
    subjects.push_back(cifar_subject(pixels.data(), "test " + std::to_string(index), label));
  }
  return subjects;
}

FaithfulnessRun faithfulness_run(const VizRequest& r,
                                 const std::vector<attribution::Method>& methods,
                                 const attribution::MethodSettings& settings,
                                 const ExplainedModel& model) {
  FaithfulnessRun run;
  run.model_description = model.path;
  run.out_dir = r.out_dir;
  run.methods = methods;
  run.settings = settings;
  run.true_class = r.true_class;
  run.random_draws = r.draws;
  run.seed = r.seed;
  // One patch a step on the CIFAR model's 8 x 8 grid; a row of patches a step on larger grids,
  // where one-patch steps would take hundreds of forward passes an image.
  const int64_t patches = model.vit->config().patches;
  run.steps = r.steps != 0 ? r.steps : patches <= 64 ? 0 : static_cast<int>(model.grid_cols());
  return run;
}

// --faithfulness on the CIFAR model: measures on the test images asked for.
std::vector<std::string> cifar_faithfulness(const VizRequest& r, const FaithfulnessRun& run,
                                            const ExplainedModel& model, Device device) {
  const data::Cifar10 cifar = data::open_cifar10(r.data_dir);
  const attribution::FaithfulnessImages images =
      cifar_test_images(cifar, test_indices(r, cifar.test, device));
  return run_faithfulness(*model.vit, images, cifar_training_means(cifar), run);
}

// The photos as the measurement reads them: their tokens, numbered in the order given, classes
// unknown.
attribution::FaithfulnessImages photo_images(const ExplainedModel& model,
                                             const std::vector<Subject>& subjects) {
  attribution::FaithfulnessImages images;
  images.grid = attribution::model_grid(model.vit->config(), model.patch);
  for (size_t i = 0; i < subjects.size(); ++i) images.ids.push_back(i);
  images.read = [&subjects](int64_t i, float* tokens) {
    const std::vector<float>& from = subjects[static_cast<size_t>(i)].tokens;
    std::copy(from.begin(), from.end(), tokens);
    return -1;
  };
  images.description = "photos";
  return images;
}

// A published model's deletion fill: the mean its transform subtracts, 0 in its input.
attribution::DeletionFill published_fill() {
  return {{0.0f, 0.0f, 0.0f}, "the mean colour the model's transform subtracts, 0 in its input"};
}

// --faithfulness on a published model: on the user's photos, deletion filling with the
// normalisation's mean (0 in the model's input) and insertion starting from a blur as strong,
// relative to the image, as the CIFAR model's 2 pixels in 32.
std::vector<std::string> photo_faithfulness(const VizRequest& r, FaithfulnessRun run,
                                            const ExplainedModel& model) {
  const std::vector<Subject> subjects = photo_subjects(r, model);
  run.blur_sigma = 2.0f * static_cast<float>(model.input_width()) / 32.0f;
  return run_faithfulness(*model.vit, photo_images(model, subjects), published_fill(), run);
}

// --faithfulness: measures instead of drawing maps.
int report_faithfulness(const VizRequest& r, const std::vector<attribution::Method>& methods,
                        const attribution::MethodSettings& settings, const ExplainedModel& model,
                        Device device) {
  const FaithfulnessRun run = faithfulness_run(r, methods, settings, model);
  const std::vector<std::string> written = model.published()
                                               ? photo_faithfulness(r, run, model)
                                               : cifar_faithfulness(r, run, model, device);
  for (const std::string& path : written) std::cout << "wrote " << path << "\n";
  return 0;
}

std::string percent(double p) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100 * p);
  return text;
}

// The classes in order of probability, most probable first.
std::vector<int> ranked_classes(const std::vector<float>& probabilities, int k) {
  std::vector<int> order(probabilities.size());
  for (size_t c = 0; c < order.size(); ++c) order[c] = static_cast<int>(c);
  k = std::min<int>(k, static_cast<int>(order.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
    return probabilities[a] > probabilities[b] || (probabilities[a] == probabilities[b] && a < b);
  });
  order.resize(k);
  return order;
}

// The caption under an image: its name, its true class, the prediction (with --top-k the k most
// probable classes, a line each) and the class the map explains when that is another.
std::vector<std::string> caption(const Subject& s, const attribution::ImageExplanation& e,
                                 const std::vector<std::string>& class_names, int top_k) {
  std::string first = s.name + ": ";
  if (s.label >= 0) first += "true " + class_names[s.label] + ", ";
  first += "pred " + class_names[e.predicted] + " " + percent(e.probabilities[e.predicted]);
  if (e.explained != e.predicted) {
    first += ", map of " + class_names[e.explained] + " " + percent(e.probability);
  }
  std::vector<std::string> lines{first};
  if (top_k > 1) {
    const std::vector<int> top = ranked_classes(e.probabilities, top_k);
    for (size_t i = 0; i < top.size(); ++i) {
      lines.push_back(std::to_string(i + 1) + ". " + class_names[top[i]] + " " +
                      percent(e.probabilities[top[i]]));
    }
  }
  return lines;
}

// The --per-image file name stem of each subject: its name with "_" for " ", and "-2", "-3", ...
// added to a stem already taken, so that two --image files of the same name from different
// folders do not overwrite each other's maps. Method names hold no "_", so stem + "_" + method
// stays unique too.
std::vector<std::string> unique_stems(const std::vector<Subject>& subjects) {
  std::set<std::string> taken;
  std::vector<std::string> stems;
  for (const Subject& s : subjects) {
    std::string file = s.name;
    std::replace(file.begin(), file.end(), ' ', '_');
    const std::string stem = fs::path(file).stem().string();
    std::string unique = stem;
    for (int n = 2; !taken.insert(unique).second; ++n) unique = stem + "-" + std::to_string(n);
    stems.push_back(unique);
  }
  return stems;
}

// What the figures are drawn from: the maps, and each image's picture, caption and file stem.
struct Sheet {
  const VizRequest& request;
  const ExplainedModel& model;
  const std::vector<attribution::Method>& methods;
  const viz::HeatStyle& style;
  const std::vector<attribution::ImageExplanation>& explanations;
  std::vector<image::Canvas> pictures;
  std::vector<std::vector<std::string>> captions;
  std::vector<std::string> stems;
};

// Method m's grid of captioned tiles, and with --per-image its overlay of each image.
std::string write_method_grid(const Sheet& sheet, size_t m) {
  const VizRequest& r = sheet.request;
  const std::string name = attribution::method_name(sheet.methods[m]);
  std::vector<image::Canvas> tiles;
  for (size_t i = 0; i < sheet.pictures.size(); ++i) {
    const std::vector<float>& scores = sheet.explanations[i].scores[m];
    tiles.push_back(viz::captioned_tile(sheet.pictures[i], scores, sheet.captions[i], sheet.style));
    if (r.per_image) {
      fs::create_directories(r.out_dir + "/per_image");
      const std::string path = r.out_dir + "/per_image/" + sheet.stems[i] + "_" + name + ".png";
      image::write_png(path, viz::heat_overlay(sheet.pictures[i], scores, sheet.style));
    }
  }
  const std::string path = r.out_dir + "/attention_" + name + ".png";
  const int columns = sheet.model.published() ? 4 : 6;
  image::write_png(path, viz::grid(tiles, columns, "sav: " + name + " (" + sheet.model.path + ")"));
  return path;
}

// --save-maps: method m's maps as .npy [images, grid rows, grid columns], the method's name added
// to the file name when there are several.
std::string write_maps(const Sheet& sheet, size_t m) {
  const std::string& save_maps = sheet.request.save_maps;
  const std::string name = attribution::method_name(sheet.methods[m]);
  std::vector<float> maps;
  for (const auto& e : sheet.explanations) {
    maps.insert(maps.end(), e.scores[m].begin(), e.scores[m].end());
  }
  const fs::path target(save_maps);
  const std::string npy = sheet.methods.size() == 1
                              ? save_maps
                              : (target.parent_path() / (target.stem().string() + "_" + name +
                                                         target.extension().string()))
                                    .string();
  io::write_npy(npy, maps,
                {static_cast<int64_t>(sheet.explanations.size()), sheet.model.grid_rows(),
                 sheet.model.grid_cols()});
  return npy;
}

// --compare: a row per image, a column per method.
std::string write_comparison(const Sheet& sheet) {
  std::vector<std::vector<std::vector<float>>> scores;
  for (const auto& e : sheet.explanations) scores.push_back(e.scores);
  std::vector<std::string> names;
  for (attribution::Method m : sheet.methods) names.push_back(attribution::method_name(m));
  const std::string path = sheet.request.out_dir + "/attention_compare.png";
  image::write_png(
      path, viz::comparison_sheet(sheet.pictures, scores, names, sheet.captions, sheet.style));
  return path;
}

// Writes every figure and map file; returns their paths in the order they are reported.
std::vector<std::string> write_figures(
    const VizRequest& r, const ExplainedModel& model,
    const std::vector<attribution::Method>& methods, const viz::HeatStyle& style,
    const std::vector<Subject>& subjects,
    const std::vector<attribution::ImageExplanation>& explanations) {
  fs::create_directories(r.out_dir);
  Sheet sheet{r, model, methods, style, explanations, {}, {}, unique_stems(subjects)};
  for (size_t i = 0; i < subjects.size(); ++i) {
    sheet.pictures.push_back(subjects[i].picture);
    sheet.captions.push_back(caption(subjects[i], explanations[i], model.class_names, r.top_k));
  }
  std::vector<std::string> written;
  for (size_t m = 0; m < methods.size(); ++m) {
    written.push_back(write_method_grid(sheet, m));
    if (!r.save_maps.empty()) written.push_back(write_maps(sheet, m));
  }
  if (!r.compare_text.empty()) written.push_back(write_comparison(sheet));
  return written;
}

// The style on the model's grid. A photo is shown at its size unless --scale says otherwise,
// and no figure is drawn with images over 4,096 pixels a side.
viz::HeatStyle model_style(const VizRequest& r, viz::HeatStyle style, const ExplainedModel& model) {
  if (model.published() && !r.scale_given) style.scale = 1;
  style.grid_rows = static_cast<int>(model.grid_rows());
  style.grid_cols = static_cast<int>(model.grid_cols());
  const int64_t side = std::max(model.input_width(), model.input_height()) * style.scale;
  if (side > 4096) {
    usage_fail("--scale ", style.scale, ": the model's ", model.input_width(), " x ",
               model.input_height(), " input would be drawn ", side,
               " pixels wide; the most is 4096 (try --scale ",
               std::max<int64_t>(1, 4096 / (side / style.scale)), ")");
  }
  return style;
}

ExplainedModel load_model(const VizRequest& r, Device device) {
  if (!r.model_path.empty()) return load_published_model(r.model_path, device);
  return load_checkpoint_model(r.checkpoint_path, r.data_dir, device);
}

int run(int argc, char** argv) {
  VizRequest request;
  if (const std::optional<int> status = parse_viz_flags(argc, argv, request)) return *status;
  const std::vector<attribution::Method> methods = chosen_methods(request);
  check_subject_flags(request);
  const viz::HeatStyle flag_style = heat_style(request);
  attribution::ExplainOptions options = explain_options(request, methods);

  const Device device = job_device(request.device_name, dist::world());
  set_device_threads(device, job_threads(request.threads, dist::world()));
  const ExplainedModel model = load_model(request, device);
  const viz::HeatStyle style = model_style(request, flag_style, model);
  if (!request.class_text.empty()) {
    options.explained_class = class_index(request.class_text, model.class_names);
  }
  // --faithfulness has refused --class above.
  if (request.faithfulness) {
    return report_faithfulness(request, methods, options.settings, model, device);
  }

  const std::vector<Subject> subjects = load_subjects(request, model, device);
  const std::vector<attribution::ImageExplanation> explanations =
      explain_subjects(model, subjects, options);
  if (!dist::world().is_root()) return 0;  // rank 0 draws the figures from every rank's maps
  for (const std::string& path :
       write_figures(request, model, methods, style, subjects, explanations)) {
    std::cout << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sav::run_program("sav_viz", [&] { return run(argc, argv); });
}
