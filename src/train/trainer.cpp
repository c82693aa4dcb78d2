#include "sav/train/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "sav/data/loader.h"
#include "sav/device.h"
#include "sav/error.h"
#include "sav/image/plot.h"
#include "sav/io/atomic_file.h"
#include "sav/io/input_file.h"
#include "sav/optim/adam.h"
#include "sav/optim/weight_average.h"
#include "sav/random.h"
#include "sav/train/schedule.h"
#include "sav/train/step.h"

namespace sav::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kGpuLoaderWorkers = 4;    // loader threads feeding a model on a GPU
constexpr int kPollMilliseconds = 200;  // how often a step's figures are asked for
constexpr const char* kCsvHeader =
    "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,"
    "images_per_second,elapsed_seconds";

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
// absent or not ours. It is read only as far as those rows can reach (a row is about 100
// characters), and never from a FIFO or a device.
std::vector<EpochReport> read_csv(const std::string& path, int64_t epochs) {
  std::vector<EpochReport> rows;
  if (!fs::exists(path)) return rows;
  const io::InputFile file(path, "training log");
  std::string text(std::min<uint64_t>(file.size(), 1024 + 512 * static_cast<uint64_t>(epochs)),
                   '\0');
  file.read_at(text.data(), text.size(), 0);
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kCsvHeader) return rows;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    EpochReport r;
    char comma;
    fields >> r.epoch >> comma >> r.train_loss >> comma >> r.train_accuracy >> comma >>
        r.val_loss >> comma >> r.val_accuracy >> comma >> r.test_loss >> comma >> r.test_accuracy >>
        comma >> r.images_per_second >> comma >> r.elapsed_seconds;
    if (fields.fail() || r.epoch < 1 || r.epoch > epochs) break;
    rows.push_back(r);
  }
  return rows;
}

// Where a run in `out_dir` keeps its files.
struct RunFiles {
  explicit RunFiles(const std::string& out_dir)
      : checkpoints((fs::path(out_dir) / "checkpoints").string()),
        outputs((fs::path(out_dir) / "outputs").string()),
        last(checkpoints + "/last.safetensors"),
        best(checkpoints + "/best.safetensors"),
        csv(outputs + "/train_log.csv"),
        curves(outputs + "/curves.png") {}
  std::string checkpoints, outputs, last, best, csv, curves;
};

// How far into its next epoch the run in `checkpoint` had gone. Throws UsageError when it cannot
// go on under `config`: another configuration, or no epoch left to train.
EpochProgress check_resumable(const Checkpoint& checkpoint, const Config& config) {
  const std::string difference = first_difference(checkpoint.config, config, {"training.epochs"});
  if (!difference.empty()) {
    usage_fail("cannot resume from ", checkpoint.path, ": its configuration differs in ",
               difference, " (checkpoint vs now)");
  }
  const EpochProgress progress = read_epoch_progress(checkpoint);
  const int64_t epoch = checkpoint.state.epoch;
  if (progress.steps > 0 && epoch + 1 > config.epochs) {
    usage_fail(checkpoint.path, " stopped within epoch ", epoch + 1, ", past the ", config.epochs,
               " epochs asked for (raise --epochs to train on)");
  }
  if (progress.steps == 0 && epoch >= config.epochs) {
    usage_fail(checkpoint.path, " has finished ", epoch, " of ", config.epochs,
               " epochs already (raise --epochs to train on)");
  }
  return progress;
}

// Throws, saying `when` and what is `kept`, when a weight or one of Adam's moments is not finite:
// the loss of a step is checked before it, but the update it makes may still diverge.
void check_finite(const nn::VisionTransformer& model, const optim::Adam& adam,
                  const std::string& when, const std::string& kept) {
  const auto& params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::pair<std::string, const Tensor*> named[] = {
        {params[i].name, &params[i].tensor},
        {"Adam's first moment of " + params[i].name, &adam.first_moments()[i]},
        {"Adam's second moment of " + params[i].name, &adam.second_moments()[i]}};
    for (const auto& [name, tensor] : named) {
      for (const float value : tensor->to_vector()) {
        if (std::isfinite(value)) continue;
        fail("the weights became non-finite ", when, " (", name, " holds ", value,
             "; try a lower --lr); ", kept);
      }
    }
  }
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

