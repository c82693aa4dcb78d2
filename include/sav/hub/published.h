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

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"

namespace sav::hub {

enum class Source { kTimm, kTransformers };
std::string source_name(Source source);  // "timm", "transformers"

// How the model's library prepares an image for it.
struct InputSpec {
  int64_t height = 224, width = 224;  // what the model takes
  // Resize either the shorter side to `resize_shorter`, keeping the aspect ratio, then crop the
  // centre to height x width (timm, DeiT), or the whole image to height x width (ViT).
  bool resize_shorter_side = true;
  int64_t resize_shorter = 248;
  std::string interpolation = "bicubic";  // bilinear, bicubic or nearest
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
};

struct PublishedModel {
  std::string path;  // the folder (or file) it was read from
  Source source = Source::kTimm;
  std::string architecture;  // timm's model name, or the transformers class
  nn::VitConfig config;
  int64_t patch_size = 16, channels = 3;
  std::vector<std::string> class_names;  // empty where the files name none
  InputSpec input;
  io::SafetensorsFile weights;  // under sav's names, in sav's shapes
};

// Reads a published model from `path`: a folder holding config.json and model.safetensors (or
// model.safetensors.index.json and its shards), or one .safetensors file with config.json beside
// it. Throws UsageError naming the file and the key or tensor for anything sav does not run.
PublishedModel read_published(const std::string& path);

// Copies the weights into `model`, built from `published.config`.
void load_weights(const PublishedModel& published, const nn::VisionTransformer& model);

}  // namespace sav::hub
