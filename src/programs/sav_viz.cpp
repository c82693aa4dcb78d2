// sav_viz: heat maps of what a trained ViT's decisions rest on, as PNGs.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "sav/attribution/explain.h"
#include "sav/backend.h"
#include "sav/data/cifar10.h"
#include "sav/data/images.h"
#include "programs/run_program.h"
#include "programs/viz_faithfulness.h"
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

std::string percent(double p) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100 * p);
  return text;
}

int run(int argc, char** argv) {
  CLI::App app{"sav_viz: heat maps of the image regions a trained ViT's decisions rest on. "
               "Writes <out>/attention_<method>.png (a grid of image and overlay tiles), with "
               "--compare <out>/attention_compare.png (a row per image, a column per method). "
               "With --faithfulness it measures instead whether each method's maps point at what "
               "the model uses (deletion and insertion AUCs against random, and a sanity check on "
               "a randomised model): <out>/faithfulness.md, .csv and .png."};
  std::string checkpoint_path = "data/checkpoints/best.safetensors";
  std::string data_dir = "data/cifar-10-batches-bin", out_dir = "data/outputs";
  std::string images_text, method_name = "seed", compare_text, class_text;
  std::string colormap_name = "coolwarm", upsample_name = "bicubic", fusion_name = "mean";
  std::string device_name = "auto", save_maps;
  std::vector<std::string> user_images;
  int64_t count = 24;
  int scale = 8, threads = 0;
  double alpha = 0.4, residual_weight = 0.5, discard_ratio = 0.0;
  uint64_t seed = 0;
  bool per_image = false, faithfulness = false, true_class = false;
  int draws = 10;
  app.add_option("--checkpoint", checkpoint_path, "the model to explain")->capture_default_str();
  app.add_option("--data", data_dir, "folder of the CIFAR-10 binary batches")->capture_default_str();
  auto* images_opt = app.add_option("--images", images_text, "test images by index, e.g. 0,5,17");
  auto* count_opt = app.add_option("--count", count, "the first N test images")
                        ->check(CLI::Range(int64_t{1}, int64_t{10000}))
                        ->capture_default_str();
  auto* user_opt = app.add_option("--image", user_images, "your own PNG file(s), resized to 32 x 32")
                       ->check(CLI::ExistingFile);
  images_opt->excludes(count_opt)->excludes(user_opt);
  count_opt->excludes(user_opt);
  auto* method_opt = app.add_option("--method", method_name,
                 "seed, rollout, last, grad-rollout, gradcam or random")
      ->capture_default_str();
  app.add_option("--compare", compare_text, "methods side by side, e.g. seed,rollout,grad-rollout");
  app.add_option("--class", class_text, "explain this class (index or name) instead of the prediction");
  app.add_option("--colormap", colormap_name, "coolwarm, jet, viridis, inferno or gray")
      ->capture_default_str();
  app.add_option("--alpha", alpha, "opacity of the heat map")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--upsample", upsample_name, "nearest, bilinear or bicubic")->capture_default_str();
  app.add_option("--scale", scale, "pixels a CIFAR pixel is shown as")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  app.add_option("--residual-weight", residual_weight, "rollout: weight of the identity")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--head-fusion", fusion_name, "rollout: mean, max or min over heads")
      ->capture_default_str();
  app.add_option("--discard-ratio", discard_ratio, "rollout: drop this fraction of the weakest attention")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the random baseline")->capture_default_str();
  app.add_flag("--per-image", per_image,
               "also one PNG per image and method under <out>/per_image/ (inputs of the same "
               "file name get -2, -3, ... after it)");
  app.add_option("--save-maps", save_maps, "write the 8 x 8 maps as NumPy .npy [images, 8, 8]");
  app.add_option("--out", out_dir, "folder for the PNGs")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads, 0 for all cores")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--device", device_name, "cpu, cuda, cuda:N or auto")->capture_default_str();
  app.add_flag("--faithfulness", faithfulness,
               "measure deletion/insertion AUCs of --compare's methods (default: all) against "
               "random on the --count first test images (default: all 10,000 on a GPU, 100 on "
               "the CPU, where an image takes about 5 s)");
  app.add_flag("--true-class", true_class,
               "--faithfulness: follow the true class's probability (default: the predicted)");
  app.add_option("--draws", draws, "--faithfulness: random maps per image")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // Methods: --method, or the --compare list; with --faithfulness and neither, all of them.
  std::vector<attribution::Method> methods;
  if (faithfulness && compare_text.empty() && method_opt->count() == 0) {
    methods = attribution::all_methods();
  } else {
    for (const std::string& name : compare_text.empty() ? std::vector<std::string>{method_name}
                                                        : split_list(compare_text)) {
      methods.push_back(attribution::parse_method(name));
    }
  }
  if (faithfulness && !user_images.empty()) {
    usage_fail("--faithfulness is measured on test images (--count or --images), not --image");
  }
  if (faithfulness && !class_text.empty()) {
    usage_fail("--faithfulness follows the predicted class, or the true one with --true-class; "
               "--class does not apply");
  }
  viz::HeatStyle style;
  style.colormap = image::parse_colormap(colormap_name);
  style.upsample = image::parse_upsample(upsample_name);
  style.alpha = alpha;
  style.scale = scale;
  attribution::ExplainOptions options;
  options.methods = methods;
  options.settings.residual_weight = residual_weight;
  options.settings.fusion = attribution::parse_fusion(fusion_name);
  options.settings.discard_ratio = discard_ratio;
  options.random_seed = seed;

  if (!fs::exists(checkpoint_path)) {
    throw Error("cannot open " + checkpoint_path +
                ": no such file (train a model with ./sav_train, or pass --checkpoint FILE)");
  }
  const Device device = parse_device(device_name);
  backend_for(device).set_num_threads(threads);
  // A checkpoint that cannot be read, or does not match its own configuration, is a bad
  // argument: the message names the file and the tensor.
  std::unique_ptr<nn::VisionTransformer> loaded;
  try {
    const train::Checkpoint checkpoint = train::read_checkpoint(checkpoint_path);
    loaded = std::make_unique<nn::VisionTransformer>(checkpoint.config.vit(), device);
    train::load_weights(checkpoint, *loaded);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    usage_fail(e.what());
  }
  const nn::VisionTransformer& model = *loaded;

  const std::vector<std::string> class_names =
      data::read_class_names(data_dir + "/batches.meta.txt");
  if (!class_text.empty()) {
    const auto named = std::find(class_names.begin(), class_names.end(), class_text);
    if (named != class_names.end()) {
      options.explained_class = static_cast<int>(named - class_names.begin());
    } else if (class_text.find_first_not_of("0123456789") == std::string::npos &&
               class_text.size() < 3 && std::stoi(class_text) < static_cast<int>(class_names.size())) {
      options.explained_class = std::stoi(class_text);
    } else {
      usage_fail("--class ", class_text, ": not a class index (0-9) or name");
    }
  }

  std::vector<Subject> subjects;
  if (!user_images.empty()) {
    for (const std::string& path : user_images) subjects.push_back(user_image(path));
  } else {
    const data::Cifar10 cifar = data::open_cifar10(data_dir);
    std::vector<int64_t> indices;
    if (*images_opt) {
      for (const std::string& item : split_list(images_text)) {
        if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 9) {
          usage_fail("--images: '", item, "' is not an image index");
        }
        const int64_t index = std::stoll(item);
        if (index >= cifar.test.size()) {
          usage_fail("--images: index ", index, " is out of range (the test set has ",
                     cifar.test.size(), " images, 0 to ", cifar.test.size() - 1, ")");
        }
        indices.push_back(index);
      }
      if (indices.empty()) usage_fail("--images: no index given");
    } else {
      if (faithfulness && count_opt->count() == 0) {
        count = device.type == DeviceType::kCpu ? 100 : cifar.test.size();
      }
      if (count > cifar.test.size()) {
        usage_fail("--count ", count, ": the test set has ", cifar.test.size(), " images");
      }
      for (int64_t i = 0; i < count; ++i) indices.push_back(i);
    }
    if (faithfulness) {
      FaithfulnessRun run{checkpoint_path, out_dir, indices, methods, options.settings,
                          true_class, draws, seed};
      for (const std::string& path : run_faithfulness(model, cifar, run)) {
        std::cout << "wrote " << path << "\n";
      }
      return 0;
    }
    for (int64_t index : indices) {
      Subject s{std::vector<uint8_t>(data::kPixelBytes), "test " + std::to_string(index), -1};
      s.label = cifar.test.read(index, s.pixels.data());
      subjects.push_back(std::move(s));
    }
  }

  // Explain in batches; the maps of every image and method.
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
    for (auto& e : attribution::explain(model, x, options, first)) explanations.push_back(std::move(e));
  }

  fs::create_directories(out_dir);
  std::vector<image::Canvas> pictures;
  std::vector<std::string> captions;
  for (size_t i = 0; i < subjects.size(); ++i) {
    const Subject& s = subjects[i];
    const attribution::ImageExplanation& e = explanations[i];
    pictures.push_back(viz::image_from_planar(s.pixels.data()));
    std::string caption = s.name + ": ";
    if (s.label >= 0) caption += "true " + class_names[s.label] + ", ";
    caption += "pred " + class_names[e.predicted] + " " + percent(e.probabilities[e.predicted]);
    if (e.explained != e.predicted) {
      caption += ", map of " + class_names[e.explained] + " " + percent(e.probability);
    }
    captions.push_back(caption);
  }

  std::vector<std::string> written;
  const std::vector<std::string> stems = unique_stems(subjects);
  for (size_t m = 0; m < methods.size(); ++m) {
    const std::string name = attribution::method_name(methods[m]);
    std::vector<image::Canvas> tiles;
    for (size_t i = 0; i < subjects.size(); ++i) {
      const image::Canvas tile =
          viz::captioned_tile(pictures[i], explanations[i].scores[m], {captions[i]}, style);
      tiles.push_back(tile);
      if (per_image) {
        fs::create_directories(out_dir + "/per_image");
        const std::string path = out_dir + "/per_image/" + stems[i] + "_" + name + ".png";
        image::write_png(path, viz::heat_overlay(pictures[i], explanations[i].scores[m], style));
      }
    }
    const std::string path = out_dir + "/attention_" + name + ".png";
    image::write_png(path, viz::grid(tiles, 6, "sav: " + name + " (" + checkpoint_path + ")"));
    written.push_back(path);

    if (!save_maps.empty()) {
      std::vector<float> maps;
      for (const auto& e : explanations) maps.insert(maps.end(), e.scores[m].begin(), e.scores[m].end());
      const fs::path target(save_maps);
      const std::string npy = methods.size() == 1
                                  ? save_maps
                                  : (target.parent_path() / (target.stem().string() + "_" + name +
                                                             target.extension().string()))
                                        .string();
      io::write_npy(npy, maps, {static_cast<int64_t>(subjects.size()), 8, 8});
      written.push_back(npy);
    }
  }
  if (!compare_text.empty()) {
    std::vector<std::vector<std::vector<float>>> scores;
    for (const auto& e : explanations) scores.push_back(e.scores);
    std::vector<std::string> names;
    for (attribution::Method m : methods) names.push_back(attribution::method_name(m));
    const std::string path = out_dir + "/attention_compare.png";
    image::write_png(path, viz::comparison_sheet(pictures, scores, names, captions, style));
    written.push_back(path);
  }
  for (const std::string& path : written) std::cout << "wrote " << path << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sav::run_program("sav_viz", [&] { return run(argc, argv); });
}
