// CudaBackend: errors, the device and its stream, memory, copies and the cuBLAS products.
#include <limits>
#include <sstream>

#include "backends/buffer.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/launch.h"
#include "sav/error.h"

namespace sav {

void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  fail(call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status), ": ",
       cudaGetErrorString(status));
}

void cublas_check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(call, " failed at ", file, ":", line, ": ", cublasGetStatusName(status), ": ",
       cublasGetStatusString(status));
}

std::string cuda_device_problem(int index) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the error: it is reported here, not by the next call
    return std::string("the CUDA runtime found no usable driver or GPU: ") +
           cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
  }
  if (index < 0 || index >= count) {
    std::ostringstream text;
    text << "this machine has " << count << " CUDA device" << (count == 1 ? "" : "s");
    if (count > 0) text << " (cuda:0 to cuda:" << count - 1 << ")";
    return text.str();
  }
  return {};
}

bool cuda_device_usable(int index) { return cuda_device_problem(index).empty(); }

CudaBackend::CudaBackend(int device_index) : device_index_(device_index) {
  if (const std::string problem = cuda_device_problem(device_index); !problem.empty()) {
    fail("device cuda:", device_index, " is not available: ", problem, " (use --device cpu)");
  }
  SAV_CUDA_CHECK(cudaSetDevice(device_index_));
  SAV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  SAV_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
  // The stream-ordered pool keeps what is freed for the next allocation: with its default
  // release threshold of 0 every synchronisation would hand all freed memory back to the driver,
  // and the next step would map it again. release_cached_memory trims it when asked.
  SAV_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device_index_));
  uint64_t keep_all = UINT64_MAX;
  SAV_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_all));
  SAV_CUBLAS_CHECK(cublasCreate(&blas_));
  SAV_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  set_tf32(false);
}

CudaBackend::~CudaBackend() {
  deallocate(arrivals_, arrival_count_ * sizeof(unsigned int));
  if (blas_workspace_ != nullptr) cudaFree(blas_workspace_);
  if (blas_ != nullptr) cublasDestroy(blas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  if (copy_stream_ != nullptr) cudaStreamDestroy(copy_stream_);
}

std::string CudaBackend::describe() const {
  cudaDeviceProp props{};
  SAV_CUDA_CHECK(cudaGetDeviceProperties(&props, device_index_));
  std::ostringstream text;
  text << "cuda:" << device_index_ << ": " << props.name << " (" << (props.totalGlobalMem >> 20)
       << " MiB), cuBLAS " << (tf32_ ? "with TF32 tensor-core products" : "in FP32");
  return text.str();
}

void CudaBackend::set_num_threads(int threads) {
  if (threads < 0) fail("cuda: thread count must be 0 or positive, got ", threads);
}

void CudaBackend::set_tf32(bool enabled) {
  // cuBLAS's default math is still FP32 in every multiply and add of cublasSgemm (TF32 only with
  // CUBLAS_TF32_TENSOR_OP_MATH); pedantic math only forbids faster FP32 algorithms.
  SAV_CUBLAS_CHECK(
      cublasSetMathMode(blas_, enabled ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  tf32_ = enabled;
}

void* CudaBackend::allocate(size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocAsync(&ptr, bytes == 0 ? 256 : bytes, stream_);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    fail("cuda:", device_index_, ": out of GPU memory allocating ", bytes, " bytes (", free >> 20,
         " MiB free of ", total >> 20, " MiB; try a smaller --batch-size)");
  }
  SAV_CUDA_CHECK(status);
  return ptr;
}

void CudaBackend::deallocate(void* ptr, size_t /*bytes*/) noexcept {
  if (ptr != nullptr) cudaFreeAsync(ptr, stream_);
}

MemoryStats CudaBackend::memory_stats() const {
  uint64_t used = 0, used_high = 0, reserved = 0;
  SAV_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &used));
  SAV_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &used_high));
  SAV_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved));
  MemoryStats stats;
  stats.live = used;
  stats.peak_live = used_high;
  stats.cached = reserved > used ? reserved - used : 0;
  return stats;  // the driver's pool does not say how often it mapped more memory
}

void CudaBackend::release_cached_memory() {
  SAV_CUDA_CHECK(cudaStreamSynchronize(stream_));  // blocks freed on the stream must be free
  SAV_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
}

void CudaBackend::upload(void* dst, const void* host_src, size_t bytes) {
  // Synchronous: the host buffer may be gone as soon as this returns.
  SAV_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  SAV_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::download(void* host_dst, const void* src, size_t bytes) {
  SAV_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  SAV_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  SAV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() { SAV_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void* CudaBackend::allocate_host(size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t status = cudaMallocHost(&ptr, bytes == 0 ? 1 : bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("cuda:", device_index_, ": cannot lock ", bytes, " bytes of host memory for uploads");
  }
  SAV_CUDA_CHECK(status);
  return ptr;
}

void CudaBackend::deallocate_host(void* ptr) noexcept {
  if (ptr != nullptr) cudaFreeHost(ptr);
}

void CudaBackend::upload_async(void* dst, const void* host_src, size_t bytes, Queue queue) {
  SAV_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_of(queue)));
}

void CudaBackend::download_async(void* host_dst, const void* src, size_t bytes, Queue queue) {
  SAV_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_of(queue)));
}

void* CudaBackend::create_event() {
  cudaEvent_t event = nullptr;
  SAV_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void CudaBackend::destroy_event(void* event) noexcept {
  if (event != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

void CudaBackend::record_event(void* event, Queue queue) {
  SAV_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), stream_of(queue)));
}

void CudaBackend::queue_wait(Queue queue, void* event) {
  SAV_CUDA_CHECK(cudaStreamWaitEvent(stream_of(queue), static_cast<cudaEvent_t>(event), 0));
}

