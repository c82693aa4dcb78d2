// sav_train: trains the ViT on CIFAR-10 from data/config.json, flags overriding it.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "programs/command_line.h"
#include "programs/progress.h"
#include "programs/run_program.h"
#include "sav/data/cifar10.h"
#include "sav/device.h"
#include "sav/dist/communicator.h"
#include "sav/dist/device_communicator.h"
#include "sav/error.h"
#include "sav/train/trainer.h"

namespace {

using namespace sav;

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f%%", 100 * fraction);
  return text;
}

// Progress for a person at a terminal (a live bar on stderr) or for a log (plain lines).
class Progress : public train::TrainObserver {
 public:
  Progress(int64_t epochs, bool live) : epochs_(epochs), bar_(live) {}

  void on_start(const std::string& message) override { std::cout << message << std::endl; }

  void on_step(int64_t epoch, int64_t step, int64_t steps, double loss,
               double images_per_second) override {
    const double eta = images_per_second > 0
                           ? (steps - step) * static_cast<double>(batch_size_) / images_per_second
                           : 0;
    char suffix[64];
    if (std::isnan(loss)) {  // no step's figures have reached the host yet
      std::snprintf(suffix, sizeof suffix, "loss - %.0f img/s", images_per_second);
    } else {
      std::snprintf(suffix, sizeof suffix, "loss %.4f %.0f img/s", loss, images_per_second);
    }
    bar_.show("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs_) + " step", step,
              steps, suffix, eta);
  }

  void on_epoch(const train::EpochReport& r) override {
    bar_.clear();
    std::printf(
        "epoch %lld/%lld  train loss %.4f acc %s  val loss %.4f acc %s  test loss %.4f "
        "acc %s  %.0f img/s  elapsed %s%s\n",
        static_cast<long long>(r.epoch), static_cast<long long>(epochs_), r.train_loss,
        percent(r.train_accuracy).c_str(), r.val_loss, percent(r.val_accuracy).c_str(), r.test_loss,
        percent(r.test_accuracy).c_str(), r.images_per_second,
        clock_text(r.elapsed_seconds).c_str(), r.best ? "  [best]" : "");
    std::fflush(stdout);
  }

  void set_batch_size(int64_t batch_size) { batch_size_ = batch_size; }
  void clear() { bar_.clear(); }

 private:
  int64_t epochs_;
  ProgressBar bar_;
  int64_t batch_size_ = 1;
};

// Set by the first SIGINT or SIGTERM; the trainer stops after the step in progress and saves.
std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "a signal handler may touch only lock-free atomics");

// Only async-signal-safe calls here: lock-free atomics, write() and _exit(). The process has
// several threads and each may take a signal, so which one came first is settled atomically.
extern "C" void on_stop_signal(int signal) {
  if (stop_signal.exchange(signal) != 0) {
    constexpr char kNow[] =
        "\nsav_train: stopped at once; last.safetensors holds the last point "
        "saved\n";
    [[maybe_unused]] const ssize_t put = ::write(STDERR_FILENO, kNow, sizeof kNow - 1);
    ::_exit(128 + signal);
  }
  stop_requested.store(true);
  constexpr char kSoon[] =
      "\nsav_train: stopping after this step to save it (signal again to "
      "quit at once)\n";
  [[maybe_unused]] const ssize_t put = ::write(STDERR_FILENO, kSoon, sizeof kSoon - 1);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// The command line again, quoted for a POSIX shell, with --resume in place of --force.
std::string resume_command(int argc, char** argv) {
  std::string command;
  bool has_resume = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--force") continue;
    has_resume = has_resume || arg == "--resume";
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789_-+=.,/:@%") == std::string::npos;
    std::string quoted = "'";
    for (const char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += (i ? " " : "") + (plain ? arg : quoted + "'");
  }
  return has_resume ? command : command + " --resume";
}

// A flag's value must be a finite number above `low` (or at least `low`, when `inclusive`).
CLI::Validator number_above(double low, bool inclusive) {
  const std::string bound = inclusive  ? "at least " + CLI::detail::to_string(low)
                            : low == 0 ? std::string("positive")
                                       : "above " + CLI::detail::to_string(low);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return "'" + text + "' is not a number";
        if (!std::isfinite(value)) return "must be a finite number, got " + text;
        if (inclusive ? value < low : value <= low) return "must be " + bound + ", got " + text;
        return "";
      },
      inclusive ? "NON-NEGATIVE" : "POSITIVE");
}

