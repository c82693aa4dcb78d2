// Published ViTs (timm's and transformers' layouts, F32, F16, BF16 and sharded files) read into
// sav's standard ViT and run against the PyTorch reference of tools/vit_reference.py, whose
// outputs are committed under tests/fixtures/published_vit/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "npy_reader.h"
#include "sav/attribution/explain.h"
#include "sav/error.h"
#include "sav/hub/published.h"
#include "sav/io/safetensors.h"
#include "sav/nn/vit.h"
#include "test_support.h"

namespace sav::testing {
namespace {

std::string fixture(const std::string& name) {
  return std::string(SAV_SOURCE_DIR) + "/tests/fixtures/published_vit/" + name;
}

// input [batch, 3, H, W] -> patches [batch, grid_h * grid_w, 3 * p * p] in the order (channel,
// row in patch, column in patch), as a Conv2d weight flattens.
Tensor patches_of(const NpyArray& input, int64_t patch) {
  const int64_t batch = input.shape[0], channels = input.shape[1], h = input.shape[2],
                w = input.shape[3], gh = h / patch, gw = w / patch;
  const int64_t features = channels * patch * patch;
  std::vector<float> out(static_cast<size_t>(batch * gh * gw * features));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          const int64_t token = (y / patch) * gw + x / patch;
          const int64_t feature = c * patch * patch + (y % patch) * patch + x % patch;
          out[static_cast<size_t>((b * gh * gw + token) * features + feature)] =
              input.values[static_cast<size_t>(((b * channels + c) * h + y) * w + x)];
        }
      }
    }
  }
  return Tensor::from_vector({batch, gh * gw, features}, out);
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// The model in `dir` (a folder tools/vit_reference.py wrote) on its input.npy: the logits within
// 1e-4 of the largest (at least 1), the same predictions, and every layer's attention within 1e-5:
// float32 against the reference's float64, where PyTorch's own float32 run differs by about 2e-6.
// The worst deviations are printed under `label`.
void check_logits_and_attention(const std::string& dir, const std::string& label) {
  const hub::PublishedModel published = hub::read_published(dir);
  nn::VisionTransformer model(published.config, Device::cpu());
  hub::load_weights(published, model);
  const nn::VitOutput out =
      model.forward(patches_of(read_npy(dir + "/input.npy"), published.patch_size));

  const NpyArray logits = read_npy(dir + "/logits.npy");
  const std::vector<float> got = out.logits.to_vector();
  ASSERT_EQ(got.size(), logits.values.size());
  const float tolerance = 1e-4f * std::max(1.0f, max_abs(logits.values));
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(got[i] - logits.values[i]));
  EXPECT_LE(worst, tolerance) << "logits";
  const NpyArray predicted = read_npy(dir + "/predicted.npy");
  const int64_t classes = published.config.classes;
  for (size_t b = 0; b < predicted.values.size(); ++b) {
    const auto row = got.begin() + static_cast<int64_t>(b) * classes;
    EXPECT_EQ(std::max_element(row, row + classes) - row,
              static_cast<int64_t>(predicted.values[b]));
  }

  const NpyArray attention = read_npy(dir + "/attention.npy");  // [layers, batch, heads, T, T]
  ASSERT_EQ(static_cast<int64_t>(out.attention.size()), attention.shape[0]);
  const size_t per_layer = attention.values.size() / out.attention.size();
  float worst_attention = 0;
  for (size_t l = 0; l < out.attention.size(); ++l) {
    const std::vector<float> a = out.attention[l].to_vector();
    ASSERT_EQ(a.size(), per_layer);
    for (size_t i = 0; i < per_layer; ++i) {
      worst_attention =
          std::max(worst_attention, std::fabs(a[i] - attention.values[l * per_layer + i]));
    }
  }
  EXPECT_LE(worst_attention, 1e-5f) << "attention";
  std::cout << label << ": logits within " << worst << ", attention within " << worst_attention
            << "\n";
}

// Every method but random (which sav draws from its own generator) on the reference's maps of
// the model in `dir`, which it computed in float64 from the same definitions generalised to any
// grid and prefix: within 1e-4 of the image's largest score.
void check_maps(const std::string& dir, const std::string& label) {
  const hub::PublishedModel published = hub::read_published(dir);
  nn::VisionTransformer model(published.config, Device::cpu());
  hub::load_weights(published, model);
  const std::vector<attribution::Method> methods = {
      attribution::Method::kSeed, attribution::Method::kRollout, attribution::Method::kLast,
      attribution::Method::kGradRollout, attribution::Method::kGradcam};
  attribution::ExplainOptions options;
  options.methods = methods;
  const std::vector<attribution::ImageExplanation> result = attribution::explain(
      model, patches_of(read_npy(dir + "/input.npy"), published.patch_size), options, 0);
  const NpyArray explained = read_npy(dir + "/explained.npy");
  for (size_t m = 0; m < methods.size(); ++m) {
    const std::string name = attribution::method_name(methods[m]);
    const NpyArray expected = read_npy(dir + "/maps_" + name + ".npy");  // [batch, gh, gw]
    const size_t per_image = expected.values.size() / result.size();
    float worst = 0;
    for (size_t b = 0; b < result.size(); ++b) {
      EXPECT_EQ(result[b].explained, static_cast<int>(explained.values[b]));
      const std::vector<float>& got = result[b].scores[m];
      ASSERT_EQ(got.size(), per_image) << name;
      const std::vector<float> want(expected.values.begin() + b * per_image,
                                    expected.values.begin() + (b + 1) * per_image);
      const float scale = std::max(max_abs(want), 1e-12f);
      for (size_t i = 0; i < per_image; ++i) {
        worst = std::max(worst, std::fabs(got[i] - want[i]) / scale);
      }
    }
    EXPECT_LE(worst, 1e-4f) << name;
    std::cout << label << " " << name << ": within " << worst << " of the largest score\n";
  }
}

class PublishedFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(PublishedFixture, LogitsAndAttentionMatchTheReference) {
  check_logits_and_attention(fixture(GetParam()), GetParam());
}

TEST_P(PublishedFixture, MapsMatchTheReference) { check_maps(fixture(GetParam()), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Layouts, PublishedFixture,
                         ::testing::Values("timm_vit_f32", "timm_deit_distilled_f16", "hf_vit_bf16",
                                           "hf_deit_teacher_sharded", "timm_vit_rect_f32"));

// The same comparisons at full size, on every model folder in $SAV_PUBLISHED_FULL_DIR as
// `python3 tools/vit_reference.py --full DIR` writes them (ViT-S/16 and ViT-B/16 at 224 x 224,
// random weights, a batch of 2; not committed, about 550 MB); skipped when it is not set.
// `bench/compare_pytorch.py --published --check-agreement` writes them to a temporary folder and
// runs this test.
TEST(PublishedFull, MatchesTheReferenceAtFullSize) {
  const char* root = std::getenv("SAV_PUBLISHED_FULL_DIR");
  if (root == nullptr || *root == '\0') GTEST_SKIP() << "SAV_PUBLISHED_FULL_DIR is not set";
  std::vector<std::string> models;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "config.json")) {
      models.push_back(entry.path().filename().string());
    }
  }
  std::sort(models.begin(), models.end());
  ASSERT_FALSE(models.empty()) << "no model folder (with a config.json) in " << root;
  for (const std::string& name : models) {
    SCOPED_TRACE(name);
    const std::string dir = std::string(root) + "/" + name;
    check_logits_and_attention(dir, name);
    check_maps(dir, name);
  }
}

TEST(Published, ReadsTheSizesAndTransformOfEachLayout) {
  const hub::PublishedModel timm = hub::read_published(fixture("timm_deit_distilled_f16"));
  EXPECT_EQ(timm.source, hub::Source::kTimm);
  EXPECT_TRUE(timm.config.distillation_token);
  EXPECT_TRUE(timm.config.distillation_head);
  EXPECT_EQ(timm.config.layernorm_eps, 1e-6f);
  const hub::PublishedModel hf = hub::read_published(fixture("hf_vit_bf16"));
  EXPECT_EQ(hf.source, hub::Source::kTransformers);
  EXPECT_EQ(hf.config.grid_height, 5);
  EXPECT_EQ(hf.config.layernorm_eps, 1e-12f);
  EXPECT_EQ(hf.preprocess.resize, image::Preprocess::Resize::kExact);
  EXPECT_EQ(hf.preprocess.crop_width, 0);
  const hub::PublishedModel deit = hub::read_published(fixture("hf_deit_teacher_sharded"));
  EXPECT_EQ(deit.preprocess.resize_width, 20);
  EXPECT_EQ(deit.preprocess.crop_width, 16);
  EXPECT_TRUE(deit.preprocess.crop_corner_floored);
  EXPECT_EQ(deit.preprocess.interpolation, image::Interpolation::kBicubic);
  const hub::PublishedModel rect = hub::read_published(fixture("timm_vit_rect_f32"));
  EXPECT_EQ(rect.preprocess.resize, image::Preprocess::Resize::kKeepRatio);
  EXPECT_EQ(rect.preprocess.crop_height, rect.config.grid_height * rect.patch_size);
  EXPECT_EQ(rect.preprocess.crop_width, rect.config.grid_width * rect.patch_size);
  EXPECT_EQ(hf.class_names.size(), static_cast<size_t>(hf.config.classes));
}

TEST(Published, RefusesWhatItDoesNotRun) {
  TempFolder folder;
  // No config.json beside the weights.
  EXPECT_THROW(hub::read_published(folder.path()), UsageError);
  {
    std::ofstream(folder.file("config.json"))
        << R"({"model_type": "swin", "architectures": ["SwinForImageClassification"]})";
    std::ofstream(folder.file("model.safetensors")) << "x";
  }
  try {
    hub::read_published(folder.path());
    FAIL() << "a Swin configuration was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not one sav runs"), std::string::npos) << e.what();
  }
}

