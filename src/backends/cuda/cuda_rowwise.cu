// CudaBackend: row-wise kernels (layernorm, softmax, cross-entropy). Rows are short (10 to a few
// hundred values), so one warp owns a row: lane l handles columns l, l + 32, ... and the warp
// combines its lanes with a butterfly of shuffles. Every sum is taken in an order fixed by the
// shape alone (no floating-point atomics), so a run gives the same bits every time.
#include <algorithm>
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/last_block.h"
#include "backends/cuda/launch.h"

namespace sav {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = kWarp * kWarpsPerBlock;
constexpr int64_t kMaxBlocks = 65535;  // more rows are covered by grid-stride loops
constexpr unsigned int kFullMask = 0xffffffffu;

unsigned int blocks_for_rows(int64_t rows) {
  return static_cast<unsigned int>(
      std::min<int64_t>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks));
}

// Every lane ends with the same value: a butterfly adds the same pairs on both sides.
__device__ float warp_sum(float value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(kFullMask, value, offset);
  }
  return value;
}

__device__ float warp_max(float value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    value = fmaxf(value, __shfl_xor_sync(kFullMask, value, offset));
  }
  return value;
}

// The first row of this warp, and the step to its next; the whole warp shares each row, so all
// lanes stay together in the shuffles.
__device__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
}
__device__ int64_t row_stride() { return static_cast<int64_t>(gridDim.x) * kWarpsPerBlock; }
__device__ int lane() { return static_cast<int>(threadIdx.x % kWarp); }

// x, y (rows, cols); w, b (cols); mean, rstd (rows). One warp per row, two passes for the
// variance as on the CPU.
__global__ void layernorm_forward_kernel(float* y, float* mean, float* rstd, const float* x,
                                         const float* w, const float* b, int64_t rows, int64_t cols,
                                         float eps) {
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum = 0.0f;
    for (int64_t j = lane(); j < cols; j += kWarp) sum += xr[j];
    const float m = warp_sum(sum) / static_cast<float>(cols);
    float squares = 0.0f;
    for (int64_t j = lane(); j < cols; j += kWarp) squares += (xr[j] - m) * (xr[j] - m);
    const float s = 1.0f / sqrtf(warp_sum(squares) / static_cast<float>(cols) + eps);
    for (int64_t j = lane(); j < cols; j += kWarp) yr[j] = (xr[j] - m) * s * w[j] + b[j];
    if (lane() == 0) {
      mean[r] = m;
      rstd[r] = s;
    }
  }
}

// Row r of dx (rows, cols) (+)= rstd * (g - mean(g) - xhat * mean(g * xhat)) with
// xhat = (x - mean) * rstd and g = dy * w, by one warp: this thread is lane `lane` of it.
__device__ void layernorm_dx_row(float* dx, const float* dy, const float* x, const float* w,
                                 const float* mean, const float* rstd, int64_t r, int64_t cols,
                                 bool accumulate, int lane) {
  const float* xr = x + r * cols;
  const float* dyr = dy + r * cols;
  const float m = mean[r], s = rstd[r];
  float g_sum = 0.0f, gx_sum = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float g = dyr[j] * w[j];
    g_sum += g;
    gx_sum += g * ((xr[j] - m) * s);
  }
  const float g_mean = warp_sum(g_sum) / static_cast<float>(cols);
  const float gx_mean = warp_sum(gx_sum) / static_cast<float>(cols);
  float* dxr = dx + r * cols;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float xhat = (xr[j] - m) * s;
    dxr[j] = (accumulate ? dxr[j] : 0.0f) + s * (dyr[j] * w[j] - g_mean - xhat * gx_mean);
  }
}