// A seed is an unsigned 64-bit integer; "-1" would otherwise wrap around to 2^64 - 1.
CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return "must be a whole number from 0 to 18446744073709551615, got " + text;
        }
        return "";
      },
      "UINT64");
}

// The command line: what to train, where, and how.
struct Flags {
  std::string config_path = "data/config.json", data_dir = "data/cifar-10-batches-bin";
  std::string out_dir = "data", device_name = "auto";
  int64_t epochs = 0, batch_size = 0, limit_train = 0, val_split = -1;
  double lr = 0;
  uint64_t seed = 0;
  int threads = 0;
  bool resume = false, force = false, augment = false, tf32 = false, no_graphs = false;
  // The flags that override the configuration file, where given.
  CLI::Option *epochs_opt, *batch_opt, *lr_opt, *seed_opt, *val_opt, *augment_opt;
};

// The flags of the configuration file's training settings.
void declare_config_flags(CLI::App& app, Flags& f) {
  f.epochs_opt = app.add_option("--epochs", f.epochs, "number of epochs (config: training.epochs)")
                     ->check(number_above(0, false));
  f.batch_opt =
      app.add_option("--batch-size", f.batch_size, "images a step (config: training.batch_size)")
          ->check(number_above(0, false));
  f.lr_opt = app.add_option("--lr", f.lr, "Adam learning rate (config: training.lr)")
                 ->check(number_above(0, false));
  f.seed_opt = app.add_option("--seed", f.seed, "random seed (config: data.random_seed)")
                   ->check(seed_value());
}

void declare_flags(CLI::App& app, Flags& f) {
  app.add_option("--config", f.config_path,
                 "configuration file (JSON): data/config.json is the seed's recipe, "
                 "data/recipes/cifar10-strong.json the strong one")
      ->capture_default_str();
  app.add_option("--data", f.data_dir, "folder of the CIFAR-10 binary batches")
      ->capture_default_str();
  declare_config_flags(app, f);
  app.add_option("--threads", f.threads,
                 "CPU threads, 0 for all cores (under mpirun: shared by the ranks on a machine)")
      ->check(number_above(0, true))
      ->capture_default_str();
  app.add_option("--device", f.device_name, "cpu, cuda, cuda:N or auto (CUDA where usable)")
      ->capture_default_str();
  app.add_option("--out", f.out_dir, "folder for checkpoints/ and outputs/")->capture_default_str();
  auto* resume_opt =
      app.add_flag("--resume", f.resume, "continue from <out>/checkpoints/last.safetensors");
  app.add_flag("--force", f.force,
               "start anew over a run already in --out, deleting its checkpoints and log")
      ->excludes(resume_opt);
  app.add_option("--limit-train", f.limit_train,
                 "train on the first N training images only (0: all)")
      ->check(number_above(0, true))
      ->capture_default_str();
  f.val_opt = app.add_option("--val-split", f.val_split,
                             "training images held out for validation (config: "
                             "training.val_split, 5000; 0: train on all 50,000)")
                  ->check(number_above(0, true));
  f.augment_opt = app.add_flag("--augment", f.augment, "random crop (pad 4) and horizontal flip");
  app.add_flag("--tf32", f.tf32,
               "TF32 tensor-core matrix products on the GPU (faster, less exact)");
  app.add_flag("--no-graphs", f.no_graphs,
               "run every GPU step as it is issued, not replayed from a recorded CUDA graph (the "
               "same results; for comparison and diagnosis)");
}

// The configuration file with the flags given laid over it, checked.
train::Config configuration(const Flags& f) {
  train::Config config = train::load_config(f.config_path);
  if (*f.epochs_opt) config.epochs = f.epochs;
  if (*f.batch_opt) config.batch_size = f.batch_size;
  if (*f.lr_opt) config.lr = f.lr;
  if (*f.seed_opt) config.seed = f.seed;
  if (*f.val_opt) config.val_split = f.val_split;
  if (*f.augment_opt) config.augment = f.augment;
  train::validate_config(config, "the flags");
  train::adam_options(config);
  return config;
}

