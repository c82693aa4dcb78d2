#include "sav/hub/published.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "sav/error.h"
#include "sav/io/input_file.h"
#include "sav/io/json.h"

namespace sav::hub {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A configuration is a few kilobytes; ImageNet's 1,000 label names make it about 30 KB.
constexpr uint64_t kMaxConfigBytes = 4u << 20;

json read_json(const std::string& path, const char* what) {
  const std::string text = io::read_small_file(path, kMaxConfigBytes, what);
  const size_t too_deep = io::find_excess_nesting(text);
  if (too_deep != std::string::npos) {
    usage_fail(path, ": JSON nested more than ", io::kMaxJsonDepth, " deep (at byte ", too_deep,
               ")");
  }
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) usage_fail(path, ": not a JSON object");
  return value;
}

// The published tensors by name, each taken at most once; what is left over at the end is a
// tensor sav would ignore, which it refuses instead.
class Tensors {
 public:
  Tensors(io::SafetensorsFile file, std::string path) : path_(std::move(path)) {
    for (io::StoredTensor& t : file.tensors) by_name_.emplace(t.name, std::move(t));
  }

  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // The shape of a tensor the configuration's sizes are read from; `rank` dimensions expected.
  const std::vector<int64_t>& shape_of(const std::string& name, size_t rank) const {
    const auto found = by_name_.find(name);
    if (found == by_name_.end()) {
      usage_fail(path_, ": tensor ", io::quote(name), " is missing (sav reads the model's sizes ",
                 "from it)");
    }
    if (found->second.shape.size() != rank) {
      usage_fail(path_, ": tensor ", io::quote(name), " has shape ", text(found->second.shape),
                 ", not one of ", rank, " dimensions");
    }
    return found->second.shape;
  }

  io::StoredTensor take(const std::string& name, const std::vector<int64_t>& shape) {
    const auto found = by_name_.find(name);
    if (found == by_name_.end()) {
      usage_fail(path_, ": tensor ", io::quote(name),
                 " is missing, but the configuration needs it");
    }
    if (found->second.shape != shape) {
      usage_fail(path_, ": tensor ", io::quote(name), " has shape ", text(found->second.shape),
                 ", but the configuration makes it ", text(shape));
    }
    io::StoredTensor t = std::move(found->second);
    by_name_.erase(found);
    return t;
  }

  void expect_all_taken(const std::string& what) const {
    if (by_name_.empty()) return;
    usage_fail(path_, ": tensor ", io::quote(by_name_.begin()->first), " is not part of ", what,
               " as sav runs it (", by_name_.size(),
               " such tensors); sav does not guess what it does");
  }

  static std::string text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }

 private:
  std::map<std::string, io::StoredTensor> by_name_;
  std::string path_;
};

// Where a model's files are.
struct Files {
  std::string folder, config, weights;
  bool sharded = false;
};

Files locate(const std::string& path) {
  Files files;
  std::error_code error;
  if (fs::is_directory(path, error)) {
    files.folder = path;
  } else if (fs::is_regular_file(path, error)) {
    files.folder = fs::path(path).parent_path().string();
    files.weights = path;
    if (files.folder.empty()) files.folder = ".";
  } else {
    usage_fail(path, " is neither a model folder nor a .safetensors file");
  }
  files.config = (fs::path(files.folder) / "config.json").string();
  if (!fs::exists(files.config, error)) {
    usage_fail(path, ": no config.json beside the weights (sav reads the model's sizes from it)");
  }
  if (files.weights.empty()) {
    const fs::path single = fs::path(files.folder) / "model.safetensors";
    const fs::path index = fs::path(files.folder) / "model.safetensors.index.json";
    if (fs::exists(single, error)) {
      files.weights = single.string();
    } else if (fs::exists(index, error)) {
      files.weights = index.string();
      files.sharded = true;
    } else {
      usage_fail(path, ": no model.safetensors or model.safetensors.index.json in it (sav reads ",
                 "the safetensors files timm and transformers publish, not pickled .bin files)");
    }
  }
  return files;
}

io::SafetensorsFile read_weights(const Files& files) {
  return files.sharded ? io::load_sharded_safetensors(files.weights)
                       : io::load_safetensors(files.weights);
}