// One way a published model can be something sav does not run: a change to a fixture's
// config.json, preprocessor_config.json or weights, and what the refusal must name.
struct Refusal {
  const char* what;
  const char* layout;
  std::function<void(nlohmann::json& config, nlohmann::json& processor, io::SafetensorsFile&)>
      change;
  const char* named;
};

io::StoredTensor& tensor(io::SafetensorsFile& file, const std::string& name) {
  for (io::StoredTensor& t : file.tensors) {
    if (t.name == name) return t;
  }
  throw std::runtime_error("no tensor " + name);
}

const std::vector<Refusal>& refusals() {
  using nlohmann::json;
  using Weights = io::SafetensorsFile;
  static const std::vector<Refusal> kRefusals = {
      {"another architecture", "timm_vit_f32",
       [](json& c, json&, Weights&) { c["architecture"] = "resnet50"; }, "resnet50"},
      {"LayerScale", "timm_vit_f32",
       [](json& c, json&, Weights&) { c["model_args"]["init_values"] = 1e-5; }, "init_values"},
      {"register tokens", "timm_vit_f32",
       [](json& c, json&, Weights&) { c["model_args"]["reg_tokens"] = 4; }, "reg_tokens"},
      {"average pooling", "timm_vit_f32",
       [](json& c, json&, Weights&) { c["global_pool"] = "avg"; }, "global_pool"},
      {"a crop mode other than centre", "timm_vit_f32",
       [](json& c, json&, Weights&) { c["pretrained_cfg"]["crop_mode"] = "squash"; }, "squash"},
      {"an input size that is not [3, H, W]", "timm_vit_f32",
       [](json& c, json&, Weights&) {
         c["pretrained_cfg"]["input_size"] = {3, 32};
       },
       "input_size"},
      {"label names of another count", "timm_vit_f32",
       [](json& c, json&, Weights&) {
         c["label_names"] = {"a", "b"};
       },
       "label_names"},
      {"a missing tensor", "timm_vit_f32",
       [](json&, json&, Weights& w) {
         w.tensors.erase(std::find_if(w.tensors.begin(), w.tensors.end(), [](const auto& t) {
           return t.name == "blocks.1.mlp.fc2.bias";
         }));
       },
       "blocks.1.mlp.fc2.bias"},
      {"a tensor left over", "timm_vit_f32",
       [](json&, json&, Weights& w) {
         w.tensors.push_back({"blocks.1.ls1.gamma", {24}, {}});
       },
       "blocks.1.ls1.gamma"},
      {"a misshapen tensor", "timm_vit_f32",
       [](json&, json&, Weights& w) {
         io::StoredTensor& t = tensor(w, "pos_embed");
         t.shape = {1, 16, 24};
         t.values.resize(16 * 24);
       },
       "pos_embed"},
      {"an activation other than exact GELU", "hf_vit_bf16",
       [](json& c, json&, Weights&) { c["hidden_act"] = "gelu_new"; }, "gelu_new"},
      {"q, k, v without bias", "hf_vit_bf16",
       [](json& c, json&, Weights&) { c["qkv_bias"] = false; }, "qkv_bias"},
      {"a resampling filter sav does not run", "hf_vit_bf16",
       [](json&, json& p, Weights&) { p["resample"] = 1; }, "resample 1"},
      {"a processor whose output is not the model's input", "hf_vit_bf16",
       [](json&, json& p, Weights&) {
         p["size"] = {{"height", 24}, {"width", 24}};
       },
       "image_size"},
  };
  return kRefusals;
}

class PublishedRefusal : public ::testing::TestWithParam<size_t> {};

// Each refusal names the file and what it refused; nothing is guessed.
TEST_P(PublishedRefusal, NamesWhatItRefuses) {
  const Refusal& r = refusals()[GetParam()];
  SCOPED_TRACE(r.what);
  TempFolder folder;
  const std::string from = fixture(r.layout);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(from + "/config.json"));
  nlohmann::json processor = nlohmann::json::object();
  if (std::filesystem::exists(from + "/preprocessor_config.json")) {
    processor = nlohmann::json::parse(std::ifstream(from + "/preprocessor_config.json"));
  }
  io::SafetensorsFile weights = io::load_safetensors(from + "/model.safetensors");
  for (io::StoredTensor& t : weights.tensors) {
    if (t.values.empty()) t.values.resize(1);  // every tensor of the fixtures holds values
  }
  r.change(config, processor, weights);
  for (io::StoredTensor& t : weights.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    t.values.resize(static_cast<size_t>(n));
  }
  std::ofstream(folder.file("config.json")) << config.dump();
  if (!processor.empty())
    std::ofstream(folder.file("preprocessor_config.json")) << processor.dump();
  io::save_safetensors(folder.file("model.safetensors"), weights);
  try {
    hub::read_published(folder.path());
    FAIL() << r.what << " was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(r.named), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(folder.path()), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Each, PublishedRefusal, ::testing::Range<size_t>(0, 14));

}  // namespace
}  // namespace sav::testing