// dw (cols) += sum over rows of dy * xhat, db (cols) += sum over rows of dy; either may be null.
// Summed as sum_rows_kernel sums (cuda_elementwise.cu): the grid is ceil(cols / 32) x chunks, a
// block of 32 x 32 threads owns 32 columns of one chunk of rows, row lane ty sums the chunk's
// rows ty, ty + 32, ... in order, then the 32 lane sums of each column are added in a fixed
// tree. With more than one chunk each block writes its sums to partial (2, chunks, cols), dw's
// then db's, and the last block of the 32 columns to finish (an integer counter decides which)
// adds the chunks' sums in the same fixed way. Every order depends only on the shape, never on
// which block finishes last, so the bits do not depend on scheduling.
constexpr int kColumnsPerBlock = 32;
constexpr int kRowLanes = 32;

// Adds the 32 row lanes of each column of both tiles in a fixed tree: row 0 ends with the sums.
__device__ void add_row_lanes(float (&dw_tile)[kRowLanes][kColumnsPerBlock],
                              float (&db_tile)[kRowLanes][kColumnsPerBlock]) {
  const unsigned int tx = threadIdx.x, ty = threadIdx.y;
  __syncthreads();
  for (unsigned int half = kRowLanes / 2; half > 0; half /= 2) {
    if (ty < half) {
      dw_tile[ty][tx] += dw_tile[ty + half][tx];
      db_tile[ty][tx] += db_tile[ty + half][tx];
    }
    __syncthreads();
  }
}

//
// LayerNorm's whole backward pass is one launch: the grid's first `chunks` rows of blocks sum dw
// and db as above (none when both are null), the rows of blocks after them take dx, a warp (a row
// of 32 threads) a row of x at a time (none when dx is null).
struct LayerNormGrads {
  float* dx;
  float* dw;
  float* db;
  bool accumulate_dx;
};

__global__ void layernorm_backward_kernel(LayerNormGrads grads, const float* dy, const float* x,
                                          const float* w, const float* mean, const float* rstd,
                                          int64_t rows, int64_t cols, unsigned int chunks,
                                          float* partial, unsigned int* arrivals) {
  __shared__ float dw_tile[kRowLanes][kColumnsPerBlock];
  __shared__ float db_tile[kRowLanes][kColumnsPerBlock];
  const unsigned int tx = threadIdx.x, ty = threadIdx.y;
  if (blockIdx.y >= chunks) {  // dx: every block of these rows of the grid, in order
    const int64_t block = static_cast<int64_t>(blockIdx.y - chunks) * gridDim.x + blockIdx.x;
    const int64_t blocks = static_cast<int64_t>(gridDim.y - chunks) * gridDim.x;
    for (int64_t r = block * kRowLanes + ty; r < rows; r += blocks * kRowLanes) {
      layernorm_dx_row(grads.dx, dy, x, w, mean, rstd, r, cols, grads.accumulate_dx,
                       static_cast<int>(tx));
    }
    return;
  }
  float* const dw = grads.dw;
  float* const db = grads.db;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + tx;
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  const int64_t begin = blockIdx.y * chunk_rows;
  const int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  float dw_sum = 0.0f, db_sum = 0.0f;
  if (j < cols) {
    for (int64_t r = begin + ty; r < end; r += kRowLanes) {
      const float d = dy[r * cols + j];
      dw_sum += d * ((x[r * cols + j] - mean[r]) * rstd[r]);
      db_sum += d;
    }
  }
  dw_tile[ty][tx] = dw_sum;
  db_tile[ty][tx] = db_sum;
  add_row_lanes(dw_tile, db_tile);
  if (chunks > 1) {
    float* const dw_partial = partial;  // (chunks, cols)
    float* const db_partial = partial + chunks * cols;
    if (ty == 0 && j < cols) {
      dw_partial[blockIdx.y * cols + j] = dw_tile[0][tx];
      db_partial[blockIdx.y * cols + j] = db_tile[0][tx];
    }
    if (!last_block_to_finish(&arrivals[blockIdx.x], chunks)) return;
    const volatile float* dw_chunks = dw_partial;  // written by other blocks: read past the L1
    const volatile float* db_chunks = db_partial;
    dw_sum = db_sum = 0.0f;
    if (j < cols) {
      for (unsigned int c = ty; c < chunks; c += kRowLanes) {
        dw_sum += dw_chunks[c * cols + j];
        db_sum += db_chunks[c * cols + j];
      }
    }
    dw_tile[ty][tx] = dw_sum;
    db_tile[ty][tx] = db_sum;
    add_row_lanes(dw_tile, db_tile);
  }
  if (ty == 0 && j < cols) {
    if (dw != nullptr) dw[j] += dw_tile[0][tx];
    if (db != nullptr) db[j] += db_tile[0][tx];
  }
}

