// The CUDA emulator's cuBLAS: column-major single-precision products, argument checks as cuBLAS
// documents them, every matrix checked to lie inside one device allocation.
#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>

#include "cublas_v2.h"
#include "emulator.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;
};

namespace {

std::set<const cublasContext*>& handles() {
  static auto* live = new std::set<const cublasContext*>;
  return *live;
}

bool live(cublasHandle_t handle) { return handles().count(handle) != 0; }

// Round to nearest (ties away from zero) at 10 mantissa bits: a TF32 tensor-core input.
float to_tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Element (row, col) of op(M), M column-major with leading dimension ld.
float at(const float* m, int ld, cublasOperation_t op, int row, int col) {
  return op == CUBLAS_OP_N ? m[row + static_cast<int64_t>(col) * ld]
                           : m[col + static_cast<int64_t>(row) * ld];
}

// The product's arguments: what cuBLAS refuses, and matrices outside device memory. Returns
// an empty string when all is well.
std::string problem(cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                    const float* a, int lda, long long stride_a, const float* b, int ldb,
                    long long stride_b, const float* c, int ldc, long long stride_c, int batch) {
  std::ostringstream why;
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (transa == CUBLAS_OP_C || transb == CUBLAS_OP_C) {
    why << "conjugate transposes are not emulated";
  } else if (m < 0 || n < 0 || k < 0 || batch < 0) {
    why << "negative size: m " << m << ", n " << n << ", k " << k << ", batch " << batch;
  } else if (lda < std::max(1, a_rows)) {
    why << "lda " << lda << " < " << std::max(1, a_rows) << " (the rows of A as stored)";
  } else if (ldb < std::max(1, b_rows)) {
    why << "ldb " << ldb << " < " << std::max(1, b_rows) << " (the rows of B as stored)";
  } else if (ldc < std::max(1, m)) {
    why << "ldc " << ldc << " < " << std::max(1, m) << " (the rows of C)";
  }
  if (!why.str().empty() || m == 0 || n == 0 || batch == 0) return why.str();
  struct Operand {
    const char* name;
    const float* data;
    int ld, rows, cols;
    long long stride;
  };
  for (const Operand& o :
       {Operand{"A", a, lda, a_rows, a_cols, stride_a},
        Operand{"B", b, ldb, b_rows, b_cols, stride_b}, Operand{"C", c, ldc, m, n, stride_c}}) {
    if (o.rows == 0 || o.cols == 0) continue;
    // The last element of the last matrix, counted from the first.
    const long long last = static_cast<long long>(o.cols - 1) * o.ld + (o.rows - 1) +
                           static_cast<long long>(batch - 1) * o.stride;
    std::string where;
    if (o.stride < 0 || !cuda_emulator::inside_allocation(
                            o.data, static_cast<size_t>(last + 1) * sizeof(float), &where)) {
      why << o.name << " (" << o.rows << " x " << o.cols << ", ld " << o.ld << ", " << batch
          << " at stride " << o.stride << "): " << (o.stride < 0 ? "negative stride" : where);
      return why.str();
    }
  }
  return "";
}

// The products themselves, column-major: C_p = al op(A_p) op(B_p) + be C_p for p < batch.
void multiply(bool tf32, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
              float al, const float* a, int lda, long long stride_a, const float* b, int ldb,
              long long stride_b, float be, float* c, int ldc, long long stride_c, int batch) {
  for (int p = 0; p < batch; ++p) {
    const float* ap = a + p * stride_a;
    const float* bp = b + p * stride_b;
    float* cp = c + p * stride_c;
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) {
        float sum = 0.0f;
        for (int q = 0; q < k; ++q) {
          float x = at(ap, lda, transa, i, q), y = at(bp, ldb, transb, q, j);
          if (tf32) {
            x = to_tf32(x);
            y = to_tf32(y);
          }
          sum += x * y;
        }
        float& out = cp[i + static_cast<int64_t>(j) * ldc];
        out = be == 0.0f ? al * sum : al * sum + be * out;  // beta 0: C is not read
      }
    }
  }
}

// Whether a product on the handle's stream may run or be recorded: a capture needs a workspace
// set before it (the product would allocate one inside the capture). Records the refusal.
bool capturable(cublasHandle_t handle, const char* call) {
  if (!cuda_emulator::capturing(handle->stream) || handle->workspace != nullptr) return true;
  cuda_emulator::record(cudaErrorStreamCaptureUnsupported,
                        std::string(call) +
                            " on a captured stream: set a workspace (cublasSetWorkspace) before "
                            "the capture, or cuBLAS allocates one inside it");
  return false;
}