bool CudaBackend::event_passed(void* event) {
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (status == cudaErrorNotReady) {
    cudaGetLastError();  // "not yet" is an answer, not an error for the next call to find
    return false;
  }
  SAV_CUDA_CHECK(status);
  return true;
}

void CudaBackend::wait_event(void* event) {
  SAV_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

// cuBLAS's recommended workspace on Hopper (smaller suffices elsewhere).
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;

bool CudaBackend::begin_capture() {
  if (blas_workspace_ == nullptr) {
    SAV_CUDA_CHECK(cudaMalloc(&blas_workspace_, kBlasWorkspaceBytes));
    SAV_CUBLAS_CHECK(cublasSetWorkspace(blas_, blas_workspace_, kBlasWorkspaceBytes));
  }
  // Thread-local: the loader's threads and anything else on the host may go on using CUDA.
  SAV_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  return true;
}

void* CudaBackend::end_capture() {
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
  if (ended != cudaSuccess) {
    const std::string why = std::string(cudaGetErrorName(ended)) + ": " + cudaGetErrorString(ended);
    cudaGetLastError();  // reported here, not by the next call
    fail("cuda:", device_index_, ": the work could not be recorded as a CUDA graph: ", why,
         " (--no-graphs runs it without graphs)");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  SAV_CUDA_CHECK(made);
  return exec;
}

void CudaBackend::abandon_capture() noexcept {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph != nullptr) {
    cudaGraphDestroy(graph);
  }
  cudaGetLastError();  // the error that ended the capture has been reported already
}

void CudaBackend::replay(void* graph) {
  SAV_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream_));
}

void CudaBackend::destroy_graph(void* graph) noexcept {
  if (graph != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

// cuBLAS is column-major. A row-major C (m x n) is the column-major C^T (n x m), and
// C^T = op(B)^T op(A)^T: so the row-major product is cuBLAS's with A and B swapped, m and n
// swapped, and the same transpose flags.
namespace {
cublasOperation_t to_cublas(Transpose t) {
  return t == Transpose::kYes ? CUBLAS_OP_T : CUBLAS_OP_N;
}

// Where matrix g = i * inner + j (of count) of each operand of gemm_batched starts: the pointer
// arrays cublasSgemmBatched reads, written on the device so that the host neither copies them
// nor waits. One thread per matrix.
__global__ void matrix_starts_kernel(const float** a_starts, const float** b_starts,
                                     float** c_starts, MatrixBatchIn a, MatrixBatchIn b,
                                     MatrixBatchOut c, int inner, int count) {
  const int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (g >= count) return;
  const int64_t i = g / inner, j = g % inner;
  a_starts[g] = a.data + i * a.outer_stride + j * a.inner_stride;
  b_starts[g] = b.data + i * b.outer_stride + j * b.inner_stride;
  c_starts[g] = c.data + i * c.outer_stride + j * c.inner_stride;
}
}  // namespace

void CudaBackend::gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta, float* c,
                       int ldc) {
  SAV_CUBLAS_CHECK(cublasSgemm(blas_, to_cublas(trans_b), to_cublas(trans_a), n, m, k, &alpha, b,
                               ldb, a, lda, &beta, c, ldc));
}

void CudaBackend::gemm_strided_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k,
                                       float alpha, const float* a, int lda, int64_t stride_a,
                                       const float* b, int ldb, int64_t stride_b, float beta,
                                       float* c, int ldc, int64_t stride_c, int batch) {
  SAV_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_, to_cublas(trans_b), to_cublas(trans_a), n, m, k,
                                             &alpha, b, ldb, stride_b, a, lda, stride_a, &beta, c,
                                             ldc, stride_c, batch));
}

void CudaBackend::gemm_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k,
                               float alpha, const MatrixBatchIn& a, const MatrixBatchIn& b,
                               float beta, const MatrixBatchOut& c, int outer, int inner) {
  const int64_t count = int64_t{outer} * inner;
  if (count <= 0) return;
  if (count > std::numeric_limits<int>::max()) {
    fail("cuda: gemm_batched of ", outer, " x ", inner, " products: cuBLAS takes at most ",
         std::numeric_limits<int>::max(), " in one call");
  }
  // The three pointer arrays, A's, B's and C's, in one allocation, freed in stream order once
  // the product has read them.
  const Buffer starts(*this, 3 * static_cast<size_t>(count) * sizeof(float*));
  auto** a_starts = reinterpret_cast<const float**>(starts.data());
  const float** b_starts = a_starts + count;
  auto** c_starts = reinterpret_cast<float**>(starts.data()) + 2 * count;
  constexpr int kThreads = 256;
  const auto blocks = static_cast<unsigned int>((count + kThreads - 1) / kThreads);
  SAV_LAUNCH(matrix_starts_kernel, blocks, kThreads, stream_, a_starts, b_starts, c_starts, a, b, c,
             inner, static_cast<int>(count));
  SAV_CUBLAS_CHECK(cublasSgemmBatched(blas_, to_cublas(trans_b), to_cublas(trans_a), n, m, k,
                                      &alpha, b_starts, b.ld, a_starts, a.ld, &beta, c_starts, c.ld,
                                      static_cast<int>(count)));
}

}  // namespace sav

// The module's entry points: the registry (src/backends/registry.cpp) loads this module only
// when a CUDA device is asked for, and finds these two by name.
extern "C" __attribute__((visibility("default"))) bool sav_cuda_device_usable(int index) {
  return sav::cuda_device_usable(index);
}

extern "C" __attribute__((visibility("default"))) sav::Backend* sav_cuda_create_backend(int index) {
  return new sav::CudaBackend(index);  // throws sav::Error when the device cannot be used
}