// Reads `key` of `object` as T, or fails naming the file and the key.
template <typename T>
T get(const json& object, const char* key, const std::string& path) {
  if (!object.contains(key)) usage_fail(path, ": key \"", key, "\" is missing");
  const json& value = object.at(key);
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    usage_fail(path, ": key \"", key, "\" has the wrong type: ", io::shorten(value.dump(), 40));
  }
}

template <typename T>
T get_or(const json& object, const char* key, T fallback, const std::string& path) {
  return object.contains(key) && !object.at(key).is_null() ? get<T>(object, key, path) : fallback;
}

std::array<float, 3> triple(const json& object, const char* key, std::array<float, 3> fallback,
                            const std::string& path) {
  if (!object.contains(key)) return fallback;
  const std::vector<float> v = get<std::vector<float>>(object, key, path);
  if (v.size() != 3) usage_fail(path, ": \"", key, "\" must hold 3 values (one per channel)");
  return {v[0], v[1], v[2]};
}

// Sizes every published ViT derives alike, checked against each other.
void finish_config(nn::VitConfig& c, int64_t image_h, int64_t image_w, int64_t patch,
                   int64_t channels, const std::string& path) {
  if (patch <= 0 || image_h % patch != 0 || image_w % patch != 0) {
    usage_fail(path, ": the image (", image_h, " x ", image_w, ") is not a whole number of ", patch,
               "-pixel patches");
  }
  if (c.heads <= 0 || c.d_model % c.heads != 0) {
    usage_fail(path, ": ", c.heads, " heads do not divide the width ", c.d_model);
  }
  c.grid_height = image_h / patch;
  c.grid_width = image_w / patch;
  c.patches = c.grid_height * c.grid_width;
  c.patch_features = channels * patch * patch;
  c.dropout = 0.0f;
}

// Appends `t` to `out` under sav's name `name` with `shape` (the same values, reshaped).
void put(io::SafetensorsFile& out, const std::string& name, io::StoredTensor t,
         std::vector<int64_t> shape) {
  t.name = name;
  t.shape = std::move(shape);
  out.tensors.push_back(std::move(t));
}

// The rows [part * rows, (part + 1) * rows) of a [3 * rows, ...] tensor (a fused q, k, v).
io::StoredTensor rows_of(const io::StoredTensor& fused, int part, int64_t rows) {
  const int64_t row_size =
      static_cast<int64_t>(fused.values.size()) / fused.shape[0];  // 1 for a bias
  io::StoredTensor t;
  t.values.assign(fused.values.begin() + part * rows * row_size,
                  fused.values.begin() + (part + 1) * rows * row_size);
  return t;
}

// ---- timm -------------------------------------------------------------------------------------

// Heads of timm's ViT and DeiT sizes, which timm's config.json does not state: its model name
// stands for them.
int64_t timm_heads(const std::string& architecture, const json& args, const std::string& path) {
  if (args.contains("num_heads")) return get<int64_t>(args, "num_heads", path);
  static const std::vector<std::pair<std::string, int64_t>> kSizes = {
      {"_tiny_", 3}, {"_small_", 6}, {"_base_", 12}, {"_large_", 16}, {"_huge_", 16}};
  for (const auto& [size, heads] : kSizes) {
    if (architecture.find(size) != std::string::npos) return heads;
  }
  usage_fail(path, ": architecture \"", io::shorten(architecture, 60),
             "\" does not name a ViT size sav knows (tiny, small, base, large, huge), and "
             "model_args gives no num_heads");
}

void check_timm_architecture(const std::string& architecture, const json& config, const json& args,
                             const std::string& path) {
  const bool known = architecture.rfind("vit_", 0) == 0 || architecture.rfind("deit_", 0) == 0;
  if (!known || architecture.find("deit3") != std::string::npos ||
      architecture.find("_reg") != std::string::npos ||
      architecture.find("_clip") != std::string::npos ||
      architecture.find("_siglip") != std::string::npos) {
    usage_fail(path, ": architecture \"", io::shorten(architecture, 60),
               "\" is not one sav runs (it runs timm's vit_* and deit_* models: pre-LN, GELU, "
               "a class token; not DeiT III's LayerScale, register tokens, CLIP or SigLIP)");
  }
  if (get_or<std::string>(config, "global_pool", "token", path) != "token" ||
      get_or<std::string>(args, "global_pool", "token", path) != "token") {
    usage_fail(path,
               ": global_pool must be \"token\" (the class token's output); sav does not "
               "run average pooling");
  }
  if (!get_or<bool>(args, "class_token", true, path) ||
      get_or<bool>(args, "no_embed_class", false, path) ||
      get_or<bool>(args, "pre_norm", false, path) || get_or<bool>(args, "fc_norm", false, path) ||
      get_or<double>(args, "init_values", 0.0, path) != 0.0 ||
      get_or<int64_t>(args, "reg_tokens", 0, path) != 0) {
    usage_fail(path,
               ": model_args asks for a variant sav does not run (class_token false, "
               "no_embed_class, pre_norm, fc_norm, init_values (LayerScale) or reg_tokens)");
  }
}