Device prepare_device(const Flags& f, const dist::Communicator& world) {
  const Device device = job_device(f.device_name, world);
  if (f.device_name == "auto" && device == Device::cpu() && world.is_root()) {
    std::cout << "no usable GPU: training on the CPU" << std::endl;
  }
  set_device_threads(device, job_threads(f.threads, world));
  set_device_tf32(device, f.tf32);
  if (f.tf32 && device.type == DeviceType::kCpu && world.is_root()) {
    std::cout << "note: --tf32 changes GPU products only; the CPU computes in FP32" << std::endl;
  }
  return device;
}

// The recipe's choices beyond the seed's, as "; "-separated phrases ("" for the seed's).
std::string recipe_summary(const train::Config& c) {
  std::ostringstream out;
  auto add = [&out](const auto&... parts) {
    out << (out.tellp() > 0 ? "; " : "");
    (out << ... << parts);
  };
  if (c.lr_schedule == train::LrShape::kCosine) {
    add("cosine lr to ", c.min_lr, " after ", c.warmup_epochs, " warm-up epochs");
  } else if (c.warmup_epochs > 0) {
    add(c.warmup_epochs, " warm-up epochs");
  }
  if (c.weight_decay > 0) {
    add("weight decay ", c.weight_decay, c.decay_matrices_only ? " (matrices only)" : "");
  }
  if (c.augment_policy.kind == data::AugmentKind::kTrivialAugment) add("TrivialAugment");
  if (c.augment_policy.kind == data::AugmentKind::kRandAugment) {
    add("RandAugment ", c.augment_policy.num_ops, " ops at ", c.augment_policy.magnitude);
  }
  if (c.mix.mixup_alpha > 0) add("Mixup ", c.mix.mixup_alpha);
  if (c.mix.cutmix_alpha > 0) add("CutMix ", c.mix.cutmix_alpha);
  if (c.label_smoothing > 0) add("label smoothing ", c.label_smoothing);
  if (c.drop_path > 0) add("drop path ", c.drop_path);
  if (c.clip_grad_norm > 0) add("gradients clipped to norm ", c.clip_grad_norm);
  if (c.ema_decay > 0)
    add("evaluated on a moving average of the weights (decay ", c.ema_decay, ")");
  return out.str();
}

void print_plan(const Flags& f, const train::Config& config, Device device,
                const data::TrainValidation& split, const data::Cifar10& cifar,
                const dist::Communicator& world) {
  std::cout << "sav_train: ViT " << config.layers << " x " << config.d_model << ", " << config.heads
            << " heads, " << nn::parameter_count(config.vit()) << " parameters on "
            << describe_device(device) << "\n";
  if (world.size() > 1) {
    std::cout << "data-parallel: " << world.describe() << ", each a share of every batch of "
              << config.batch_size << " (" << config.batch_size / world.size()
              << (config.batch_size % world.size() == 0
                      ? ""
                      : " or " + std::to_string(config.batch_size / world.size() + 1))
              << " images); rank 0 writes and reports\n";
  }
  std::cout << "data: " << split.train.size() << " training, " << split.validation.size()
            << " validation, " << cifar.test.size() << " test images from " << f.data_dir << "\n"
            << "training: " << config.epochs << " epochs, batch " << config.batch_size << ", lr "
            << config.lr << ", seed " << config.seed << (config.augment ? ", augmented" : "")
            << "; outputs under " << f.out_dir << "\n";
  const std::string recipe = recipe_summary(config);
  if (!recipe.empty()) std::cout << "recipe: " << recipe << "\n";
  std::cout << std::flush;
}

// What a stopped run says, and its exit status.
int report_stop(const train::TrainResult& result, const std::string& out_dir, int argc, char** argv,
                int ranks) {
  const train::TrainingState& s = result.state;
  if (result.progress.steps > 0) {
    std::cout << "stopped within epoch " << s.epoch + 1 << " after its step "
              << result.progress.steps << " of " << result.steps_per_epoch;
  } else {
    std::cout << "stopped after epoch " << s.epoch;
  }
  std::cout << " (step " << s.step << "); " << out_dir
            << "/checkpoints/last.safetensors holds it. To go on, run:\n  "
            << (ranks > 1 ? "mpirun -np " + std::to_string(ranks) + " " : std::string())
            << resume_command(argc, argv) << std::endl;
  return stop_signal.load() != 0 ? 128 + stop_signal.load() : 1;
}

