// CpuBackend: kernels that move values between layouts (attention heads, token ranges).
#include <cstring>

#include "backends/cpu/cpu_backend.h"

namespace sav {

void CpuBackend::split_heads(float* dst, const float* src, int64_t batch, int64_t n,
                             int64_t heads, int64_t head_dim) {
  // src (batch, n, heads * head_dim) -> dst (batch, heads, n, head_dim)
#pragma omp parallel for collapse(2) if (batch * heads > 4)
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t t = 0; t < n; ++t) {
        std::memcpy(dst + ((b * heads + h) * n + t) * head_dim,
                    src + (b * n + t) * heads * head_dim + h * head_dim, sizeof(float) * head_dim);
      }
    }
  }
}

void CpuBackend::merge_heads(float* dst, const float* src, int64_t batch, int64_t n,
                             int64_t heads, int64_t head_dim, bool accumulate) {
  // src (batch, heads, n, head_dim) -> dst (batch, n, heads * head_dim)
#pragma omp parallel for collapse(2) if (batch * n > 4)
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        float* out = dst + (b * n + t) * heads * head_dim + h * head_dim;
        const float* in = src + ((b * heads + h) * n + t) * head_dim;
        if (accumulate) {
          for (int64_t j = 0; j < head_dim; ++j) out[j] += in[j];
        } else {
          std::memcpy(out, in, sizeof(float) * head_dim);
        }
      }
    }
  }
}

void CpuBackend::copy_tokens(float* dst, int64_t dst_tokens, int64_t dst_start, bool dst_shared,
                             const float* src, int64_t src_tokens, int64_t src_start,
                             bool src_shared, int64_t batch, int64_t count, int64_t dim,
                             bool accumulate) {
  const int64_t width = count * dim;  // one batch item's range, contiguous in both tensors
  auto range = [&](int64_t b, float*& out, const float*& in) {
    out = dst + ((dst_shared ? 0 : b) * dst_tokens + dst_start) * dim;
    in = src + ((src_shared ? 0 : b) * src_tokens + src_start) * dim;
  };
  if (dst_shared) {  // a sum over the batch: sequential, in batch order
    for (int64_t b = 0; b < batch; ++b) {
      float* out;
      const float* in;
      range(b, out, in);
      for (int64_t j = 0; j < width; ++j) out[j] += in[j];
    }
    return;
  }
#pragma omp parallel for if (batch * width > (1 << 14))
  for (int64_t b = 0; b < batch; ++b) {
    float* out;
    const float* in;
    range(b, out, in);
    if (accumulate) {
      for (int64_t j = 0; j < width; ++j) out[j] += in[j];
    } else {
      std::memcpy(out, in, sizeof(float) * width);
    }
  }
}

}  // namespace sav
