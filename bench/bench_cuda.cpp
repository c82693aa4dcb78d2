// GPU benchmarks on cuda:0: the model's gemm shapes, one training step and inference at batch 100, each
// timed with CUDA events recorded on the backend's stream (the GPU's time, not the host's).
// Every benchmark reports an error and skips where no CUDA device is usable.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <random>

#include "sav/autograd.h"
#include "sav/backend.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"

namespace sav {
namespace {

constexpr int64_t kBatch = 100, kTokens = 65;
constexpr double kTrainFlopPerImage = 1.9e9;  // DESIGN.md section 2

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
  const Tensor a = random_tensor({m, k}, 1, Device::cuda()), b = random_tensor({n, k}, 2, Device::cuda());
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

// One training step of the seed's model at batch 100 on the GPU: upload of the batch, forward,
// backward, Adam, and the loss brought back (what sav_train does a step). Argument: TF32.
void BM_CudaTrainStep(benchmark::State& state) {
  if (!gpu_usable(state)) return;
  Backend& gpu = backend_for(Device::cuda());
  gpu.set_tf32(state.range(0) != 0);
  nn::VisionTransformer model(nn::VitConfig{}, Device::cuda());
  model.initialize(1);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> patches(kBatch * 64 * 48);
  for (float& v : patches) v = uniform(rng);
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < kBatch; ++i) labels.push_back(static_cast<int32_t>(rng() % 10));
  std::vector<Tensor> params;
  for (const auto& p : model.parameters()) params.push_back(p.tensor);
  optim::Adam adam(params, {});
  uint64_t step = 0;
  auto train_step = [&] {
    adam.zero_grad();
    const Tensor x = Tensor::from_vector({kBatch, 64, 48}, patches, Device::cuda());
    const Tensor loss = ops::cross_entropy(model.forward(x, true, 7, step++).logits, labels);
    loss.backward();
    adam.step();
    return loss.item();
  };
  train_step();  // warm-up: the memory pool and cuBLAS's workspaces
  EventTimer timer(gpu);
  for (auto _ : state) {
    timer.start();
    benchmark::DoNotOptimize(train_step());
    state.SetIterationTime(timer.stop());
  }
  gpu.set_tf32(false);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(kTrainFlopPerImage * kBatch * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CudaTrainStep)->ArgName("tf32")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

// Inference at batch 100 on the GPU: upload, forward, logits brought back. Argument: TF32.
void BM_CudaInference(benchmark::State& state) {
  if (!gpu_usable(state)) return;
  Backend& gpu = backend_for(Device::cuda());
  gpu.set_tf32(state.range(0) != 0);
  nn::VisionTransformer model(nn::VitConfig{}, Device::cuda());
  model.initialize(1);
  std::vector<float> patches(kBatch * 64 * 48, 0.5f);
  NoGradGuard no_grad;
  auto infer = [&] {
    const Tensor x = Tensor::from_vector({kBatch, 64, 48}, patches, Device::cuda());
    return model.forward(x, false).logits.to_vector();
  };
  infer();  // warm-up
  EventTimer timer(gpu);
  for (auto _ : state) {
    timer.start();
    benchmark::DoNotOptimize(infer());
    state.SetIterationTime(timer.stop());
  }
  gpu.set_tf32(false);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_CudaInference)->ArgName("tf32")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sav
