// The whole model at the seed's size: one training step (forward, backward, Adam) and one
// inference pass at batch 100. TrainStep's items/s are training images/s.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <random>

#include "sav/autograd.h"
#include "sav/backend.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"

namespace sav {
namespace {

constexpr int64_t kBatch = 100;
constexpr double kTrainFlopPerImage = 1.9e9, kForwardFlopPerImage = 0.64e9;  // DESIGN.md 2

struct Fixture {
  nn::VisionTransformer model{nn::VitConfig{}, Device::cpu()};
  Tensor patches;
  std::vector<int32_t> labels;

  Fixture() {
    model.initialize(1);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> values(kBatch * 64 * 48);
    for (float& v : values) v = uniform(rng);
    patches = Tensor::from_vector({kBatch, 64, 48}, values);
    for (int64_t i = 0; i < kBatch; ++i) labels.push_back(static_cast<int32_t>(rng() % 10));
  }
};

// The CPU backend's description (OpenBLAS build, its kernels, threads) heads the report.
const bool kContextAdded = [] {
  benchmark::AddCustomContext("sav_cpu", backend_for(Device::cpu()).describe());
  return true;
}();

void BM_TrainStep(benchmark::State& state) {
  Fixture f;
  std::vector<Tensor> params;
  for (const auto& p : f.model.parameters()) params.push_back(p.tensor);
  optim::Adam adam(params, {});
  uint64_t step = 0;
  auto train_step = [&] {
    adam.zero_grad();
    const Tensor loss =
        ops::cross_entropy(f.model.forward(f.patches, true, 7, step++).logits, f.labels);
    loss.backward();
    adam.step();
    return loss.item();
  };
  train_step();  // warm-up, untimed: the first step also touches every buffer for the first time
  const Backend& cpu = backend_for(Device::cpu());
  const size_t allocations_before = cpu.memory_stats().system_allocations;
  for (auto _ : state) benchmark::DoNotOptimize(train_step());
  const MemoryStats memory = cpu.memory_stats();
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

void BM_Inference(benchmark::State& state) {
  Fixture f;
  NoGradGuard no_grad;
  f.model.forward(f.patches, false);  // warm-up, untimed
  for (auto _ : state) {
    const Tensor logits = f.model.forward(f.patches, false).logits;
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(kForwardFlopPerImage * kBatch * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Inference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace
}  // namespace sav
