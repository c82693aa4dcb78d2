// sav_viz's flags, in the order --help lists them, grouped by what they choose.
#include "programs/viz_request.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>

#include "programs/command_line.h"
#include "sav/dist/communicator.h"

namespace sav {
namespace {

// The flags whose presence is read after parsing.
struct GivenFlags {
  CLI::Option* images = nullptr;
  CLI::Option* count = nullptr;
  CLI::Option* method = nullptr;
  CLI::Option* scale = nullptr;
};

// The model and the images: the first N test images, some by index, or the user's own photos.
void add_subject_flags(CLI::App& app, VizRequest& r, GivenFlags& given) {
  auto* checkpoint =
      app.add_option(
             "--checkpoint", r.checkpoint_path,
             "the model to explain: a checkpoint sav_train wrote (its moving average of the "
             "weights where it holds one: training.ema_decay)")
          ->capture_default_str();
  auto* model = app.add_option("--model", r.model_path,
                               "or a published ViT: a timm or Hugging Face folder (config.json "
                               "and model.safetensors), or its .safetensors file");
  model->excludes(checkpoint);
  app.add_option("--data", r.data_dir, "folder of the CIFAR-10 binary batches")
      ->capture_default_str();
  given.images = app.add_option("--images", r.images_text, "test images by index, e.g. 0,5,17");
  given.count = app.add_option("--count", r.count, "the first N test images")
                    ->check(CLI::Range(int64_t{1}, int64_t{10000}))
                    ->capture_default_str();
  auto* user_opt = app.add_option("--image", r.user_images,
                                  "your own photo(s), JPEG or PNG, any size (resized to 32 x 32 "
                                  "for a sav checkpoint, as the model's own transform says for "
                                  "--model)")
                       ->check(CLI::ExistingFile);
  auto* dir_opt = app.add_option("--images-dir", r.images_dir,
                                 "every .jpg, .jpeg and .png file in this folder, by name");
  given.images->excludes(given.count)->excludes(user_opt)->excludes(dir_opt)->excludes(model);
  given.count->excludes(user_opt)->excludes(dir_opt)->excludes(model);
  user_opt->excludes(dir_opt);
}

// Which maps, of which class.
void add_method_flags(CLI::App& app, VizRequest& r, GivenFlags& given) {
  given.method = app.add_option("--method", r.method_name,
                                "seed, rollout, last, grad-rollout, gradcam or random")
                     ->capture_default_str();
  app.add_option("--compare", r.compare_text,
                 "methods side by side, e.g. seed,rollout,grad-rollout");
  app.add_option("--class", r.class_text,
                 "explain this class (index or name) instead of the prediction");
  app.add_option("--top-k", r.top_k, "the K most probable classes under each image")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
}

// How a map is drawn over its image.
void add_style_flags(CLI::App& app, VizRequest& r, GivenFlags& given) {
  app.add_option("--colormap", r.colormap_name, "coolwarm, jet, viridis, inferno or gray")
      ->capture_default_str();
  app.add_option("--alpha", r.alpha, "opacity of the heat map")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--upsample", r.upsample_name, "nearest, bilinear or bicubic")
      ->capture_default_str();
  given.scale = app.add_option("--scale", r.scale,
                               "pixels an input pixel is shown as (default: 8 for a sav "
                               "checkpoint's 32 x 32 images, 1 for --model's)")
                    ->check(CLI::Range(1, 32));
}

// The methods' own knobs: rollout's, and the random baseline's seed.
void add_method_setting_flags(CLI::App& app, VizRequest& r) {
  app.add_option("--residual-weight", r.residual_weight, "rollout: weight of the identity")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--head-fusion", r.fusion_name, "rollout: mean, max or min over heads")
      ->capture_default_str();
  app.add_option("--discard-ratio", r.discard_ratio,
                 "rollout: drop this fraction of the weakest attention")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_option("--seed", r.seed, "seed of the random baseline")->capture_default_str();
}

// What is written, and where the work runs.
void add_output_flags(CLI::App& app, VizRequest& r) {
  app.add_flag("--per-image", r.per_image,
               "also one PNG per image and method under <out>/per_image/ (inputs of the same "
               "file name get -2, -3, ... after it)");
  app.add_option("--save-maps", r.save_maps,
                 "write the maps as NumPy .npy [images, grid rows, grid columns] (8 x 8 for a "
                 "sav checkpoint, 14 x 14 for a ViT at 224 / 16)");
  app.add_option("--out", r.out_dir, "folder for the PNGs")->capture_default_str();
  app.add_option("--threads", r.threads,
                 "CPU threads, 0 for all cores (under mpirun: shared by the ranks on a machine)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--device", r.device_name, "cpu, cuda, cuda:N or auto")->capture_default_str();
}

void add_faithfulness_flags(CLI::App& app, VizRequest& r) {
  app.add_flag("--faithfulness", r.faithfulness,
               "measure deletion/insertion AUCs of --compare's methods (default: all) against "
               "random on the --count first test images (default: all 10,000 on a GPU, 100 on "
               "the CPU, where an image takes about 5 s), or with --model on the photos of "
               "--image or --images-dir");
  app.add_flag("--true-class", r.true_class,
               "--faithfulness: follow the true class's probability (default: the predicted)");
  app.add_option("--steps", r.steps,
                 "--faithfulness: remove or reveal the patches in K equal steps (K divides the "
                 "patches; default: one patch a step up to 64 patches, one row of patches a "
                 "step beyond, e.g. 14 steps at 14 x 14)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--draws", r.draws, "--faithfulness: random maps per image")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
}

// Sends what is written to std::cout and std::cerr nowhere while it lives.
class Silenced {
 public:
  Silenced() : out_(std::cout.rdbuf(&sink_)), err_(std::cerr.rdbuf(&sink_)) {}
  ~Silenced() {
    std::cout.rdbuf(out_);
    std::cerr.rdbuf(err_);
  }
  Silenced(const Silenced&) = delete;
  Silenced& operator=(const Silenced&) = delete;