// x, y (rows, cols); y may alias x: each lane reads a value before it writes it, and the row's
// maximum is known before the first write.
__global__ void softmax_forward_kernel(float* y, const float* x, int64_t rows, int64_t cols) {
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float top = -INFINITY;
    for (int64_t j = lane(); j < cols; j += kWarp) top = fmaxf(top, xr[j]);
    top = warp_max(top);
    float sum = 0.0f;
    for (int64_t j = lane(); j < cols; j += kWarp) {
      yr[j] = expf(xr[j] - top);
      sum += yr[j];
    }
    const float inv = 1.0f / warp_sum(sum);
    for (int64_t j = lane(); j < cols; j += kWarp) yr[j] *= inv;
  }
}

// dx = y * (dy - sum_j dy_j y_j), all (rows, cols); overwrites dx, which may alias dy: the
// row's dot product is complete (the shuffles wait for every lane) before the first write.
__global__ void softmax_backward_kernel(float* dx, const float* y, const float* dy, int64_t rows,
                                        int64_t cols) {
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float dot = 0.0f;
    for (int64_t j = lane(); j < cols; j += kWarp) dot += dyr[j] * yr[j];
    dot = warp_sum(dot);
    float* dxr = dx + r * cols;
    for (int64_t j = lane(); j < cols; j += kWarp) dxr[j] = yr[j] * (dyr[j] - dot);
  }
}

// logits, probs, targets (batch, classes); loss (1) = mean over rows of -sum_j targets_j log p_j.
// One block of 32 warps: warp w takes rows w, w + 32, ... and adds their losses in order in
// double; thread 0 then adds the 32 warp sums in order. Fixed by the batch size alone.
constexpr int kLossWarps = 32;

__global__ void cross_entropy_forward_kernel(float* loss, float* probs, const float* logits,
                                             const float* targets, int64_t batch, int64_t classes) {
  __shared__ double warp_losses[kLossWarps];
  const unsigned int warp = threadIdx.x / kWarp;
  double mine = 0.0;
  for (int64_t i = warp; i < batch; i += kLossWarps) {
    const float* zr = logits + i * classes;
    float* pr = probs + i * classes;
    float top = -INFINITY;
    for (int64_t j = lane(); j < classes; j += kWarp) top = fmaxf(top, zr[j]);
    top = warp_max(top);
    float sum = 0.0f;
    for (int64_t j = lane(); j < classes; j += kWarp) {
      pr[j] = expf(zr[j] - top);
      sum += pr[j];
    }
    sum = warp_sum(sum);
    for (int64_t j = lane(); j < classes; j += kWarp) pr[j] /= sum;
    // sum over j of t_j (log_norm - z_j); a zero target adds nothing (not 0 x inf).
    const float log_norm = logf(sum) + top;
    const float* tr = targets + i * classes;
    double row = 0.0;
    for (int64_t j = lane(); j < classes; j += kWarp) {
      if (tr[j] != 0.0f) row += static_cast<double>(tr[j]) * static_cast<double>(log_norm - zr[j]);
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      row += __shfl_xor_sync(kFullMask, row, offset);
    }
    mine += row;
  }
  if (lane() == 0) warp_losses[warp] = mine;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < kLossWarps; ++w) total += warp_losses[w];
    loss[0] = static_cast<float>(total / static_cast<double>(batch));
  }
}

