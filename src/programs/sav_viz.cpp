// sav_viz: heat maps of what a trained ViT's decisions rest on, as PNGs.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "programs/run_program.h"
#include "programs/viz_faithfulness.h"
#include "programs/viz_request.h"
#include "sav/attribution/explain.h"
#include "sav/data/cifar10.h"
#include "sav/data/images.h"
#include "sav/device.h"
#include "sav/error.h"
#include "sav/image/png.h"
#include "sav/io/npy.h"
#include "sav/train/checkpoint.h"
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

// Flags --faithfulness cannot honour are refused rather than ignored.
void check_faithfulness_flags(const VizRequest& r) {
  if (r.faithfulness && !r.user_images.empty()) {
    usage_fail("--faithfulness is measured on test images (--count or --images), not --image");
  }
  if (r.faithfulness && !r.class_text.empty()) {
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

void check_checkpoint_exists(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error("cannot open " + path +
                ": no such file (train a model with ./sav_train, or pass --checkpoint FILE)");
  }
}

// A checkpoint that cannot be read, or does not match its own configuration, is a bad
// argument: the message names the file and the tensor.
std::unique_ptr<nn::VisionTransformer> load_model(const std::string& path, Device device) {
  std::unique_ptr<nn::VisionTransformer> loaded;
  try {
    const train::Checkpoint checkpoint = train::read_checkpoint(path);
    loaded = std::make_unique<nn::VisionTransformer>(checkpoint.config.vit(), device);
    train::load_weights(checkpoint, *loaded);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    usage_fail(e.what());
  }
  return loaded;
}

// --class: a class name, or an index of at most two digits.
int class_index(const std::string& text, const std::vector<std::string>& class_names) {
  const auto named = std::find(class_names.begin(), class_names.end(), text);
  if (named != class_names.end()) return static_cast<int>(named - class_names.begin());
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() < 3 &&
      std::stoi(text) < static_cast<int>(class_names.size())) {
    return std::stoi(text);
  }
  usage_fail("--class ", text, ": not a class index (0-9) or name");
}

// One image to explain: its pixels (planar CIFAR bytes), where it came from and its label.
struct Subject {
  std::vector<uint8_t> pixels;  // 3072
  std::string name;             // "test 17" or the file name
  int label = -1;               // -1 for the user's own images
};

std::vector<uint8_t> planar_from_canvas(const image::Canvas& c) {
  std::vector<uint8_t> planar(data::kPixelBytes);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const image::Rgb p = c.at(x, y);
      planar[y * 32 + x] = p.r;
      planar[1024 + y * 32 + x] = p.g;
      planar[2048 + y * 32 + x] = p.b;
    }
  }
  return planar;
}

Subject user_image(const std::string& path) {
  if (!image::png_has_color(path)) {
    usage_fail(path, ": a greyscale PNG; sav explains colour (RGB) images");
  }
  const image::Canvas picture = image::read_png(path);
  const image::Canvas small = picture.width() == 32 && picture.height() == 32
                                  ? picture
                                  : image::resize_image(picture, 32, 32);
  return {planar_from_canvas(small), fs::path(path).filename().string(), -1};
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

// The user's PNGs, or the test images asked for.
std::vector<Subject> load_subjects(const VizRequest& r, Device device) {
  std::vector<Subject> subjects;
  if (!r.user_images.empty()) {
    for (const std::string& path : r.user_images) subjects.push_back(user_image(path));
    return subjects;
  }
  const data::Cifar10 cifar = data::open_cifar10(r.data_dir);
  for (int64_t index : test_indices(r, cifar.test, device)) {
    Subject s{std::vector<uint8_t>(data::kPixelBytes), "test " + std::to_string(index), -1};
    s.label = cifar.test.read(index, s.pixels.data());
    subjects.push_back(std::move(s));
  }
  return subjects;
}

// --faithfulness: measures on the test images asked for, instead of drawing maps.
int report_faithfulness(const VizRequest& r, const std::vector<attribution::Method>& methods,
                        const attribution::MethodSettings& settings,
                        const nn::VisionTransformer& model, Device device) {
  const data::Cifar10 cifar = data::open_cifar10(r.data_dir);
  FaithfulnessRun run{r.checkpoint_path, r.out_dir, test_indices(r, cifar.test, device),
                      methods,           settings,  r.true_class,
                      r.draws,           r.seed};
  for (const std::string& path : run_faithfulness(model, cifar, run)) {
    std::cout << "wrote " << path << "\n";
  }
  return 0;
}

// The maps of every image and method, explained in batches of 50 images.
std::vector<attribution::ImageExplanation> explain_subjects(
    const nn::VisionTransformer& model, const std::vector<Subject>& subjects,
    const attribution::ExplainOptions& options, Device device) {
  std::vector<attribution::ImageExplanation> explanations;
  constexpr size_t kBatch = 50;
  for (size_t first = 0; first < subjects.size(); first += kBatch) {
    const size_t n = std::min(kBatch, subjects.size() - first);
    std::vector<float> patches(n * data::kPatches * data::kPatchFeatures);
    for (size_t i = 0; i < n; ++i) {
      data::image_to_patches(subjects[first + i].pixels.data(), {},
                             patches.data() + i * data::kPatches * data::kPatchFeatures);
    }
    const Tensor x = Tensor::from_vector(
        {static_cast<int64_t>(n), data::kPatches, data::kPatchFeatures}, patches, device);
    for (auto& e : attribution::explain(model, x, options, first)) {
      explanations.push_back(std::move(e));
    }
  }
  return explanations;
}

std::string percent(double p) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100 * p);
  return text;
}