StepOptions step_options(const Config& config, bool graphs) {
  StepOptions options;
  options.graphs = graphs;
  options.label_smoothing = static_cast<float>(config.label_smoothing);
  options.clip_grad_norm = static_cast<float>(config.clip_grad_norm);
  return options;
}

// One call of train(): the model and its optimizer, what was resumed, and the files written.
// Its parts are the run's three phases: resume or initialise; train an epoch; end the epoch
// (evaluate, choose the best, save, log).
class Run {
 public:
  Run(const TrainOptions& options, const TrainData& data, TrainObserver& observer)
      : options_(options),
        config_(options.config),
        data_(data),
        files_(options.out_dir),
        model_(config_.vit(), options.device),
        adam_(model_.parameter_tensors(), adam_options(config_),
              decayed_parameters(model_, config_)),
        comm_(options.communicator != nullptr ? *options.communicator : *one_process_),
        root_(comm_.is_root()),
        observer_(root_ ? observer : silent_),
        step_(model_, adam_, comm_, options.gradient_communicator,
              step_options(config_, options.graphs)) {}

  TrainResult go() {
    resume_or_initialize();
    prepare_loader();
    const int64_t first_epoch = result_.state.epoch + 1;
    for (int64_t epoch = first_epoch; epoch <= config_.epochs; ++epoch) {
      // The first epoch of a run resumed within it goes on from the step it stopped after, with
      // its running sums; every other starts from nothing.
      EpochProgress sums = epoch == first_epoch ? resumed_ : EpochProgress{};
      if (!train_epoch(epoch, sums)) return stopped_within(sums);
      end_epoch(epoch, sums);
      if (stop_requested() && epoch < config_.epochs) {
        result_.stopped = true;
        break;
      }
    }
    result_.final_test_accuracy =
        result_.history.empty() ? kNaN : result_.history.back().test_accuracy;
    result_.replayed_steps = step_.replayed_steps();
    result_.recorded_graphs = step_.recorded_graphs();
    return result_;
  }

 private:
  void resume_or_initialize() {
    if (options_.resume) {
      resume();
    } else {
      model_.initialize(derive_seed(config_.seed, SeedPurpose::kInit));
      start_average();
      if (options_.force && root_) {
        // Starting over: the old run's best would otherwise stand beside the new run's last
        // until the new run's first epoch ends, and be taken for its.
        for (const std::string& path : {files_.last, files_.best, files_.csv, files_.curves}) {
          fs::remove(path);
        }
      }
    }
    if (root_) {
      fs::create_directories(files_.checkpoints);
      fs::create_directories(files_.outputs);
    }
    // What a failure leaves on disk, for its message.
    const TrainingState& state = result_.state;
    kept_ = !options_.resume ? "no checkpoint has been written yet"
            : resumed_.steps > 0
                ? "the checkpoint of epoch " + std::to_string(state.epoch + 1) + ", step " +
                      std::to_string(resumed_.steps) + " is kept"
                : "the checkpoints of epoch " + std::to_string(state.epoch) + " are kept";
  }

  void resume() {
    const Checkpoint checkpoint = read_checkpoint(files_.last);
    resumed_ = check_resumable(checkpoint, config_);
    load_weights(checkpoint, model_);
    load_optimizer(checkpoint, model_, adam_);
    start_average();
    if (average_) {
      load_weights(checkpoint, *averaged_, WeightSet::kAveraged);
      average_->restore(adam_.steps());
    }
    TrainingState& state = result_.state;
    state = checkpoint.state;
    result_.history = read_csv(files_.csv, state.epoch);
    const std::string step = " (step " + std::to_string(state.step) + ")";
    if (resumed_.steps > 0) {
      observer_.on_start("resuming within epoch " + std::to_string(state.epoch + 1) +
                         " after its step " + std::to_string(resumed_.steps) + step);
    } else {
      observer_.on_start("resuming after epoch " + std::to_string(state.epoch) + step);
    }
    if (static_cast<int64_t>(result_.history.size()) != state.epoch) {
      observer_.on_start("note: " + files_.csv + " holds " +
                         std::to_string(result_.history.size()) + " of the " +
                         std::to_string(state.epoch) +
                         " epochs done; the log, the curves and the elapsed time start from what "
                         "it has");
    }
  }