// timm's input size, [3, height, width], from pretrained_cfg.
std::pair<int64_t, int64_t> timm_input_size(const json& config, const std::string& path) {
  if (!config.contains("pretrained_cfg") || !config.at("pretrained_cfg").is_object()) {
    usage_fail(path, ": key \"pretrained_cfg\" is missing (it holds the input size and transform)");
  }
  const std::vector<int64_t> size =
      get<std::vector<int64_t>>(config.at("pretrained_cfg"), "input_size", path);
  if (size.size() != 3 || size[0] != 3 || size[1] <= 0 || size[2] <= 0 ||
      size[1] > image::kMaxPhotoSide || size[2] > image::kMaxPhotoSide) {
    usage_fail(path, ": pretrained_cfg.input_size must be [3, height, width] with sides of 1 to ",
               image::kMaxPhotoSide, " pixels");
  }
  return {size[1], size[2]};
}

// timm's evaluation transform from pretrained_cfg: interpolation, crop_pct, mean and std.
image::Preprocess timm_transform(const json& config, int64_t height, int64_t width,
                                 const std::string& path) {
  const json& cfg = config.at("pretrained_cfg");
  const double crop_pct = get_or<double>(cfg, "crop_pct", 0.875, path);
  const std::string crop_mode = get_or<std::string>(cfg, "crop_mode", "center", path);
  if (!(crop_pct > 0.0 && crop_pct <= 1.0) || crop_mode != "center") {
    usage_fail(path, ": pretrained_cfg asks for crop_pct ", crop_pct, " and crop_mode \"",
               io::shorten(crop_mode, 20), "\"; sav runs a centre crop with crop_pct in (0, 1]");
  }
  const std::string interpolation = get_or<std::string>(cfg, "interpolation", "bicubic", path);
  try {
    return image::timm_preprocess(static_cast<int>(height), static_cast<int>(width), crop_pct,
                                  image::parse_interpolation(interpolation),
                                  triple(cfg, "mean", image::kImagenetMean, path),
                                  triple(cfg, "std", image::kImagenetStd, path));
  } catch (const UsageError& e) {
    usage_fail(path, ": pretrained_cfg: ", e.what());
  }
}

// The sizes a ViT's tensors imply, read from its patch embedding, first MLP and head.
struct TensorSizes {
  int64_t width, channels, patch, depth, d_ff, classes;
};

// The parts of a published ViT that every naming has, under that naming's names.
struct Naming {
  std::string patch_weight, patch_bias, cls, dist, positions, norm, head, head_dist;
  std::string block;  // the prefix of block i, with "{i}" for its number
  std::string ln1, ln2, fc1, fc2, attn_out;
  // Separate q, k, v (transformers) or one fused qkv (timm).
  std::string q, k, v, qkv;

  std::string in_block(int64_t i, const std::string& part) const {
    std::string prefix = block;
    prefix.replace(prefix.find("{i}"), 3, std::to_string(i));
    return prefix + part;
  }
};

TensorSizes sizes_of(const Tensors& t, const Naming& n) {
  TensorSizes z;
  const std::vector<int64_t>& embed = t.shape_of(n.patch_weight, 4);  // [D, C, P, P]
  z.width = embed[0];
  z.channels = embed[1];
  z.patch = embed[2];
  if (embed[3] != z.patch) {
    usage_fail("tensor ", n.patch_weight, " has non-square patches ", Tensors::text(embed));
  }
  z.depth = 0;
  while (t.has(n.in_block(z.depth, n.ln1 + ".weight"))) ++z.depth;
  if (z.depth == 0) usage_fail("no tensor ", n.in_block(0, n.ln1 + ".weight"), ": no blocks");
  z.d_ff = t.shape_of(n.in_block(0, n.fc1 + ".weight"), 2)[0];
  if (!t.has(n.head + ".weight")) {
    usage_fail("no tensor ", n.head, ".weight: a model without a classification head has no ",
               "class to explain");
  }
  z.classes = t.shape_of(n.head + ".weight", 2)[0];
  return z;
}