std::string caption(const Subject& s, const attribution::ImageExplanation& e,
                    const std::vector<std::string>& class_names) {
  std::string caption = s.name + ": ";
  if (s.label >= 0) caption += "true " + class_names[s.label] + ", ";
  caption += "pred " + class_names[e.predicted] + " " + percent(e.probabilities[e.predicted]);
  if (e.explained != e.predicted) {
    caption += ", map of " + class_names[e.explained] + " " + percent(e.probability);
  }
  return caption;
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
  const std::vector<attribution::Method>& methods;
  const viz::HeatStyle& style;
  const std::vector<attribution::ImageExplanation>& explanations;
  std::vector<image::Canvas> pictures;
  std::vector<std::string> captions;
  std::vector<std::string> stems;
};

// Method m's grid of captioned tiles, and with --per-image its overlay of each image.
std::string write_method_grid(const Sheet& sheet, size_t m) {
  const VizRequest& r = sheet.request;
  const std::string name = attribution::method_name(sheet.methods[m]);
  std::vector<image::Canvas> tiles;
  for (size_t i = 0; i < sheet.pictures.size(); ++i) {
    const std::vector<float>& scores = sheet.explanations[i].scores[m];
    const image::Canvas tile =
        viz::captioned_tile(sheet.pictures[i], scores, {sheet.captions[i]}, sheet.style);
    tiles.push_back(tile);
    if (r.per_image) {
      fs::create_directories(r.out_dir + "/per_image");
      const std::string path = r.out_dir + "/per_image/" + sheet.stems[i] + "_" + name + ".png";
      image::write_png(path, viz::heat_overlay(sheet.pictures[i], scores, sheet.style));
    }
  }
  const std::string path = r.out_dir + "/attention_" + name + ".png";
  image::write_png(path, viz::grid(tiles, 6, "sav: " + name + " (" + r.checkpoint_path + ")"));
  return path;
}

// --save-maps: method m's maps as .npy, the method's name added to the file name when there are
// several.
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
  io::write_npy(npy, maps, {static_cast<int64_t>(sheet.explanations.size()), 8, 8});
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
    const VizRequest& r, const std::vector<attribution::Method>& methods,
    const viz::HeatStyle& style, const std::vector<Subject>& subjects,
    const std::vector<attribution::ImageExplanation>& explanations,
    const std::vector<std::string>& class_names) {
  fs::create_directories(r.out_dir);
  Sheet sheet{r, methods, style, explanations, {}, {}, unique_stems(subjects)};
  for (size_t i = 0; i < subjects.size(); ++i) {
    sheet.pictures.push_back(viz::image_from_planar(subjects[i].pixels.data()));
    sheet.captions.push_back(caption(subjects[i], explanations[i], class_names));
  }
  std::vector<std::string> written;
  for (size_t m = 0; m < methods.size(); ++m) {
    written.push_back(write_method_grid(sheet, m));
    if (!r.save_maps.empty()) written.push_back(write_maps(sheet, m));
  }
  if (!r.compare_text.empty()) written.push_back(write_comparison(sheet));
  return written;
}

int run(int argc, char** argv) {
  VizRequest request;
  if (const std::optional<int> status = parse_viz_flags(argc, argv, request)) return *status;
  const std::vector<attribution::Method> methods = chosen_methods(request);
  check_faithfulness_flags(request);
  const viz::HeatStyle style = heat_style(request);
  attribution::ExplainOptions options = explain_options(request, methods);

  check_checkpoint_exists(request.checkpoint_path);
  const Device device = parse_device(request.device_name);
  set_device_threads(device, request.threads);
  const std::unique_ptr<nn::VisionTransformer> model = load_model(request.checkpoint_path, device);
  const std::vector<std::string> class_names =
      data::read_class_names(request.data_dir + "/batches.meta.txt");
  if (!request.class_text.empty()) {
    options.explained_class = class_index(request.class_text, class_names);
  }
  // --faithfulness has refused --image and --class above: it measures on test images.
  if (request.faithfulness) {
    return report_faithfulness(request, methods, options.settings, *model, device);
  }

  const std::vector<Subject> subjects = load_subjects(request, device);
  const std::vector<attribution::ImageExplanation> explanations =
      explain_subjects(*model, subjects, options, device);
  for (const std::string& path :
       write_figures(request, methods, style, subjects, explanations, class_names)) {
    std::cout << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sav::run_program("sav_viz", [&] { return run(argc, argv); });
}
