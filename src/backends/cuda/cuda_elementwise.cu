// CudaBackend: element-wise kernels (fill, add, relu, gelu, dropout, Adam, zeroing gradients), the
// reductions their gradients need, and the kernels that copy token ranges between tensors.
// Every kernel runs on the backend's stream; sums are taken in a fixed order, never with
// floating-point atomics, so that a run gives the same bits every time.
#include <algorithm>
#include <cmath>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/last_block.h"
#include "backends/cuda/launch.h"
#include "sav/random.h"

namespace sav {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // larger sizes are covered by grid-stride loops

unsigned int blocks_for(int64_t n) {
  return static_cast<unsigned int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

__device__ int64_t global_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// dst (n) = value.
__global__ void fill_kernel(float* dst, float value, int64_t n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) dst[i] = value;
}

// y (n) = a (n) + b (b_n) broadcast over rows of b_n; y may alias a.
__global__ void add_kernel(float* y, const float* a, const float* b, int64_t n, int64_t b_n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    y[i] = a[i] + b[b_n == n ? i : i % b_n];
  }
}

// y (rows, cols) = row (cols) repeated.
__global__ void repeat_rows_kernel(float* y, const float* row, int64_t n, int64_t cols) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) y[i] = row[i % cols];
}

// y (n) += x (n).
__global__ void accumulate_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) y[i] += x[i];
}

// y (n) (+)= factor * x (n).
__global__ void scale_kernel(float* y, const float* x, float factor, int64_t n, bool accumulate) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    y[i] = accumulate ? y[i] + factor * x[i] : factor * x[i];
  }
}

// y (cols) += sum over rows of x (rows, cols). The grid is ceil(cols / 32) x chunks: a block of
// 32 x 32 threads owns 32 columns of one chunk of rows (column_sum_chunks). Row lane ty sums the
// chunk's rows ty, ty + 32, ... in order, then the 32 lane sums of each column are added in a
// fixed tree. With one chunk that is the column's sum, added to y. With more, each block writes
// its sums to partial (chunks, cols); the last block of the 32 columns to finish (an integer
// counter decides which) adds the chunks' sums in the same fixed way, lane ty taking chunks
// ty, ty + 32, ... in order, and adds the total to y. Every order depends only on the shape,
// never on which block finishes last, so the bits do not depend on scheduling.
constexpr int kColumnsPerBlock = 32;
constexpr int kRowLanes = 32;
constexpr int64_t kRowsPerChunk = 256;  // at least 8 rows for each row lane of a block
constexpr int64_t kMaxChunks = 64;      // at most 2 chunk sums for each row lane of the last block

// Adds the 32 row lanes of each column of tile in a fixed tree: tile[0][tx] ends with the sum.
__device__ void add_row_lanes(float (&tile)[kRowLanes][kColumnsPerBlock]) {
  __syncthreads();
  for (unsigned int half = kRowLanes / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) tile[threadIdx.y][threadIdx.x] += tile[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
}

__global__ void sum_rows_kernel(float* y, const float* x, int64_t rows, int64_t cols,
                                float* partial, unsigned int* arrivals) {
  __shared__ float tile[kRowLanes][kColumnsPerBlock];
  const unsigned int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + tx;
  const int64_t chunk_rows = (rows + gridDim.y - 1) / gridDim.y;
  const int64_t begin = blockIdx.y * chunk_rows;
  const int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
  float sum = 0.0f;
  if (j < cols) {
    for (int64_t r = begin + ty; r < end; r += kRowLanes) sum += x[r * cols + j];
  }
  tile[ty][tx] = sum;
  add_row_lanes(tile);
  if (gridDim.y > 1) {
    if (ty == 0 && j < cols) partial[blockIdx.y * cols + j] = tile[0][tx];
    if (!last_block_to_finish(&arrivals[blockIdx.x], gridDim.y)) return;
    const volatile float* chunk_sums = partial;  // written by other blocks: read past the L1
    sum = 0.0f;
    if (j < cols) {
      for (unsigned int c = ty; c < gridDim.y; c += kRowLanes) sum += chunk_sums[c * cols + j];
    }
    tile[ty][tx] = sum;
    add_row_lanes(tile);
  }
  if (ty == 0 && j < cols) y[j] += tile[0][tx];
}

// arrivals (n) = 0.
__global__ void clear_arrivals_kernel(unsigned int* arrivals, int64_t n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) arrivals[i] = 0;
}

