// The CUDA emulator's stand-in for <cuda_runtime.h>: the part of the CUDA runtime API and of the
// device language that sav's CUDA backend uses, implemented on the CPU.
//
// The backend's own sources (src/backends/cuda/*.cu) compile unchanged against this header with
// a plain C++ compiler, and their kernels run here thread by thread: every CUDA thread of a block
// is a fiber, __syncthreads() and the warp shuffles are real barriers between them, blocks run
// one after another. The point is to execute the backend's code where there is no GPU, and to
// catch what a GPU would only show as wrong numbers or a crash: a pointer handed to a kernel that
// is not device memory, a write past the end of an allocation, a copy in the wrong direction, a
// shuffle or barrier that not every thread reaches, a cuBLAS leading dimension too small, a read
// of memory nobody wrote (fresh allocations are filled with NaN). It says nothing about speed.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#define SAV_CUDA_EMULATOR 1

// ---- The device language --------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // blocks run one at a time: one static array serves each in turn

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
};

namespace cuda_emulator {
// The running thread's coordinates; the scheduler sets them before it resumes a thread. One
// kernel runs at a time in the process (the device lock), so one global serves.
struct Coordinates {
  uint3 thread{0, 0, 0};
  uint3 block{0, 0, 0};
  dim3 block_dim{1, 1, 1};
  dim3 grid_dim{1, 1, 1};
};
extern Coordinates coordinates;

void sync_threads();
uint64_t shuffle_xor(unsigned int mask, uint64_t bits, int lane_mask);

template <typename T>
T shuffle_xor_value(unsigned int mask, T value, int lane_mask) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable<T>::value,
                "the emulator shuffles values of up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle_xor(mask, bits, lane_mask);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}
}  // namespace cuda_emulator

#define threadIdx (::cuda_emulator::coordinates.thread)
#define blockIdx (::cuda_emulator::coordinates.block)
#define blockDim (::cuda_emulator::coordinates.block_dim)
#define gridDim (::cuda_emulator::coordinates.grid_dim)

inline void __syncthreads() { cuda_emulator::sync_threads(); }

template <typename T>
T __shfl_xor_sync(unsigned int mask, T value, int lane_mask, int width = 32) {
  (void)width;
  return cuda_emulator::shuffle_xor_value(mask, value, lane_mask);
}

// Round-to-nearest products, never contracted into an FMA (the emulator builds with
// -ffp-contract=off).
inline float __fmul_rn(float a, float b) { return a * b; }
// The device's math functions that CUDA declares in the global namespace.
using std::isfinite;
using std::sqrt;

// Atomics: *address += value, returning the old value. Blocks run one at a time and a thread
// gives way only at a barrier or a shuffle, so a plain read-modify-write is atomic here.
unsigned int atomicAdd(unsigned int* address, unsigned int value);
int atomicAdd(int* address, int value);
// Orders this thread's memory writes before its later ones as every thread sees them. With one
// thread running at a time, every write is seen in program order already: only the compiler
// must not move writes across it, which a call it cannot see into ensures.
void __threadfence();

// ---- The runtime API ------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureIsolation = 905,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct CUstream_st;
using cudaStream_t = CUstream_st*;
constexpr unsigned int cudaStreamDefault = 0x0;
constexpr unsigned int cudaStreamNonBlocking = 0x1;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
};

const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
// With SAV_CUDA_EMULATOR_DRIVER=old in the environment, fails as a runtime newer than its driver
// does (cudaErrorInsufficientDriver), for the tests of that message.
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int device);
cudaError_t cudaMemGetInfo(size_t* free, size_t* total);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream);
// The device's stream-ordered memory pool (cudaMallocAsync's). The emulator's hands every freed
// block straight back, so its reserved memory is what is live; it keeps the attributes it is given.
struct CUmemPoolHandle_st;
using cudaMemPool_t = CUmemPoolHandle_st*;
enum cudaMemPoolAttr {
  cudaMemPoolAttrReleaseThreshold = 4,
  cudaMemPoolAttrReservedMemCurrent = 5,
  cudaMemPoolAttrReservedMemHigh = 6,
  cudaMemPoolAttrUsedMemCurrent = 7,
  cudaMemPoolAttrUsedMemHigh = 8,
};
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t min_bytes_to_keep);

// Events. The emulator runs work when it is issued, so an event has always passed; it checks
// that events are live and counts cudaEventSynchronize as a wait.
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
constexpr unsigned int cudaEventDefault = 0x0;
constexpr unsigned int cudaEventDisableTiming = 0x2;
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);

// Graphs by stream capture. Between cudaStreamBeginCapture and cudaStreamEndCapture the work
// issued to the stream is recorded, not run: kernel launches with their arguments as they were
// given, cuBLAS products, copies, sets, and allocations (cudaMallocAsync: the graph owns the
// memory, fixed for its life; every replay makes it read as fresh memory, NaN, again). A call
// that would make the host wait, or allocate or free outside the stream's order, fails and
// invalidates the capture, as in CUDA's global mode. cudaGraphLaunch runs the recorded work in
// order and counts each node (sav_cuda_emulator_counts kind 2). The emulator is stricter than
// CUDA in two ways: a graph must free every allocation it makes, and a captured stream may not
// record or wait for events (sav's captured steps need neither).
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};
struct CUgraph_st;
using cudaGraph_t = CUgraph_st*;
struct CUgraphExec_st;
using cudaGraphExec_t = CUgraphExec_st*;
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

// Page-locked host memory: a copy into it from the device does not make the host wait.
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);

// What the emulator counted since the last reset, for the tests to read through the module that
// links it (dlsym): kind 0 the work queued on the device (kernel launches, cuBLAS calls, copies
// and sets within device memory, graph launches), kind 1 the calls that make the host wait for
// the device, kind 2 the nodes that replayed graphs ran. Writes
// up to `capacity` names and counts; returns how many there are.
extern "C" int sav_cuda_emulator_counts(int kind, const char** names, long long* counts,
                                        int capacity);
extern "C" void sav_cuda_emulator_reset_counts();

// ---- Launching --------------------------------------------------------------------------------
namespace cuda_emulator {
// Runs body once per thread of the grid (`kernel` identifies the kernel, `name` names it in
// messages); any failure becomes the error cudaGetLastError() returns next, as a real launch's
// would.
void launch(const void* kernel, const char* name, dim3 grid, dim3 block, cudaStream_t stream,
            const std::function<void()>& body, const void* const* pointers, int pointer_count);

template <typename T>
const void* as_pointer(const T& value) {
  if constexpr (std::is_pointer<T>::value) {
    return static_cast<const void*>(value);
  } else {
    return nullptr;
  }
}

// kernel<<<grid, block, 0, stream>>>(args...), `name` being the kernel's name for messages:
// every pointer argument must be device memory (or null) before a thread runs. The arguments are
// kept by value, as a launch captured into a graph keeps them.
template <typename... Params, typename... Args>
void launch_kernel(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
                   cudaStream_t stream, Args... args) {
  const void* pointers[sizeof...(Args) + 1] = {as_pointer(args)..., nullptr};
  launch(
      reinterpret_cast<const void*>(kernel), name, grid, block, stream,
      [=] { kernel(static_cast<Params>(args)...); }, pointers, static_cast<int>(sizeof...(Args)));
}
}  // namespace cuda_emulator
