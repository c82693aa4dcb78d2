// Data-parallel training: the all-reduce of a step, the seed model's gradients (4.7 M floats, one
// flat buffer) summed over the job's ranks, and the whole step of a job (train::ParallelStep on
// the seed model, global batch 100). As one process BM_AllReduce measures nothing but the call;
// under mpirun it is the collective itself:
//   mpirun -np 2 build/sav_bench --benchmark_filter='BM_AllReduce|BM_ParallelTrainStep'
// and BM_ParallelTrainStep compares a job's step with one process's: 1 process x 2 threads
//   OMP_NUM_THREADS=2 build/sav_bench --benchmark_filter=BM_ParallelTrainStep
// against 2 ranks x 1 thread
//   OMP_NUM_THREADS=1 mpirun -np 2 build/sav_bench --benchmark_filter=BM_ParallelTrainStep
// Every rank must run the same iterations (a collective waits for all of them), so the counts
// are fixed rather than chosen by timing, which differs between ranks.
#include <benchmark/benchmark.h>

#include <vector>

#include "model_fixture.h"
#include "sav/dist/communicator.h"
#include "sav/nn/vit.h"
#include "sav/train/step.h"

namespace sav {
namespace {

void BM_AllReduce(benchmark::State& state) {
  dist::Communicator& world = dist::world();
  std::vector<float> gradients(static_cast<size_t>(nn::parameter_count(nn::VitConfig{})), 1.0f);
  world.barrier();
  for (auto _ : state) {
    world.all_reduce_sum(gradients.data(), gradients.size());
    benchmark::DoNotOptimize(gradients.data());
  }
  const double bytes = static_cast<double>(gradients.size()) * sizeof(float);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetLabel(world.describe());
}
BENCHMARK(BM_AllReduce)->Iterations(20)->Unit(benchmark::kMillisecond)->UseRealTime();

// One step of the job on the seed model: this rank's share of a global batch of 100 (forward
// with dropout, loss, backward), the all-reduce, and Adam; after an untimed warm-up step.
void BM_ParallelTrainStep(benchmark::State& state) {
  dist::Communicator& world = dist::world();
  ModelFixture f(Device::cpu());
  data::Batch share;
  share.global_size = f.batch.size;
  share.first = data::shard_begin(f.batch.size, world.rank(), world.size());
  share.size = data::shard_begin(f.batch.size, world.rank() + 1, world.size()) - share.first;
  const int64_t values = data::kPatches * data::kPatchFeatures;
  share.patches.assign(f.batch.patches.begin() + share.first * values,
                       f.batch.patches.begin() + (share.first + share.size) * values);
  share.labels.assign(f.batch.labels.begin() + share.first,
                      f.batch.labels.begin() + share.first + share.size);
  optim::Adam adam(f.model.parameter_tensors(), {});
  train::ParallelStep step(f.model, adam, world);
  uint64_t index = 0;
  bool stop = false;
  optim::StepSums sums;
  step.run(share, 7, index++, stop);  // warm-up, untimed
  step.drain(sums);
  world.barrier();
  for (auto _ : state) {
    step.run(share, 7, index++, stop);
    step.drain(sums);
    benchmark::DoNotOptimize(sums.loss_sum);
  }
  state.SetItemsProcessed(state.iterations() * f.batch.size);
  state.SetLabel(world.describe() + ", " + std::to_string(device_threads(Device::cpu())) +
                 " threads each");
}
BENCHMARK(BM_ParallelTrainStep)->Iterations(10)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sav