// Takes every tensor of `n` from `t` under sav's names and shapes, for the configuration `c`.
io::SafetensorsFile rename(Tensors& t, const Naming& n, const nn::VitConfig& c, int64_t channels,
                           int64_t patch) {
  const int64_t d = c.d_model;
  io::SafetensorsFile out;
  put(out, "patch_embed.weight", t.take(n.patch_weight, {d, channels, patch, patch}),
      {d, c.patch_features});
  put(out, "patch_embed.bias", t.take(n.patch_bias, {d}), {d});
  put(out, "cls_token", t.take(n.cls, {1, 1, d}), {1, 1, d});
  if (c.distillation_token) put(out, "dist_token", t.take(n.dist, {1, 1, d}), {1, 1, d});
  put(out, "pos_embed", t.take(n.positions, {1, c.tokens(), d}), {c.tokens(), d});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    auto linear = [&](const std::string& from, const std::string& to, int64_t rows, int64_t cols) {
      put(out, p + to + ".weight", t.take(n.in_block(i, from + ".weight"), {rows, cols}),
          {rows, cols});
      put(out, p + to + ".bias", t.take(n.in_block(i, from + ".bias"), {rows}), {rows});
    };
    for (const auto& [from, to] : {std::pair{n.ln1, "ln1"}, std::pair{n.ln2, "ln2"}}) {
      put(out, p + to + ".weight", t.take(n.in_block(i, from + ".weight"), {d}), {d});
      put(out, p + to + ".bias", t.take(n.in_block(i, from + ".bias"), {d}), {d});
    }
    if (!n.qkv.empty()) {  // one [3d, d] product, its rows q, then k, then v
      const io::StoredTensor w = t.take(n.in_block(i, n.qkv + ".weight"), {3 * d, d});
      const io::StoredTensor b = t.take(n.in_block(i, n.qkv + ".bias"), {3 * d});
      for (int part = 0; part < 3; ++part) {
        const std::string name = p + "attn." + "qkv"[part];
        put(out, name + ".weight", rows_of(w, part, d), {d, d});
        put(out, name + ".bias", rows_of(b, part, d), {d});
      }
    } else {
      linear(n.q, "attn.q", d, d);
      linear(n.k, "attn.k", d, d);
      linear(n.v, "attn.v", d, d);
    }
    linear(n.attn_out, "attn.o", d, d);
    linear(n.fc1, "ffn.fc1", c.d_ff, d);
    linear(n.fc2, "ffn.fc2", d, c.d_ff);
  }
  put(out, "norm.weight", t.take(n.norm + ".weight", {d}), {d});
  put(out, "norm.bias", t.take(n.norm + ".bias", {d}), {d});
  put(out, "head.weight", t.take(n.head + ".weight", {c.classes, d}), {c.classes, d});
  put(out, "head.bias", t.take(n.head + ".bias", {c.classes}), {c.classes});
  if (c.distillation_head) {
    put(out, "head_dist.weight", t.take(n.head_dist + ".weight", {c.classes, d}), {c.classes, d});
    put(out, "head_dist.bias", t.take(n.head_dist + ".bias", {c.classes}), {c.classes});
  }
  return out;
}

// The standard ViT of `sizes`, `heads` heads, for an input of height x width.
nn::VitConfig standard_config(const TensorSizes& z, int64_t heads, int64_t height, int64_t width,
                              const std::string& path) {
  nn::VitConfig c = nn::standard_vit(nn::VitConfig{});
  c.d_model = z.width;
  c.heads = heads;
  c.layers = z.depth;
  c.d_ff = z.d_ff;
  c.classes = z.classes;
  finish_config(c, height, width, z.patch, z.channels, path);
  return c;
}

