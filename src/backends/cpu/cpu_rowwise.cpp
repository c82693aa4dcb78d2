// CpuBackend: row-wise kernels (layernorm, softmax, cross-entropy), one row per iteration.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/simd.h"

namespace sav {
namespace {

// Rows are parallelised when there are enough of them to share.
constexpr int64_t kParallelRows = 16;

[[gnu::always_inline]] inline void layernorm_row_body(float* y, float* mean, float* rstd,
                                                      const float* x, const float* w,
                                                      const float* b, int64_t cols, float eps) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) sum += x[j];
  const float m = sum / static_cast<float>(cols);
  float squares = 0.0f;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < cols; ++j) squares += (x[j] - m) * (x[j] - m);
  const float s = 1.0f / std::sqrt(squares / static_cast<float>(cols) + eps);
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) y[j] = (x[j] - m) * s * w[j] + b[j];
  *mean = m;
  *rstd = s;
}
SAV_CPU_DISPATCH(layernorm_row, layernorm_row_body)

// One row of layernorm's backward; dw_sum and db_sum collect this thread's column sums.
[[gnu::always_inline]] inline void layernorm_backward_row_body(float* dx, float* dw_sum,
                                                               float* db_sum, const float* dy,
                                                               const float* x, const float* w,
                                                               float m, float s, int64_t cols) {
  float g_sum = 0.0f, gx_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gx_sum)
  for (int64_t j = 0; j < cols; ++j) {
    const float xhat = (x[j] - m) * s;
    const float g = dy[j] * w[j];
    g_sum += g;
    gx_sum += g * xhat;
    dw_sum[j] += dy[j] * xhat;
    db_sum[j] += dy[j];
  }
  if (dx == nullptr) return;
  const float g_mean = g_sum / static_cast<float>(cols);
  const float gx_mean = gx_sum / static_cast<float>(cols);
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) {
    const float xhat = (x[j] - m) * s;
    dx[j] += s * (dy[j] * w[j] - g_mean - xhat * gx_mean);
  }
}
SAV_CPU_DISPATCH(layernorm_backward_row, layernorm_backward_row_body)

[[gnu::always_inline]] inline void softmax_row_body(float* y, const float* x, int64_t cols) {
  float top = x[0];
#pragma omp simd reduction(max : top)
  for (int64_t j = 0; j < cols; ++j) top = x[j] > top ? x[j] : top;
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) y[j] = cpu::exp_approx(x[j] - top);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) sum += y[j];
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) y[j] *= inv;
}
SAV_CPU_DISPATCH(softmax_row, softmax_row_body)

[[gnu::always_inline]] inline void softmax_backward_row_body(float* dx, const float* y,
                                                             const float* dy, int64_t cols) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < cols; ++j) dot += dy[j] * y[j];
#pragma omp simd
  for (int64_t j = 0; j < cols; ++j) dx[j] = y[j] * (dy[j] - dot);
}
SAV_CPU_DISPATCH(softmax_backward_row, softmax_backward_row_body)

}  // namespace

void CpuBackend::layernorm_forward(float* y, float* mean, float* rstd, const float* x,
                                   const float* w, const float* b, int64_t rows, int64_t cols,
                                   float eps) {
#pragma omp parallel for if (rows > kParallelRows)
  for (int64_t r = 0; r < rows; ++r) {
    layernorm_row(y + r * cols, mean + r, rstd + r, x + r * cols, w, b, cols, eps);
  }
}

// With xhat = (x - mean) * rstd and g = dy * w:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dw = sum_rows dy * xhat,  db = sum_rows dy.
void CpuBackend::layernorm_backward(float* dx, float* dw, float* db, const float* dy,
                                    const float* x, const float* w, const float* mean,
                                    const float* rstd, int64_t rows, int64_t cols, Write write) {
  if (dx != nullptr && write == Write::kOverwrite) {
    std::memset(dx, 0, sizeof(float) * static_cast<size_t>(rows * cols));
  }
  const int threads = rows > kParallelRows ? omp_get_max_threads() : 1;
  std::vector<float> partial(static_cast<size_t>(threads) * 2 * cols, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* dw_mine = partial.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * cols;
    float* db_mine = dw_mine + cols;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      layernorm_backward_row(dx == nullptr ? nullptr : dx + r * cols, dw_mine, db_mine,
                             dy + r * cols, x + r * cols, w, mean[r], rstd[r], cols);
    }
  }
  for (int t = 0; t < threads; ++t) {
    const float* dw_t = partial.data() + static_cast<size_t>(t) * 2 * cols;
    for (int64_t j = 0; j < cols; ++j) {
      if (dw != nullptr) dw[j] += dw_t[j];
      if (db != nullptr) db[j] += dw_t[cols + j];
    }
  }
}

void CpuBackend::softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows > kParallelRows)
  for (int64_t r = 0; r < rows; ++r) softmax_row(y + r * cols, x + r * cols, cols);
}

void CpuBackend::softmax_backward(float* dx, const float* y, const float* dy, int64_t rows,
                                  int64_t cols) {
#pragma omp parallel for if (rows > kParallelRows)
  for (int64_t r = 0; r < rows; ++r) {
    softmax_backward_row(dx + r * cols, y + r * cols, dy + r * cols, cols);
  }
}

void CpuBackend::cross_entropy_forward(float* loss, float* probs, const float* logits,
                                       const float* targets, int64_t batch, int64_t classes) {
  std::vector<double> losses(batch);
#pragma omp parallel for if (batch > kParallelRows)
  for (int64_t i = 0; i < batch; ++i) {
    const float* zr = logits + i * classes;
    float* pr = probs + i * classes;
    const float top = *std::max_element(zr, zr + classes);
    float sum = 0.0f;
    for (int64_t j = 0; j < classes; ++j) {
      pr[j] = std::exp(zr[j] - top);
      sum += pr[j];
    }
    for (int64_t j = 0; j < classes; ++j) pr[j] /= sum;
    const float log_norm = std::log(sum) + top;
    const float* tr = targets + i * classes;
    double row = 0.0;  // a zero target adds nothing, so a one-hot row is -log p exactly
    for (int64_t j = 0; j < classes; ++j) {
      if (tr[j] != 0.0f) row += double{tr[j]} * (log_norm - zr[j]);
    }
    losses[i] = row;
  }
  double total = 0.0;  // summed in example order: the same result for any thread count
  for (double l : losses) total += l;
  loss[0] = static_cast<float>(total / static_cast<double>(batch));
}

void CpuBackend::cross_entropy_backward(float* dlogits, const float* probs, const float* targets,
                                        const float* dloss, int64_t batch, int64_t classes,
                                        Write write) {
  if (write == Write::kOverwrite) {
    std::memset(dlogits, 0, sizeof(float) * static_cast<size_t>(batch * classes));
  }
  const float scale = *dloss / static_cast<float>(batch);
#pragma omp parallel for if (batch > kParallelRows)
  for (int64_t i = 0; i < batch; ++i) {
    for (int64_t j = 0; j < classes; ++j) {
      dlogits[i * classes + j] += scale * (probs[i * classes + j] - targets[i * classes + j]);
    }
  }
}

}  // namespace sav