cublasStatus_t gemm(const char* call, cublasHandle_t handle, cublasOperation_t transa,
                    cublasOperation_t transb, int m, int n, int k, const float* alpha,
                    const float* a, int lda, long long stride_a, const float* b, int ldb,
                    long long stride_b, const float* beta, float* c, int ldc, long long stride_c,
                    int batch) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (cuda_emulator::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  const std::string why =
      problem(transa, transb, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, batch);
  if (!why.empty()) {
    cuda_emulator::record(cudaErrorInvalidValue, std::string(call) + ": " + why);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (!capturable(handle, call)) return CUBLAS_STATUS_NOT_SUPPORTED;
  const bool tf32 = handle->math == CUBLAS_TF32_TENSOR_OP_MATH;
  const float al = *alpha, be = *beta;
  const cudaError_t status = cuda_emulator::enqueue(handle->stream, call, true, [=] {
    multiply(tf32, transa, transb, m, n, k, al, a, lda, stride_a, b, ldb, stride_b, be, c, ldc,
             stride_c, batch);
    return cuda_emulator::check_guards(call) ? cudaSuccess : cuda_emulator::sticky_error();
  });
  return status == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  *handle = new cublasContext;
  handles().insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (handles().erase(handle) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (cuda_emulator::check_stream(stream, "cublasSetStream") != cudaSuccess) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH &&
      mode != CUBLAS_TF32_TENSOR_OP_MATH && mode != CUBLAS_TENSOR_OP_MATH) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  std::string why;
  if (workspace != nullptr && !cuda_emulator::inside_allocation(workspace, bytes, &why)) {
    cuda_emulator::record(cudaErrorInvalidValue, "cublasSetWorkspace: " + why);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->workspace = workspace;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  // The emulator's reason for the last refusal, where it gave one.
  if (status == CUBLAS_STATUS_INVALID_VALUE && cudaPeekAtLastError() == cudaErrorInvalidValue) {
    return cudaGetErrorString(cudaErrorInvalidValue);
  }
  if (status == CUBLAS_STATUS_NOT_SUPPORTED &&
      cudaPeekAtLastError() == cudaErrorStreamCaptureUnsupported) {
    return cudaGetErrorString(cudaErrorStreamCaptureUnsupported);
  }
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown error";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return gemm("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C,
              ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda,
                                         long long int strideA, const float* B, int ldb,
                                         long long int strideB, const float* beta, float* C,
                                         int ldc, long long int strideC, int batchCount) {
  return gemm("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, lda, strideA,
              B, ldb, strideB, beta, C, ldc, strideC, batchCount);
}

cublasStatus_t cublasSgemmBatched(cublasHandle_t handle, cublasOperation_t transa,
                                  cublasOperation_t transb, int m, int n, int k, const float* alpha,
                                  const float* const Aarray[], int lda, const float* const Barray[],
                                  int ldb, const float* beta, float* const Carray[], int ldc,
                                  int batchCount) {
  const char* call = "cublasSgemmBatched";
  std::lock_guard<std::recursive_mutex> lock(cuda_emulator::device_lock());
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (cuda_emulator::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  auto refuse = [&](const std::string& why) {
    cuda_emulator::record(cudaErrorInvalidValue, std::string(call) + ": " + why);
    return CUBLAS_STATUS_INVALID_VALUE;
  };
  // The sizes and leading dimensions first: with a batch of 0 (or a negative one, refused) no
  // matrix is looked at.
  std::string why = problem(transa, transb, m, n, k, nullptr, lda, 0, nullptr, ldb, 0, nullptr, ldc,
                            0, std::min(batchCount, 0));
  if (!why.empty()) return refuse(why);
  if (m > 0 && n > 0 && batchCount > 0) {
    // The pointer arrays are read on the device: they must be device memory.
    const size_t array_bytes = static_cast<size_t>(batchCount) * sizeof(float*);
    const struct {
      const char* name;
      const void* data;
    } arrays[] = {{"Aarray", Aarray}, {"Barray", Barray}, {"Carray", Carray}};
    for (const auto& array : arrays) {
      std::string where;
      if (!cuda_emulator::inside_allocation(array.data, array_bytes, &where)) {
        return refuse(std::string(array.name) + " (" + std::to_string(batchCount) +
                      " pointers): " + where);
      }
    }
  }
  if (!capturable(handle, call)) return CUBLAS_STATUS_NOT_SUPPORTED;
  const bool tf32 = handle->math == CUBLAS_TF32_TENSOR_OP_MATH;
  const float al = *alpha, be = *beta;
  // The arrays are read when the product runs, as on a GPU (a kernel queued before it may write
  // them): so are the matrices they point to checked.
  const cudaError_t status = cuda_emulator::enqueue(handle->stream, call, true, [=] {
    if (m == 0 || n == 0) return cudaSuccess;
    for (int p = 0; p < batchCount; ++p) {
      const std::string bad = problem(transa, transb, m, n, k, Aarray[p], lda, 0, Barray[p], ldb, 0,
                                      Carray[p], ldc, 0, 1);
      if (!bad.empty()) {
        return cuda_emulator::record(cudaErrorInvalidValue, std::string(call) + ": matrix " +
                                                                std::to_string(p) + ": " + bad);
      }
    }
    for (int p = 0; p < batchCount; ++p) {
      multiply(tf32, transa, transb, m, n, k, al, Aarray[p], lda, 0, Barray[p], ldb, 0, be,
               Carray[p], ldc, 0, 1);
    }
    return cuda_emulator::check_guards(call) ? cudaSuccess : cuda_emulator::sticky_error();
  });
  if (status == cudaErrorInvalidValue) return CUBLAS_STATUS_INVALID_VALUE;
  return status == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
