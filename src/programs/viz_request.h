// sav_viz's command line: its flags, parsed into a VizRequest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sav {

// What the command line asks for; the defaults are the flags' defaults.
struct VizRequest {
  std::string checkpoint_path = "data/checkpoints/best.safetensors";
  std::string data_dir = "data/cifar-10-batches-bin", out_dir = "data/outputs";
  std::string images_text, method_name = "seed", compare_text, class_text;
  std::string colormap_name = "coolwarm", upsample_name = "bicubic", fusion_name = "mean";
  std::string device_name = "auto", save_maps;
  std::string model_path, images_dir;  // a published ViT, and a folder of photos
  std::vector<std::string> user_images;
  int top_k = 1, steps = 0;
  int64_t count = 24;
  int scale = 8, threads = 0;
  double alpha = 0.4, residual_weight = 0.5, discard_ratio = 0.0;
  uint64_t seed = 0;
  bool per_image = false, faithfulness = false, true_class = false;
  int draws = 10;
  // Whether these flags were given at all: without them, --faithfulness has its own defaults.
  bool images_given = false, count_given = false, method_given = false, scale_given = false;
};

// Parses the command line into `request`; returns the exit status when the run ends here
// (--help, or a flag refused). In a job of several processes only rank 0 prints why.
std::optional<int> parse_viz_flags(int argc, char** argv, VizRequest& request);

}  // namespace sav
