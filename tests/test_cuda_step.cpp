// What one CUDA training step costs in launches and host waits, counted on the CUDA emulator:
// kernel launches, cuBLAS calls and copies within the device by kind, and every call that makes
// the host wait for the device. A model of the seed's depth and heads (narrow, since the counts
// do not depend on the width) takes a few steps with train::TrainStep; the last one is counted.
// Skipped on a real GPU, which has no counter.
//
// The bounds are the counts reached (a step that needs more has gone backwards), and none of the
// step's calls may wait: its figures reach the host later (optim::StepFigures). Before the step
// ran without waits it made 469 launches and 6 waiting calls (the seed's), 817 and 29 (the
// strong recipe's, whose smoothed and mixed loss took 22 cross-entropies, and whose clipping
// read the norm back); before attention's products read and wrote the heads in place, 380 and
// 401 (66 head splits and merges a step, where now 36 small kernels write the products' pointer
// arrays).
#include <gtest/gtest.h>

#include <iomanip>
#include <iostream>
#include <random>

#include "backends/backend.h"
#include "emulator_counts.h"
#include "sav/nn/vit.h"
#include "sav/optim/adam.h"
#include "sav/train/step.h"

namespace sav::testing {
namespace {

struct StepCase {
  const char* name;
  train::StepOptions options;
  float drop_path;
  bool mixed;  // Mixup / CutMix partners in the batch
};

EmulatorCounts count_a_step(const EmulatorCounter& counter, const StepCase& step_case) {
  nn::VitConfig config;  // the seed's 6 blocks and 8 heads, on 32 features
  config.d_model = 32;
  config.d_ff = 64;
  config.drop_path = step_case.drop_path;
  nn::VisionTransformer model(config, Device::cuda());
  model.initialize(3);
  optim::AdamOptions adam_options;
  adam_options.weight_decay = 0.05f;
  optim::Adam adam(model.parameter_tensors(), adam_options);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> uniform(0, 1);
  data::Batch batch;
  batch.size = 4;
  batch.global_size = 4;
  batch.patches.resize(4 * 64 * 48);
  for (float& v : batch.patches) v = uniform(rng);
  batch.labels = {1, 7, 3, 0};
  if (step_case.mixed) {
    batch.partner_labels = {0, 3, 7, 1};
    batch.mix_lambda = 0.625f;
  }
  train::TrainStep train(model, adam, step_case.options);
  for (uint64_t step = 0; step < 3; ++step) {  // both upload slots used, and one again
    train.run(batch, 9, step);
    optim::StepSums sums;
    train.drain(sums);
  }
  counter.reset();
  train.run(batch, 9, 3);
  const EmulatorCounts counts = counter.read();
  optim::StepSums sums;
  train.drain(sums);
  EXPECT_EQ(sums.steps, 1);
  EXPECT_EQ(sums.first_bad, -1);
  return counts;
}

void print(const char* name, const EmulatorCounts& counts) {
  std::cout << name << ": " << counts.launches()
            << " kernel launches, cuBLAS calls and copies within the device, " << counts.waits()
            << " host waits\n";
  for (const auto& [kind, n] : counts.calls) {
    std::cout << "  " << std::setw(5) << n << "  " << kind << "\n";
  }
  for (const auto& [kind, n] : counts.synchronisations) {
    std::cout << "  " << std::setw(5) << n << "  wait: " << kind << "\n";
  }
}

TEST(CudaStep, LaunchesAndHostWaitsOfATrainingStep) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  const std::optional<EmulatorCounter> counter = EmulatorCounter::find();
  if (!counter) GTEST_SKIP() << "not on the CUDA emulator: nothing counts the launches";
  train::StepOptions strong;
  strong.label_smoothing = 0.1f;
  strong.clip_grad_norm = 1.0f;
  const StepCase seed{"the seed's step", {}, 0.0f, false};
  const StepCase recipe{"the strong recipe's step", strong, 0.1f, true};
  const EmulatorCounts seed_counts = count_a_step(*counter, seed);
  const EmulatorCounts recipe_counts = count_a_step(*counter, recipe);
  print(seed.name, seed_counts);
  print(recipe.name, recipe_counts);
  EXPECT_EQ(seed_counts.waits(), 0);
  EXPECT_EQ(recipe_counts.waits(), 0);
  EXPECT_LE(seed_counts.launches(), 350);
  EXPECT_LE(recipe_counts.launches(), 371);
  // Gradients are written over on their first contribution, not zeroed first: the fills left
  // are those of a gradient given in parts (the class token's slice).
  EXPECT_LE(seed_counts.calls.count("fill_kernel") ? seed_counts.calls.at("fill_kernel") : 0, 2);
  EXPECT_LE(seed_counts.launches(), recipe_counts.launches());
}

}  // namespace
}  // namespace sav::testing
