// What one CUDA training step costs in launches and host waits, counted on the CUDA emulator:
// kernel launches, cuBLAS calls and copies within the device by kind, every call that makes the
// host wait for the device, and the nodes of a replayed graph. A model of the seed's depth and
// heads (narrow, since the counts do not depend on the width) takes a few steps with
// train::TrainStep; the last one is counted, run as issued and replayed from its graph. And a
// step replayed from a graph against the same step run as issued, bit for bit. Skipped on a real
// GPU, which has no counter (the bit-for-bit tests run there too).
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
#include <map>
#include <random>
#include <string>

#include "backends/backend.h"
#include "emulator_counts.h"
#include "sav/error.h"
#include "sav/graph.h"
#include "sav/nn/vit.h"
#include "sav/ops.h"
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

StepCase seed_case() { return {"the seed's step", {}, 0.0f, false}; }

StepCase recipe_case() {
  train::StepOptions strong;
  strong.label_smoothing = 0.1f;
  strong.clip_grad_norm = 1.0f;
  return {"the strong recipe's step", strong, 0.1f, true};
}

// The seed's 6 blocks and 8 heads on 32 features, and AdamW on it.
struct Trainee {
  nn::VisionTransformer model;
  optim::Adam adam;
  Trainee(const StepCase& step_case, Device device)
      : model(config(step_case), device), adam(initialized(model), adam_options()) {}
  static nn::VitConfig config(const StepCase& step_case) {
    nn::VitConfig c;
    c.d_model = 32;
    c.d_ff = 64;
    c.drop_path = step_case.drop_path;
    return c;
  }
  static std::vector<Tensor> initialized(nn::VisionTransformer& model) {
    model.initialize(3);
    return model.parameter_tensors();
  }
  static optim::AdamOptions adam_options() {
    optim::AdamOptions options;
    options.weight_decay = 0.05f;
    return options;
  }
};

// A batch of `size` random images with labels; step k's differ from step j's.
data::Batch make_batch(int64_t size, uint32_t seed, bool mixed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0, 1);
  data::Batch batch;
  batch.size = size;
  batch.global_size = size;
  batch.patches.resize(static_cast<size_t>(size) * 64 * 48);
  for (float& v : batch.patches) v = uniform(rng);
  for (int64_t i = 0; i < size; ++i) {
    batch.labels.push_back(static_cast<int32_t>(rng() % 10));
    if (mixed) batch.partner_labels.push_back(static_cast<int32_t>(rng() % 10));
  }
  if (mixed) batch.mix_lambda = 0.625f;
  return batch;
}

// Counts step 6, after steps 0 to 5. With graphs: step 0 runs as issued before any gradient
// exists; steps 1 and 2 (one for each upload slot) meet their tensors for the first time and run
// as issued; steps 3 and 4 meet them again and are recorded; 5 and 6 are replays.
EmulatorCounts count_a_step(const EmulatorCounter& counter, const StepCase& step_case,
                            bool graphs) {
  Trainee trainee(step_case, Device::cuda());
  train::StepOptions options = step_case.options;
  options.graphs = graphs;
  const data::Batch batch = make_batch(2, 4, step_case.mixed);
  train::TrainStep train(trainee.model, trainee.adam, options);
  for (uint64_t step = 0; step < 6; ++step) {
    train.run(batch, 9, step);
    optim::StepSums sums;
    train.drain(sums);
  }
  counter.reset();
  train.run(batch, 9, 6);
  const EmulatorCounts counts = counter.read();
  optim::StepSums sums;
  train.drain(sums);
  EXPECT_EQ(sums.steps, 1);
  EXPECT_EQ(sums.first_bad, -1);
  EXPECT_EQ(train.replayed_steps(), graphs ? 2 : 0);
  EXPECT_EQ(train.recorded_graphs(), graphs ? 2 : 0);
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
  if (counts.nodes() > 0) std::cout << "  " << counts.nodes() << " nodes of the replayed graph\n";
}

TEST(CudaStep, LaunchesAndHostWaitsOfATrainingStep) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  const std::optional<EmulatorCounter> counter = EmulatorCounter::find();
  if (!counter) GTEST_SKIP() << "not on the CUDA emulator: nothing counts the launches";
  for (const StepCase& step_case : {seed_case(), recipe_case()}) {
    const EmulatorCounts issued = count_a_step(*counter, step_case, false);
    const EmulatorCounts replayed = count_a_step(*counter, step_case, true);
    print(step_case.name, issued);
    print((step_case.name + std::string(", replayed")).c_str(), replayed);
    EXPECT_EQ(issued.waits(), 0) << step_case.name;
    EXPECT_EQ(issued.nodes(), 0) << step_case.name;
    EXPECT_LE(issued.launches(), step_case.mixed ? 315 : 314) << step_case.name;
    // Gradients are written over on their first contribution, not zeroed first: the fills left
    // are those of a gradient given in parts (the class token's slice).
    EXPECT_LE(issued.calls.count("fill_kernel") ? issued.calls.at("fill_kernel") : 0, 2);
    // Replayed: one launch, no waits, and the graph holds the step's work, no more, no less,
    // besides its allocations.
    EXPECT_EQ(replayed.launches(), 1) << step_case.name;
    EXPECT_EQ(replayed.calls.count("cudaGraphLaunch"), 1u) << step_case.name;
    EXPECT_EQ(replayed.waits(), 0) << step_case.name;
    std::map<std::string, long long> work = replayed.graph_nodes;
    work.erase("graph allocation");
    EXPECT_EQ(work, issued.calls) << step_case.name;
  }
}

