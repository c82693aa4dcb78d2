// Published Vision Transformers as their libraries save them, read into sav's standard ViT
// (nn::VitConfig with the standard family's choices) and its parameter names:
// - timm: model.safetensors with timm's names (patch_embed.proj, blocks.{i}.attn.qkv, norm1,
//   mlp.fc1, norm, head, pos_embed, cls_token, dist_token, head_dist) and config.json
//   (architecture, num_classes, pretrained_cfg, label_names, model_args);
// - Hugging Face transformers ViTForImageClassification, DeiTForImageClassification and
//   DeiTForImageClassificationWithTeacher: model.safetensors (or a sharded
//   model.safetensors.index.json) with their names (vit.embeddings..., vit.encoder.layer.{i}...,
//   classifier), config.json and preprocessor_config.json.
// Nothing is guessed: a file sav cannot run exactly as its library would is refused, naming the
// file, the key or tensor, and what sav reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sav/image/photo.h"
#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"

namespace sav::hub {

enum class Source { kTimm, kTransformers };
std::string source_name(Source source);  // "timm", "transformers"

struct PublishedModel {
  std::string path;  // the folder (or file) it was read from
  Source source = Source::kTimm;
  std::string architecture;  // timm's model name, or the transformers class
  nn::VitConfig config;
  int64_t patch_size = 16, channels = 3;
  // One per class: label_names or id2label; ImageNet-1k's for a timm model of 1,000 classes
  // without label_names; empty where neither applies.
  std::vector<std::string> class_names;
  // How the model's library prepares a photo for it: resize, centre crop, mean and std. The
  // crop (or the exact resize) is the model's input, config.grid_* times patch_size.
  image::Preprocess preprocess;
  io::SafetensorsFile weights;  // under sav's names, in sav's shapes
};

// Reads a published model from `path`: a folder holding config.json and model.safetensors (or
// model.safetensors.index.json and its shards), or one .safetensors file with config.json beside
// it. Throws UsageError naming the file and the key or tensor for anything sav does not run.
PublishedModel read_published(const std::string& path);

// ImageNet-1k's 1,000 class names in index order: what a timm model with 1,000 classes and no
// label_names of its own is read with.
const std::vector<std::string>& imagenet_class_names();

// Copies the weights into `model`, built from `published.config`.
void load_weights(const PublishedModel& published, const nn::VisionTransformer& model);

}  // namespace sav::hub
