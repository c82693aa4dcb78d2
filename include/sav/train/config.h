// The training configuration: data/config.json (the seed's keys, plus a few optional ones),
// overridden by sav_train's flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sav/nn/vit.h"

namespace sav::train {

struct Config {
  // "data"
  uint64_t seed = 42;          // random_seed: initialisation, dropout and data order
  int64_t channels = 3;        // sav reads CIFAR-10: 3 channels, 4 x 4 patches, 10 classes
  int64_t patch_size = 4;
  int64_t classes = 10;
  bool augment = false;        // random crop (zero padding 4) and horizontal flip
  // "model"
  int64_t d_model = 256, heads = 8, layers = 6;
  int64_t d_ff = 0;            // 0: 4 * d_model
  double dropout = 0.1;
  // "training"
  int64_t batch_size = 100;
  double lr = 1e-4;
  int64_t epochs = 100;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t val_split = 5000;    // training images held out to choose the best checkpoint

  nn::VitConfig vit() const;
};

// Reads a configuration file. Throws UsageError naming the file and the key for a missing or
// malformed file, an unknown key, a value of the wrong type, or a value out of range.
Config load_config(const std::string& path);
// The same from JSON text; `source` names it in messages.
Config parse_config(const std::string& json_text, const std::string& source);
// JSON text with every key (what a checkpoint stores).
std::string config_to_json(const Config& config);
// The first key whose value differs between two configurations, as "model.d_model (256 vs
// 128)", or "" when they agree. Keys listed in `ignore` ("training.epochs") are skipped.
std::string first_difference(const Config& a, const Config& b,
                             const std::vector<std::string>& ignore = {});
// Throws UsageError, naming `source` and the key, for values out of range.
void validate_config(const Config& config, const std::string& source);

}  // namespace sav::train
