// sav_viz's two kinds of model and the images they explain: a checkpoint sav_train wrote (the
// CIFAR-10 model, 32 x 32 images) or a published ViT (timm, Hugging Face) and photographs. Both
// end as the same thing: a model, its class names, and subjects that carry the picture to draw
// over and the patch tokens the model takes; then the subjects' maps, which the processes of a job
// share out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sav/attribution/explain.h"
#include "sav/data/cifar10.h"
#include "sav/device.h"
#include "sav/image/canvas.h"
#include "sav/image/photo.h"
#include "sav/nn/vit.h"

namespace sav {

struct ExplainedModel {
  std::unique_ptr<nn::VisionTransformer> vit;
  std::string path;                      // named in titles and reports
  std::vector<std::string> class_names;  // one per class
  int patch = 4;                         // pixels a patch is wide and high
  // A published model's transform of a photo into its input; none for a sav checkpoint, whose
  // inputs are 32 x 32 images.
  std::optional<image::Preprocess> preprocess;

  bool published() const { return preprocess.has_value(); }
  int64_t grid_rows() const { return vit->config().grid_height; }
  int64_t grid_cols() const { return vit->config().grid_width; }
  int64_t input_height() const { return grid_rows() * patch; }
  int64_t input_width() const { return grid_cols() * patch; }
};

// A checkpoint sav_train wrote, with CIFAR-10's class names from data_dir/batches.meta.txt. A
// checkpoint that cannot be read, or does not match its own configuration, is a UsageError
// naming the file and the tensor.
ExplainedModel load_checkpoint_model(const std::string& path, const std::string& data_dir,
                                     Device device);

// A published model (hub::read_published); its class names are its own, ImageNet-1k's for a
// timm model of 1,000 classes that names none, or "class N".
ExplainedModel load_published_model(const std::string& path, Device device);

// One image to explain.
struct Subject {
  image::Canvas picture{1, 1};  // what the model sees, as bytes: drawn under the heat map
  std::vector<float> tokens;    // the model's input [patches, features]
  std::string name;             // "test 17" or the file name
  int label = -1;               // the true class; -1 for the user's own images
};

// A CIFAR-10 record (planar R, G, B bytes, kPixelBytes).
Subject cifar_subject(const uint8_t* pixels, std::string name, int label);

// The user's photo (JPEG or PNG, any size) as `model` takes it: resized to 32 x 32 for a sav
// checkpoint, or through a published model's own transform. Throws sav::Error naming the file.
Subject photo_subject(const ExplainedModel& model, const std::string& path);

// The photos in `folder` (files ending .jpg, .jpeg or .png in any case, not in subfolders), by
// name; a UsageError when there are none or more than `limit`.
std::vector<std::string> photos_in(const std::string& folder, size_t limit);

// The tokens [n, patches, features] of subjects [first, first + n), on the model's device.
Tensor subject_batch(const ExplainedModel& model, const std::vector<Subject>& subjects,
                     size_t first, size_t n);

// The maps of every subject and method, explained in batches of about 3,200 patches (50 CIFAR
// images, 16 at 224 / 16). In a job of several processes (mpirun) rank r explains a contiguous
// share of the batches, [floor(r B / N), floor((r + 1) B / N)) of the B, each whole, so that every
// image's maps are computed beside the same images as by one process, bit for bit; rank 0 gathers
// them all, and the other ranks get none.
std::vector<attribution::ImageExplanation> explain_subjects(
    const ExplainedModel& model, const std::vector<Subject>& subjects,
    const attribution::ExplainOptions& options);

}  // namespace sav
