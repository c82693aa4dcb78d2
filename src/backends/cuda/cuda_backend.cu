// CudaBackend: errors, the device and its stream, memory, copies and the cuBLAS products.
#include <sstream>

#include "backends/cuda/cuda_backend.h"
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

bool cuda_device_usable(int index) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return false;
  }
  return index >= 0 && index < count;
}

CudaBackend::CudaBackend(int device_index) : device_index_(device_index) {
  if (!cuda_device_usable(device_index)) {
    fail("device cuda:", device_index,
         " is not available: no such GPU, or no CUDA driver "
         "(use --device cpu)");
  }
  SAV_CUDA_CHECK(cudaSetDevice(device_index_));
  SAV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  SAV_CUBLAS_CHECK(cublasCreate(&blas_));
  SAV_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  set_tf32(false);
}

CudaBackend::~CudaBackend() {
  if (blas_ != nullptr) cublasDestroy(blas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
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
  SAV_CUBLAS_CHECK(
      cublasSetMathMode(blas_, enabled ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
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

// cuBLAS is column-major. A row-major C (m x n) is the column-major C^T (n x m), and
// C^T = op(B)^T op(A)^T: so the row-major product is cuBLAS's with A and B swapped, m and n
// swapped, and the same transpose flags.
namespace {
cublasOperation_t to_cublas(Transpose t) {
  return t == Transpose::kYes ? CUBLAS_OP_T : CUBLAS_OP_N;
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

}  // namespace sav

// The module's entry points: the registry (src/backends/registry.cpp) loads this module only
// when a CUDA device is asked for, and finds these two by name.
extern "C" __attribute__((visibility("default"))) bool sav_cuda_device_usable(int index) {
  return sav::cuda_device_usable(index);
}

extern "C" __attribute__((visibility("default"))) sav::Backend* sav_cuda_create_backend(int index) {
  return new sav::CudaBackend(index);  // throws sav::Error when the device cannot be used
}
