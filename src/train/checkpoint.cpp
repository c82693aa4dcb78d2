#include "sav/train/checkpoint.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "sav/backend.h"
#include "sav/error.h"

namespace sav::train {
namespace {

constexpr const char* kFormat = "sav-vit/1";

// A checkpoint holding NaN or infinity would be kept, chosen as best and resumed from, and
// every run from it would be lost too: `path` is refused instead, naming the tensor.
io::StoredTensor store(const std::string& path, const std::string& name, const Tensor& t) {
  io::StoredTensor stored{name, {}, t.to_vector()};
  for (int i = 0; i < t.shape().rank(); ++i) stored.shape.push_back(t.shape()[i]);
  for (size_t i = 0; i < stored.values.size(); ++i) {
    if (!std::isfinite(stored.values[i])) {
      fail("cannot write ", path, ": tensor ", name, " holds ", stored.values[i], " at index ", i,
           " (a checkpoint must hold finite values only)");
    }
  }
  return stored;
}

// Exactly, for numbers read back with std::stod / std::strtod: 17 significant digits round-trip
// a double, and a hex float is exact by construction.
std::string exact_text(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}
std::string hex_text(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

std::vector<int64_t> dims(const Shape& shape) {
  std::vector<int64_t> out;
  for (int i = 0; i < shape.rank(); ++i) out.push_back(shape[i]);
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The stored tensor `name` with the shape of `like`, or an error naming both.
const io::StoredTensor& matching(const Checkpoint& checkpoint, const std::string& name,
                                 const Tensor& like) {
  const io::StoredTensor* stored = checkpoint.file.find(name);
  if (stored == nullptr) fail(checkpoint.path, ": tensor ", name, " is missing");
  if (stored->shape != dims(like.shape())) {
    fail(checkpoint.path, ": tensor ", name, " has shape ", shape_text(stored->shape),
         " but the model's is ", like.shape(), " (a checkpoint of another configuration)");
  }
  return *stored;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state, const optim::Adam* adam) {
  save_checkpoint(path, model, config, state, adam, EpochProgress{});
}

void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state, const optim::Adam* adam,
                     const EpochProgress& progress) {
  io::SafetensorsFile file;
  file.metadata = {{"format", kFormat},
                   {"config", config_to_json(config)},
                   {"epoch", std::to_string(state.epoch)},
                   {"step", std::to_string(state.step)},
                   {"best_epoch", std::to_string(state.best_epoch)},
                   {"best_val_accuracy", exact_text(state.best_val_accuracy)},
                   {"best_test_accuracy", exact_text(state.best_test_accuracy)}};
  // Only a point in the middle of an epoch carries these; a checkpoint at an epoch's end stays
  // as it always was.
  if (progress.steps > 0) {
    file.metadata["epoch_steps"] = std::to_string(progress.steps);
    file.metadata["epoch_loss_sum"] = hex_text(progress.loss_sum);
    file.metadata["epoch_correct"] = std::to_string(progress.correct);
    file.metadata["epoch_seen"] = std::to_string(progress.seen);
    file.metadata["epoch_train_seconds"] = exact_text(progress.train_seconds);
    file.metadata["elapsed_seconds"] = exact_text(progress.elapsed_seconds);
  }
  for (const nn::NamedTensor& p : model.parameters()) {
    file.tensors.push_back(store(path, p.name, p.tensor));
  }
  if (adam != nullptr) {
    file.metadata["optimizer_steps"] = std::to_string(adam->steps());
    const auto& params = model.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      file.tensors.push_back(store(path, "optim.m." + params[i].name, adam->first_moments()[i]));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      file.tensors.push_back(store(path, "optim.v." + params[i].name, adam->second_moments()[i]));
    }
  }
  io::save_safetensors(path, file);
}

Checkpoint read_checkpoint(const std::string& path) {
  Checkpoint c;
  c.path = path;
  c.file = io::load_safetensors(path);
  const auto& meta = c.file.metadata;
  const auto it = meta.find("config");
  if (meta.count("format") == 0 || meta.at("format") != kFormat || it == meta.end()) {
    fail(path, ": not a sav checkpoint (its metadata has no sav format and configuration)");
  }
  try {
    c.config = parse_config(it->second, path + " (its stored configuration)");
    c.state.epoch = std::stoll(meta.at("epoch"));
    c.state.step = std::stoll(meta.at("step"));
    c.state.best_epoch = std::stoll(meta.at("best_epoch"));
    c.state.best_val_accuracy = std::stod(meta.at("best_val_accuracy"));
    c.state.best_test_accuracy = std::stod(meta.at("best_test_accuracy"));
  } catch (const std::logic_error&) {  // a missing key or a number that does not parse
    fail(path, ": its metadata is incomplete or malformed (epoch, step, best_*)");
  }
  return c;
}

void load_weights(const Checkpoint& checkpoint, const nn::VisionTransformer& model) {
  for (const nn::NamedTensor& p : model.parameters()) {
    const io::StoredTensor& stored = matching(checkpoint, p.name, p.tensor);
    p.tensor.backend().upload(p.tensor.data(), stored.values.data(),
                              sizeof(float) * stored.values.size());
  }
}

void load_optimizer(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                    optim::Adam& adam) {
  const auto steps = checkpoint.file.metadata.find("optimizer_steps");
  if (steps == checkpoint.file.metadata.end()) {
    fail(checkpoint.path, ": holds no optimizer state to resume from (only last.safetensors does)");
  }
  std::vector<std::vector<float>> m, v;
  for (const nn::NamedTensor& p : model.parameters()) {
    m.push_back(matching(checkpoint, "optim.m." + p.name, p.tensor).values);
    v.push_back(matching(checkpoint, "optim.v." + p.name, p.tensor).values);
  }
  adam.restore(m, v, std::stoll(steps->second));
}

EpochProgress read_epoch_progress(const Checkpoint& checkpoint) {
  const auto& meta = checkpoint.file.metadata;
  EpochProgress progress;
  if (meta.count("epoch_steps") == 0) return progress;
  // strtod reads the hex floats; unlike std::stod, the full-match check refuses trailing junk.
  auto text_of = [&](const char* key) {
    const auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  auto refuse = [&](const char* key) {
    fail(checkpoint.path, ": its metadata has no valid ", key, " (a point within an epoch)");
  };
  auto number = [&](const char* key) {
    const std::string text = text_of(key);
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value)) refuse(key);
    return value;
  };
  auto count = [&](const char* key) {
    const std::string text = text_of(key);
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < 0) refuse(key);
    return static_cast<int64_t>(value);
  };
  progress.steps = count("epoch_steps");
  progress.loss_sum = number("epoch_loss_sum");
  progress.correct = count("epoch_correct");
  progress.seen = count("epoch_seen");
  progress.train_seconds = number("epoch_train_seconds");
  progress.elapsed_seconds = number("elapsed_seconds");
  if (progress.correct > progress.seen || (progress.steps > 0) != (progress.seen > 0)) {
    fail(checkpoint.path, ": its metadata is inconsistent (epoch_correct ", progress.correct,
         ", epoch_seen ", progress.seen, ", epoch_steps ", progress.steps, ")");
  }
  return progress;
}

}  // namespace sav::train