const Naming kTimm = {"patch_embed.proj.weight",
                      "patch_embed.proj.bias",
                      "cls_token",
                      "dist_token",
                      "pos_embed",
                      "norm",
                      "head",
                      "head_dist",
                      "blocks.{i}.",
                      "norm1",
                      "norm2",
                      "mlp.fc1",
                      "mlp.fc2",
                      "attn.proj",
                      "",
                      "",
                      "",
                      "attn.qkv"};

PublishedModel read_timm(const Files& files, const json& config) {
  const std::string& cpath = files.config;
  PublishedModel m;
  m.source = Source::kTimm;
  m.architecture = get<std::string>(config, "architecture", cpath);
  const json args = config.contains("model_args") ? config.at("model_args") : json::object();
  check_timm_architecture(m.architecture, config, args, cpath);
  const auto [height, width] = timm_input_size(config, cpath);
  m.preprocess = timm_transform(config, height, width, cpath);
  if (config.contains("label_names")) {
    m.class_names = get<std::vector<std::string>>(config, "label_names", cpath);
  }
  Tensors t(read_weights(files), files.weights);
  const TensorSizes z = sizes_of(t, kTimm);
  if (!t.has("blocks.0.attn.qkv.bias")) {
    usage_fail(files.weights, ": no attn.qkv.bias: sav runs timm's ViTs with qkv_bias");
  }
  m.config = standard_config(z, timm_heads(m.architecture, args, cpath), height, width, cpath);
  m.config.distillation_token = t.has("dist_token");
  m.config.distillation_head = t.has("head_dist.weight");
  m.config.layernorm_eps = 1e-6f;
  m.patch_size = z.patch;
  m.channels = z.channels;
  const int64_t num_classes = get_or<int64_t>(config, "num_classes", z.classes, cpath);
  if (num_classes != z.classes) {
    usage_fail(cpath, ": num_classes ", num_classes, " but the head has ", z.classes, " rows");
  }
  if (!m.class_names.empty() && static_cast<int64_t>(m.class_names.size()) != z.classes) {
    usage_fail(cpath, ": label_names has ", m.class_names.size(), " names but the head has ",
               z.classes, " classes");
  }
  if (m.class_names.empty() && z.classes == 1000) m.class_names = imagenet_class_names();
  m.weights = rename(t, kTimm, m.config, z.channels, z.patch);
  t.expect_all_taken("timm's " + m.architecture);
  return m;
}

// ---- transformers -----------------------------------------------------------------------------

Naming transformers_naming(const std::string& base, bool teacher) {
  const std::string e = base + ".embeddings.";
  Naming n;
  n.patch_weight = e + "patch_embeddings.projection.weight";
  n.patch_bias = e + "patch_embeddings.projection.bias";
  n.cls = e + "cls_token";
  n.dist = e + "distillation_token";
  n.positions = e + "position_embeddings";
  n.norm = base + ".layernorm";
  n.head = teacher ? "cls_classifier" : "classifier";
  n.head_dist = "distillation_classifier";
  n.block = base + ".encoder.layer.{i}.";
  n.ln1 = "layernorm_before";
  n.ln2 = "layernorm_after";
  n.fc1 = "intermediate.dense";
  n.fc2 = "output.dense";
  n.attn_out = "attention.output.dense";
  n.q = "attention.attention.query";
  n.k = "attention.attention.key";
  n.v = "attention.attention.value";
  return n;
}

// image_size and patch_size are an integer or a [height, width] pair.
std::pair<int64_t, int64_t> size_pair(const json& config, const char* key, int64_t fallback,
                                      const std::string& path) {
  if (!config.contains(key)) return {fallback, fallback};
  const json& v = config.at(key);
  if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
  const std::vector<int64_t> pair = get<std::vector<int64_t>>(config, key, path);
  if (pair.size() != 2) usage_fail(path, ": \"", key, "\" must be a number or [height, width]");
  return {pair[0], pair[1]};
}

