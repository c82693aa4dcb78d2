// The rollup routine on one image's attention at the seed model's size (6 layers, 8 heads, 65
// tokens): the methods built on it cost this per image on top of the model's forward (and, for
// grad-rollout, backward) pass. And attribution::explain on the published ViTs at their full
// size: forward, backward and the gradient methods' maps.
#include <benchmark/benchmark.h>

#include <random>

#include "model_fixture.h"
#include "sav/attribution/explain.h"
#include "sav/attribution/methods.h"

namespace sav {
namespace {

constexpr int kLayers = 6, kHeads = 8, kTokens = 65;

attribution::AttentionStack random_stack() {
  attribution::AttentionStack stack;
  stack.layers = kLayers;
  stack.heads = kHeads;
  stack.tokens = kTokens;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const size_t size = static_cast<size_t>(kLayers) * kHeads * kTokens * kTokens;
  stack.probs.resize(size);
  stack.grads.resize(size);
  for (size_t row = 0; row < size / kTokens; ++row) {  // softmax-like rows: positive, sum 1
    float sum = 0.0f;
    for (int j = 0; j < kTokens; ++j) sum += stack.probs[row * kTokens + j] = uniform(rng);
    for (int j = 0; j < kTokens; ++j) stack.probs[row * kTokens + j] /= sum;
  }
  for (float& g : stack.grads) g = uniform(rng) - 0.5f;
  return stack;
}

// The argument is the method: seed, rollout (with discard ratio 0.9) or grad-rollout.
void BM_Rollup(benchmark::State& state) {
  const attribution::AttentionStack stack = random_stack();
  const auto method = static_cast<attribution::Method>(state.range(0));
  attribution::MethodSettings settings;
  if (method == attribution::Method::kRollout) settings.discard_ratio = 0.9;
  const attribution::RollupOptions options = attribution::rollup_options(method, settings);
  for (auto _ : state) benchmark::DoNotOptimize(attribution::rollup(stack, options));
  state.SetLabel(attribution::method_name(method));
  state.SetItemsProcessed(state.iterations());  // images
  // The attention it reads (and its gradients, for grad-rollout): rollup fuses the heads of
  // each layer and carries one row through the product, so reading them is most of its work.
  const int64_t maps = method == attribution::Method::kGradRollout ? 2 : 1;
  state.SetBytesProcessed(state.iterations() * maps * kLayers * kHeads * kTokens * kTokens *
                          static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_Rollup)
    ->ArgName("method")
    ->Arg(static_cast<int>(attribution::Method::kSeed))
    ->Arg(static_cast<int>(attribution::Method::kRollout))
    ->Arg(static_cast<int>(attribution::Method::kGradRollout))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// attribution::explain with the gradient methods (grad-rollout and gradcam) on a published ViT at
// batch 32: the forward pass with the tape, the logits to the host, one backward pass from each
// image's predicted logit (activation gradients only: explain freezes the parameters), the
// attention, the last block's input tokens and their gradients to the host, and both maps of
// every image. The argument is d_model (384: ViT-S/16, 768: ViT-B/16); one timed pass by default,
// as BM_PublishedInference. FLOP/s count two forward passes' worth a pass (the backward pass
// without weight gradients is about one).
void BM_PublishedExplain(benchmark::State& state) {
  PublishedFixture f(state.range(0));
  attribution::ExplainOptions options;
  options.methods = {attribution::Method::kGradRollout, attribution::Method::kGradcam};
  auto run = [&] { return attribution::explain(f.model, f.patches, options); };
  run();  // warm-up, untimed
  IterationTimes times;
  for (auto _ : state) {
    times.start();
    benchmark::DoNotOptimize(run());
    times.stop();
  }
  report_published(state, times, 2 * published_forward_flop(f.model.config()));
  state.SetLabel(state.range(0) == 384 ? "ViT-S/16" : "ViT-B/16");
}
BENCHMARK(BM_PublishedExplain)
    ->ArgName("d_model")
    ->Arg(384)
    ->Arg(768)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sav
