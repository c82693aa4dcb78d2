#include "sav/train/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "sav/error.h"

namespace sav::train {
namespace {

using nlohmann::json;

// Reads `section.key` into `out` when present, checking its JSON type.
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
               ", got ", value.dump());
  }
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (std::is_unsigned_v<T> && value.get<int64_t>() < 0) {
      usage_fail(source, ": ", section_name, ".", key, " must not be negative, got ", value.dump());
    }
  }
  out = value.get<T>();
}

void reject_unknown(const json& section, const std::string& section_name,
                    const std::set<std::string>& known, const std::string& source) {
  if (!section.is_object()) usage_fail(source, ": \"", section_name, "\" must be an object");
  for (const auto& [key, value] : section.items()) {
    if (!known.count(key)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      usage_fail(source, ": unknown key ", section_name, ".", key, " (known: ", list, ")");
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
  return v;
}

Config parse_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    usage_fail(source, ": not valid JSON: ", e.what());
  }
  if (!root.is_object()) usage_fail(source, ": the configuration must be a JSON object");
  reject_unknown(root, "(top level)", {"data", "model", "training"}, source);
  Config c;
  const json empty = json::object();
  const json& data = root.contains("data") ? root["data"] : empty;
  const json& model = root.contains("model") ? root["model"] : empty;
  const json& training = root.contains("training") ? root["training"] : empty;
  reject_unknown(data, "data", {"random_seed", "channels", "patch_size", "n_classes", "augment"}, source);
  reject_unknown(model, "model", {"d_model", "h", "N", "d_ff", "dropout"}, source);
  reject_unknown(training, "training",
                 {"batch_size", "lr", "epochs", "betas", "eps", "weight_decay", "val_split"}, source);

  read(data, "data", "random_seed", c.seed, source);
  read(data, "data", "channels", c.channels, source);
  read(data, "data", "n_classes", c.classes, source);
  read(data, "data", "augment", c.augment, source);
  if (data.contains("patch_size")) {
    const json& p = data["patch_size"];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer() ||
        p[0] != p[1]) {
      usage_fail(source, ": data.patch_size must be two equal integers like [4, 4], got ", p.dump());
    }
    c.patch_size = p[0].get<int64_t>();
  }
  read(model, "model", "d_model", c.d_model, source);
  read(model, "model", "h", c.heads, source);
  read(model, "model", "N", c.layers, source);
  read(model, "model", "d_ff", c.d_ff, source);
  read(model, "model", "dropout", c.dropout, source);
  read(training, "training", "batch_size", c.batch_size, source);
  read(training, "training", "lr", c.lr, source);
  read(training, "training", "epochs", c.epochs, source);
  read(training, "training", "eps", c.eps, source);
  read(training, "training", "weight_decay", c.weight_decay, source);
  read(training, "training", "val_split", c.val_split, source);
  if (training.contains("betas")) {
    const json& b = training["betas"];
    if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number()) {
      usage_fail(source, ": training.betas must be two numbers like [0.9, 0.999], got ", b.dump());
    }
    c.beta1 = b[0].get<double>();
    c.beta2 = b[1].get<double>();
  }
  validate_config(c, source);
  return c;
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    usage_fail("cannot open configuration ", path, ": ", std::strerror(errno),
               " (pass --config FILE; data/config.json holds the seed's configuration)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

void validate_config(const Config& c, const std::string& source) {
  auto positive = [&](const char* key, double value) {
    if (!(value > 0)) usage_fail(source, ": ", key, " must be positive, got ", value);
  };
  positive("model.d_model", static_cast<double>(c.d_model));
  positive("model.h", static_cast<double>(c.heads));
  positive("model.N", static_cast<double>(c.layers));
  positive("training.batch_size", static_cast<double>(c.batch_size));
  positive("training.epochs", static_cast<double>(c.epochs));
  positive("training.lr", c.lr);
  positive("training.eps", c.eps);
  if (c.d_ff < 0) usage_fail(source, ": model.d_ff must be positive (or 0 for 4 * d_model), got ", c.d_ff);
  if (c.d_model % c.heads != 0) {
    usage_fail(source, ": model.h ", c.heads, " must divide model.d_model ", c.d_model);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) usage_fail(source, ": model.dropout must be in [0, 1), got ", c.dropout);
  if (!(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1)) {
    usage_fail(source, ": training.betas must be in [0, 1), got [", c.beta1, ", ", c.beta2, "]");
  }
  if (!(c.weight_decay >= 0)) usage_fail(source, ": training.weight_decay must not be negative, got ", c.weight_decay);
  if (c.val_split < 0) usage_fail(source, ": training.val_split must not be negative, got ", c.val_split);
  if (c.channels != 3 || c.patch_size != 4 || c.classes != 10) {
    usage_fail(source, ": sav trains on CIFAR-10: data.channels must be 3, data.patch_size [4, 4] and "
               "data.n_classes 10 (got ", c.channels, ", [", c.patch_size, ", ", c.patch_size, "], ",
               c.classes, ")");
  }
}

std::string config_to_json(const Config& c) {
  json j;
  j["data"] = {{"random_seed", c.seed},
               {"channels", c.channels},
               {"patch_size", {c.patch_size, c.patch_size}},
               {"n_classes", c.classes},
               {"augment", c.augment}};
  j["model"] = {{"d_model", c.d_model}, {"h", c.heads},       {"N", c.layers},
                {"d_ff", c.vit().d_ff}, {"dropout", c.dropout}};
  j["training"] = {{"batch_size", c.batch_size}, {"lr", c.lr},
                   {"epochs", c.epochs},         {"betas", {c.beta1, c.beta2}},
                   {"eps", c.eps},               {"weight_decay", c.weight_decay},
                   {"val_split", c.val_split}};
  return j.dump();
}

std::string first_difference(const Config& a, const Config& b,
                             const std::vector<std::string>& ignore) {
  const json ja = json::parse(config_to_json(a)), jb = json::parse(config_to_json(b));
  for (const auto& [section, keys] : ja.items()) {
    for (const auto& [key, value] : keys.items()) {
      const std::string name = section + "." + key;
      if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
      if (value != jb[section][key]) {
        return name + " (" + value.dump() + " vs " + jb[section][key].dump() + ")";
      }
    }
  }
  return "";
}

}  // namespace sav::train