// y (n) = max(x, 0).
__global__ void relu_forward_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// dx (n) (+)= dy * (x > 0). Written over, dx is 0 + the value: the bits of an accumulation into a
// zeroed buffer, as in every backward kernel that takes `accumulate`.
__global__ void relu_backward_kernel(float* dx, const float* x, const float* dy, int64_t n,
                                     bool accumulate) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    dx[i] = (accumulate ? dx[i] : 0.0f) + (x[i] > 0.0f ? dy[i] : 0.0f);
  }
}

// Phi(x), the standard normal distribution function, as erfc(-x / sqrt(2)) / 2: the same value
// as (1 + erf(x / sqrt(2))) / 2, but accurate (relatively) for negative x too, where 1 + erf
// cancels. The CPU backend computes it the same way.
__device__ float normal_cdf(float x) { return 0.5f * erfcf(-x * 0.707106781186547524f); }

// y (n) = x * Phi(x): GELU, exact form.
__global__ void gelu_forward_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) y[i] = x[i] * normal_cdf(x[i]);
}

// dx (n) (+)= dy * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
__global__ void gelu_backward_kernel(float* dx, const float* x, const float* dy, int64_t n,
                                     bool accumulate) {
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    const float density = 0.398942280401432678f * expf(-0.5f * v * v);
    dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i] * (normal_cdf(v) + v * density);
  }
}

// out (n) (+)= in (n) * keep / (1 - p). One thread per Philox block of four elements, drawn
// exactly as the CPU backend draws them; __fmul_rn keeps the product from being fused into an
// FMA, so the values match the CPU's bit for bit.
template <bool kAccumulate>
__global__ void dropout_kernel(float* out, const float* in, int64_t n, float p, float scale,
                               uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                               uint64_t first) {
  if (stream_offset != nullptr) stream += *stream_offset;
  // The Philox blocks that cover elements [first, first + n) of the mask's numbering.
  const uint64_t first_block = first / 4;
  const int64_t blocks = static_cast<int64_t>((first + n + 3) / 4 - first_block);
  for (int64_t block = global_index(); block < blocks; block += grid_stride()) {
    const uint64_t counter = first_block + static_cast<uint64_t>(block);
    const PhiloxBlock bits = random_block(seed, stream, counter);
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = static_cast<int64_t>(counter * 4 + lane - first);
      if (i < 0) continue;
      if (i >= n) break;
      const float value = uniform_from_bits(bits[lane]) >= p ? __fmul_rn(in[i], scale) : 0.0f;
      if (kAccumulate) {
        out[i] += value;
      } else {
        out[i] = value;
      }
    }
  }
}

// out (rows x cols) (+)= in * keep(row) / (1 - p): the row's keep drawn as the CPU backend
// draws it; __fmul_rn as in dropout_kernel.
template <bool kAccumulate>
__global__ void drop_path_kernel(float* out, const float* in, int64_t rows, int64_t cols, float p,
                                 float scale, uint64_t seed, uint64_t stream,
                                 const uint64_t* stream_offset, uint64_t first_row) {
  if (stream_offset != nullptr) stream += *stream_offset;
  const int64_t n = rows * cols;
  for (int64_t i = global_index(); i < n; i += grid_stride()) {
    const uint64_t e = first_row + static_cast<uint64_t>(i / cols);
    const bool keep = uniform_from_bits(random_block(seed, stream, e / 4)[e % 4]) >= p;
    const float value = keep ? __fmul_rn(in[i], scale) : 0.0f;
    if (kAccumulate) {
      out[i] += value;
    } else {
      out[i] = value;
    }
  }
}

