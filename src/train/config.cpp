#include "sav/train/config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "sav/error.h"
#include "sav/io/input_file.h"
#include "sav/io/json.h"
#include "sav/shape.h"

namespace sav::train {
namespace {

using nlohmann::json;

// A value for a message: its JSON text, cut to a few dozen characters.
std::string shown(const json& value) { return io::shorten(value.dump(), 40); }

// An integer that int64_t holds (nlohmann keeps 2^63 .. 2^64 - 1 as unsigned).
bool fits_int64(const json& value) {
  return value.is_number_integer() &&
         !(value.is_number_unsigned() &&
           value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

// Reads `section.key` into `out` when present, checking its JSON type and that it fits `T`.
template <typename T>
void read(const json& section, const std::string& section_name, const char* key, T& out,
          const std::string& source) {
  if (!section.contains(key)) return;
  const json& value = section.at(key);
  const bool ok = std::is_same_v<T, bool> ? value.is_boolean()
                  : std::is_integral_v<T> ? value.is_number_integer()
                                          : value.is_number();
  if (!ok) {
    usage_fail(source, ": ", section_name, ".", key, " must be ",
               std::is_same_v<T, bool> ? "true or false"
               : std::is_integral_v<T> ? "an integer"
                                       : "a number",
               ", got ", shown(value));
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (std::is_unsigned_v<T> && !value.is_number_unsigned()) {
      usage_fail(source, ": ", section_name, ".", key, " must not be negative, got ", shown(value));
    }
    if (std::is_signed_v<T> && !fits_int64(value)) {
      usage_fail(source, ": ", section_name, ".", key, " is far too large, got ", shown(value));
    }
  }
  out = value.get<T>();
}

// Reads `section.key`, one of the strings `names`, as its index in them; `current` when absent.
int read_choice(const json& section, const std::string& section_name, const char* key,
                const std::vector<std::string>& names, int current, const std::string& source) {
  if (!section.contains(key)) return current;
  const json& value = section.at(key);
  for (size_t i = 0; i < names.size(); ++i) {
    if (value == names[i]) return static_cast<int>(i);
  }
  std::string choices;
  for (size_t i = 0; i < names.size(); ++i) {
    choices += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("\"" + names[i] + "\"");
  }
  usage_fail(source, ": ", section_name, ".", key, " must be ", choices, ", got ", shown(value));
}

void reject_unknown(const json& section, const std::string& section_name,
                    const std::set<std::string>& known, const std::string& source) {
  if (!section.is_object()) usage_fail(source, ": \"", section_name, "\" must be an object");
  for (const auto& [key, value] : section.items()) {
    if (!known.count(key)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      usage_fail(source, ": unknown key ", section_name, ".", io::shorten(key, 40),
                 " (known: ", list, ")");
    }
  }
}

}  // namespace

nn::VitConfig Config::vit() const {
  nn::VitConfig v;
  v.d_model = d_model;
  v.heads = heads;
  v.layers = layers;
  v.d_ff = d_ff > 0 ? d_ff : 4 * d_model;
  v.classes = classes;
  v.dropout = static_cast<float>(dropout);
  v.drop_path = static_cast<float>(drop_path);
  return v;
}

Config parse_config(const std::string& json_text, const std::string& source) {
  if (json_text.size() > kMaxConfigBytes) {
    usage_fail(source, ": ", json_text.size(), " bytes is too large for a configuration (at most ",
               kMaxConfigBytes, ")");
  }
  // Before parsing: nlohmann::json copies and prints values recursively.
  const size_t too_deep = io::find_excess_nesting(json_text);
  if (too_deep != std::string::npos) {
    usage_fail(source, ": arrays and objects nested more than ", io::kMaxJsonDepth,
               " deep (at byte ", too_deep, "); a configuration nests 3");
  }
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // a syntax error, or a number beyond double (1e999)
    usage_fail(source, ": not valid JSON: ", io::shorten(e.what()));
  }
  if (!root.is_object()) usage_fail(source, ": the configuration must be a JSON object");
  reject_unknown(root, "(top level)", {"data", "model", "training"}, source);
  Config c;
  const json empty = json::object();
  const json& data = root.contains("data") ? root["data"] : empty;
  const json& model = root.contains("model") ? root["model"] : empty;
  const json& training = root.contains("training") ? root["training"] : empty;
  reject_unknown(data, "data",
                 {"random_seed", "channels", "patch_size", "n_classes", "augment", "augment_policy",
                  "rand_augment_ops", "rand_augment_magnitude", "mixup_alpha", "cutmix_alpha"},
                 source);
  reject_unknown(model, "model", {"d_model", "h", "N", "d_ff", "dropout", "drop_path"}, source);
  reject_unknown(training, "training",
                 {"batch_size", "lr", "epochs", "betas", "eps", "weight_decay", "val_split",
                  "lr_schedule", "warmup_epochs", "min_lr", "label_smoothing",
                  "decay_matrices_only", "clip_grad_norm", "ema_decay"},
                 source);

  read(data, "data", "random_seed", c.seed, source);
  read(data, "data", "channels", c.channels, source);
  read(data, "data", "n_classes", c.classes, source);
  read(data, "data", "augment", c.augment, source);
  c.augment_policy.kind = static_cast<data::AugmentKind>(
      read_choice(data, "data", "augment_policy", {"none", "trivial_augment", "rand_augment"},
                  static_cast<int>(c.augment_policy.kind), source));
  int64_t ops = c.augment_policy.num_ops, magnitude = c.augment_policy.magnitude;
  read(data, "data", "rand_augment_ops", ops, source);
  read(data, "data", "rand_augment_magnitude", magnitude, source);
  if (ops < 1 || ops > data::kMaxAugmentOps || magnitude < 0 || magnitude > 30) {
    usage_fail(source, ": data.rand_augment_ops must be from 1 to ", data::kMaxAugmentOps,
               " and data.rand_augment_magnitude from 0 to 30, got ", ops, " and ", magnitude);
  }
  read(data, "data", "mixup_alpha", c.mix.mixup_alpha, source);
  read(data, "data", "cutmix_alpha", c.mix.cutmix_alpha, source);
  c.augment_policy.num_ops = static_cast<int>(ops);
  c.augment_policy.magnitude = static_cast<int>(magnitude);
  if (data.contains("patch_size")) {
    const json& p = data["patch_size"];
    if (!p.is_array() || p.size() != 2 || !fits_int64(p[0]) || !fits_int64(p[1]) || p[0] != p[1]) {
      usage_fail(source, ": data.patch_size must be two equal integers like [4, 4], got ",
                 shown(p));
    }
    c.patch_size = p[0].get<int64_t>();
  }
  read(model, "model", "d_model", c.d_model, source);
  read(model, "model", "h", c.heads, source);
  read(model, "model", "N", c.layers, source);
  read(model, "model", "d_ff", c.d_ff, source);
  read(model, "model", "dropout", c.dropout, source);
  read(model, "model", "drop_path", c.drop_path, source);
  read(training, "training", "batch_size", c.batch_size, source);
  read(training, "training", "lr", c.lr, source);
  read(training, "training", "epochs", c.epochs, source);
  read(training, "training", "eps", c.eps, source);
  read(training, "training", "weight_decay", c.weight_decay, source);
  read(training, "training", "val_split", c.val_split, source);
  read(training, "training", "warmup_epochs", c.warmup_epochs, source);
  read(training, "training", "min_lr", c.min_lr, source);
  read(training, "training", "label_smoothing", c.label_smoothing, source);
  read(training, "training", "decay_matrices_only", c.decay_matrices_only, source);
  read(training, "training", "clip_grad_norm", c.clip_grad_norm, source);
  read(training, "training", "ema_decay", c.ema_decay, source);
  c.lr_schedule =
      static_cast<LrShape>(read_choice(training, "training", "lr_schedule", {"constant", "cosine"},
                                       static_cast<int>(c.lr_schedule), source));

  if (training.contains("betas")) {
    const json& b = training["betas"];
    if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number()) {
      usage_fail(source, ": training.betas must be two numbers like [0.9, 0.999], got ", shown(b));
    }
    c.beta1 = b[0].get<double>();
    c.beta2 = b[1].get<double>();
  }
  validate_config(c, source);
  return c;
}

Config load_config(const std::string& path) {
  std::string text;
  try {
    text = io::read_small_file(path, kMaxConfigBytes, "configuration");
  } catch (const Error& e) {
    usage_fail(e.what(), " (pass --config FILE; data/config.json holds the seed's configuration)");
  }
  return parse_config(text, path);
}

std::optional<int64_t> parameter_count(const Config& config) {
  const int64_t d = config.d_model, features = nn::VitConfig{}.patch_features;
  const std::optional<int64_t> d_ff = config.d_ff > 0 ? config.d_ff : checked_mul(4, d);
  // a * x + b
  const auto affine = [](int64_t a, int64_t x, int64_t b) {
    const std::optional<int64_t> ax = checked_mul(a, x);
    return ax ? checked_add(*ax, b) : std::nullopt;
  };
  // Products of three factors, as src/nn/vit.cpp lays the parameters out.
  const std::optional<int64_t> terms[][3] = {
      {1, 1, features},                        // cls_token
      {1, d, features + 1},                    // patch_embed weight and bias
      {config.layers, d, affine(4, d, 5)},     // q, k, v, o; two LayerNorms; fc2's bias
      {config.layers, d_ff, affine(2, d, 1)},  // fc1's weight and bias; fc2's weight
      {1, config.classes, affine(1, d, 1)}};   // head weight and bias
  std::optional<int64_t> total = 0;
  for (const auto& term : terms) {
    std::optional<int64_t> product = 1;
    for (const std::optional<int64_t>& factor : term) {
      product = product && factor ? checked_mul(*product, *factor) : std::nullopt;
    }
    total = total && product ? checked_add(*total, *product) : std::nullopt;
  }
  return total;
}

void validate_config(const Config& c, const std::string& source) {
  // An integer key within [low, high]; `why` says where the upper bound comes from.
  auto within = [&](const char* key, int64_t value, int64_t low, int64_t high, const char* why) {
    if (value < low && low == 1) usage_fail(source, ": ", key, " must be positive, got ", value);
    if (value < low) usage_fail(source, ": ", key, " must not be negative, got ", value);
    if (value > high) {
      usage_fail(source, ": ", key, " must be at most ", high, why, ", got ", value);
    }
  };
  auto positive = [&](const char* key, double value) {
    if (!(value > 0)) usage_fail(source, ": ", key, " must be positive, got ", value);
    if (!std::isfinite(value)) usage_fail(source, ": ", key, " must be finite, got ", value);
  };
  within("model.d_model", c.d_model, 1, kMaxDModel, "");
  within("model.h", c.heads, 1, kMaxDModel, " (it divides model.d_model)");
  within("model.N", c.layers, 1, kMaxLayers, "");
  if (c.d_ff < 0) {
    usage_fail(source, ": model.d_ff must be positive (or 0 for 4 * d_model), got ", c.d_ff);
  }
  within("model.d_ff", c.d_ff, 0, kMaxDff, " (4 x the largest model.d_model)");
  within("training.batch_size", c.batch_size, 1, kMaxBatchSize, "");
  within("training.epochs", c.epochs, 1, kMaxEpochs, "");
  within("training.val_split", c.val_split, 0, kMaxValSplit, " (CIFAR-10's training images)");
  positive("training.lr", c.lr);
  positive("training.eps", c.eps);
  if (c.d_model % c.heads != 0) {
    usage_fail(source, ": model.h ", c.heads, " must divide model.d_model ", c.d_model);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) {
    usage_fail(source, ": model.dropout must be in [0, 1), got ", c.dropout);
  }
  if (!(c.drop_path >= 0 && c.drop_path < 1)) {
    usage_fail(source, ": model.drop_path must be in [0, 1), got ", c.drop_path);
  }
  for (const auto& [key, alpha] : {std::pair{"data.mixup_alpha", c.mix.mixup_alpha},
                                   std::pair{"data.cutmix_alpha", c.mix.cutmix_alpha}}) {
    if (!(alpha >= 0 && alpha <= data::kMaxMixAlpha)) {
      usage_fail(source, ": ", key, " must be 0 (off) or a Beta alpha up to ", data::kMaxMixAlpha,
                 " (1 is usual), got ", alpha);
    }
  }
  if (!(c.ema_decay == 0 || (c.ema_decay > 0 && c.ema_decay < 1))) {
    usage_fail(source, ": training.ema_decay must be 0 (off) or in (0, 1), e.g. 0.999, got ",
               c.ema_decay);
  }
  if (!(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1)) {
    usage_fail(source, ": training.betas must be in [0, 1), got [", c.beta1, ", ", c.beta2, "]");
  }
  if (!(c.weight_decay >= 0 && std::isfinite(c.weight_decay))) {
    usage_fail(source, ": training.weight_decay must be a finite number, not negative, got ",
               c.weight_decay);
  }
  if (!(c.warmup_epochs >= 0 && c.warmup_epochs <= static_cast<double>(c.epochs))) {
    usage_fail(source, ": training.warmup_epochs must be from 0 to training.epochs (", c.epochs,
               "), got ", c.warmup_epochs);
  }
  if (!(c.clip_grad_norm >= 0 && c.clip_grad_norm < 1e30)) {
    usage_fail(source, ": training.clip_grad_norm must be 0 (off) or a positive number, got ",
               c.clip_grad_norm);
  }
  if (!(c.label_smoothing >= 0 && c.label_smoothing < 1)) {
    usage_fail(source, ": training.label_smoothing must be in [0, 1), got ", c.label_smoothing);
  }
  if (!(c.min_lr >= 0 && c.min_lr <= c.lr)) {
    usage_fail(source, ": training.min_lr must be from 0 to training.lr (", c.lr, "), got ",
               c.min_lr);
  }
  if (c.channels != 3 || c.patch_size != 4 || c.classes != 10) {
    usage_fail(source,
               ": sav trains on CIFAR-10: data.channels must be 3, data.patch_size "
               "[4, 4] and data.n_classes 10 (got ",
               c.channels, ", [", c.patch_size, ", ", c.patch_size, "], ", c.classes, ")");
  }
  // Each size is bounded above, but their products can still ask for terabytes.
  const std::optional<int64_t> parameters = parameter_count(c);
  if (!parameters || *parameters > kMaxParameters) {
    usage_fail(source, ": model.d_model ", c.d_model, ", model.d_ff ", c.vit().d_ff,
               " and model.N ", c.layers, " make a model of ",
               parameters ? std::to_string(*parameters) : "over 2^63",
               " parameters, more than the ", kMaxParameters,
               " sav allows (4 GiB of float32; training keeps 4 copies); make them smaller");
  }
  const int64_t tokens = nn::VitConfig{}.tokens();
  const std::optional<int64_t> attention =
      checked_mul(c.batch_size * c.heads, tokens * tokens);  // each factor is bounded above
  const std::optional<int64_t> hidden = checked_mul(c.batch_size * tokens, c.vit().d_ff);
  if (!attention || !hidden || std::max(*attention, *hidden) > kMaxActivationValues) {
    usage_fail(source, ": training.batch_size ", c.batch_size, " with model.h ", c.heads,
               " and model.d_ff ", c.vit().d_ff, " needs more than ", kMaxActivationValues,
               " values (16 GiB) for one activation of a step; make training.batch_size smaller");
  }
}

std::string config_to_json(const Config& c) {
  json j;
  j["data"] = {{"random_seed", c.seed},
               {"channels", c.channels},
               {"patch_size", {c.patch_size, c.patch_size}},
               {"n_classes", c.classes},
               {"augment", c.augment}};
  if (c.augment_policy.kind != data::AugmentKind::kNone) {
    j["data"]["augment_policy"] = c.augment_policy.kind == data::AugmentKind::kTrivialAugment
                                      ? "trivial_augment"
                                      : "rand_augment";
    j["data"]["rand_augment_ops"] = c.augment_policy.num_ops;
    j["data"]["rand_augment_magnitude"] = c.augment_policy.magnitude;
  }
  if (c.mix.mixup_alpha != 0) j["data"]["mixup_alpha"] = c.mix.mixup_alpha;
  if (c.mix.cutmix_alpha != 0) j["data"]["cutmix_alpha"] = c.mix.cutmix_alpha;
  j["model"] = {{"d_model", c.d_model},
                {"h", c.heads},
                {"N", c.layers},
                {"d_ff", c.vit().d_ff},
                {"dropout", c.dropout}};
  if (c.drop_path != 0) j["model"]["drop_path"] = c.drop_path;
  j["training"] = {{"batch_size", c.batch_size},  {"lr", c.lr},   {"epochs", c.epochs},
                   {"betas", {c.beta1, c.beta2}}, {"eps", c.eps}, {"weight_decay", c.weight_decay},
                   {"val_split", c.val_split}};
  if (c.lr_schedule != LrShape::kConstant || c.warmup_epochs != 0 || c.min_lr != 0) {
    j["training"]["lr_schedule"] = c.lr_schedule == LrShape::kCosine ? "cosine" : "constant";
    j["training"]["warmup_epochs"] = c.warmup_epochs;
    j["training"]["min_lr"] = c.min_lr;
  }
  if (c.label_smoothing != 0) j["training"]["label_smoothing"] = c.label_smoothing;
  if (c.decay_matrices_only) j["training"]["decay_matrices_only"] = true;
  if (c.clip_grad_norm != 0) j["training"]["clip_grad_norm"] = c.clip_grad_norm;
  if (c.ema_decay != 0) j["training"]["ema_decay"] = c.ema_decay;
  return j.dump();
}

std::string first_difference(const Config& a, const Config& b,
                             const std::vector<std::string>& ignore) {
  // Every key either side writes; one written by one side only (an optional key at its default
  // on the other) shows as "(default)".
  const json ja = json::parse(config_to_json(a)), jb = json::parse(config_to_json(b));
  auto value_of = [](const json& j, const std::string& section, const std::string& key) {
    return j[section].contains(key) ? j[section][key] : json("(default)");
  };
  for (const json* side : {&ja, &jb}) {
    for (const auto& [section, keys] : side->items()) {
      for (const auto& [key, unused] : keys.items()) {
        const std::string name = section + "." + key;
        if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
        const json x = value_of(ja, section, key), y = value_of(jb, section, key);
        if (x != y) return name + " (" + x.dump() + " vs " + y.dump() + ")";
      }
    }
  }
  return "";
}

}  // namespace sav::train