  // The moving average of the weights (training.ema_decay), which evaluation uses: it starts
  // from the weights as they are now.
  void start_average() {
    if (!(config_.ema_decay > 0)) return;
    averaged_.emplace(config_.vit(), options_.device);
    average_.emplace(model_.parameter_tensors(), averaged_->parameter_tensors(), config_.ema_decay);
  }
  // What a checkpoint keeps beside the weights: the average, or nothing.
  std::vector<Tensor> averages() const {
    return average_ ? average_->averages() : std::vector<Tensor>{};
  }
  // The model evaluated after each epoch: the average when there is one.
  const nn::VisionTransformer& evaluated() const { return averaged_ ? *averaged_ : model_; }

  void prepare_loader() {
    data::LoaderOptions loader_options;
    loader_options.batch_size = config_.batch_size;
    loader_options.seed = derive_seed(config_.seed, SeedPurpose::kData);
    loader_options.flip = config_.augment;
    loader_options.crop_padding = config_.augment ? 4 : 0;
    loader_options.augment = config_.augment_policy;
    loader_options.mix = config_.mix;
    // One thread decodes and augments about 35,000 images/s (BM_LoaderEpoch, the strong
    // recipe's augmentations): far ahead of a CPU model, behind what a GPU takes.
    loader_options.workers = options_.device.type == DeviceType::kCpu ? 1 : kGpuLoaderWorkers;
    loader_options.shard = comm_.rank();
    loader_options.shards = comm_.size();
    loader_.emplace(data_.train, loader_options);
    dropout_seed_ = derive_seed(config_.seed, SeedPurpose::kDropout);
    result_.steps_per_epoch = loader_->batches_per_epoch();
    schedule_ = lr_schedule(config_, result_.steps_per_epoch);
    if (resumed_.steps > result_.steps_per_epoch || resumed_.seen > data_.train.size()) {
      usage_fail(files_.last, " stopped after step ", resumed_.steps, " of an epoch, but an epoch ",
                 "now has ", result_.steps_per_epoch, " steps: the training set differs (resume ",
                 "with the same --limit-train and --val-split)");
    }
    elapsed_before_ = resumed_.steps > 0        ? resumed_.elapsed_seconds
                      : result_.history.empty() ? 0
                                                : result_.history.back().elapsed_seconds;
    run_start_ = Clock::now();
  }