// A residual branch's masks in one pass (Backend::branch_masks_forward and _backward). Forward:
// out = base + drop_path(dropout(in)); backward: out (+)= dropout'(drop_path'(in)), the masks in
// the reverse order, as the separate passes apply them. Each thread takes one Philox block of
// dropout's numbering (four elements), as dropout_kernel does; every product is __fmul_rn, as in
// those kernels, so that the values are theirs bit for bit.
template <bool kForward, bool kAccumulate>
__global__ void branch_masks_kernel(float* out, const float* base, const float* in, int64_t rows,
                                    int64_t cols, BranchMasks m) {
  const uint64_t offset = m.stream_offset != nullptr ? *m.stream_offset : 0;
  const uint64_t stream = m.stream + offset, path_stream = m.path_stream + offset;
  const float scale = 1.0f / (1.0f - m.p), path_scale = 1.0f / (1.0f - m.path_p);
  const int64_t n = rows * cols;
  const uint64_t first = m.first_row * static_cast<uint64_t>(cols);
  const uint64_t first_block = first / 4;
  const int64_t blocks = static_cast<int64_t>((first + n + 3) / 4 - first_block);
  for (int64_t block = global_index(); block < blocks; block += grid_stride()) {
    const uint64_t counter = first_block + static_cast<uint64_t>(block);
    const PhiloxBlock bits = m.p > 0 ? random_block(m.seed, stream, counter) : PhiloxBlock{};
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = static_cast<int64_t>(counter * 4 + lane - first);
      if (i < 0) continue;
      if (i >= n) break;
      const bool keep = m.p == 0 || uniform_from_bits(bits[lane]) >= m.p;
      bool keep_row = true;
      if (m.path_p > 0) {
        const uint64_t r = m.first_row + static_cast<uint64_t>(i / cols);
        keep_row = uniform_from_bits(random_block(m.seed, path_stream, r / 4)[r % 4]) >= m.path_p;
      }
      float value = in[i];
      if (kForward) {
        if (m.p > 0) value = keep ? __fmul_rn(value, scale) : 0.0f;
        if (m.path_p > 0) value = keep_row ? __fmul_rn(value, path_scale) : 0.0f;
        out[i] = base[i] + value;
      } else {
        if (m.path_p > 0) value = keep_row ? __fmul_rn(value, path_scale) : 0.0f;
        if (m.p > 0) value = keep ? __fmul_rn(value, scale) : 0.0f;
        if (kAccumulate) {
          out[i] += value;
        } else {
          out[i] = value;
        }
      }
    }
  }
}

// Up to kListCapacity tensors, passed to a kernel by value (a kernel's parameters may take 4 KiB):
// blockIdx.y picks the tensor, the x blocks stride over its values. A longer list takes more
// launches.
constexpr int kListCapacity = 96;
constexpr unsigned int kListBlocks = 64;  // x blocks a tensor: the largest have 262,144 values

template <typename T>
struct KernelList {
  T items[kListCapacity];
};
static_assert(sizeof(KernelList<AdamTensor>) <= 4096, "kernel parameters are limited to 4 KiB");

// Calls launch(list, grid) for each run of up to kListCapacity items.
template <typename T, typename Launch>
void launch_in_lists(const T* items, int count, Launch launch) {
  for (int first = 0; first < count; first += kListCapacity) {
    const int listed = std::min(kListCapacity, count - first);
    KernelList<T> list{};
    std::copy(items + first, items + first + listed, list.items);
    launch(list, dim3(kListBlocks, static_cast<unsigned int>(listed)));
  }
}

// One AdamW step on each listed tensor; m_scale and v_scale are the bias corrections. With
// `control` (StepControl values on the device), nothing at all once control[kGo] is 0, and the
// gradients also taken times control[kGradFactor]. With `values` (AdamValue), lr, the bias
// corrections and, where `decayed`, the decay factor come from there.
__global__ void adam_kernel(KernelList<AdamTensor> list, float lr, float beta1, float beta2,
                            float eps, float decay, float m_scale, float v_scale, float grad_scale,
                            const float* control, const float* values, bool decayed) {
  if (control != nullptr) {
    if (control[kGo] == 0.0f) return;
    grad_scale = __fmul_rn(grad_scale, control[kGradFactor]);
  }
  if (values != nullptr) {
    lr = values[kAdamLr];
    m_scale = values[kAdamM];
    v_scale = values[kAdamV];
    if (decayed) decay = values[kAdamDecay];
  }
  const AdamTensor t = list.items[blockIdx.y];
  for (int64_t i = global_index(); i < t.n; i += grid_stride()) {
    const float g = __fmul_rn(t.grad[i], grad_scale);
    const float m_i = beta1 * t.m[i] + (1.0f - beta1) * g;
    const float v_i = beta2 * t.v[i] + (1.0f - beta2) * g * g;
    t.m[i] = m_i;
    t.v[i] = v_i;
    t.param[i] = t.param[i] * decay - lr * (m_i * m_scale) / (sqrtf(v_i * v_scale) + eps);
  }
}

