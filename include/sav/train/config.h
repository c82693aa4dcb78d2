// The training configuration: data/config.json (the seed's keys, plus a few optional ones),
// overridden by sav_train's flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sav/data/augment.h"
#include "sav/data/mix.h"
#include "sav/nn/vit.h"

namespace sav::train {

// Upper bounds on what a configuration (a file, the flags, or a checkpoint's stored copy) may
// ask for: far above anything useful on CIFAR-10, low enough that every element and byte count
// computed from them fits in 64 bits and that a model of any accepted configuration fits in
// memory, so a wrong number is refused by name instead of crashing or exhausting memory.
constexpr int64_t kMaxDModel = 16'384;  // the seed's 256 x 64
constexpr int64_t kMaxDff = 4 * kMaxDModel;
constexpr int64_t kMaxLayers = 1'024;      // the seed's 6; ViT-Huge has 32
constexpr int64_t kMaxBatchSize = 65'536;  // above the 50,000 training images
constexpr int64_t kMaxEpochs = 1'000'000;
constexpr int64_t kMaxValSplit = 50'000;              // all of CIFAR-10's training images
constexpr int64_t kMaxParameters = int64_t{1} << 30;  // 4 GiB of float32 (the seed's: 4.8 M)
// The largest activation of a training step: attention probabilities [batch, h, 65, 65] or
// the hidden layer [batch, 65, d_ff]; 16 GiB of float32 (the seed's: 3.4 M values).
constexpr int64_t kMaxActivationValues = int64_t{1} << 32;
constexpr uint64_t kMaxConfigBytes = 1 << 20;  // the seed's file has 250 bytes

// How the learning rate moves over a run (sav/train/schedule.h).
enum class LrShape { kConstant, kCosine };

struct Config {
  // "data"
  uint64_t seed = 42;    // random_seed: initialisation, dropout and data order
  int64_t channels = 3;  // sav reads CIFAR-10: 3 channels, 4 x 4 patches, 10 classes
  int64_t patch_size = 4;
  int64_t classes = 10;
  bool augment = false;  // random crop (zero padding 4) and horizontal flip
  // After the crop and flip: "none" (the seed's), "trivial_augment" or "rand_augment"
  // (sav/data/augment.h), with RandAugment's number of operations and magnitude bin. Written to
  // a checkpoint only when not "none".
  data::AugmentPolicy augment_policy;
  // Mixup / CutMix (sav/data/mix.h): mixup_alpha and cutmix_alpha, 0 (off, the seed's) or the
  // Beta distribution's alpha. Written to a checkpoint only when on.
  data::MixOptions mix;
  // "model"
  int64_t d_model = 256, heads = 8, layers = 6;
  int64_t d_ff = 0;  // 0: 4 * d_model
  double dropout = 0.1;
  double drop_path = 0;  // stochastic depth's rate at the last block (nn::VitConfig::drop_path)
  // "training"
  int64_t batch_size = 100;
  double lr = 1e-4;
  int64_t epochs = 100;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t val_split = 5000;  // training images held out to choose the best checkpoint
  // The recipe's schedule (off in the seed's: a constant lr). Written to a checkpoint's
  // configuration only when not the default, so that the seed's checkpoints stay as they were.
  LrShape lr_schedule = LrShape::kConstant;  // lr_schedule: "constant" or "cosine"
  double warmup_epochs = 0;                  // linear warm-up from 0 to lr over these epochs
  double min_lr = 0;                         // where the cosine ends
  bool decay_matrices_only = false;          // weight decay on the 2-D weights only (not on biases,
                                             // norms, position embeddings or tokens)
  double clip_grad_norm = 0;                 // > 0: gradients scaled down to this global L2 norm
  double label_smoothing = 0;                // targets (1 - e) on the label, e / classes on all
  double ema_decay = 0;  // in (0, 1): evaluate an exponential moving average of the weights
                         // (sav/optim/weight_average.h), kept in checkpoints as ema.<name>

  nn::VitConfig vit() const;
};

// Reads a configuration file. Throws UsageError naming the file and the key for a missing or
// malformed file, an unknown key, a value of the wrong type, or a value out of range; also for
// a path that is not a regular file or holds more than kMaxConfigBytes (refused before reading).
Config load_config(const std::string& path);
// The same from JSON text; `source` names it in messages. Text over kMaxConfigBytes, or nesting
// arrays and objects deeper than io::kMaxJsonDepth, is refused before it is parsed.
Config parse_config(const std::string& json_text, const std::string& source);
// JSON text with every key (what a checkpoint stores).
std::string config_to_json(const Config& config);
// The first key whose value differs between two configurations, as "model.d_model (256 vs
// 128)", or "" when they agree. Keys listed in `ignore` ("training.epochs") are skipped.
std::string first_difference(const Config& a, const Config& b,
                             const std::vector<std::string>& ignore = {});
// Throws UsageError, naming `source` and the key, for values out of range (including the
// bounds above, and the model's parameter count and largest activation, computed with checked
// arithmetic).
void validate_config(const Config& config, const std::string& source);
// The number of parameters of the model `config` describes, or std::nullopt when it would
// overflow int64_t.
std::optional<int64_t> parameter_count(const Config& config);

}  // namespace sav::train