 private:
  std::stringbuf sink_;
  std::streambuf* out_;
  std::streambuf* err_;
};

}  // namespace

std::optional<int> parse_viz_flags(int argc, char** argv, VizRequest& request) {
  CLI::App app{
      "sav_viz: heat maps of the image regions a ViT's decisions rest on: a model "
      "sav_train trained (--checkpoint, on CIFAR-10 test images or your photos) or a "
      "published timm or Hugging Face ViT (--model, on your photos). Writes "
      "<out>/attention_<method>.png (a grid of image and overlay tiles), with "
      "--compare <out>/attention_compare.png (a row per image, a column per method). "
      "With --faithfulness it measures instead whether each method's maps point at what "
      "the model uses (deletion and insertion AUCs against random, and a sanity check on "
      "a randomised model): <out>/faithfulness.md, .csv and .png."};
  // The order the flags are added in is the order --help lists them in.
  GivenFlags given;
  add_subject_flags(app, request, given);
  add_method_flags(app, request, given);
  add_style_flags(app, request, given);
  add_method_setting_flags(app, request);
  add_output_flags(app, request);
  add_faithfulness_flags(app, request);
  // In a job of several processes every rank reads the same command line, and rank 0 alone says
  // what is wrong with it, or prints --help.
  std::optional<int> done;
  if (dist::world().is_root()) {
    done = parse_command_line(app, argc, argv);
  } else {
    const Silenced silenced;
    done = parse_command_line(app, argc, argv);
  }
  if (done) return done;
  request.images_given = static_cast<bool>(*given.images);
  request.count_given = given.count->count() != 0;
  request.method_given = given.method->count() != 0;
  request.scale_given = given.scale->count() != 0;
  return std::nullopt;
}

}  // namespace sav
