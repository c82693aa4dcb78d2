// The CUDA emulator's graphs: stream capture records work with its arguments as they were
// given, runs none of it, and refuses what CUDA refuses in a capture; a replay runs the work
// again, its allocations at their addresses and fresh; cuBLAS needs a workspace to be captured.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "emulator.h"

namespace {

// out[i] = value + i, for i < n.
__global__ void ramp_kernel(float* out, int n, float value) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) out[i] = value + static_cast<float>(i);
}

// out[i] += in[i], for i < n.
__global__ void add_kernel(float* out, const float* in, int n) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) out[i] += in[i];
}

class CudaEmulatorGraphs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), cudaSuccess);
  }
  void TearDown() override {
    cudaStreamDestroy(stream_);
    cuda_emulator::reset_errors();
  }

  float* device_floats(const std::vector<float>& values) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, values.size() * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
    return static_cast<float*>(p);
  }
  static std::vector<float> host_floats(const float* p, size_t n) {
    std::vector<float> values(n);
    EXPECT_EQ(cudaMemcpy(values.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    return values;
  }
  // Ends the capture, expecting `error`; returns the graph (null on an error).
  cudaGraph_t end(cudaError_t error = cudaSuccess) {
    cudaGraph_t graph = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(stream_, &graph), error);
    cudaGetLastError();
    return graph;
  }

  cudaStream_t stream_ = nullptr;
};

std::map<std::string, long long> replayed_nodes() {
  std::map<std::string, long long> table;
  const int n = sav_cuda_emulator_counts(2, nullptr, nullptr, 0);
  std::vector<const char*> names(n);
  std::vector<long long> counts(n);
  sav_cuda_emulator_counts(2, names.data(), counts.data(), n);
  for (int i = 0; i < n; ++i) table[names[i]] = counts[i];
  return table;
}

TEST_F(CudaEmulatorGraphs, ACaptureRecordsWithTheArgumentsGivenAndRunsNothing) {
  float* out = device_floats({0, 0, 0, 0});
  float* in = device_floats({1, 1, 1, 1});
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  EXPECT_EQ(cudaStreamIsCapturing(stream_, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusActive);
  {
    float value = 10.0f;  // changed after the launch: the graph keeps 10
    cuda_emulator::launch_kernel("ramp_kernel", ramp_kernel, dim3(1), dim3(4), stream_, out, 4,
                                 value);
    value = 99.0f;
  }
  cuda_emulator::launch_kernel("add_kernel", add_kernel, dim3(1), dim3(4), stream_, out,
                               static_cast<const float*>(in), 4);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  cudaGraph_t graph = end();
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(host_floats(out, 4), (std::vector<float>{0, 0, 0, 0}));  // nothing ran

  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(graph), cudaSuccess);  // the executable graph keeps the work
  sav_cuda_emulator_reset_counts();
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  EXPECT_EQ(host_floats(out, 4), (std::vector<float>{11, 12, 13, 14}));
  // A replay reads memory as it is then.
  ASSERT_EQ(cudaMemcpy(in, std::vector<float>{2, 2, 2, 2}.data(), 4 * sizeof(float),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  EXPECT_EQ(host_floats(out, 4), (std::vector<float>{12, 13, 14, 15}));
  EXPECT_EQ(replayed_nodes(),
            (std::map<std::string, long long>{{"add_kernel", 2}, {"ramp_kernel", 2}}));
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphLaunch(exec, stream_), cudaErrorInvalidValue);  // destroyed
  cudaFree(out);
  cudaFree(in);
}

TEST_F(CudaEmulatorGraphs, AWaitInACaptureIsRefusedAndInvalidatesIt) {
  float* out = device_floats({0, 0});
  std::vector<float> pageable(2);
  void* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 2 * sizeof(float)), cudaSuccess);
  const auto refused = [&](const char* what, const auto& call) {
    ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal), cudaSuccess) << what;
    EXPECT_EQ(call(), cudaErrorStreamCaptureUnsupported) << what;
    EXPECT_NE(std::string(cudaGetErrorString(cudaErrorStreamCaptureUnsupported))
                  .find("while a stream is being captured"),
              std::string::npos)
        << what;
    // Later work on the stream fails too, naming what invalidated the capture.
    cuda_emulator::launch_kernel("ramp_kernel", ramp_kernel, dim3(1), dim3(2), stream_, out, 2,
                                 1.0f);
    EXPECT_EQ(cudaGetLastError(), cudaErrorStreamCaptureInvalidated) << what;
    EXPECT_EQ(end(cudaErrorStreamCaptureInvalidated), nullptr) << what;
  };
  refused("synchronize", [&] { return cudaStreamSynchronize(stream_); });
  refused("device synchronize", [] { return cudaDeviceSynchronize(); });
  refused("blocking copy", [&] {
    return cudaMemcpy(pageable.data(), out, 2 * sizeof(float), cudaMemcpyDeviceToHost);
  });
  refused("pageable copy", [&] {
    return cudaMemcpyAsync(out, pageable.data(), 2 * sizeof(float), cudaMemcpyHostToDevice,
                           stream_);
  });
  refused("cudaMalloc", [] {
    void* p = nullptr;
    return cudaMalloc(&p, 16);
  });
  // A copy from page-locked memory is recorded: it reads the host memory at each replay.
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(out, pinned, 2 * sizeof(float), cudaMemcpyHostToDevice, stream_),
            cudaSuccess);
  cudaGraph_t graph = end();
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  static_cast<float*>(pinned)[0] = 5;
  static_cast<float*>(pinned)[1] = 6;
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  EXPECT_EQ(host_floats(out, 2), (std::vector<float>{5, 6}));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaFreeHost(pinned);
  cudaFree(out);
}

