// The all-reduce of a data-parallel training step: the seed model's gradients (4.7 M floats, one
// flat buffer) summed over the job's ranks. As one process it measures nothing but the call;
// under mpirun it is the collective itself:
//   mpirun -np 2 build/sav_bench --benchmark_filter=BM_AllReduce
// Every rank must run the same iterations (a collective waits for all of them), so the count is
// fixed rather than chosen by timing, which differs between ranks.
#include <benchmark/benchmark.h>

#include <vector>

#include "sav/dist/communicator.h"
#include "sav/nn/vit.h"

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

}  // namespace
}  // namespace sav
