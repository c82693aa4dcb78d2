// CpuBackend: element-wise kernels (add, relu, gelu, dropout) and the reductions their gradients
// need.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/simd.h"
#include "sav/random.h"

namespace sav {
namespace {

// Below this many elements a kernel runs on one thread: starting a team costs more.
constexpr int64_t kParallelGrain = 1 << 14;

}  // namespace

void CpuBackend::add(float* y, const float* a, const float* b, int64_t n, int64_t b_n) {
  if (b_n == n) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
    return;
  }
  const int64_t rows = n / b_n;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * b_n;
    float* yr = y + r * b_n;
    for (int64_t j = 0; j < b_n; ++j) yr[j] = ar[j] + b[j];
  }
}

void CpuBackend::accumulate(float* y, const float* x, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void CpuBackend::scale(float* y, const float* x, float factor, int64_t n, Write write) {
  if (write == Write::kAccumulate) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) y[i] += factor * x[i];
  } else {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) y[i] = factor * x[i];
  }
}

void CpuBackend::repeat_rows(float* y, const float* row, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    for (int64_t j = 0; j < cols; ++j) yr[j] = row[j];
  }
}

void CpuBackend::sum_rows_accumulate(float* y, const float* x, int64_t rows, int64_t cols) {
  if (rows * cols <= kParallelGrain) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < cols; ++j) y[j] += x[r * cols + j];
    }
    return;
  }
  // Each thread sums a band of rows into its own partial; the partials are added in thread
  // order, so the result does not depend on scheduling.
  const int threads = omp_get_max_threads();
  std::vector<float> partial(static_cast<size_t>(threads) * cols, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + static_cast<size_t>(omp_get_thread_num()) * cols;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < cols; ++j) mine[j] += x[r * cols + j];
    }
  }
  for (int t = 0; t < threads; ++t) {
    for (int64_t j = 0; j < cols; ++j) y[j] += partial[static_cast<size_t>(t) * cols + j];
  }
}

void CpuBackend::relu_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

namespace {

// A gradient written over is zeroed and then added to: the same bits as an accumulation into a
// zeroed buffer, and no launch to save on the CPU.
void zero_for(Write write, float* dx, int64_t n) {
  if (write == Write::kOverwrite) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(n));
}

}  // namespace

void CpuBackend::relu_backward(float* dx, const float* x, const float* dy, int64_t n, Write write) {
  zero_for(write, dx, n);
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

namespace {

constexpr float kSqrtHalf = 0.707106781186547524f;      // 1 / sqrt(2)
constexpr float kInvSqrtTwoPi = 0.398942280401432678f;  // 1 / sqrt(2 pi)

// Phi(x), the standard normal distribution function, as erfc(-x / sqrt(2)) / 2: the same value
// as (1 + erf(x / sqrt(2))) / 2, but accurate (relatively) for negative x too.
[[gnu::always_inline]] inline float normal_cdf(float x) {
  return 0.5f * cpu::erfc_approx(-x * kSqrtHalf);
}

// y = x * Phi(x) on n values.
[[gnu::always_inline]] inline void gelu_values(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * normal_cdf(x[i]);
}
SAV_CPU_DISPATCH(gelu_chunk, gelu_values)

// dx += dy * (Phi(x) + x * phi(x)) on n values.
[[gnu::always_inline]] inline void gelu_gradients(float* dx, const float* x, const float* dy,
                                                  int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float density = kInvSqrtTwoPi * cpu::exp_approx(-0.5f * v * v);
    dx[i] += dy[i] * (normal_cdf(v) + v * density);
  }
}
SAV_CPU_DISPATCH(gelu_gradient_chunk, gelu_gradients)

// Calls kernel(first, count) on consecutive chunks of [0, n), shared out between threads when n
// is large: each call goes through the dispatch once and runs a loop long enough to vectorise.
template <typename Kernel>
void for_chunks(int64_t n, Kernel kernel) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t first = c * kChunk;
    kernel(first, std::min(kChunk, n - first));
  }
}

}  // namespace

void CpuBackend::gelu_forward(float* y, const float* x, int64_t n) {
  for_chunks(n, [&](int64_t first, int64_t count) { gelu_chunk(y + first, x + first, count); });
}

void CpuBackend::gelu_backward(float* dx, const float* x, const float* dy, int64_t n, Write write) {
  zero_for(write, dx, n);
  for_chunks(n, [&](int64_t first, int64_t count) {
    gelu_gradient_chunk(dx + first, x + first, dy + first, count);
  });
}