  // Trains epoch `epoch` from the step `sums` has reached. Returns false when a stop was asked
  // for within it; `sums` then holds how far it went.
  bool train_epoch(int64_t epoch, EpochProgress& sums) {
    TrainingState& state = result_.state;
    loader_->start_epoch(static_cast<uint64_t>(epoch - 1), sums.steps);
    epoch_start_ = Clock::now();
    epoch_seconds_before_ = sums.train_seconds;
    int64_t seen_now = 0;
    // The figures taken go on from the sums the epoch had (a resumed one's), step by step.
    figures_ = {};
    figures_.steps = sums.steps;
    figures_.images = sums.seen;
    figures_.loss_sum = sums.loss_sum;
    figures_.correct = sums.correct;
    epoch_first_step_ = state.step - sums.steps;
    data::Batch batch;
    while (loader_->next(batch)) {
      bool stop = stop_requested();
      adam_.set_lr(static_cast<float>(schedule_.at(state.step)));
      step_.run(batch, dropout_seed_, state.step, stop);
      if (average_) average_->update();
      ++state.step;
      ++sums.steps;
      // The whole batch's images: a rank's batch is its share of it.
      seen_now += comm_.size() == 1 ? batch.size : batch.global_size;
      // The step's figures reach the host later (ranks: at once, all at the same step); a
      // progress line needs them a few times a second, no more.
      if (comm_.size() > 1 || Clock::now() >= next_poll_) {
        step_.poll(figures_);
        take(epoch, sums);
        next_poll_ = Clock::now() + std::chrono::milliseconds(kPollMilliseconds);
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
      observer_.on_step(epoch, sums.steps, result_.steps_per_epoch, shown_loss_,
                        seen_now / seconds);
      // One process stops after the step in progress; ranks after the step whose sum carried
      // a rank's stop, all the same one.
      if (comm_.size() == 1 ? stop_requested() : stop) {
        drain(epoch, sums);
        return false;
      }
    }
    drain(epoch, sums);
    return true;
  }

  void drain(int64_t epoch, EpochProgress& sums) {
    step_.drain(figures_);
    take(epoch, sums);
  }

  // After steps' figures were added to figures_: the epoch's sums from them, and the progress
  // line's loss (of the steps just taken). Throws at a loss that was not finite, naming its
  // step: no step updated the weights after it.
  void take(int64_t epoch, EpochProgress& sums) {
    if (figures_.first_bad >= 0) {
      fail("the training loss became infinite or NaN at epoch ", epoch, ", step ",
           epoch_first_step_ + figures_.first_bad, " (try a lower --lr); ", kept_);
    }
    if (figures_.images > sums.seen) {
      shown_loss_ =
          (figures_.loss_sum - sums.loss_sum) / static_cast<double>(figures_.images - sums.seen);
    }
    sums.loss_sum = figures_.loss_sum;
    sums.correct = figures_.correct;
    sums.seen = figures_.images;
  }

  // A stop within epoch state.epoch + 1: saves how far it went, to resume from.
  TrainResult stopped_within(EpochProgress& sums) {
    const TrainingState& state = result_.state;
    check_finite(
        model_, adam_,
        "at epoch " + std::to_string(state.epoch + 1) + ", step " + std::to_string(state.step),
        kept_);
    sums.train_seconds = train_seconds();
    sums.elapsed_seconds = elapsed();
    check_ranks_agree("at epoch " + std::to_string(state.epoch + 1) + ", step " +
                      std::to_string(state.step));
    if (root_) save_checkpoint(files_.last, model_, config_, state, &adam_, sums, averages());
    result_.stopped = true;
    result_.progress = sums;
    result_.final_test_accuracy =
        result_.history.empty() ? kNaN : result_.history.back().test_accuracy;
    result_.replayed_steps = step_.replayed_steps();
    result_.recorded_graphs = step_.recorded_graphs();
    return result_;
  }

  void end_epoch(int64_t epoch, const EpochProgress& sums) {
    TrainingState& state = result_.state;
    const double epoch_train_seconds = train_seconds();
    // The loss is checked before each step, not after the last: its update may have diverged.
    check_finite(model_, adam_,
                 "at epoch " + std::to_string(epoch) + ", step " + std::to_string(state.step),
                 kept_);
    // The blocks the training steps used stay cached for the next step; evaluation needs fewer
    // and the checkpoints need host memory, so hand them back rather than hold both at once.
    release_device_cache(options_.device);
    check_ranks_agree("after epoch " + std::to_string(epoch));

    EpochReport report = evaluate_epoch(epoch);
    report.train_loss = sums.loss_sum / sums.seen;
    report.train_accuracy = static_cast<double>(sums.correct) / sums.seen;
    report.images_per_second = sums.seen / epoch_train_seconds;
    report.lr = schedule_.at(state.step - 1);
    report.elapsed_seconds = elapsed();
    // Without a validation set there is nothing to choose by: the latest is the best.
    report.best = data_.validation.size() == 0 || report.val_accuracy > state.best_val_accuracy;
    state.epoch = epoch;
    if (report.best) {
      state.best_epoch = epoch;
      state.best_val_accuracy = data_.validation.size() == 0 ? -1.0 : report.val_accuracy;
      state.best_test_accuracy = report.test_accuracy;
    }
    // best before last: last is what a resumption trusts, so it must never claim a best epoch
    // that best.safetensors does not hold yet. A crash in between leaves last at the previous
    // epoch, and the resumption redoes this one, the same bits, rewriting best.
    kept_ = "the checkpoints of epoch " + std::to_string(epoch) + " are kept";
    result_.history.push_back(report);
    if (root_) {
      if (report.best) save_checkpoint(files_.best, model_, config_, state, nullptr, averages());
      save_checkpoint(files_.last, model_, config_, state, &adam_, averages());
      io::write_file_atomically(files_.csv, csv_text(result_.history));
      plot(files_.curves, result_.history);
    }
    observer_.on_epoch(report);
  }

  // The validation and test columns of epoch `epoch`'s report. Throws when a loss is not finite.
  EpochReport evaluate_epoch(int64_t epoch) const {
    const Evaluation val = evaluate(evaluated(), data_.validation, config_.batch_size, &comm_);
    const Evaluation test = evaluate(evaluated(), data_.test, config_.batch_size, &comm_);
    for (const auto& [name, set, loss] : {std::tuple{"validation", &data_.validation, val.loss},
                                          std::tuple{"test", &data_.test, test.loss}}) {
      if (set->size() > 0 && !std::isfinite(loss)) {
        fail("the ", name, " loss became ", loss, " after epoch ", epoch,
             ": the model has diverged (try a lower --lr); ", kept_);
      }
    }
    EpochReport report;
    report.epoch = epoch;
    report.val_loss = val.loss;
    report.val_accuracy = val.accuracy;
    report.test_loss = test.loss;
    report.test_accuracy = test.accuracy;
    return report;
  }

  bool stop_requested() const { return options_.stop_requested && options_.stop_requested->load(); }

  // Every rank holds the same weights, or the job fails: the ranks take the same steps on the
  // same summed gradients, so a difference means the all-reduce gave ranks different sums.
  void check_ranks_agree(const std::string& when) {
    if (comm_.size() == 1) return;
    uint64_t hash = 1469598103934665603ull;  // FNV-1a over the weights' bits
    for (const Tensor& p : model_.parameter_tensors()) {
      for (const float value : p.to_vector()) {
        uint32_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        hash = (hash ^ bits) * 1099511628211ull;
      }
    }
    const std::vector<uint8_t> all = comm_.gather(&hash, sizeof hash, 0);
    for (size_t r = 1; root_ && r < all.size() / sizeof hash; ++r) {
      if (std::memcmp(all.data() + r * sizeof hash, &hash, sizeof hash) != 0) {
        fail("the weights of rank ", r, " differ from rank 0's ", when,
             ": the ranks no longer train one model (the communicator's sums differ between "
             "ranks); ",
             kept_);
      }
    }
  }
  double elapsed() const {
    return elapsed_before_ + std::chrono::duration<double>(Clock::now() - run_start_).count();
  }
  // Seconds spent training the current epoch, in this process and before it was resumed.
  double train_seconds() const {
    return epoch_seconds_before_ +
           std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  }

  const TrainOptions& options_;
  const Config& config_;
  const TrainData& data_;
  const RunFiles files_;
  nn::VisionTransformer model_;
  optim::Adam adam_;
  const std::unique_ptr<dist::Communicator> one_process_ = dist::single_process();
  dist::Communicator& comm_;
  const bool root_;  // rank 0: the one that writes and reports
  TrainObserver silent_;
  TrainObserver& observer_;
  ParallelStep step_;
  TrainResult result_;
  EpochProgress resumed_;  // how far into epoch state.epoch + 1 the checkpoint resumed had gone
  std::string kept_;
  std::optional<data::BatchLoader> loader_;
  std::optional<nn::VisionTransformer> averaged_;  // the average's model, and its updates
  std::optional<optim::WeightAverage> average_;
  uint64_t dropout_seed_ = 0;
  optim::StepSums figures_;       // the epoch's figures, as far as they have been taken
  int64_t epoch_first_step_ = 0;  // the run's step count when the epoch began
  double shown_loss_ = kNaN;      // the mean loss of the last figures taken, for the progress line
  Clock::time_point next_poll_{};
  LrSchedule schedule_;
  double elapsed_before_ = 0, epoch_seconds_before_ = 0;
  Clock::time_point run_start_, epoch_start_;
};

}  // namespace