// A processor's size or crop_size: {"height", "width"}, {"shortest_edge"} (a square, as the
// ViT and DeiT processors resize), or a bare number.
std::pair<int, int> processor_size(const json& p, const char* key, std::pair<int, int> fallback,
                                   const std::string& path) {
  if (!p.contains(key)) return fallback;
  const json& v = p.at(key);
  int64_t height = 0, width = 0;
  if (v.is_number_integer()) {
    height = width = v.get<int64_t>();
  } else if (v.is_object() && v.contains("height") && v.contains("width")) {
    height = get<int64_t>(v, "height", path);
    width = get<int64_t>(v, "width", path);
  } else if (v.is_object() && v.contains("shortest_edge")) {
    height = width = get<int64_t>(v, "shortest_edge", path);
  } else {
    usage_fail(path, ": \"", key, "\" must be a number, {\"height\", \"width\"} or ",
               "{\"shortest_edge\"}");
  }
  if (height < 1 || width < 1 || height > image::kMaxPhotoSide || width > image::kMaxPhotoSide) {
    usage_fail(path, ": \"", key, "\" is ", height, " x ", width, "; sides must be 1 to ",
               image::kMaxPhotoSide, " pixels");
  }
  return {static_cast<int>(height), static_cast<int>(width)};
}

// The processor's transform (preprocessor_config.json), or its class's defaults without one:
// ViTImageProcessor resizes to the model's input (bilinear, mean = std = 0.5); DeiTImageProcessor
// resizes to 256 x 256 (bicubic), crops 224 x 224 with a floored corner, ImageNet's statistics.
image::Preprocess transformers_transform(const std::string& folder, bool deit, int height,
                                         int width) {
  image::Preprocess spec;
  spec.resize = image::Preprocess::Resize::kExact;
  spec.resize_height = height;
  spec.resize_width = width;
  spec.interpolation = image::Interpolation::kBilinear;
  spec.mean = spec.std = {0.5f, 0.5f, 0.5f};
  const std::string path = (fs::path(folder) / "preprocessor_config.json").string();
  std::error_code error;
  const bool has_file = fs::exists(path, error);
  const json p = has_file ? read_json(path, "preprocessor configuration") : json::object();
  const std::string where = has_file ? path : folder + " (no preprocessor_config.json)";
  if (deit) {
    spec.interpolation = image::Interpolation::kBicubic;
    spec.mean = image::kImagenetMean;
    spec.std = image::kImagenetStd;
  }
  static const std::map<int64_t, image::Interpolation> kResample = {
      {0, image::Interpolation::kNearest},
      {2, image::Interpolation::kBilinear},
      {3, image::Interpolation::kBicubic}};
  const int64_t resample = get_or<int64_t>(p, "resample", deit ? 3 : 2, path);
  if (kResample.count(resample) == 0) {
    usage_fail(path, ": resample ", resample, " is not one sav runs (0 nearest, 2 bilinear, ",
               "3 bicubic)");
  }
  spec.interpolation = kResample.at(resample);
  spec.mean = triple(p, "image_mean", spec.mean, path);
  spec.std = triple(p, "image_std", spec.std, path);
  const bool crop = get_or<bool>(p, "do_center_crop", deit, path);
  const std::pair<int, int> resize =
      processor_size(p, "size", crop ? std::pair{256, 256} : std::pair{height, width}, path);
  spec.resize_height = resize.first;
  spec.resize_width = resize.second;
  if (crop) {
    const std::pair<int, int> box = processor_size(p, "crop_size", {224, 224}, path);
    spec.crop_height = box.first;
    spec.crop_width = box.second;
    spec.crop_corner_floored = true;
  }
  const int out_height = crop ? spec.crop_height : spec.resize_height;
  const int out_width = crop ? spec.crop_width : spec.resize_width;
  if (out_height != height || out_width != width) {
    usage_fail(where, ": the processor makes ", out_width, " x ", out_height,
               " pixel inputs, but the model's image_size is ", width, " x ", height);
  }
  return spec;
}

