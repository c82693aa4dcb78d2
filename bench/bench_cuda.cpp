// GPU benchmarks on cuda:0: the model's gemm shapes, one training step and inference at batch 100,
// each timed with CUDA events recorded on the backend's stream (the GPU's time, not the host's).
// Every benchmark reports an error and skips where no CUDA device is usable.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <random>

#include "backends/backend.h"
#include "model_fixture.h"
#include "sav/device.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/train/step.h"

namespace sav {
namespace {

constexpr int64_t kTokens = 65;
constexpr double kTrainFlopPerImage = 1.9e9;  // docs/design.md section 2

// Times what runs on the backend's stream between start() and stop(), in seconds.
class EventTimer {
 public:
  explicit EventTimer(Backend& backend)
      : stream_(static_cast<cudaStream_t>(backend.native_stream())) {
    cudaEventCreate(&start_);
    cudaEventCreate(&stop_);
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  void start() { cudaEventRecord(start_, stream_); }
  double stop() {
    cudaEventRecord(stop_, stream_);
    cudaEventSynchronize(stop_);
    float ms = 0;
    cudaEventElapsedTime(&ms, start_, stop_);
    return ms / 1e3;
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

Tensor random_tensor(const Shape& shape, uint32_t seed, Device device) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(shape.numel());
  for (float& v : values) v = normal(rng);
  return Tensor::from_vector(shape, values, device);
}

bool gpu_usable(benchmark::State& state) {
  if (device_available(Device::cuda())) return true;
  state.SkipWithError("no usable CUDA device");
  return false;
}

// The linear layers' products at batch 100 (rows = 6,500 tokens); argument 2 turns TF32 on.
void BM_CudaGemm(benchmark::State& state) {
  if (!gpu_usable(state)) return;
  const int m = static_cast<int>(kBatch * kTokens), k = static_cast<int>(state.range(0)),
            n = static_cast<int>(state.range(1));
  Backend& gpu = backend_for(Device::cuda());
  gpu.set_tf32(state.range(2) != 0);
  const Tensor a = random_tensor({m, k}, 1, Device::cuda()),
               b = random_tensor({n, k}, 2, Device::cuda());
  Tensor c = Tensor::empty({m, n}, Device::cuda());
  EventTimer timer(gpu);
  for (auto _ : state) {
    timer.start();
    gpu.gemm(Transpose::kNo, Transpose::kYes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f,
             c.data(), n);
    state.SetIterationTime(timer.stop());
  }
  gpu.set_tf32(false);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CudaGemm)
    ->ArgNames({"in", "out", "tf32"})
    ->Args({48, 256, 0})
    ->Args({256, 256, 0})
    ->Args({256, 1024, 0})
    ->Args({1024, 256, 0})
    ->Args({256, 1024, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// sav_train's step (train::TrainStep) at batch 100 on the GPU: upload of the batch, forward,
// backward, Adam, and the step's figures brought back (each step waited for). Arguments: TF32,
// and whether the step is replayed from a recorded CUDA graph (after the warm-up steps, which
// record it) or run as issued.
void BM_CudaTrainStep(benchmark::State& state) {
  if (!gpu_usable(state)) return;
  set_device_tf32(Device::cuda(), state.range(0) != 0);
  ModelFixture f(Device::cuda());
  optim::Adam adam(f.model.parameter_tensors(), {});
  train::StepOptions options;
  options.graphs = state.range(1) != 0;
  train::TrainStep train(f.model, adam, options);
  uint64_t step = 0;
  auto train_step = [&] {
    train.run(f.batch, 7, step++);
    optim::StepSums sums;
    train.drain(sums);
    return sums.loss_sum;
  };
  // Warm-up: the memory pool, cuBLAS's workspaces, and with graphs the two recorded.
  for (int i = 0; i < 5; ++i) train_step();
  EventTimer timer(backend_for(Device::cuda()));
  for (auto _ : state) {
    timer.start();
    benchmark::DoNotOptimize(train_step());
    state.SetIterationTime(timer.stop());
  }
  set_device_tf32(Device::cuda(), false);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(kTrainFlopPerImage * kBatch * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CudaTrainStep)
    ->ArgNames({"tf32", "graphs"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// sav_train's evaluation of a batch (train::evaluate_batch) on the GPU: upload, forward, loss
// and accuracy brought back. Argument: TF32.
void BM_CudaInference(benchmark::State& state) {
  if (!gpu_usable(state)) return;
  set_device_tf32(Device::cuda(), state.range(0) != 0);
  ModelFixture f(Device::cuda());
  train::evaluate_batch(f.model, f.batch);  // warm-up
  EventTimer timer(backend_for(Device::cuda()));
  for (auto _ : state) {
    timer.start();
    benchmark::DoNotOptimize(train::evaluate_batch(f.model, f.batch).loss);
    state.SetIterationTime(timer.stop());
  }
  set_device_tf32(Device::cuda(), false);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_CudaInference)
    ->ArgName("tf32")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sav
