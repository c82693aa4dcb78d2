// CudaBackend: what a training step decides and counts on the device, so that the host never
// waits on a step: the factor that clips the gradients to a global norm, and the step's figures
// (its loss, the count classified right, whether the loss was finite), which Adam's kernel and
// the host read later. Sums run in an order fixed by the sizes alone.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/last_block.h"
#include "backends/cuda/launch.h"

namespace sav {
namespace {

constexpr int kThreads = 256;
// The gradients are cut into chunks of at most this many values, one block each: the seed's
// 4.7 million values make about 380 blocks.
constexpr int64_t kChunk = 16384;

// One chunk of the clipped values: `n` values from `data`.
struct Chunk {
  const float* data;
  int64_t n;
};

// The sum of `value` over the block's threads, in a fixed tree; the result is in thread 0.
__device__ double block_sum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

// Block b sums the squares of chunk b in double into partial[b]; the last block to finish
// (last_block.h) adds the partials in chunk order and writes the norm and the clipping factor.
__global__ void clip_factor_kernel(float* control, const Chunk* chunks, double* partial,
                                   unsigned int* arrivals, float bound) {
  __shared__ double sums[kThreads];
  const Chunk chunk = chunks[blockIdx.x];
  double mine = 0.0;
  for (int64_t i = threadIdx.x; i < chunk.n; i += blockDim.x) {
    const double v = chunk.data[i];
    mine += v * v;
  }
  const double total = block_sum(mine, sums);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
  if (!last_block_to_finish(arrivals, gridDim.x) || threadIdx.x != 0) return;
  const volatile double* block_sums = partial;  // written by other blocks: read past the L1
  double squares = 0.0;
  for (unsigned int b = 0; b < gridDim.x; ++b) squares += block_sums[b];
  const float norm = static_cast<float>(sqrt(squares));
  control[kGradNorm] = norm;
  control[kGradFactor] = norm > bound ? bound / norm : 1.0f;
}

// No gradient at all: nothing to clip.
__global__ void unclipped_kernel(float* control) {
  control[kGradFactor] = 1.0f;
  control[kGradNorm] = 0.0f;
}

// One block: each thread checks rows tid, tid + blockDim, ... against their labels; the counts
// are added in a fixed tree (whole numbers: exact in double), and thread 0 writes the record.
__global__ void record_step_kernel(float* records, float* control, const float* loss,
                                   const float* logits, const float* labels, int64_t batch,
                                   int64_t classes) {
  __shared__ double counts[kThreads];
  double mine = 0.0;
  for (int64_t i = threadIdx.x; i < batch; i += blockDim.x) {
    const float* row = logits + i * classes;
    int64_t best = 0;
    for (int64_t j = 1; j < classes; ++j) {
      if (row[j] > row[best]) best = j;  // the first of equal largest values, as std::max_element
    }
    mine += best == static_cast<int64_t>(labels[i]) ? 1.0 : 0.0;
  }
  const double correct = block_sum(mine, counts);
  if (threadIdx.x != 0) return;
  float* record = records + 1 + 3 * static_cast<int64_t>(records[0]);
  record[0] = loss[0];
  record[1] = static_cast<float>(correct);
  record[2] = static_cast<float>(batch);
  records[0] += 1.0f;
  if (!isfinite(loss[0])) control[kGo] = 0.0f;
}

}  // namespace

void CudaBackend::clip_factor(float* control, const FloatSpan* spans, int count, float bound) {
  // The chunk table lives on the device and is rebuilt only when the spans change (the
  // gradients of a model keep their buffers from step to step).
  std::vector<Chunk> chunks;
  for (int k = 0; k < count; ++k) {
    for (int64_t start = 0; start < spans[k].n; start += kChunk) {
      chunks.push_back({spans[k].data + start, std::min(kChunk, spans[k].n - start)});
    }
  }
  if (chunks.empty()) {
    SAV_LAUNCH(unclipped_kernel, 1, 1, stream_, control);
    return;
  }
  const size_t bytes = sizeof(Chunk) * chunks.size();
  auto table = std::find_if(clip_tables_.begin(), clip_tables_.end(), [&](const ClipTable& t) {
    return t.host.size() == bytes && std::memcmp(t.host.data(), chunks.data(), bytes) == 0;
  });
  if (table == clip_tables_.end()) {
    // Made once per set of gradient buffers, not once a step (and never while a graph is being
    // recorded: a step is recorded the second time it meets its buffers).
    if (clip_arrivals_ == nullptr) {
      SAV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&clip_arrivals_), sizeof(unsigned int)));
      SAV_CUDA_CHECK(cudaMemsetAsync(clip_arrivals_, 0, sizeof(unsigned int), stream_));
    }
    if (clip_tables_.size() == kClipTables) {
      synchronize();  // queued work may still read the oldest table
      SAV_CUDA_CHECK(cudaFree(clip_tables_.front().chunks));
      SAV_CUDA_CHECK(cudaFree(clip_tables_.front().partial));
      clip_tables_.erase(clip_tables_.begin());
    }
    ClipTable made;
    made.host.assign(reinterpret_cast<const char*>(chunks.data()),
                     reinterpret_cast<const char*>(chunks.data()) + bytes);
    SAV_CUDA_CHECK(cudaMalloc(&made.chunks, bytes));
    SAV_CUDA_CHECK(
        cudaMalloc(reinterpret_cast<void**>(&made.partial), sizeof(double) * chunks.size()));
    // Waited for: the host copy must outlive the copy, and the table must be complete before
    // any kernel reads it.
    SAV_CUDA_CHECK(
        cudaMemcpyAsync(made.chunks, made.host.data(), bytes, cudaMemcpyHostToDevice, stream_));
    SAV_CUDA_CHECK(cudaStreamSynchronize(stream_));
    clip_tables_.push_back(std::move(made));
    table = clip_tables_.end() - 1;
  }
  SAV_LAUNCH(clip_factor_kernel, static_cast<unsigned int>(chunks.size()), kThreads, stream_,
             control, static_cast<const Chunk*>(table->chunks), table->partial, clip_arrivals_,
             bound);
}

void CudaBackend::record_step(float* records, float* control, const float* loss,
                              const float* logits, const float* labels, int64_t batch,
                              int64_t classes) {
  SAV_LAUNCH(record_step_kernel, 1, kThreads, stream_, records, control, loss, logits, labels,
             batch, classes);
}

}  // namespace sav