Evaluation evaluate(const nn::VisionTransformer& model, const data::RecordSet& records,
                    int64_t batch_size, dist::Communicator* communicator) {
  if (records.size() == 0) return {kNaN, kNaN};
  const int ranks = communicator != nullptr ? communicator->size() : 1;
  const int rank = communicator != nullptr ? communicator->rank() : 0;
  const int64_t first = data::shard_begin(records.size(), rank, ranks);
  const int64_t count = data::shard_begin(records.size(), rank + 1, ranks) - first;
  double loss_sum = 0;
  int64_t correct = 0;
  if (count > 0) {
    data::LoaderOptions options;
    options.batch_size = batch_size;
    options.shuffle = false;
    data::BatchLoader loader(ranks == 1 ? records : records.subset(first, count), options);
    loader.start_epoch(0);
    data::Batch batch;
    EvalStep eval(model);  // the batches queued, their figures taken once at the end
    while (loader.next(batch)) eval.run(batch);
    optim::StepSums sums;
    eval.drain(sums);
    loss_sum = sums.first_bad < 0 ? sums.loss_sum : kNaN;
    correct = sums.correct;
  }
  if (ranks > 1) {
    float loss = static_cast<float>(loss_sum);
    communicator->all_reduce_sum(&loss, 1);
    communicator->all_reduce_sum(&correct, 1);
    loss_sum = loss;
  }
  return {loss_sum / records.size(), static_cast<double>(correct) / records.size()};
}

