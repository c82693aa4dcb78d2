// The CUDA backend: cuBLAS for every matrix product, CUDA kernels for the rest, everything on
// one stream of one device. Tensors, gradients and optimizer state stay on the GPU; only what
// the caller uploads or downloads crosses the bus. Built only when CMake finds the CUDA toolkit.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "backends/backend.h"

namespace sav {

// Throws sav::Error naming the failed call, the file, the line and CUDA's message.
void cuda_check(cudaError_t status, const char* call, const char* file, int line);
void cublas_check(cublasStatus_t status, const char* call, const char* file, int line);
#define SAV_CUDA_CHECK(call) ::sav::cuda_check((call), #call, __FILE__, __LINE__)
#define SAV_CUBLAS_CHECK(call) ::sav::cublas_check((call), #call, __FILE__, __LINE__)

// Why CUDA device `index` cannot be used (the runtime's own error where it has one: no driver,
// a driver older than the runtime), or empty when it can.
std::string cuda_device_problem(int index);
bool cuda_device_usable(int index);

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device_index);
  ~CudaBackend() override;

  Device device() const override { return Device::cuda(device_index_); }
  std::string describe() const override;
  // The host threads matter little here; kept for the interface.
  void set_num_threads(int threads) override;
  int num_threads() const override { return 1; }
  void set_tf32(bool enabled) override;

  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) noexcept override;
  // The stream-ordered pool's figures; system_allocations is not counted on CUDA.
  MemoryStats memory_stats() const override;
  void release_cached_memory() override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void fill(float* dst, float value, int64_t n) override;
  void zero(const FloatSpan* spans, int count) override;
  void synchronize() override;
  void* allocate_host(size_t bytes) override;
  void deallocate_host(void* ptr) noexcept override;
  void upload_async(void* dst, const void* host_src, size_t bytes, Queue queue) override;
  void download_async(void* host_dst, const void* src, size_t bytes, Queue queue) override;
  void* create_event() override;
  void destroy_event(void* event) noexcept override;
  void record_event(void* event, Queue queue) override;
  void queue_wait(Queue queue, void* event) override;
  bool event_passed(void* event) override;
  void wait_event(void* event) override;
  void* native_stream() override { return stream_; }
  bool has_graphs() const override { return true; }
  bool begin_capture() override;
  void* end_capture() override;
  void abandon_capture() noexcept override;
  void replay(void* graph) override;
  void destroy_graph(void* graph) noexcept override;

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

  cudaStream_t stream() const { return stream_; }
  cudaStream_t stream_of(Queue queue) const {
    return queue == Queue::kCopy ? copy_stream_ : stream_;
  }

 private:
  // The column sums (sum_rows_accumulate, layernorm_backward's dw and db) split the rows into
  // chunks, a block per chunk and 32 columns; the last block of each 32 columns to finish, told
  // by a counter, adds the chunks' sums (cuda_elementwise.cu). How many chunks `rows` take:
  static unsigned int column_sum_chunks(int64_t rows);
  // At least `column_blocks` counters, all 0 between launches (the last block resets its own).
  unsigned int* column_sum_arrivals(int64_t column_blocks);

  int device_index_;
  cudaStream_t stream_ = nullptr;       // Queue::kCompute
  cudaStream_t copy_stream_ = nullptr;  // Queue::kCopy
  cudaMemPool_t pool_ = nullptr;        // the device's default pool, which cudaMallocAsync draws on
  cublasHandle_t blas_ = nullptr;
  // cuBLAS's workspace, set before the first capture: a product recorded into a graph must not
  // allocate its own.
  void* blas_workspace_ = nullptr;
  bool tf32_ = false;
  unsigned int* arrivals_ = nullptr;  // (arrival_count_): column_sum_arrivals' counters
  int64_t arrival_count_ = 0;
  // clip_factor's chunk tables (on the device, and the host copy each was made from) with their
  // partial sums, and its counter of finished blocks (0 between launches). A table is never
  // changed once made: a recorded graph may name it. Up to kClipTables are kept, one for each set
  // of gradient buffers clipped (a model's); beyond that the oldest goes.
  struct ClipTable {
    std::vector<char> host;  // the chunks as made on the host
    void* chunks = nullptr;  // the same on the device
    double* partial = nullptr;
  };
  static constexpr size_t kClipTables = 64;
  std::vector<ClipTable> clip_tables_;
  unsigned int* clip_arrivals_ = nullptr;
};

}  // namespace sav