// dlogits (batch, classes) (+)= (*dloss / batch) * (probs - targets); *dloss is read on the
// device, so the backward pass never waits for the host.
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* probs,
                                              const float* targets, const float* dloss,
                                              int64_t batch, int64_t classes, bool accumulate) {
  const float scale = dloss[0] / static_cast<float>(batch);
  const int64_t n = batch * classes;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += stride) {
    dlogits[k] = (accumulate ? dlogits[k] : 0.0f) + scale * (probs[k] - targets[k]);
  }
}

}  // namespace

void CudaBackend::layernorm_forward(float* y, float* mean, float* rstd, const float* x,
                                    const float* w, const float* b, int64_t rows, int64_t cols,
                                    float eps) {
  if (rows <= 0 || cols <= 0) return;
  SAV_LAUNCH(layernorm_forward_kernel, blocks_for_rows(rows), kThreads, stream_, y, mean, rstd, x,
             w, b, rows, cols, eps);
}

void CudaBackend::layernorm_backward(float* dx, float* dw, float* db, const float* dy,
                                     const float* x, const float* w, const float* mean,
                                     const float* rstd, int64_t rows, int64_t cols, Write write) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t column_blocks = (cols + kColumnsPerBlock - 1) / kColumnsPerBlock;
  const unsigned int chunks = dw == nullptr && db == nullptr ? 0 : column_sum_chunks(rows);
  // Rows of blocks for dx: a block of 32 warps takes 32 rows at a time.
  const int64_t dx_blocks =
      dx == nullptr ? 0 : std::min<int64_t>((rows + kRowLanes - 1) / kRowLanes, kMaxBlocks);
  const auto dx_block_rows =
      static_cast<unsigned int>((dx_blocks + column_blocks - 1) / column_blocks);
  if (chunks + dx_block_rows == 0) return;
  const dim3 grid(static_cast<unsigned int>(column_blocks), chunks + dx_block_rows);
  const dim3 block(kColumnsPerBlock, kRowLanes);
  const LayerNormGrads grads{dx, dw, db, write == Write::kAccumulate};
  if (chunks <= 1) {
    SAV_LAUNCH(layernorm_backward_kernel, grid, block, stream_, grads, dy, x, w, mean, rstd, rows,
               cols, chunks, nullptr, nullptr);
    return;
  }
  unsigned int* arrivals = column_sum_arrivals(column_blocks);
  const size_t bytes = 2 * chunks * cols * sizeof(float);
  auto* partial = static_cast<float*>(allocate(bytes));  // (2, chunks, cols)
  SAV_LAUNCH(layernorm_backward_kernel, grid, block, stream_, grads, dy, x, w, mean, rstd, rows,
             cols, chunks, partial, arrivals);
  deallocate(partial, bytes);  // stream-ordered: freed once the kernel is done
}

void CudaBackend::softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  SAV_LAUNCH(softmax_forward_kernel, blocks_for_rows(rows), kThreads, stream_, y, x, rows, cols);
}

void CudaBackend::softmax_backward(float* dx, const float* y, const float* dy, int64_t rows,
                                   int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  SAV_LAUNCH(softmax_backward_kernel, blocks_for_rows(rows), kThreads, stream_, dx, y, dy, rows,
             cols);
}

void CudaBackend::cross_entropy_forward(float* loss, float* probs, const float* logits,
                                        const float* targets, int64_t batch, int64_t classes) {
  if (batch <= 0 || classes <= 0) return;
  SAV_LAUNCH(cross_entropy_forward_kernel, 1, kLossWarps * kWarp, stream_, loss, probs, logits,
             targets, batch, classes);
}

void CudaBackend::cross_entropy_backward(float* dlogits, const float* probs, const float* targets,
                                         const float* dloss, int64_t batch, int64_t classes,
                                         Write write) {
  const int64_t n = batch * classes;
  if (n <= 0) return;
  const auto blocks =
      static_cast<unsigned int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
  SAV_LAUNCH(cross_entropy_backward_kernel, blocks, kThreads, stream_, dlogits, probs, targets,
             dloss, batch, classes, write == Write::kAccumulate);
}

}  // namespace sav