void report_end(const train::TrainResult& result, const std::string& out_dir,
                bool with_validation) {
  const train::TrainingState& s = result.state;
  if (result.recorded_graphs > 0) {
    std::cout << "CUDA graphs: " << result.recorded_graphs << " recorded, replayed for "
              << result.replayed_steps << " of the steps\n";
  }
  std::cout << "final (epoch " << s.epoch << "): test accuracy "
            << percent(result.final_test_accuracy) << "\n";
  if (with_validation) {
    std::cout << "best validation checkpoint (epoch " << s.best_epoch << ", validation "
              << percent(s.best_val_accuracy) << "): test accuracy "
              << percent(s.best_test_accuracy) << "\n";
  } else {
    std::cout << "no validation split: best.safetensors is the last epoch's\n";
  }
  std::cout << "checkpoints: " << out_dir
            << "/checkpoints/{last,best}.safetensors; log: " << out_dir
            << "/outputs/train_log.csv; curves: " << out_dir << "/outputs/curves.png" << std::endl;
}

int run(int argc, char** argv) {
  CLI::App app{
      "sav_train: trains a Vision Transformer on CIFAR-10 (the configuration of "
      "data/config.json; flags override it). Writes checkpoints/last.safetensors, "
      "checkpoints/best.safetensors, outputs/train_log.csv and outputs/curves.png "
      "under --out. Under mpirun -np N, the N processes train one model data-parallel: each "
      "takes a share of every batch (--batch-size stays the whole batch), and rank 0 writes "
      "and reports."};
  Flags f;
  declare_flags(app, f);
  if (const std::optional<int> done = parse_command_line(app, argc, argv)) return *done;
  const train::Config config = configuration(f);
  dist::Communicator& world = dist::world();
  const Device device = prepare_device(f, world);

  train::TrainOptions options;
  options.config = config;
  options.out_dir = f.out_dir;
  options.device = device;
  options.resume = f.resume;
  options.force = f.force;
  options.stop_requested = &stop_requested;
  options.communicator = &world;
  options.graphs = !f.no_graphs;
  // Ranks on GPUs sum their gradients with NCCL, on the devices, where this build has it.
  std::unique_ptr<dist::Communicator> nccl;
  if (world.size() > 1 && device.type == DeviceType::kCuda) {
    if (dist::built_with_nccl()) {
      nccl = dist::device_communicator(world, device);
      options.gradient_communicator = nccl.get();
    } else if (world.is_root()) {
      std::cout << "note: this build has no NCCL: the GPUs' gradients are summed through host "
                   "memory with MPI"
                << std::endl;
    }
  }
  // Before the data is read: a run that cannot start says so at once, with or without data.
  const train::OutputLock lock = train::claim_output(options);

  const data::Cifar10 cifar = data::open_cifar10(f.data_dir);
  if (config.val_split >= cifar.train.size()) {
    usage_fail("--val-split ", config.val_split,
               " leaves no training images (the training set has ", cifar.train.size(), ")");
  }
  const data::TrainValidation split =
      data::split_train_validation(cifar.train, config.val_split, f.limit_train);
  if (world.is_root()) print_plan(f, config, device, split, cifar, world);

  Progress progress(config.epochs, ::isatty(STDERR_FILENO) == 1);
  progress.set_batch_size(config.batch_size);
  install_stop_handlers();
  const train::TrainResult result =
      train::train(options, {split.train, split.validation, cifar.test}, progress, lock);
  if (result.stopped) {
    if (!world.is_root()) return stop_signal.load() != 0 ? 128 + stop_signal.load() : 1;
    progress.clear();
    return report_stop(result, f.out_dir, argc, argv, world.size());
  }
  if (world.is_root()) report_end(result, f.out_dir, split.validation.size() > 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sav::run_program("sav_train", [&] { return run(argc, argv); });
}
