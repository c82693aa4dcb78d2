// The CUDA emulator's own tests: that kernels run as CUDA defines them (every thread once, with
// its coordinates; barriers and shuffles that order and exchange, atomics), that the faults it
// exists to catch are caught and named, and that its cuBLAS computes column-major products.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "emulator.h"

namespace {

// ---- Kernels under test ----------------------------------------------------------------------

// out[global linear thread id] = that id + 1; every thread once.
__global__ void coordinates_kernel(int* out) {
  const unsigned int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned int threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * threads + thread] += static_cast<int>(block * threads + thread) + 1;
}

// Each thread writes its slot, then reads its neighbour's: right only if the barrier holds.
__global__ void rotate_kernel(int* out) {
  __shared__ int slots[256];
  slots[threadIdx.x] = static_cast<int>(threadIdx.x) * 3;
  __syncthreads();
  out[threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
}

// rotate_kernel without its barrier: each thread reads a slot its neighbour may not have
// written yet.
__global__ void racy_rotate_kernel(int* out) {
  __shared__ int slots[256];
  slots[threadIdx.x] = static_cast<int>(threadIdx.x) * 3;
  out[threadIdx.x] = slots[(threadIdx.x + 1) % blockDim.x];
}

// Block b adds b + 1 to a running total and records the total it saw: results that depend on
// the order of the blocks.
__global__ void block_order_kernel(int* total, int* seen) {
  *total += static_cast<int>(blockIdx.x) + 1;
  seen[blockIdx.x] = *total;
}

__global__ void shuffle_kernel(float* out, double* sums, int lane_mask) {
  const unsigned int lane = threadIdx.x % 32;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<float>(threadIdx.x), lane_mask);
  double sum = lane;
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  sums[threadIdx.x] = sum;
}

// Every thread takes a ticket from one counter, the even threads before a barrier and the odd
// ones after it, and takes threadIdx.x % 3 from a balance.
__global__ void ticket_kernel(unsigned int* counter, unsigned int* tickets, int* balance) {
  const unsigned int thread = blockIdx.x * blockDim.x + threadIdx.x;
  if (threadIdx.x % 2 == 0) tickets[thread] = atomicAdd(counter, 1u);
  __syncthreads();
  if (threadIdx.x % 2 == 1) tickets[thread] = atomicAdd(counter, 1u);
  __threadfence();
  atomicAdd(balance, -static_cast<int>(threadIdx.x % 3));
}