// Trains two copies of one model for 9 steps, one step run as issued, the other replayed from
// graphs where it can (steps 5 to 7, as count_a_step says), on batches that change every step
// and a smaller last one; their weights, moments and figures must agree bit for bit.
void expect_replays_equal_steps(const StepCase& step_case) {
  Trainee issued(step_case, Device::cuda()), replayed(step_case, Device::cuda());
  train::StepOptions without = step_case.options, with = step_case.options;
  without.graphs = false;
  with.graphs = true;
  train::TrainStep plain(issued.model, issued.adam, without);
  train::TrainStep graphs(replayed.model, replayed.adam, with);
  optim::StepSums plain_sums, graph_sums;
  for (uint64_t step = 0; step < 9; ++step) {
    const data::Batch batch =
        make_batch(step == 8 ? 1 : 2, static_cast<uint32_t>(10 + step), step_case.mixed);
    issued.adam.set_lr(1e-3f / static_cast<float>(step + 1));  // a schedule: the lr changes
    replayed.adam.set_lr(1e-3f / static_cast<float>(step + 1));
    plain.run(batch, 9, step);
    graphs.run(batch, 9, step);
  }
  plain.drain(plain_sums);
  graphs.drain(graph_sums);
  EXPECT_EQ(graphs.recorded_graphs(), 2) << step_case.name;
  EXPECT_EQ(graphs.replayed_steps(), 3) << step_case.name;
  EXPECT_EQ(graph_sums.steps, 9);
  EXPECT_EQ(graph_sums.loss_sum, plain_sums.loss_sum) << step_case.name;
  EXPECT_EQ(graph_sums.correct, plain_sums.correct) << step_case.name;
  EXPECT_EQ(replayed.adam.steps(), issued.adam.steps());
  const std::vector<Tensor> a = issued.model.parameter_tensors();
  const std::vector<Tensor> b = replayed.model.parameter_tensors();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_vector(), b[i].to_vector()) << step_case.name << ", parameter " << i;
    EXPECT_EQ(issued.adam.first_moments()[i].to_vector(),
              replayed.adam.first_moments()[i].to_vector())
        << step_case.name << ", parameter " << i;
    EXPECT_EQ(issued.adam.second_moments()[i].to_vector(),
              replayed.adam.second_moments()[i].to_vector())
        << step_case.name << ", parameter " << i;
  }
}

TEST(CudaStep, AReplayedStepEqualsOneRunAsIssued) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  expect_replays_equal_steps(seed_case());
}

TEST(CudaStep, AReplayedStepOfTheStrongRecipeEqualsOneRunAsIssued) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  expect_replays_equal_steps(recipe_case());
}

// The graph names memory, not values: a replay reads its inputs as they are then.
TEST(CudaGraph, AReplayReadsItsInputsAsTheyAreThen) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  ASSERT_TRUE(DeviceGraph::available(Device::cuda()));
  const Tensor x = Tensor::from_vector({3}, {1, 2, 3}, Device::cuda());
  const Tensor y = Tensor::zeros({3}, Device::cuda());
  DeviceGraph graph = DeviceGraph::record(
      Device::cuda(), [&] { x.backend().scale(y.data(), x.data(), 2.0f, 3, Write::kOverwrite); });
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 0, 0}));  // recorded, not run
  graph.replay();
  EXPECT_EQ(y.to_vector(), (std::vector<float>{2, 4, 6}));
  x.copy_from({5, 6, 7});
  graph.replay();
  EXPECT_EQ(y.to_vector(), (std::vector<float>{10, 12, 14}));
  EXPECT_FALSE(DeviceGraph::available(Device::cpu()));
  EXPECT_THROW(DeviceGraph::record(Device::cpu(), [] {}), Error);
}

// Work that waits for the device cannot be recorded: the error says what waited, and the device
// goes on working.
TEST(CudaGraph, AWaitInsideARecordingIsRefused) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  if (!EmulatorCounter::find()) GTEST_SKIP() << "a real GPU's refusal names other calls";
  const Tensor x = Tensor::from_vector({2}, {1, 2}, Device::cuda());
  std::string message;
  try {
    DeviceGraph::record(Device::cuda(), [&] { x.to_vector(); });
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("while a stream is being captured"), std::string::npos) << message;
  EXPECT_EQ(ops::scale(x, 3.0f).to_vector(), (std::vector<float>{3, 6}));
}

}  // namespace
}  // namespace sav::testing
