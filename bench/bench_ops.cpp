// Microbenchmarks of the core ops on the CPU backend, at the ViT's sizes (batch 100, 65 tokens,
// d_model 256, 8 heads, FFN 1024). Inputs are made outside the timed loop; each benchmark
// reports items/s and FLOP/s (or bytes/s) for the work it does.
#include <benchmark/benchmark.h>

#include <random>

#include "backends/backend.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav {
namespace {

constexpr int64_t kBatch = 100, kTokens = 65, kWidth = 256, kHeads = 8, kHidden = 1024;

Tensor random_tensor(const Shape& shape, uint32_t seed, bool requires_grad = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(shape.numel());
  for (float& v : values) v = normal(rng);
  Tensor t = Tensor::from_vector(shape, values);
  t.set_requires_grad(requires_grad);
  return t;
}

// The linear layers' products: rows = batch * tokens, (in, out) per layer kind.
void BM_Gemm(benchmark::State& state) {
  const int m = static_cast<int>(kBatch * kTokens), k = static_cast<int>(state.range(0)),
            n = static_cast<int>(state.range(1));
  const Tensor a = random_tensor({m, k}, 1), b = random_tensor({n, k}, 2);
  Tensor c = Tensor::empty({m, n});
  Backend& cpu = backend_for(Device::cpu());
  for (auto _ : state) {
    cpu.gemm(Transpose::kNo, Transpose::kYes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f,
             c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);  // images' worth of tokens
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Gemm)
    ->ArgNames({"in", "out"})
    ->Args({48, kWidth})       // patch embedding
    ->Args({kWidth, kWidth})   // q, k, v, o
    ->Args({kWidth, kHidden})  // ffn.fc1
    ->Args({kHidden, kWidth})  // ffn.fc2
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// FLOPs of one attention forward: two batched products of (n x n x d_k) per (image, head).
double attention_forward_flop() {
  return 2.0 * 2.0 * kBatch * kHeads * kTokens * kTokens * (kWidth / kHeads);
}

void BM_AttentionForward(benchmark::State& state) {
  const Shape shape{kBatch, kTokens, kWidth};
  const Tensor q = random_tensor(shape, 1), k = random_tensor(shape, 2),
               v = random_tensor(shape, 3);
  NoGradGuard no_grad;
  for (auto _ : state) {
    auto result = ops::multi_head_attention(q, k, v, kHeads);
    benchmark::DoNotOptimize(result.out.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["FLOP/s"] = benchmark::Counter(attention_forward_flop() * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionForward)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_AttentionForwardBackward(benchmark::State& state) {
  const Shape shape{kBatch, kTokens, kWidth};
  const Tensor q = random_tensor(shape, 1, true), k = random_tensor(shape, 2, true),
               v = random_tensor(shape, 3, true);
  const Tensor grad = random_tensor(shape, 4);
  for (auto _ : state) {
    auto result = ops::multi_head_attention(q, k, v, kHeads);
    result.out.backward(grad);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  // The backward pass does four products of the forward's size.
  state.counters["FLOP/s"] = benchmark::Counter(3.0 * attention_forward_flop() * state.iterations(),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LayerNormForwardBackward(benchmark::State& state) {
  const Shape shape{kBatch, kTokens, kWidth};
  const Tensor x = random_tensor(shape, 1, true), grad = random_tensor(shape, 2);
  const Tensor w = Tensor::full({kWidth}, 1.0f).set_requires_grad(),
               b = Tensor::zeros({kWidth}).set_requires_grad();
  for (auto _ : state) ops::layernorm(x, w, b).backward(grad);
  state.SetItemsProcessed(state.iterations() * kBatch);
  // Read x and dy, write y and dx, at least: four passes over the activations.
  state.SetBytesProcessed(state.iterations() * 4 * shape.numel() * sizeof(float));
}
BENCHMARK(BM_LayerNormForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// Dropout on the FFN's hidden activations (the largest tensor it sees), forward and backward:
// the mask is drawn from Philox in both.
void BM_DropoutForwardBackward(benchmark::State& state) {
  const Shape shape{kBatch, kTokens, kHidden};
  const Tensor x = random_tensor(shape, 1, true), grad = random_tensor(shape, 2);
  uint64_t step = 0;
  for (auto _ : state) ops::dropout(x, 0.1f, 7, step++).backward(grad);
  state.SetItemsProcessed(state.iterations() * kBatch);
  // Read x, write y; read dy, read and write dx.
  state.SetBytesProcessed(state.iterations() * 5 * shape.numel() * sizeof(float));
}
BENCHMARK(BM_DropoutForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// GELU (exact, erf) on ViT-S's MLP hidden activations at batch 32: [32 * 197 tokens, 1536],
// forward only (backward 0) and forward and backward (backward 1), whose derivative needs erfc
// and exp again.
void BM_Gelu(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const Shape shape{32 * 197, 1536};
  const Tensor x = random_tensor(shape, 1, backward), grad = random_tensor(shape, 2);
  for (auto _ : state) {
    const Tensor y = ops::gelu(x);
    if (backward) y.backward(grad);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * 32);  // images
  // Read x, write y; then read x and dy, read and write dx.
  state.SetBytesProcessed(state.iterations() * (backward ? 6 : 2) * shape.numel() * sizeof(float));
}
BENCHMARK(BM_Gelu)
    ->ArgName("backward")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The loss on the head's logits, forward and backward, for a large batch (the model's is tiny).
void BM_CrossEntropyForwardBackward(benchmark::State& state) {
  constexpr int64_t kRows = 65536, kClasses = 10;
  const Tensor logits = random_tensor({kRows, kClasses}, 1, true);
  std::vector<int32_t> labels(kRows);
  for (int64_t i = 0; i < kRows; ++i) labels[i] = static_cast<int32_t>(i % kClasses);
  for (auto _ : state) ops::cross_entropy(logits, labels).backward();
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetBytesProcessed(state.iterations() * 3 * kRows * kClasses * sizeof(float));
}
BENCHMARK(BM_CrossEntropyForwardBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sav
