// The CPU backend: OpenBLAS for every matrix product, OpenMP for the element-wise and row-wise
// kernels. It is the reference every other backend is checked against.
#pragma once

#include "backends/backend.h"
#include "backends/cpu/host_pool.h"

namespace sav {

class CpuBackend final : public Backend {
 public:
  CpuBackend();

  Device device() const override { return Device::cpu(); }
  std::string describe() const override;
  void set_num_threads(int threads) override;
  int num_threads() const override { return threads_; }
  void set_tf32(bool /*enabled*/) override {}

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  MemoryStats memory_stats() const override { return pool_.stats(); }
  void release_cached_memory() override { pool_.release(); }
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void fill(float* dst, float value, int64_t n) override;
  void zero(const FloatSpan* spans, int count) override;
  void synchronize() override {}

  void gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha, const float* a,
            int lda, const float* b, int ldb, float beta, float* c, int ldc) override;
  void gemm_strided_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, int64_t stride_a, const float* b, int ldb,
                            int64_t stride_b, float beta, float* c, int ldc, int64_t stride_c,
                            int batch) override;
  void gemm_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                    const MatrixBatchIn& a, const MatrixBatchIn& b, float beta,
                    const MatrixBatchOut& c, int outer, int inner) override;

  void add(float* y, const float* a, const float* b, int64_t n, int64_t b_n) override;
  void accumulate(float* y, const float* x, int64_t n) override;
  void scale(float* y, const float* x, float factor, int64_t n, Write write) override;
  void repeat_rows(float* y, const float* row, int64_t rows, int64_t cols) override;
  void sum_rows_accumulate(float* y, const float* x, int64_t rows, int64_t cols) override;
  void relu_forward(float* y, const float* x, int64_t n) override;
  void relu_backward(float* dx, const float* x, const float* dy, int64_t n, Write write) override;
  void gelu_forward(float* y, const float* x, int64_t n) override;
  void gelu_backward(float* dx, const float* x, const float* dy, int64_t n, Write write) override;
  void drop_path_forward(float* y, const float* x, int64_t rows, int64_t cols, float p,
                         uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                         uint64_t first_row) override;
  void drop_path_backward(float* dx, const float* dy, int64_t rows, int64_t cols, float p,
                          uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                          uint64_t first_row, Write write) override;
  void dropout_forward(float* y, const float* x, int64_t n, float p, uint64_t seed, uint64_t stream,
                       const uint64_t* stream_offset, uint64_t first) override;
  void dropout_backward(float* dx, const float* dy, int64_t n, float p, uint64_t seed,
                        uint64_t stream, const uint64_t* stream_offset, uint64_t first,
                        Write write) override;

  void branch_masks_forward(float* y, const float* x, const float* in, int64_t rows, int64_t cols,
                            const BranchMasks& masks) override;
  void branch_masks_backward(float* dx, const float* dy, int64_t rows, int64_t cols,
                             const BranchMasks& masks, Write write) override;
  void layernorm_forward(float* y, float* mean, float* rstd, const float* x, const float* w,
                         const float* b, int64_t rows, int64_t cols, float eps) override;
  void layernorm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, const float* mean, const float* rstd, int64_t rows,
                          int64_t cols, Write write) override;
  void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) override;
  void softmax_backward(float* dx, const float* y, const float* dy, int64_t rows,
                        int64_t cols) override;
  void cross_entropy_forward(float* loss, float* probs, const float* logits, const float* targets,
                             int64_t batch, int64_t classes) override;
  void cross_entropy_backward(float* dlogits, const float* probs, const float* targets,
                              const float* dloss, int64_t batch, int64_t classes,
                              Write write) override;

  void adam_update(const AdamTensor* tensors, int count, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int64_t step, float grad_scale,
                   const float* control, const float* values) override;
  void clip_factor(float* control, const FloatSpan* spans, int count, float bound) override;
  void record_step(float* records, float* control, const float* loss, const float* logits,
                   const float* labels, int64_t batch, int64_t classes) override;

  void copy_tokens(const TokenDst& dst, const TokenSrc& src, int64_t batch, int64_t count,
                   int64_t dim, Write write) override;

 private:
  // Freed blocks are kept for reuse up to 1.5 GiB: more than the seed model's whole training
  // step at batch 100 needs, so that the steady-state step takes nothing from the system.
  cpu::HostPool pool_{size_t{3} << 29};
  int threads_ = 1;
};

}  // namespace sav