TEST_F(CudaEmulatorGraphs, AllocationsInACaptureAreTheGraphsAndFreshAtEachReplay) {
  float* out = device_floats({0, 0, 0});
  float* outside = device_floats({0});
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  void* scratch = nullptr;
  ASSERT_EQ(cudaMallocAsync(&scratch, 3 * sizeof(float), stream_), cudaSuccess);
  // Adds the scratch memory to out without writing it first: fresh memory reads as NaN.
  cuda_emulator::launch_kernel("add_kernel", add_kernel, dim3(1), dim3(3), stream_, out,
                               static_cast<const float*>(scratch), 3);
  ASSERT_EQ(cudaFreeAsync(scratch, stream_), cudaSuccess);
  cudaGraph_t graph = end();
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  for (float v : host_floats(out, 3)) EXPECT_TRUE(std::isnan(v));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  // The graph may free only what it allocated, and must free all of it.
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaFreeAsync(outside, stream_), cudaErrorInvalidValue);
  end(cudaErrorStreamCaptureInvalidated);
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(cudaMallocAsync(&scratch, 16, stream_), cudaSuccess);
  EXPECT_EQ(end(cudaErrorInvalidValue), nullptr);
  EXPECT_EQ(host_floats(outside, 1), (std::vector<float>{0}));  // still allocated
  cudaFree(outside);
  cudaFree(out);
}

TEST_F(CudaEmulatorGraphs, CublasIsCapturedOnlyWithAWorkspace) {
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasSetStream(handle, stream_), CUBLAS_STATUS_SUCCESS);
  float* a = device_floats({1, 2, 3, 4});  // 2 x 2, column-major
  float* c = device_floats({0, 0, 0, 0});
  float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a, 2, a, 2, &beta, c, 2),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_NE(std::string(cublasGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED)).find("workspace"),
            std::string::npos);
  end();
  void* workspace = nullptr;
  ASSERT_EQ(cudaMalloc(&workspace, 1 << 20), cudaSuccess);
  ASSERT_EQ(cublasSetWorkspace(handle, workspace, 1 << 20), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a, 2, a, 2, &beta, c, 2),
            CUBLAS_STATUS_SUCCESS);
  alpha = 2.0f;  // read at the call: the graph keeps 1
  cudaGraph_t graph = end();
  EXPECT_EQ(host_floats(c, 4), (std::vector<float>{0, 0, 0, 0}));
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  EXPECT_EQ(host_floats(c, 4), (std::vector<float>{7, 10, 15, 22}));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cublasDestroy(handle);
  cudaFree(workspace);
  cudaFree(a);
  cudaFree(c);
}

}  // namespace
