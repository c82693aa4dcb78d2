#include "sav/train/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "sav/device.h"
#include "sav/error.h"
#include "sav/io/json.h"

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

// The file's tensors by name: one lookup per parameter, not a search through them all.
using TensorIndex = std::unordered_map<std::string_view, const io::StoredTensor*>;

TensorIndex index_of(const io::SafetensorsFile& file) {
  TensorIndex index;
  for (const io::StoredTensor& tensor : file.tensors) index.emplace(tensor.name, &tensor);
  return index;
}

// The stored tensor `name` with the shape of `like`, or an error naming both.
const io::StoredTensor& matching(const Checkpoint& checkpoint, const TensorIndex& index,
                                 const std::string& name, const Tensor& like) {
  const auto found = index.find(name);
  const io::StoredTensor* stored = found == index.end() ? nullptr : found->second;
  if (stored == nullptr) fail(checkpoint.path, ": tensor ", name, " is missing");
  if (stored->shape != dims(like.shape())) {
    fail(checkpoint.path, ": tensor ", name, " has shape ", shape_text(stored->shape),
         " but the model's is ", like.shape(), " (a checkpoint of another configuration)");
  }
  return *stored;
}

// Steps are bounded by a million epochs (kMaxEpochs) of steps of one of CIFAR-10's training
// images each.
constexpr int64_t kTrainingImages = 50'000;
constexpr int64_t kMaxSteps = kMaxEpochs * kTrainingImages;
const char* const kDamaged = " (a damaged checkpoint, or not one sav wrote)";

// Metadata values are text: each is read whole (no trailing junk, no "nan") and within its
// range, and a bad one is named with its file and key.
const std::string& metadata_text(const Checkpoint& checkpoint, const std::string& key) {
  const auto it = checkpoint.file.metadata.find(key);
  if (it == checkpoint.file.metadata.end()) {
    fail(checkpoint.path, ": its metadata has no ", key, kDamaged);
  }
  return it->second;
}

int64_t metadata_integer(const Checkpoint& checkpoint, const std::string& key, int64_t low,
                         int64_t high) {
  const std::string& text = metadata_text(checkpoint, key);
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || value < low || value > high) {
    fail(checkpoint.path, ": metadata ", key, " is ", io::quote(text), ", not an integer from ",
         low, " to ", high, kDamaged);
  }
  return value;
}

// The whole of `text` as a number (decimal, or a hex float), or NaN.
double parse_number(const std::string& text) {
  char* stop = nullptr;
  const double value = std::strtod(text.c_str(), &stop);
  const bool whole = !text.empty() && text.front() != ' ' && stop == text.c_str() + text.size();
  return whole ? value : std::nan("");
}

// An accuracy: a fraction in [0, 1], or -1 before the first measurement.
double metadata_accuracy(const Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = metadata_text(checkpoint, key);
  const double value = parse_number(text);
  if (!(value == -1 || (value >= 0 && value <= 1))) {
    fail(checkpoint.path, ": metadata ", key, " is ", io::quote(text),
         ", not an accuracy from 0 to 1 (or -1 for none yet)", kDamaged);
  }
  return value;
}

// A finite amount, not negative (a sum of losses, seconds).
double metadata_amount(const Checkpoint& checkpoint, const std::string& key) {
  const std::string& text = metadata_text(checkpoint, key);
  const double value = parse_number(text);
  if (!(value >= 0 && std::isfinite(value))) {
    fail(checkpoint.path, ": metadata ", key, " is ", io::quote(text),
         ", not a finite number of at least 0", kDamaged);
  }
  return value;
}

std::string configuration_summary(const Config& config) {
  return "model.N " + std::to_string(config.layers) + ", model.d_model " +
         std::to_string(config.d_model) + ", model.d_ff " + std::to_string(config.vit().d_ff);
}