PublishedModel read_transformers(const Files& files, const json& config) {
  const std::string& cpath = files.config;
  PublishedModel m;
  m.source = Source::kTransformers;
  const std::string type = get<std::string>(config, "model_type", cpath);
  const std::vector<std::string> classes =
      get_or<std::vector<std::string>>(config, "architectures", {}, cpath);
  m.architecture = classes.empty() ? "" : classes[0];
  static const std::set<std::string> kRun = {"ViTForImageClassification",
                                             "DeiTForImageClassification",
                                             "DeiTForImageClassificationWithTeacher"};
  if ((type != "vit" && type != "deit") || kRun.count(m.architecture) == 0) {
    usage_fail(cpath, ": model_type \"", io::shorten(type, 20), "\", architecture \"",
               io::shorten(m.architecture, 50),
               "\" is not one sav runs (ViTForImageClassification, "
               "DeiTForImageClassification, DeiTForImageClassificationWithTeacher)");
  }
  const std::string act = get_or<std::string>(config, "hidden_act", "gelu", cpath);
  if (act != "gelu") {
    usage_fail(cpath, ": hidden_act \"", io::shorten(act, 20), "\": sav runs the exact \"gelu\"");
  }
  if (!get_or<bool>(config, "qkv_bias", true, cpath)) {
    usage_fail(cpath, ": qkv_bias false: sav runs transformers' ViTs with qkv_bias");
  }
  const bool deit = type == "deit",
             teacher = m.architecture.find("WithTeacher") != std::string::npos;
  const Naming naming = transformers_naming(deit ? "deit" : "vit", teacher);
  const auto [height, width] = size_pair(config, "image_size", 224, cpath);
  if (height < 1 || width < 1 || height > image::kMaxPhotoSide || width > image::kMaxPhotoSide) {
    usage_fail(cpath, ": image_size ", height, " x ", width, ": sides must be 1 to ",
               image::kMaxPhotoSide, " pixels");
  }
  m.preprocess =
      transformers_transform(files.folder, deit, static_cast<int>(height), static_cast<int>(width));
  Tensors t(read_weights(files), files.weights);
  const TensorSizes z = sizes_of(t, naming);
  m.config =
      standard_config(z, get<int64_t>(config, "num_attention_heads", cpath), height, width, cpath);
  m.config.distillation_token = deit;
  m.config.distillation_head = teacher;
  m.config.layernorm_eps =
      static_cast<float>(get_or<double>(config, "layer_norm_eps", 1e-12, cpath));
  m.patch_size = z.patch;
  m.channels = z.channels;
  for (const auto& [key, expected] :
       {std::pair{"hidden_size", z.width}, std::pair{"num_hidden_layers", z.depth},
        std::pair{"intermediate_size", z.d_ff}, std::pair{"num_channels", z.channels}}) {
    if (config.contains(key) && get<int64_t>(config, key, cpath) != expected) {
      usage_fail(cpath, ": ", key, " ", get<int64_t>(config, key, cpath),
                 " disagrees with the tensors, which make it ", expected);
    }
  }
  if (size_pair(config, "patch_size", z.patch, cpath) != std::pair{z.patch, z.patch}) {
    usage_fail(cpath, ": patch_size disagrees with the patch embedding's ", z.patch);
  }
  if (config.contains("id2label")) {
    const json& labels = config.at("id2label");
    m.class_names.assign(z.classes, "");
    for (int64_t i = 0; i < z.classes; ++i) {
      const std::string key = std::to_string(i);
      m.class_names[i] =
          labels.contains(key) ? get<std::string>(labels, key.c_str(), cpath) : "class " + key;
    }
  }
  m.weights = rename(t, naming, m.config, z.channels, z.patch);
  t.expect_all_taken("transformers' " + m.architecture);
  return m;
}

}  // namespace

std::string source_name(Source source) { return source == Source::kTimm ? "timm" : "transformers"; }

PublishedModel read_published(const std::string& path) {
  const Files files = locate(path);
  const json config = read_json(files.config, "model configuration");
  const bool timm = config.contains("architecture") && config.contains("pretrained_cfg");
  const bool transformers = config.contains("model_type");
  if (!timm && !transformers) {
    usage_fail(files.config, ": neither timm's (architecture, pretrained_cfg) nor transformers' ",
               "(model_type) configuration");
  }
  PublishedModel m = timm ? read_timm(files, config) : read_transformers(files, config);
  m.path = path;
  if (!m.class_names.empty() && static_cast<int64_t>(m.class_names.size()) != m.config.classes) {
    usage_fail(files.config, ": ", m.class_names.size(), " class names for ", m.config.classes,
               " classes");
  }
  return m;
}

void load_weights(const PublishedModel& published, const nn::VisionTransformer& model) {
  std::map<std::string, const io::StoredTensor*> by_name;
  for (const io::StoredTensor& t : published.weights.tensors) by_name.emplace(t.name, &t);
  for (const nn::NamedTensor& p : model.parameters()) {
    const auto found = by_name.find(p.name);
    if (found == by_name.end()) fail(published.path, ": no weights for ", p.name);
    p.tensor.copy_from(found->second->values);
  }
}

}  // namespace sav::hub