__global__ void zero_kernel(KernelList<FloatSpan> list) {
  const FloatSpan s = list.items[blockIdx.y];
  for (int64_t i = global_index(); i < s.n; i += grid_stride()) s.data[i] = 0.0f;
}

// Where batch item b's token range starts in a (batch or 1, tokens, dim) tensor.
__device__ int64_t token_offset(int64_t b, bool shared, int64_t tokens, int64_t start,
                                int64_t dim) {
  return ((shared ? 0 : b) * tokens + start) * dim;
}

// dst[b, dst_start + t, :] (+)= src[b or 0, src_start + t, :] for an unshared dst; one thread per
// value of the batch x (count * dim) ranges.
__global__ void copy_tokens_kernel(float* dst, int64_t dst_tokens, int64_t dst_start,
                                   const float* src, int64_t src_tokens, int64_t src_start,
                                   bool src_shared, int64_t batch, int64_t width, int64_t dim,
                                   bool accumulate) {
  for (int64_t i = global_index(); i < batch * width; i += grid_stride()) {
    const int64_t b = i / width, j = i % width;
    const float value = src[token_offset(b, src_shared, src_tokens, src_start, dim) + j];
    float* out = dst + token_offset(b, false, dst_tokens, dst_start, dim) + j;
    if (accumulate) {
      *out += value;
    } else {
      *out = value;
    }
  }
}

// dst[0, dst_start + t, :] += sum over b of src[b or 0, src_start + t, :]: the gradient of a
// broadcast. One thread per value of the (count * dim) range adds the batch in order, as the
// CPU backend does, so both give the same bits.
__global__ void copy_tokens_to_shared_kernel(float* dst, int64_t dst_start, const float* src,
                                             int64_t src_tokens, int64_t src_start, bool src_shared,
                                             int64_t batch, int64_t width, int64_t dim) {
  for (int64_t j = global_index(); j < width; j += grid_stride()) {
    float sum = dst[dst_start * dim + j];
    for (int64_t b = 0; b < batch; ++b) {
      sum += src[token_offset(b, src_shared, src_tokens, src_start, dim) + j];
    }
    dst[dst_start * dim + j] = sum;
  }
}

}  // namespace

void CudaBackend::fill(float* dst, float value, int64_t n) {
  if (n <= 0) return;
  SAV_LAUNCH(fill_kernel, blocks_for(n), kThreads, stream_, dst, value, n);
}

void CudaBackend::add(float* y, const float* a, const float* b, int64_t n, int64_t b_n) {
  if (n <= 0) return;
  SAV_LAUNCH(add_kernel, blocks_for(n), kThreads, stream_, y, a, b, n, b_n);
}

void CudaBackend::accumulate(float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  SAV_LAUNCH(accumulate_kernel, blocks_for(n), kThreads, stream_, y, x, n);
}

void CudaBackend::scale(float* y, const float* x, float factor, int64_t n, Write write) {
  if (n <= 0) return;
  SAV_LAUNCH(scale_kernel, blocks_for(n), kThreads, stream_, y, x, factor, n,
             write == Write::kAccumulate);
}

void CudaBackend::repeat_rows(float* y, const float* row, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  SAV_LAUNCH(repeat_rows_kernel, blocks_for(rows * cols), kThreads, stream_, y, row, rows * cols,
             cols);
}

// A chunk per 256 rows, at least 1 and at most 64: fixed by the shape alone.
unsigned int CudaBackend::column_sum_chunks(int64_t rows) {
  return static_cast<unsigned int>(std::clamp<int64_t>(rows / kRowsPerChunk, 1, kMaxChunks));
}