// The file holds exactly the tensors its stored configuration implies, with their shapes:
// checked on the header alone, before any model is built, so a small file whose configuration
// claims a huge model is refused without allocating it.
void check_tensors(const Checkpoint& checkpoint) {
  const TensorIndex index = index_of(checkpoint.file);
  const bool with_optimizer = checkpoint.file.metadata.count("optimizer_steps") != 0;
  const std::string summary = configuration_summary(checkpoint.config);
  const std::vector<nn::ParameterShape> parameters = nn::parameter_shapes(checkpoint.config.vit());
  std::unordered_set<std::string> expected;
  const bool with_average = holds_average(checkpoint);
  for (const char* prefix : {"", "ema.", "optim.m.", "optim.v."}) {
    if (std::string_view(prefix) == "ema." && !with_average) continue;
    if (std::string_view(prefix).rfind("optim.", 0) == 0 && !with_optimizer) break;
    for (const nn::ParameterShape& parameter : parameters) {
      const std::string name = prefix + parameter.name;
      const auto found = index.find(name);
      if (found == index.end()) {
        fail(checkpoint.path, ": tensor ", name, " is missing, but its stored configuration (",
             summary, with_optimizer ? ", with Adam's state" : "", ") needs it", kDamaged);
      }
      if (found->second->shape != dims(parameter.shape)) {
        fail(checkpoint.path, ": tensor ", name, " has shape ", shape_text(found->second->shape),
             " but its stored configuration (", summary, ") makes it ",
             shape_text(dims(parameter.shape)), kDamaged);
      }
      expected.insert(name);
    }
  }
  for (const io::StoredTensor& tensor : checkpoint.file.tensors) {
    if (expected.count(tensor.name) == 0) {
      fail(checkpoint.path, ": tensor ", io::quote(tensor.name),
           " is not a parameter of the model "
           "its stored configuration (",
           summary, ") describes",
           with_optimizer ? "" : ", and its metadata has no optimizer_steps", kDamaged);
    }
  }
}

}  // namespace

bool holds_average(const Checkpoint& checkpoint) { return checkpoint.config.ema_decay > 0; }

void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state, const optim::Adam* adam,
                     const std::vector<Tensor>& averages) {
  save_checkpoint(path, model, config, state, adam, EpochProgress{}, averages);
}

void save_checkpoint(const std::string& path, const nn::VisionTransformer& model,
                     const Config& config, const TrainingState& state, const optim::Adam* adam,
                     const EpochProgress& progress, const std::vector<Tensor>& averages) {
  const size_t expected = config.ema_decay > 0 ? model.parameters().size() : 0;
  if (averages.size() != expected) {
    fail("cannot write ", path, ": ", averages.size(), " averaged weights for a configuration ",
         "that keeps ", expected, " (training.ema_decay ", config.ema_decay, ")");
  }
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
  for (size_t i = 0; i < averages.size(); ++i) {
    file.tensors.push_back(store(path, "ema." + model.parameters()[i].name, averages[i]));
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
  } catch (const UsageError& e) {
    throw Error(e.what());  // a file's contents, not how the program was called
  }
  c.state.epoch = metadata_integer(c, "epoch", 0, kMaxEpochs);
  c.state.step = metadata_integer(c, "step", 0, kMaxSteps);
  c.state.best_epoch = metadata_integer(c, "best_epoch", 0, c.state.epoch);
  c.state.best_val_accuracy = metadata_accuracy(c, "best_val_accuracy");
  c.state.best_test_accuracy = metadata_accuracy(c, "best_test_accuracy");
  if (meta.count("optimizer_steps") != 0) metadata_integer(c, "optimizer_steps", 0, kMaxSteps);
  // A point within an epoch, which read_epoch_progress reads: each field within its range too.
  if (meta.count("epoch_steps") != 0) {
    const int64_t batch = c.config.batch_size;
    metadata_integer(c, "epoch_steps", 1, (kTrainingImages + batch - 1) / batch);
    const int64_t seen = metadata_integer(c, "epoch_seen", 1, kTrainingImages);
    metadata_integer(c, "epoch_correct", 0, seen);
    for (const char* key : {"epoch_loss_sum", "epoch_train_seconds", "elapsed_seconds"}) {
      metadata_amount(c, key);
    }
  }
  check_tensors(c);
  return c;
}

void load_weights(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                  WeightSet which) {
  const bool averaged = which == WeightSet::kAveraged;
  if (averaged && !holds_average(checkpoint)) {
    fail(checkpoint.path, ": holds no moving average of its weights (its run had no ",
         "training.ema_decay)");
  }
  const TensorIndex index = index_of(checkpoint.file);
  for (const nn::NamedTensor& p : model.parameters()) {
    const io::StoredTensor& stored =
        matching(checkpoint, index, (averaged ? "ema." : "") + p.name, p.tensor);
    p.tensor.copy_from(stored.values);
  }
}

void load_optimizer(const Checkpoint& checkpoint, const nn::VisionTransformer& model,
                    optim::Adam& adam) {
  const auto steps = checkpoint.file.metadata.find("optimizer_steps");
  if (steps == checkpoint.file.metadata.end()) {
    fail(checkpoint.path, ": holds no optimizer state to resume from (only last.safetensors does)");
  }
  const int64_t step_count = metadata_integer(checkpoint, "optimizer_steps", 0, kMaxSteps);
  const TensorIndex index = index_of(checkpoint.file);
  std::vector<std::vector<float>> m, v;
  for (const nn::NamedTensor& p : model.parameters()) {
    m.push_back(matching(checkpoint, index, "optim.m." + p.name, p.tensor).values);
    v.push_back(matching(checkpoint, index, "optim.v." + p.name, p.tensor).values);
  }
  adam.restore(m, v, step_count);
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
