// CpuBackend: the kernel that moves token ranges between tensors.
#include <cstring>

#include "backends/cpu/cpu_backend.h"

namespace sav {

void CpuBackend::copy_tokens(const TokenDst& dst, const TokenSrc& src, int64_t batch, int64_t count,
                             int64_t dim, Write write) {
  const int64_t width = count * dim;  // one batch item's range, contiguous in both tensors
  const bool dst_shared = dst.batch == TokenBatch::kShared;
  const bool src_shared = src.batch == TokenBatch::kShared;
  const bool accumulate = write == Write::kAccumulate;
  auto range = [&](int64_t b, float*& out, const float*& in) {
    out = dst.data + ((dst_shared ? 0 : b) * dst.tokens + dst.start) * dim;
    in = src.data + ((src_shared ? 0 : b) * src.tokens + src.start) * dim;
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
