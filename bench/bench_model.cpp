// The whole model at the seed's size, as sav_train runs it: one training step and one evaluation
// batch, at batch 100. TrainStep's items/s are training images/s. And the published ViTs' forward
// pass at their full size (ViT-S/16 and ViT-B/16 at 224 x 224, batch 32).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "model_fixture.h"
#include "sav/autograd.h"
#include "sav/device.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/train/step.h"

namespace sav {
namespace {

constexpr double kTrainFlopPerImage = 1.9e9,
                 kForwardFlopPerImage = 0.64e9;  // docs/design.md section 2

// The CPU backend's description (OpenBLAS build, its kernels, threads) heads the report.
const bool kContextAdded = [] {
  benchmark::AddCustomContext("sav_cpu", describe_device(Device::cpu()));
  return true;
}();

// sav_train's step (train::TrainStep): upload, forward with dropout, loss, backward, Adam, and
// the step's figures brought back.
void BM_TrainStep(benchmark::State& state) {
  ModelFixture f(Device::cpu());
  optim::Adam adam(f.model.parameter_tensors(), {});
  train::TrainStep train(f.model, adam);
  uint64_t step = 0;
  auto train_step = [&] {
    train.run(f.batch, 7, step++);
    optim::StepSums sums;
    train.drain(sums);
    return sums.loss_sum;
  };
  train_step();  // warm-up, untimed: the first step also touches every buffer for the first time
  const size_t allocations_before = device_memory(Device::cpu()).system_allocations;
  for (auto _ : state) benchmark::DoNotOptimize(train_step());
  const MemoryStats memory = device_memory(Device::cpu());
  state.counters["system_allocs/step"] =
      static_cast<double>(memory.system_allocations - allocations_before) / state.iterations();
  state.counters["peak_live_MiB"] = static_cast<double>(memory.peak_live) / (1 << 20);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // the process's peak, which this benchmark's step sets
  state.counters["peak_RSS_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024;
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(kTrainFlopPerImage * kBatch * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10.0);

// sav_train's evaluation of a batch (train::evaluate_batch): upload, forward without dropout or
// gradients, loss and accuracy.
void BM_Inference(benchmark::State& state) {
  ModelFixture f(Device::cpu());
  train::evaluate_batch(f.model, f.batch);  // warm-up, untimed
  for (auto _ : state) benchmark::DoNotOptimize(train::evaluate_batch(f.model, f.batch).loss);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(kForwardFlopPerImage * kBatch * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Inference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// A published ViT's forward pass at batch 32 without the tape (as explain runs it for the methods
// that need no gradient), the logits brought to the host; after an untimed warm-up pass. The
// argument is d_model: 384 for ViT-S/16, 768 for ViT-B/16. At a second or more a pass on two
// cores, the library's default minimum time (0.5 s) gives one timed pass: `make bench` stays
// short, and --benchmark_min_time=N asks for more (compare_pytorch.py --published does).
void BM_PublishedInference(benchmark::State& state) {
  PublishedFixture f(state.range(0));
  NoGradGuard no_grad;
  auto forward = [&] { return f.model.forward(f.patches).logits.to_vector(); };
  forward();  // warm-up, untimed
  IterationTimes times;
  for (auto _ : state) {
    times.start();
    benchmark::DoNotOptimize(forward());
    times.stop();
  }
  report_published(state, times, published_forward_flop(f.model.config()));
  state.SetLabel(state.range(0) == 384 ? "ViT-S/16" : "ViT-B/16");
}
BENCHMARK(BM_PublishedInference)
    ->ArgName("d_model")
    ->Arg(384)
    ->Arg(768)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sav