namespace {

// A mask's stream, with its offset added where one is given (Backend::dropout_forward).
uint64_t with_offset(uint64_t stream, const uint64_t* offset) {
  return offset != nullptr ? stream + *offset : stream;
}

// out[i] (+)= in[i] * keep(i) / (1 - p) for the elements of Philox blocks [first, first + count),
// four elements per block, the blocks numbered from `offset`. The bits of 16 blocks are drawn at
// a time into lanes, a loop the compiler vectorises (Philox's 32 x 32 -> 64-bit products
// included); then they are applied.
template <bool kAccumulate>
[[gnu::always_inline]] inline void dropout_blocks(float* out, const float* in, int64_t n,
                                                  int64_t first, int64_t count, float p,
                                                  uint64_t seed, uint64_t stream, uint64_t offset) {
  constexpr int kLanes = 16;
  const float scale = 1.0f / (1.0f - p);
  uint32_t bits[4 * kLanes];  // element e of the 16 blocks: bits[e]
  for (int64_t start = first; start < first + count; start += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const PhiloxBlock block =
          random_block(seed, stream, offset + static_cast<uint64_t>(start + j));
      for (int lane = 0; lane < 4; ++lane) bits[4 * j + lane] = block.v[lane];
    }
    const int64_t base = start * 4;
    const int64_t elements = std::min<int64_t>(4 * kLanes, n - base);
    float* o = out + base;
    const float* x = in + base;
#pragma omp simd
    for (int64_t e = 0; e < elements; ++e) {
      const float value = uniform_from_bits(bits[e]) >= p ? x[e] * scale : 0.0f;
      if (kAccumulate) {
        o[e] += value;
      } else {
        o[e] = value;
      }
    }
  }
}
SAV_CPU_DISPATCH(dropout_blocks_write, dropout_blocks<false>)
SAV_CPU_DISPATCH(dropout_blocks_accumulate, dropout_blocks<true>)

// The same for a slice that starts within a Philox block: element by element.
template <bool kAccumulate>
void apply_dropout_unaligned(float* out, const float* in, int64_t n, float p, uint64_t seed,
                             uint64_t stream, uint64_t first) {
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t e = first + static_cast<uint64_t>(i);
    const uint32_t bits = random_block(seed, stream, e / 4).v[e % 4];
    const float value = uniform_from_bits(bits) >= p ? in[i] * scale : 0.0f;
    if (kAccumulate) {
      out[i] += value;
    } else {
      out[i] = value;
    }
  }
}

template <bool kAccumulate>
void apply_dropout(float* out, const float* in, int64_t n, float p, uint64_t seed, uint64_t stream,
                   uint64_t offset) {
  if (offset % 4 != 0) {
    apply_dropout_unaligned<kAccumulate>(out, in, n, p, seed, stream, offset);
    return;
  }
  const int64_t blocks = (n + 3) / 4;
  constexpr int64_t kChunk = 1024;  // blocks a task: 4,096 elements
  const int64_t chunks = (blocks + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t first = c * kChunk;
    const int64_t count = std::min(kChunk, blocks - first);
    if constexpr (kAccumulate) {
      dropout_blocks_accumulate(out, in, n, first, count, p, seed, stream, offset / 4);
    } else {
      dropout_blocks_write(out, in, n, first, count, p, seed, stream, offset / 4);
    }
  }
}

}  // namespace

void CpuBackend::dropout_forward(float* y, const float* x, int64_t n, float p, uint64_t seed,
                                 uint64_t stream, const uint64_t* stream_offset, uint64_t first) {
  apply_dropout<false>(y, x, n, p, seed, with_offset(stream, stream_offset), first);
}

void CpuBackend::dropout_backward(float* dx, const float* dy, int64_t n, float p, uint64_t seed,
                                  uint64_t stream, const uint64_t* stream_offset, uint64_t first,
                                  Write write) {
  zero_for(write, dx, n);
  apply_dropout<true>(dx, dy, n, p, seed, with_offset(stream, stream_offset), first);
}

namespace {

// out (+)= in * keep(row) / (1 - p), a whole row at a time (Backend::drop_path_forward).
template <bool kAccumulate>
void apply_drop_path(float* out, const float* in, int64_t rows, int64_t cols, float p,
                     uint64_t seed, uint64_t stream, uint64_t first_row) {
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t e = first_row + static_cast<uint64_t>(r);
    const bool keep = uniform_from_bits(random_block(seed, stream, e / 4).v[e % 4]) >= p;
    float* o = out + r * cols;
    const float* x = in + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float value = keep ? x[c] * scale : 0.0f;
      if (kAccumulate) {
        o[c] += value;
      } else {
        o[c] = value;
      }
    }
  }
}

}  // namespace

void CpuBackend::drop_path_forward(float* y, const float* x, int64_t rows, int64_t cols, float p,
                                   uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                                   uint64_t first_row) {
  apply_drop_path<false>(y, x, rows, cols, p, seed, with_offset(stream, stream_offset), first_row);
}

void CpuBackend::drop_path_backward(float* dx, const float* dy, int64_t rows, int64_t cols, float p,
                                    uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                                    uint64_t first_row, Write write) {
  zero_for(write, dx, rows * cols);
  apply_drop_path<true>(dx, dy, rows, cols, p, seed, with_offset(stream, stream_offset), first_row);
}

