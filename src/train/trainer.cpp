#include "sav/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "sav/autograd.h"
#include "sav/backend.h"
#include "sav/data/loader.h"
#include "sav/error.h"
#include "sav/image/plot.h"
#include "sav/io/atomic_file.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"
#include "sav/random.h"

namespace sav::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kCsvHeader =
    "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,"
    "images_per_second,elapsed_seconds";

int64_t count_correct(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                      int64_t classes) {
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto row = logits.begin() + static_cast<int64_t>(i) * classes;
    correct += std::max_element(row, row + classes) - row == labels[i];
  }
  return correct;
}

std::string csv_text(const std::vector<EpochReport>& history) {
  std::ostringstream out;
  out.precision(6);
  out << kCsvHeader << "\n";
  for (const EpochReport& r : history) {
    out << r.epoch << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.val_loss << ','
        << r.val_accuracy << ',' << r.test_loss << ',' << r.test_accuracy << ','
        << r.images_per_second << ',' << r.elapsed_seconds << "\n";
  }
  return out.str();
}

// The rows of an earlier run's log up to `epochs`, for a resumed run; empty when the log is
// absent or not ours.
std::vector<EpochReport> read_csv(const std::string& path, int64_t epochs) {
  std::ifstream in(path);
  std::string line;
  std::vector<EpochReport> rows;
  if (!std::getline(in, line) || line != kCsvHeader) return rows;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    EpochReport r;
    char comma;
    fields >> r.epoch >> comma >> r.train_loss >> comma >> r.train_accuracy >> comma >>
        r.val_loss >> comma >> r.val_accuracy >> comma >> r.test_loss >> comma >>
        r.test_accuracy >> comma >> r.images_per_second >> comma >> r.elapsed_seconds;
    if (fields.fail() || r.epoch < 1 || r.epoch > epochs) break;
    rows.push_back(r);
  }
  return rows;
}

void plot(const std::string& path, const std::vector<EpochReport>& history) {
  image::Series train_loss{"train", {}, {31, 119, 180}}, val_loss{"validation", {}, {255, 127, 14}},
      test_loss{"test", {}, {44, 160, 44}};
  image::Series train_acc = train_loss, val_acc = val_loss, test_acc = test_loss;
  for (const EpochReport& r : history) {
    train_loss.values.push_back(r.train_loss);
    val_loss.values.push_back(r.val_loss);
    test_loss.values.push_back(r.test_loss);
    train_acc.values.push_back(100 * r.train_accuracy);
    val_acc.values.push_back(100 * r.val_accuracy);
    test_acc.values.push_back(100 * r.test_accuracy);
  }
  image::plot_curves(path, {train_loss, val_loss, test_loss}, {train_acc, val_acc, test_acc});
}

}  // namespace

Evaluation evaluate(const nn::VisionTransformer& model, const data::RecordSet& records,
                    int64_t batch_size) {
  if (records.size() == 0) return {kNaN, kNaN};
  data::LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  data::BatchLoader loader(records, options);
  loader.start_epoch(0);
  NoGradGuard no_grad;
  double loss_sum = 0;
  int64_t correct = 0;
  data::Batch batch;
  while (loader.next(batch)) {
    const Tensor x = Tensor::from_vector({batch.size, data::kPatches, data::kPatchFeatures},
                                         batch.patches, model.device());
    const Tensor logits = model.forward(x, false).logits;
    loss_sum += double{ops::cross_entropy(logits, batch.labels).item()} * batch.size;
    correct += count_correct(logits.to_vector(), batch.labels, model.config().classes);
  }
  return {loss_sum / records.size(), static_cast<double>(correct) / records.size()};
}

TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer) {
  const Config& config = options.config;
  const fs::path out(options.out_dir);
  const std::string checkpoints = (out / "checkpoints").string(), outputs = (out / "outputs").string();
  const std::string last_path = checkpoints + "/last.safetensors";
  const std::string best_path = checkpoints + "/best.safetensors";
  const std::string csv_path = outputs + "/train_log.csv", curves_path = outputs + "/curves.png";

  nn::VisionTransformer model(config.vit(), options.device);
  std::vector<Tensor> parameters;
  for (const nn::NamedTensor& p : model.parameters()) parameters.push_back(p.tensor);
  optim::AdamOptions adam_options;
  adam_options.lr = static_cast<float>(config.lr);
  adam_options.beta1 = static_cast<float>(config.beta1);
  adam_options.beta2 = static_cast<float>(config.beta2);
  adam_options.eps = static_cast<float>(config.eps);
  adam_options.weight_decay = static_cast<float>(config.weight_decay);
  optim::Adam adam(parameters, adam_options);

  TrainResult result;
  TrainingState& state = result.state;
  if (options.resume) {
    if (!fs::exists(last_path)) {
      usage_fail("nothing to resume: ", last_path, " does not exist (drop --resume to start anew)");
    }
    const Checkpoint checkpoint = read_checkpoint(last_path);
    const std::string difference =
        first_difference(checkpoint.config, config, {"training.epochs"});
    if (!difference.empty()) {
      usage_fail("cannot resume from ", last_path, ": its configuration differs in ", difference,
                 " (checkpoint vs now)");
    }
    load_weights(checkpoint, model);
    load_optimizer(checkpoint, model, adam);
    state = checkpoint.state;
    if (state.epoch >= config.epochs) {
      usage_fail(last_path, " has finished ", state.epoch, " of ", config.epochs,
                 " epochs already (raise --epochs to train on)");
    }
    result.history = read_csv(csv_path, state.epoch);
    observer.on_start("resuming after epoch " + std::to_string(state.epoch) + " (step " +
                      std::to_string(state.step) + ")");
    if (static_cast<int64_t>(result.history.size()) != state.epoch) {
      observer.on_start("note: " + csv_path + " holds " + std::to_string(result.history.size()) +
                        " of the " + std::to_string(state.epoch) +
                        " epochs done; the log, the curves and the elapsed time start from what "
                        "it has");
    }
  } else {
    model.initialize(derive_seed(config.seed, SeedPurpose::kInit));
  }
  fs::create_directories(checkpoints);
  fs::create_directories(outputs);

  data::LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.seed = derive_seed(config.seed, SeedPurpose::kData);
  loader_options.flip = config.augment;
  loader_options.crop_padding = config.augment ? 4 : 0;
  data::BatchLoader loader(data.train, loader_options);
  const uint64_t dropout_seed = derive_seed(config.seed, SeedPurpose::kDropout);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  const double elapsed_before = result.history.empty() ? 0 : result.history.back().elapsed_seconds;
  const auto run_start = Clock::now();

  for (int64_t epoch = state.epoch + 1; epoch <= config.epochs; ++epoch) {
    loader.start_epoch(static_cast<uint64_t>(epoch - 1));
    const auto epoch_start = Clock::now();
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step_in_epoch = 0;
    data::Batch batch;
    while (loader.next(batch)) {
      const Tensor x = Tensor::from_vector({batch.size, data::kPatches, data::kPatchFeatures},
                                           batch.patches, options.device);
      adam.zero_grad();
      const nn::VitOutput forward = model.forward(x, true, dropout_seed, state.step);
      const Tensor loss = ops::cross_entropy(forward.logits, batch.labels);
      const float loss_value = loss.item();
      if (!std::isfinite(loss_value)) {
        fail("the training loss became ", loss_value, " at epoch ", epoch, ", step ", state.step,
             " (try a lower --lr); the checkpoints of epoch ", epoch - 1, " are kept");
      }
      loss.backward();
      adam.step();
      ++state.step;
      ++step_in_epoch;
      loss_sum += double{loss_value} * batch.size;
      correct += count_correct(forward.logits.to_vector(), batch.labels, config.classes);
      seen += batch.size;
      const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      observer.on_step(epoch, step_in_epoch, steps_per_epoch, loss_value, seen / seconds);
    }
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    // The blocks the training steps used stay cached for the next step; evaluation needs fewer
    // and the checkpoints need host memory, so hand them back rather than hold both at once.
    backend_for(options.device).release_cached_memory();

    EpochReport report;
    report.epoch = epoch;
    report.train_loss = loss_sum / seen;
    report.train_accuracy = static_cast<double>(correct) / seen;
    const Evaluation val = evaluate(model, data.validation, config.batch_size);
    const Evaluation test = evaluate(model, data.test, config.batch_size);
    report.val_loss = val.loss;
    report.val_accuracy = val.accuracy;
    report.test_loss = test.loss;
    report.test_accuracy = test.accuracy;
    report.images_per_second = seen / train_seconds;
    report.elapsed_seconds =
        elapsed_before + std::chrono::duration<double>(Clock::now() - run_start).count();
    // Without a validation set there is nothing to choose by: the latest is the best.
    report.best = data.validation.size() == 0 || val.accuracy > state.best_val_accuracy;
    state.epoch = epoch;
    if (report.best) {
      state.best_epoch = epoch;
      state.best_val_accuracy = data.validation.size() == 0 ? -1.0 : val.accuracy;
      state.best_test_accuracy = test.accuracy;
    }
    save_checkpoint(last_path, model, config, state, &adam);
    if (report.best) save_checkpoint(best_path, model, config, state);
    result.history.push_back(report);
    io::write_file_atomically(csv_path, csv_text(result.history));
    plot(curves_path, result.history);
    observer.on_epoch(report);
  }
  result.final_test_accuracy = result.history.empty() ? kNaN : result.history.back().test_accuracy;
  return result;
}

}  // namespace sav::train