__global__ void half_warp_shuffle_kernel(float* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void early_return_barrier_kernel(float* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void fill_kernel(float* out, int64_t n, float value) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

// Off by one: writes element n as well.
__global__ void overrun_kernel(float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 0.0f;
}

// ---- Helpers -----------------------------------------------------------------------------------

template <typename T>
T* device_alloc(size_t count) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, count * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

template <typename T>
std::vector<T> download(const T* p, size_t count) {
  std::vector<T> host(count);
  EXPECT_EQ(cudaMemcpy(host.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

template <typename T>
T* upload(const std::vector<T>& host) {
  T* p = device_alloc<T>(host.size());
  EXPECT_EQ(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  return p;
}

class CudaEmulator : public ::testing::Test {
 protected:
  void TearDown() override { cuda_emulator::reset_errors(); }
};

// The error a launch left, and its message.
std::pair<cudaError_t, std::string> last_error() {
  const cudaError_t e = cudaGetLastError();
  return {e, cudaGetErrorString(e)};
}

// ---- Kernels run as CUDA defines them ----------------------------------------------------------

TEST_F(CudaEmulator, EveryThreadRunsOnceWithItsCoordinates) {
  const dim3 grid(3, 2, 2), block(4, 8, 2);
  const size_t total = 3 * 2 * 2 * 4 * 8 * 2;
  int* out = upload(std::vector<int>(total, 0));
  cuda_emulator::launch_kernel("coordinates_kernel", coordinates_kernel, grid, block, nullptr, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<int> got = download(out, total);
  for (size_t i = 0; i < total; ++i) ASSERT_EQ(got[i], static_cast<int>(i) + 1) << i;
  cudaFree(out);
}

TEST_F(CudaEmulator, SyncThreadsMakesEveryWriteVisible) {
  int* out = device_alloc<int>(256);
  cuda_emulator::launch_kernel("rotate_kernel", rotate_kernel, 1, 256, nullptr, out);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<int> got = download(out, 256);
  for (int t = 0; t < 256; ++t) EXPECT_EQ(got[t], (t + 1) % 256 * 3) << t;
  cudaFree(out);
}

// A missing barrier gives a wrong answer in index order or in reverse order: the suite runs the
// backend's tests in both.
TEST_F(CudaEmulator, AMissingBarrierShowsInOneOfTheTwoOrders) {
  int* out = device_alloc<int>(256);
  int wrong_orders = 0;
  for (const bool reversed : {false, true}) {
    cuda_emulator::set_reverse_order(reversed);
    cudaMemcpy(out, std::vector<int>(256, -1).data(), 256 * sizeof(int), cudaMemcpyHostToDevice);
    cuda_emulator::launch_kernel("racy_rotate_kernel", racy_rotate_kernel, 1, 256, nullptr, out);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    const std::vector<int> got = download(out, 256);
    bool right = true;
    for (int t = 0; t < 256; ++t) right = right && got[t] == (t + 1) % 256 * 3;
    wrong_orders += !right;
  }
  cuda_emulator::set_reverse_order(false);
  EXPECT_GE(wrong_orders, 1);
  cudaFree(out);
}

TEST_F(CudaEmulator, BlocksRunInEitherOrder) {
  int* total = device_alloc<int>(1);
  int* seen = device_alloc<int>(4);
  std::vector<std::vector<int>> results;
  for (const bool reversed : {false, true}) {
    cuda_emulator::set_reverse_order(reversed);
    cudaMemcpy(total, std::vector<int>{0}.data(), sizeof(int), cudaMemcpyHostToDevice);
    cuda_emulator::launch_kernel("block_order_kernel", block_order_kernel, 4, 1, nullptr, total,
                                 seen);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    results.push_back(download(seen, 4));
  }
  cuda_emulator::set_reverse_order(false);
  EXPECT_EQ(results[0], (std::vector<int>{1, 3, 6, 10}));
  EXPECT_EQ(results[1], (std::vector<int>{10, 9, 7, 4}));
  cudaFree(total);
  cudaFree(seen);
}

TEST_F(CudaEmulator, ShuffleXorExchangesAcrossTheWarp) {
  float* out = device_alloc<float>(64);
  double* sums = device_alloc<double>(64);
  cuda_emulator::launch_kernel("shuffle_kernel", shuffle_kernel, 1, 64, nullptr, out, sums, 5);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> got = download(out, 64);
  const std::vector<double> total = download(sums, 64);
  for (int t = 0; t < 64; ++t) {
    EXPECT_EQ(got[t], static_cast<float>(t ^ 5)) << t;  // stays within the thread's warp
    EXPECT_EQ(total[t], 31.0 * 32.0 / 2.0) << t;        // the butterfly gives every lane the sum
  }
  cudaFree(out);
  cudaFree(sums);
}

// atomicAdd returns the value before its addition: every thread of every block gets its own
// ticket, in either order of threads and blocks, and nothing is lost.
TEST_F(CudaEmulator, AtomicAddGivesEveryThreadItsOwnTicket) {
  const unsigned int blocks = 4, threads = 64;
  unsigned int* tickets = device_alloc<unsigned int>(blocks * threads);
  int expected_balance = 0;
  for (unsigned int t = 0; t < threads; ++t) expected_balance -= static_cast<int>(blocks * (t % 3));
  for (const bool reversed : {false, true}) {
    cuda_emulator::set_reverse_order(reversed);
    unsigned int* counter = upload(std::vector<unsigned int>{10});
    int* balance = upload(std::vector<int>{0});
    cuda_emulator::launch_kernel("ticket_kernel", ticket_kernel, blocks, threads, nullptr, counter,
                                 tickets, balance);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    std::vector<unsigned int> got = download(tickets, blocks * threads);
    std::sort(got.begin(), got.end());
    for (unsigned int i = 0; i < blocks * threads; ++i) ASSERT_EQ(got[i], 10 + i) << reversed;
    EXPECT_EQ(download(counter, 1)[0], 10 + blocks * threads);
    EXPECT_EQ(download(balance, 1)[0], expected_balance);
    cudaFree(counter);
    cudaFree(balance);
  }
  cuda_emulator::set_reverse_order(false);
  cudaFree(tickets);
}

TEST_F(CudaEmulator, FreshMemoryReadsAsNaN) {
  float* p = device_alloc<float>(10);
  for (float v : download(p, 10)) EXPECT_TRUE(std::isnan(v));
  cudaFree(p);
}

// ---- Faults are caught and named ---------------------------------------------------------------

TEST_F(CudaEmulator, AShuffleSomeLanesSkipIsAStickyFault) {
  float* out = device_alloc<float>(32);
  cuda_emulator::launch_kernel("half_warp_shuffle_kernel", half_warp_shuffle_kernel, 1, 32, nullptr,
                               out);
  const auto [error, message] = last_error();
  EXPECT_EQ(error, cudaErrorLaunchFailure);
  EXPECT_NE(message.find("half_warp_shuffle_kernel"), std::string::npos) << message;
  EXPECT_NE(message.find("lanes 16,17"), std::string::npos) << message;
  // Sticky, as a kernel fault is on a GPU: the next calls fail too.
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 4), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  cuda_emulator::reset_errors();
  cudaFree(out);
}

TEST_F(CudaEmulator, ABarrierAfterSomeThreadsReturnedIsAFault) {
  float* out = device_alloc<float>(64);
  cuda_emulator::launch_kernel("early_return_barrier_kernel", early_return_barrier_kernel, 1, 64,
                               nullptr, out);
  const auto [error, message] = last_error();
  EXPECT_EQ(error, cudaErrorLaunchFailure);
  EXPECT_NE(message.find("63 threads wait at __syncthreads() that 1 threads never reach"),
            std::string::npos)
      << message;
  cuda_emulator::reset_errors();
  cudaFree(out);
}

TEST_F(CudaEmulator, AHostPointerGivenToAKernelIsAFault) {
  std::vector<float> host(8);
  cuda_emulator::launch_kernel("fill_kernel", fill_kernel, 1, 8, nullptr, host.data(), int64_t{8},
                               1.0f);
  const auto [error, message] = last_error();
  EXPECT_EQ(error, cudaErrorIllegalAddress);
  EXPECT_NE(message.find("fill_kernel: argument 1"), std::string::npos) << message;
  EXPECT_NE(message.find("not device memory"), std::string::npos) << message;
  EXPECT_EQ(host, std::vector<float>(8, 0.0f));  // nothing ran
}

TEST_F(CudaEmulator, AWritePastTheEndIsCaughtAndBlamed) {
  float* p = device_alloc<float>(100);
  cuda_emulator::launch_kernel("overrun_kernel", overrun_kernel, 1, 128, nullptr, p, int64_t{100});
  const auto [error, message] = last_error();
  EXPECT_EQ(error, cudaErrorIllegalAddress);
  EXPECT_NE(message.find("overrun_kernel wrote outside an allocation of 400 bytes"),
            std::string::npos)
      << message;
  cuda_emulator::reset_errors();
  cudaFree(p);
  cuda_emulator::reset_errors();
}

TEST_F(CudaEmulator, ABadLaunchConfigurationIsRefusedAndNotSticky) {
  float* p = device_alloc<float>(4);
  cuda_emulator::launch_kernel("fill_kernel", fill_kernel, 1, 2048, nullptr, p, int64_t{4}, 1.0f);
  const auto [error, message] = last_error();
  EXPECT_EQ(error, cudaErrorInvalidConfiguration);
  EXPECT_NE(message.find("at most 1024 threads"), std::string::npos) << message;
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // cleared by reading it
  cuda_emulator::launch_kernel("fill_kernel", fill_kernel, 1, 4, nullptr, p, int64_t{4}, 2.0f);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(download(p, 4), std::vector<float>(4, 2.0f));
  cudaFree(p);
}

TEST_F(CudaEmulator, CopiesAreCheckedForDirectionAndExtent) {
  float* p = device_alloc<float>(4);
  std::vector<float> host(8, 1.0f);
  EXPECT_EQ(cudaMemcpy(p, host.data(), 8 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_NE(std::string(cudaGetErrorString(cudaErrorInvalidValue)).find("past the end"),
            std::string::npos);
  EXPECT_EQ(cudaMemcpy(host.data(), p, 4 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);  // backwards: the destination is the host's
  EXPECT_EQ(cudaMemcpy(p, host.data(), 4 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  cudaGetLastError();
  cudaFree(p);
}

TEST_F(CudaEmulator, RunningOutOfMemoryIsAnAllocationError) {
  size_t free = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // not sticky
}

TEST_F(CudaEmulator, FreeingWhatWasNotAllocatedIsAnError) {
  int local = 0;
  EXPECT_EQ(cudaFree(&local), cudaErrorInvalidValue);
  float* p = device_alloc<float>(4);
  EXPECT_EQ(cudaFree(p + 1), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  cudaGetLastError();
}

// The counts the suite reads through sav_cuda_emulator_counts: launches by kernel, and the calls
// that make the host wait: synchronisations, blocking copies, and asynchronous copies into
// pageable host memory (not into page-locked memory, whose copies do not wait).
TEST_F(CudaEmulator, CountsLaunchesAndTheCallsThatWait) {
  auto read = [](int kind) {
    std::map<std::string, long long> table;
    const int n = sav_cuda_emulator_counts(kind, nullptr, nullptr, 0);
    std::vector<const char*> names(n);
    std::vector<long long> counts(n);
    EXPECT_EQ(sav_cuda_emulator_counts(kind, names.data(), counts.data(), n), n);
    for (int i = 0; i < n; ++i) table[names[i]] = counts[i];
    return table;
  };
  int* out = upload(std::vector<int>(8, 0));
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  sav_cuda_emulator_reset_counts();
  for (int i = 0; i < 3; ++i) {
    cuda_emulator::launch_kernel("coordinates_kernel", coordinates_kernel, dim3(1), dim3(8), stream,
                                 out);
  }
  void* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 8 * sizeof(int)), cudaSuccess);
  std::vector<int> pageable(8);
  EXPECT_EQ(cudaMemcpyAsync(pinned, out, 8 * sizeof(int), cudaMemcpyDeviceToHost, stream),
            cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(out, pageable.data(), 8 * sizeof(int), cudaMemcpyHostToDevice, stream),
            cudaSuccess);
  EXPECT_EQ(static_cast<int*>(pinned)[5], 3 * 6);
  EXPECT_EQ(cudaMemcpyAsync(pageable.data(), out, 8 * sizeof(int), cudaMemcpyDeviceToHost, stream),
            cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(pageable.data(), out, 8 * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(read(0), (std::map<std::string, long long>{{"coordinates_kernel", 3}}));
  EXPECT_EQ(read(1),
            (std::map<std::string, long long>{{"cudaMemcpy", 1},
                                              {"cudaMemcpyAsync to pageable host memory", 1},
                                              {"cudaStreamSynchronize", 1}}));
  sav_cuda_emulator_reset_counts();
  EXPECT_TRUE(read(0).empty());
  EXPECT_EQ(cudaFreeHost(static_cast<int*>(pinned) + 1), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
  cudaGetLastError();
  cudaStreamDestroy(stream);
  cudaFree(out);
}

// ---- cuBLAS ------------------------------------------------------------------------------------

class CudaEmulatorBlas : public CudaEmulator {
 protected:
  void SetUp() override { ASSERT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS); }
  void TearDown() override {
    cublasDestroy(handle_);
    CudaEmulator::TearDown();
  }
  cublasHandle_t handle_ = nullptr;
};

// op(M)(r, c) of a column-major M.
double element(const std::vector<float>& m, int ld, bool transposed, int r, int c) {
  return transposed ? m[c + static_cast<size_t>(r) * ld] : m[r + static_cast<size_t>(c) * ld];
}

TEST_F(CudaEmulatorBlas, StridedBatchedProductsAreColumnMajor) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int m = 5, n = 7, k = 3, batch = 3;
      const int lda = (ta ? k : m) + 1, ldb = (tb ? n : k) + 2, ldc = m + 1;
      const int a_cols = ta ? m : k, b_cols = tb ? k : n;
      const long long sa = lda * a_cols, sb = ldb * b_cols, sc = ldc * n;
      std::vector<float> a(sa * batch), b(sb * batch), c(sc * batch);
      for (float& v : a) v = uniform(rng);
      for (float& v : b) v = uniform(rng);
      for (float& v : c) v = uniform(rng);
      float *da = upload(a), *db = upload(b), *dc = upload(c);
      const float alpha = 0.5f, beta = 2.0f;
      ASSERT_EQ(cublasSgemmStridedBatched(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, da, lda,
                                          sa, db, ldb, sb, &beta, dc, ldc, sc, batch),
                CUBLAS_STATUS_SUCCESS);
      const std::vector<float> got = download(dc, c.size());
      for (int p = 0; p < batch; ++p) {
        const std::vector<float> ap(a.begin() + p * sa, a.begin() + (p + 1) * sa);
        const std::vector<float> bp(b.begin() + p * sb, b.begin() + (p + 1) * sb);
        for (int j = 0; j < n; ++j) {
          for (int i = 0; i < m; ++i) {
            double want = 0;
            for (int q = 0; q < k; ++q) {
              want += element(ap, lda, ta, i, q) * element(bp, ldb, tb, q, j);
            }
            want = alpha * want + beta * c[p * sc + i + j * ldc];
            EXPECT_NEAR(got[p * sc + i + j * ldc], want, 1e-5) << ta << tb << p << i << j;
          }
        }
        // The padding row of C is left alone.
        for (int j = 0; j < n; ++j) EXPECT_EQ(got[p * sc + m + j * ldc], c[p * sc + m + j * ldc]);
      }
      cudaFree(da);
      cudaFree(db);
      cudaFree(dc);
    }
  }
}

// Three products whose matrices lie anywhere in one allocation, out of order, found through
// pointer arrays in device memory; C's padding row is left alone.
TEST_F(CudaEmulatorBlas, BatchedProductsFollowTheirPointerArrays) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int m = 4, n = 3, k = 5, batch = 3;
      const int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 1;
      const int a_size = lda * (ta ? m : k), b_size = ldb * (tb ? k : n), c_size = ldc * n;
      // Matrix p of each operand sits in slot 2 - p of its region, a gap of 3 after each.
      const int a_slot = a_size + 3, b_slot = b_size + 3, c_slot = c_size + 3;
      const int a_at = 0, b_at = batch * a_slot, c_at = b_at + batch * b_slot;
      std::vector<float> values(c_at + batch * c_slot);
      for (float& v : values) v = uniform(rng);
      float* pool = upload(values);
      std::vector<const float*> a_starts, b_starts;
      std::vector<float*> c_starts;
      auto offset = [](int region, int slot, int p) { return region + (2 - p) * slot; };
      for (int p = 0; p < batch; ++p) {
        a_starts.push_back(pool + offset(a_at, a_slot, p));
        b_starts.push_back(pool + offset(b_at, b_slot, p));
        c_starts.push_back(pool + offset(c_at, c_slot, p));
      }
      const float** a_array = upload(a_starts);
      const float** b_array = upload(b_starts);
      float** c_array = upload(c_starts);
      const float alpha = 0.5f, beta = 2.0f;
      ASSERT_EQ(cublasSgemmBatched(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, a_array, lda,
                                   b_array, ldb, &beta, c_array, ldc, batch),
                CUBLAS_STATUS_SUCCESS);
      const std::vector<float> got = download(pool, values.size());
      for (int p = 0; p < batch; ++p) {
        const int a0 = offset(a_at, a_slot, p), b0 = offset(b_at, b_slot, p),
                  c0 = offset(c_at, c_slot, p);
        const std::vector<float> ap(values.begin() + a0, values.begin() + a0 + a_size);
        const std::vector<float> bp(values.begin() + b0, values.begin() + b0 + b_size);
        for (int j = 0; j < n; ++j) {
          for (int i = 0; i < m; ++i) {
            double want = 0;
            for (int q = 0; q < k; ++q) {
              want += element(ap, lda, ta, i, q) * element(bp, ldb, tb, q, j);
            }
            want = alpha * want + beta * values[c0 + i + j * ldc];
            EXPECT_NEAR(got[c0 + i + j * ldc], want, 1e-5) << ta << tb << p << i << j;
          }
          EXPECT_EQ(got[c0 + m + j * ldc], values[c0 + m + j * ldc]) << ta << tb << p << j;
        }
      }
      // A and B, and the gaps, are as they were.
      EXPECT_TRUE(std::equal(got.begin(), got.begin() + c_at, values.begin()));
      cudaFree(pool);
      cudaFree(a_array);
      cudaFree(b_array);
      cudaFree(c_array);
    }
  }
}

// The pointer arrays are read on the device: an array in host memory is refused, and so is a
// matrix one of them points to that runs past its allocation's end.
TEST_F(CudaEmulatorBlas, BatchedProductsRefuseHostArraysAndMatricesOutside) {
  float* a = device_alloc<float>(32);
  float* b = device_alloc<float>(20);  // the second 4 x 4 matrix, at 16, is 12 short
  float* c = device_alloc<float>(32);
  const std::vector<const float*> a_host{a, a + 16}, b_host{b, b + 16};
  const std::vector<float*> c_host{c, c + 16};
  const float one = 1.0f;
  const float** a_array = upload(a_host);
  float** c_array = upload(c_host);
  EXPECT_EQ(cublasSgemmBatched(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a_array, 4,
                               b_host.data(), 4, &one, c_array, 4, 2),
            CUBLAS_STATUS_INVALID_VALUE);
  std::string message = cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(message.find("Barray (2 pointers)"), std::string::npos) << message;
  EXPECT_NE(message.find("is not device memory"), std::string::npos) << message;
  cudaGetLastError();
  const float** b_array = upload(b_host);
  EXPECT_EQ(cublasSgemmBatched(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a_array, 4,
                               b_array, 4, &one, c_array, 4, 2),
            CUBLAS_STATUS_INVALID_VALUE);
  message = cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(message.find("matrix 1: B (4 x 4, ld 4"), std::string::npos) << message;
  EXPECT_NE(message.find("past the end"), std::string::npos) << message;
  cudaGetLastError();
  for (void* p : std::initializer_list<void*>{a, b, c, a_array, b_array, c_array}) cudaFree(p);
}

TEST_F(CudaEmulatorBlas, BetaZeroNeverReadsC) {
  float *a = upload(std::vector<float>{2.0f}), *b = upload(std::vector<float>{3.0f});
  float* c = device_alloc<float>(1);  // NaN: never written
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(
      cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a, 1, b, 1, &beta, c, 1),
      CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(download(c, 1)[0], 6.0f);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

TEST_F(CudaEmulatorBlas, TooSmallALeadingDimensionIsRefused) {
  float* a = device_alloc<float>(64);
  const float one = 1.0f;
  EXPECT_EQ(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a, 3, a, 4, &one, a, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(std::string(cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE)).find("lda 3 < 4"),
            std::string::npos);
  cudaGetLastError();
  cudaFree(a);
}

TEST_F(CudaEmulatorBlas, AMatrixOutsideItsAllocationIsRefused) {
  float* a = device_alloc<float>(16);
  float* b = device_alloc<float>(15);  // one short of 4 x 4
  const float one = 1.0f;
  EXPECT_EQ(cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, a, 4, b, 4, &one, a, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  const std::string message = cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_NE(message.find("B (4 x 4, ld 4"), std::string::npos) << message;
  EXPECT_NE(message.find("past the end"), std::string::npos) << message;
  cudaGetLastError();
  cudaFree(a);
  cudaFree(b);
}

TEST_F(CudaEmulatorBlas, Tf32MathRoundsTheInputs) {
  const float x = 1.0f + 0x1.0p-12f;  // below TF32's 10 mantissa bits
  float *a = upload(std::vector<float>{x}), *b = upload(std::vector<float>{1.0f});
  float* c = device_alloc<float>(1);
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasSetMathMode(handle_, CUBLAS_PEDANTIC_MATH), CUBLAS_STATUS_SUCCESS);
  cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a, 1, b, 1, &beta, c, 1);
  EXPECT_EQ(download(c, 1)[0], x);
  ASSERT_EQ(cublasSetMathMode(handle_, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_SUCCESS);
  cublasSgemm(handle_, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &alpha, a, 1, b, 1, &beta, c, 1);
  EXPECT_EQ(download(c, 1)[0], 1.0f);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

}  // namespace
