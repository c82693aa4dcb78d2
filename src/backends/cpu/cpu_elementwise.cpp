// CpuBackend: element-wise kernels (add, relu, dropout) and the reductions their gradients need.
#include <omp.h>

#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
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

void CpuBackend::relu_backward(float* dx, const float* x, const float* dy, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

namespace {

// out[i] (+)= in[i] * keep(i) / (1 - p), four elements per Philox block.
template <bool kAccumulate>
void apply_dropout(float* out, const float* in, int64_t n, float p, uint64_t seed,
                   uint64_t stream) {
  const float scale = 1.0f / (1.0f - p);
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t block = 0; block < blocks; ++block) {
    const PhiloxBlock bits = random_block(seed, stream, static_cast<uint64_t>(block));
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = block * 4 + lane;
      if (i >= n) break;
      const float value = uniform_from_bits(bits[lane]) >= p ? in[i] * scale : 0.0f;
      if (kAccumulate) {
        out[i] += value;
      } else {
        out[i] = value;
      }
    }
  }
}

}  // namespace

void CpuBackend::dropout_forward(float* y, const float* x, int64_t n, float p, uint64_t seed,
                                 uint64_t stream) {
  apply_dropout<false>(y, x, n, p, seed, stream);
}

void CpuBackend::dropout_backward(float* dx, const float* dy, int64_t n, float p, uint64_t seed,
                                  uint64_t stream) {
  apply_dropout<true>(dx, dy, n, p, seed, stream);
}

void CpuBackend::adam_update(float* param, const float* grad, float* m, float* v, int64_t n,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             int64_t step) {
  const double t = static_cast<double>(step);
  const float m_scale = static_cast<float>(1.0 / (1.0 - std::pow(double{beta1}, t)));
  const float v_scale = static_cast<float>(1.0 / (1.0 - std::pow(double{beta2}, t)));
  const float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    m[i] = beta1 * m[i] + (1.0f - beta1) * grad[i];
    v[i] = beta2 * v[i] + (1.0f - beta2) * grad[i] * grad[i];
    param[i] = param[i] * decay - lr * (m[i] * m_scale) / (std::sqrt(v[i] * v_scale) + eps);
  }
}

}  // namespace sav