unsigned int* CudaBackend::column_sum_arrivals(int64_t column_blocks) {
  if (column_blocks > arrival_count_) {
    // Grown rarely: on the first call (256 counters cover 8,192 columns), then only for wider.
    const int64_t count = std::max<int64_t>(column_blocks, 256);
    auto* arrivals = static_cast<unsigned int*>(allocate(count * sizeof(unsigned int)));
    SAV_LAUNCH(clear_arrivals_kernel, blocks_for(count), kThreads, stream_, arrivals, count);
    deallocate(arrivals_, arrival_count_ * sizeof(unsigned int));
    arrivals_ = arrivals;
    arrival_count_ = count;
  }
  return arrivals_;
}

void CudaBackend::sum_rows_accumulate(float* y, const float* x, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t column_blocks = (cols + kColumnsPerBlock - 1) / kColumnsPerBlock;
  const unsigned int chunks = column_sum_chunks(rows);
  const dim3 grid(static_cast<unsigned int>(column_blocks), chunks);
  const dim3 block(kColumnsPerBlock, kRowLanes);
  if (chunks == 1) {
    SAV_LAUNCH(sum_rows_kernel, grid, block, stream_, y, x, rows, cols, nullptr, nullptr);
    return;
  }
  unsigned int* arrivals = column_sum_arrivals(column_blocks);
  const size_t bytes = chunks * cols * sizeof(float);
  auto* partial = static_cast<float*>(allocate(bytes));  // (chunks, cols)
  SAV_LAUNCH(sum_rows_kernel, grid, block, stream_, y, x, rows, cols, partial, arrivals);
  deallocate(partial, bytes);  // stream-ordered: freed once the kernel is done
}

void CudaBackend::relu_forward(float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  SAV_LAUNCH(relu_forward_kernel, blocks_for(n), kThreads, stream_, y, x, n);
}

void CudaBackend::relu_backward(float* dx, const float* x, const float* dy, int64_t n,
                                Write write) {
  if (n <= 0) return;
  SAV_LAUNCH(relu_backward_kernel, blocks_for(n), kThreads, stream_, dx, x, dy, n,
             write == Write::kAccumulate);
}

void CudaBackend::gelu_forward(float* y, const float* x, int64_t n) {
  if (n <= 0) return;
  SAV_LAUNCH(gelu_forward_kernel, blocks_for(n), kThreads, stream_, y, x, n);
}

void CudaBackend::gelu_backward(float* dx, const float* x, const float* dy, int64_t n,
                                Write write) {
  if (n <= 0) return;
  SAV_LAUNCH(gelu_backward_kernel, blocks_for(n), kThreads, stream_, dx, x, dy, n,
             write == Write::kAccumulate);
}

void CudaBackend::dropout_forward(float* y, const float* x, int64_t n, float p, uint64_t seed,
                                  uint64_t stream, const uint64_t* stream_offset, uint64_t first) {
  if (n <= 0) return;
  const float scale = 1.0f / (1.0f - p);
  SAV_LAUNCH(dropout_kernel<false>, blocks_for((n + 4) / 4), kThreads, stream_, y, x, n, p, scale,
             seed, stream, stream_offset, first);
}

void CudaBackend::dropout_backward(float* dx, const float* dy, int64_t n, float p, uint64_t seed,
                                   uint64_t stream, const uint64_t* stream_offset, uint64_t first,
                                   Write write) {
  if (n <= 0) return;
  const float scale = 1.0f / (1.0f - p);
  if (write == Write::kOverwrite) {
    SAV_LAUNCH(dropout_kernel<false>, blocks_for((n + 4) / 4), kThreads, stream_, dx, dy, n, p,
               scale, seed, stream, stream_offset, first);
  } else {
    SAV_LAUNCH(dropout_kernel<true>, blocks_for((n + 4) / 4), kThreads, stream_, dx, dy, n, p,
               scale, seed, stream, stream_offset, first);
  }
}