OutputLock::OutputLock(std::string out_dir) : out_dir_(std::move(out_dir)) {
  const std::string path = (fs::path(out_dir_) / "train.lock").string();
  std::error_code error;
  fs::create_directories(out_dir_, error);
  if (error) fail("cannot create the output folder ", out_dir_, ": ", error.message());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot lock ", out_dir_, ": cannot open ", path, ": ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    char text[32] = {};
    const ssize_t got = ::pread(fd_, text, sizeof text - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (saved != EWOULDBLOCK) fail("cannot lock ", path, ": ", std::strerror(saved));
    std::string holder(text, got > 0 ? static_cast<size_t>(got) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    fail(out_dir_, " is in use by another training run (process ",
         holder.empty() ? "unknown" : holder, ", which holds ", path,
         "): wait for it to end or stop it, or pass another --out");
  }
  // The pid is for the message above only; the lock itself is the flock, which the operating
  // system drops when the process ends, so a stale file never blocks anyone.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    const int saved = errno;
    ::close(fd_);
    fd_ = -1;
    fail("cannot write ", path, ": ", std::strerror(saved));
  }
}

OutputLock OutputLock::held_by_root(std::string out_dir) {
  OutputLock unheld;
  unheld.out_dir_ = std::move(out_dir);
  return unheld;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);
}

OutputLock::OutputLock(OutputLock&& other) noexcept
    : out_dir_(std::move(other.out_dir_)), fd_(other.fd_) {
  other.fd_ = -1;
}

OutputLock claim_output(const TrainOptions& options) {
  const RunFiles files(options.out_dir);
  auto check_something_to_resume = [&] {
    if (!fs::exists(files.last)) {
      usage_fail("nothing to resume: ", files.last,
                 " does not exist (drop --resume to start anew)");
    }
  };
  // Before the folder is made or locked, so that a mistyped --out is not created; and again
  // once it is locked, since the run that held it may have changed it.
  if (options.resume) check_something_to_resume();
  const bool root = options.communicator == nullptr || options.communicator->is_root();
  OutputLock lock = root ? OutputLock(options.out_dir) : OutputLock::held_by_root(options.out_dir);
  if (options.resume) {
    check_something_to_resume();
    check_resumable(read_checkpoint(files.last), options.config);
  } else if (!options.force) {
    for (const std::string& path : {files.last, files.best}) {
      if (!fs::exists(path)) continue;
      usage_fail(options.out_dir, " holds a run already (", path,
                 "): add --resume to go on with it, or --force to start over, deleting its "
                 "checkpoints and log (or pass another --out)");
    }
  }
  return lock;
}

std::vector<bool> decayed_parameters(const nn::VisionTransformer& model, const Config& config) {
  std::vector<bool> flags;
  for (const nn::NamedTensor& p : model.parameters()) {
    const std::string& name = p.name;
    const bool matrix = p.tensor.shape().rank() == 2 && name.size() > 7 &&
                        name.compare(name.size() - 7, 7, ".weight") == 0;
    flags.push_back(!config.decay_matrices_only || matrix);
  }
  return flags;
}

optim::AdamOptions adam_options(const Config& config) {
  // The configuration holds doubles; Adam works in single precision, where 1e-300 is 0 and 1e39
  // infinite. That is the configuration's fault, so a usage error, not a failure of Adam's.
  auto single = [](const char* key, double value) {
    const float f = static_cast<float>(value);
    if (std::isfinite(value) && (!std::isfinite(f) || (value != 0 && f == 0))) {
      usage_fail("training.", key, " ", value, " is out of single precision's range, where Adam ",
                 "works (it becomes ", f, "; the range is about 1e-38 to 3e38)");
    }
    return f;
  };
  optim::AdamOptions adam;
  adam.lr = single("lr", config.lr);
  adam.beta1 = single("betas[0]", config.beta1);
  adam.beta2 = single("betas[1]", config.beta2);
  adam.eps = single("eps", config.eps);
  adam.weight_decay = single("weight_decay", config.weight_decay);
  return adam;
}

TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer) {
  const OutputLock lock = claim_output(options);
  return train(options, data, observer, lock);
}

TrainResult train(const TrainOptions& options, const TrainData& data, TrainObserver& observer,
                  const OutputLock& lock) {
  if (lock.out_dir() != options.out_dir) {
    fail("train: the lock held is on ", lock.out_dir(), ", the run writes to ", options.out_dir);
  }
  return Run(options, data, observer).go();
}

}  // namespace sav::train
