// What the whole-model benchmarks run on: the seed's model, initialised, and one batch of random
// images and labels as the loader hands them over; and the published ViTs at their full size.
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "sav/data/images.h"
#include "sav/data/loader.h"
#include "sav/device.h"
#include "sav/nn/vit.h"
#include "sav/tensor.h"

namespace sav {

constexpr int64_t kBatch = 100;

struct ModelFixture {
  explicit ModelFixture(Device device) : model(nn::VitConfig{}, device) {
    model.initialize(1);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    batch.size = kBatch;
    batch.patches.resize(kBatch * data::kPatches * data::kPatchFeatures);
    for (float& v : batch.patches) v = uniform(rng);
    for (int64_t i = 0; i < kBatch; ++i) batch.labels.push_back(static_cast<int32_t>(rng() % 10));
  }

  nn::VisionTransformer model;
  data::Batch batch;
};

// The published ViTs at 224 x 224 (timm's vit_small_patch16_224, d_model 384, and
// vit_base_patch16_224, 768): patch 16 (a 14 x 14 grid), 12 blocks of heads of 64 features, MLP
// 4 x d_model, 1,000 classes, a class token; the standard family's pre-LN, GELU, biases and final
// LayerNorm, as hub::read_published builds them from the published files. Random weights (the
// seed's initialisation) and a batch of 32 random images already cut into patches.
constexpr int64_t kPublishedBatch = 32;

inline nn::VitConfig published_vit_config(int64_t d_model) {
  nn::VitConfig c;
  c.grid_height = c.grid_width = 14;
  c.patches = c.grid_height * c.grid_width;
  c.patch_features = 3 * 16 * 16;
  c.d_model = d_model;
  c.heads = d_model / 64;
  c.layers = 12;
  c.d_ff = 4 * d_model;
  c.classes = 1000;
  c.dropout = 0.0f;
  return nn::standard_vit(c);
}

// Multiply-adds of one image's forward pass, times 2: the patch embedding, per block q, k, v, the
// output projection, the two MLP products and the attention's two products (q k^T and A v), and
// the head. ViT-S/16: 9.2 GFLOP (timm's 4.6 GMACs), ViT-B/16: 35.1 GFLOP.
inline double published_forward_flop(const nn::VitConfig& c) {
  const double t = static_cast<double>(c.tokens()), d = static_cast<double>(c.d_model);
  const double embed = static_cast<double>(c.patches) * c.patch_features * d;
  const double block = t * (4 * d * d + 2 * d * c.d_ff) + 2 * t * t * d;
  return 2 * (embed + c.layers * block + d * c.classes);
}

struct PublishedFixture {
  explicit PublishedFixture(int64_t d_model, Device device = Device::cpu())
      : model(published_vit_config(d_model), device) {
    model.initialize(1);
    const nn::VitConfig& c = model.config();
    std::vector<float> values(kPublishedBatch * c.patches * c.patch_features);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);  // pixels after (x - 0.5) / 0.5
    for (float& v : values) v = uniform(rng);
    patches = Tensor::from_vector({kPublishedBatch, c.patches, c.patch_features}, values, device);
  }

  nn::VisionTransformer model;
  Tensor patches;
};

// Times each iteration of a benchmark's loop (at a second or more an iteration, the few a
// benchmark gets are better summed up by their median than by the mean the library reports), and
// counts the blocks the CPU backend takes from the system meanwhile. Made after the warm-up pass.
class IterationTimes {
 public:
  IterationTimes() : allocations_(device_memory(Device::cpu()).system_allocations) {}
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() {
    times_.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  double median() const {
    std::vector<double> t = times_;
    std::sort(t.begin(), t.end());
    const size_t n = t.size();
    return n == 0 ? 0.0 : n % 2 == 1 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
  }
  size_t allocations_since_start() const {
    return device_memory(Device::cpu()).system_allocations - allocations_;
  }

 private:
  size_t allocations_;
  std::chrono::steady_clock::time_point start_;
  std::vector<double> times_;
};

// The counters the published-ViT benchmarks report beside the library's items_per_second (images
// per second over the mean iteration): the median iteration's time and images/s, the FLOP rate
// (`flop_per_image` a pass), the blocks the CPU backend took from the system per pass after the
// warm-up, the most memory its tensors held at once (peak_live_MiB) and the process's peak
// resident memory (peak_RSS_MiB: the tensors, the host copies and everything else), which the
// benchmark's own passes set when it runs alone (compare_pytorch.py runs each in a process of its
// own).
inline void report_published(benchmark::State& state, const IterationTimes& times,
                             double flop_per_image) {
  const double median = times.median();
  state.SetItemsProcessed(state.iterations() * kPublishedBatch);
  state.counters["median_ms"] = median * 1e3;
  state.counters["median_images/s"] = median > 0 ? kPublishedBatch / median : 0.0;
  state.counters["FLOP/s"] = benchmark::Counter(
      flop_per_image * kPublishedBatch * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["system_allocs/pass"] =
      static_cast<double>(times.allocations_since_start()) / state.iterations();
  state.counters["peak_live_MiB"] =
      static_cast<double>(device_memory(Device::cpu()).peak_live) / (1 << 20);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_RSS_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024;
}

}  // namespace sav