void CpuBackend::branch_masks_forward(float* y, const float* x, const float* in, int64_t rows,
                                      int64_t cols, const BranchMasks& m) {
  const int64_t n = rows * cols;
  const uint64_t path_stream = with_offset(m.path_stream, m.stream_offset);
  const float* masked = in;
  if (m.p > 0) {
    apply_dropout<false>(y, in, n, m.p, m.seed, with_offset(m.stream, m.stream_offset),
                         m.first_row * static_cast<uint64_t>(cols));
    masked = y;
  }
  if (m.path_p > 0) {
    apply_drop_path<false>(y, masked, rows, cols, m.path_p, m.seed, path_stream, m.first_row);
    masked = y;
  }
  add(y, x, masked, n, n);
}

void CpuBackend::branch_masks_backward(float* dx, const float* dy, int64_t rows, int64_t cols,
                                       const BranchMasks& m, Write write) {
  const int64_t n = rows * cols;
  const uint64_t stream = with_offset(m.stream, m.stream_offset);
  const uint64_t path_stream = with_offset(m.path_stream, m.stream_offset);
  const uint64_t first = m.first_row * static_cast<uint64_t>(cols);
  if (m.p > 0 && m.path_p > 0) {
    // Drop path's gradient first, as the separate passes take it, then dropout's.
    std::vector<float> through_path(static_cast<size_t>(n));
    apply_drop_path<false>(through_path.data(), dy, rows, cols, m.path_p, m.seed, path_stream,
                           m.first_row);
    zero_for(write, dx, n);
    apply_dropout<true>(dx, through_path.data(), n, m.p, m.seed, stream, first);
  } else if (m.p > 0) {
    zero_for(write, dx, n);
    apply_dropout<true>(dx, dy, n, m.p, m.seed, stream, first);
  } else if (m.path_p > 0) {
    zero_for(write, dx, n);
    apply_drop_path<true>(dx, dy, rows, cols, m.path_p, m.seed, path_stream, m.first_row);
  } else if (write == Write::kOverwrite) {
    std::copy(dy, dy + n, dx);
  } else {
    accumulate(dx, dy, n);
  }
}

void CpuBackend::adam_update(const AdamTensor* tensors, int count, float lr, float beta1,
                             float beta2, float eps, float weight_decay, int64_t step,
                             float grad_scale, const float* control, const float* values) {
  if (control != nullptr && control[kGo] == 0.0f) return;
  if (control != nullptr) grad_scale *= control[kGradFactor];
  AdamScales scales = adam_scales(lr, beta1, beta2, weight_decay, step);
  if (values != nullptr) {
    lr = values[kAdamLr];
    scales = {values[kAdamM], values[kAdamV], weight_decay > 0 ? values[kAdamDecay] : 1.0f};
  }
  const float m_scale = scales.m, v_scale = scales.v, decay = scales.decay;
  for (int k = 0; k < count; ++k) {
    const AdamTensor& a = tensors[k];
#pragma omp parallel for if (a.n > kParallelGrain)
    for (int64_t i = 0; i < a.n; ++i) {
      const float g = a.grad[i] * grad_scale;
      a.m[i] = beta1 * a.m[i] + (1.0f - beta1) * g;
      a.v[i] = beta2 * a.v[i] + (1.0f - beta2) * g * g;
      a.param[i] =
          a.param[i] * decay - lr * (a.m[i] * m_scale) / (std::sqrt(a.v[i] * v_scale) + eps);
    }
  }
}

void CpuBackend::clip_factor(float* control, const FloatSpan* spans, int count, float bound) {
  double squares = 0.0;  // span by span, value by value: the order is fixed by the spans
  for (int k = 0; k < count; ++k) {
    const float* x = spans[k].data;
    double span_squares = 0.0;
#pragma omp parallel for reduction(+ : span_squares) if (spans[k].n > kParallelGrain)
    for (int64_t i = 0; i < spans[k].n; ++i) span_squares += double{x[i]} * x[i];
    squares += span_squares;
  }
  const auto norm = static_cast<float>(std::sqrt(squares));
  control[kGradNorm] = norm;
  control[kGradFactor] = norm > bound ? bound / norm : 1.0f;
}

void CpuBackend::record_step(float* records, float* control, const float* loss, const float* logits,
                             const float* labels, int64_t batch, int64_t classes) {
  int64_t correct = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const float* row = logits + i * classes;
    correct += std::max_element(row, row + classes) - row == static_cast<int64_t>(labels[i]);
  }
  float* record = records + 1 + 3 * static_cast<int64_t>(records[0]);
  record[0] = loss[0];
  record[1] = static_cast<float>(correct);
  record[2] = static_cast<float>(batch);
  records[0] += 1.0f;
  if (!std::isfinite(loss[0])) control[kGo] = 0.0f;
}

}  // namespace sav