void CudaBackend::drop_path_forward(float* y, const float* x, int64_t rows, int64_t cols, float p,
                                    uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                                    uint64_t first_row) {
  if (rows * cols <= 0) return;
  SAV_LAUNCH(drop_path_kernel<false>, blocks_for(rows * cols), kThreads, stream_, y, x, rows, cols,
             p, 1.0f / (1.0f - p), seed, stream, stream_offset, first_row);
}

void CudaBackend::drop_path_backward(float* dx, const float* dy, int64_t rows, int64_t cols,
                                     float p, uint64_t seed, uint64_t stream,
                                     const uint64_t* stream_offset, uint64_t first_row,
                                     Write write) {
  if (rows * cols <= 0) return;
  if (write == Write::kOverwrite) {
    SAV_LAUNCH(drop_path_kernel<false>, blocks_for(rows * cols), kThreads, stream_, dx, dy, rows,
               cols, p, 1.0f / (1.0f - p), seed, stream, stream_offset, first_row);
  } else {
    SAV_LAUNCH(drop_path_kernel<true>, blocks_for(rows * cols), kThreads, stream_, dx, dy, rows,
               cols, p, 1.0f / (1.0f - p), seed, stream, stream_offset, first_row);
  }
}

void CudaBackend::branch_masks_forward(float* y, const float* x, const float* in, int64_t rows,
                                       int64_t cols, const BranchMasks& masks) {
  if (rows * cols <= 0) return;
  SAV_LAUNCH((branch_masks_kernel<true, false>), blocks_for((rows * cols + 4) / 4), kThreads,
             stream_, y, x, in, rows, cols, masks);
}

void CudaBackend::branch_masks_backward(float* dx, const float* dy, int64_t rows, int64_t cols,
                                        const BranchMasks& masks, Write write) {
  if (rows * cols <= 0) return;
  const float* none = nullptr;
  if (write == Write::kOverwrite) {
    SAV_LAUNCH((branch_masks_kernel<false, false>), blocks_for((rows * cols + 4) / 4), kThreads,
               stream_, dx, none, dy, rows, cols, masks);
  } else {
    SAV_LAUNCH((branch_masks_kernel<false, true>), blocks_for((rows * cols + 4) / 4), kThreads,
               stream_, dx, none, dy, rows, cols, masks);
  }
}

void CudaBackend::adam_update(const AdamTensor* tensors, int count, float lr, float beta1,
                              float beta2, float eps, float weight_decay, int64_t step,
                              float grad_scale, const float* control, const float* values) {
  const AdamScales scales = adam_scales(lr, beta1, beta2, weight_decay, step);
  launch_in_lists(tensors, count, [&](const KernelList<AdamTensor>& list, dim3 grid) {
    SAV_LAUNCH(adam_kernel, grid, kThreads, stream_, list, lr, beta1, beta2, eps, scales.decay,
               scales.m, scales.v, grad_scale, control, values, weight_decay > 0);
  });
}

void CudaBackend::zero(const FloatSpan* spans, int count) {
  launch_in_lists(spans, count, [&](const KernelList<FloatSpan>& list, dim3 grid) {
    SAV_LAUNCH(zero_kernel, grid, kThreads, stream_, list);
  });
}

void CudaBackend::copy_tokens(const TokenDst& dst, const TokenSrc& src, int64_t batch,
                              int64_t count, int64_t dim, Write write) {
  const int64_t width = count * dim;  // one batch item's range, contiguous in both tensors
  if (batch <= 0 || width <= 0) return;
  const bool src_shared = src.batch == TokenBatch::kShared;
  // A shared dst always adds, as on the CPU: it requires Write::kAccumulate.
  if (dst.batch == TokenBatch::kShared) {
    SAV_LAUNCH(copy_tokens_to_shared_kernel, blocks_for(width), kThreads, stream_, dst.data,
               dst.start, src.data, src.tokens, src.start, src_shared, batch, width, dim);
  } else {
    SAV_LAUNCH(copy_tokens_kernel, blocks_for(batch * width), kThreads, stream_, dst.data,
               dst.tokens, dst.start, src.data, src.tokens, src.start, src_shared, batch, width,
               dim, write == Write::kAccumulate);
  }
}

}  // namespace sav
