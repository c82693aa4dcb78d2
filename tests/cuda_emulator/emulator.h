// Inside the CUDA emulator: the state its runtime, scheduler and cuBLAS share.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>

#include "cuda_runtime.h"

namespace cuda_emulator {

// Held by every entry point: the emulator is one device shared by the whole process.
std::recursive_mutex& device_lock();

// Records an error as a real runtime would: the next cudaGetLastError() returns it. A fault (a
// bad address, a broken barrier) is sticky, like a kernel fault on a GPU: every later call fails
// with it. `detail` says what happened; cudaGetErrorString() returns it for that error.
cudaError_t record(cudaError_t error, const std::string& detail, bool sticky = false);
// The sticky fault, if one happened; cudaSuccess otherwise.
cudaError_t sticky_error();

// Whether [ptr, ptr + bytes) lies inside one live device allocation; if not, `why` says so.
bool inside_allocation(const void* ptr, size_t bytes, std::string* why);
// Whether ptr points into (or just past the end of) a live device allocation.
bool is_device_pointer(const void* ptr);
// Whether ptr points into a live page-locked host allocation (cudaMallocHost).
bool is_pinned(const void* ptr);
// Checks the guard bytes around every live allocation; a damaged one is a sticky fault blamed
// on `culprit` (the kernel or product that just ran). Returns false after a fault.
bool check_guards(const std::string& culprit);
// cudaSuccess for a live stream or 0; otherwise records the error, naming `call`.
cudaError_t check_stream(cudaStream_t stream, const char* call);

// Counts a kernel launch, a cuBLAS call or a copy within the device by name. With
// SAV_CUDA_EMULATOR_STATS set in the environment the counts are printed to stderr when the process
// ends.
void count_call(const char* name);
// Counts a call that makes the host wait for the device's queued work (a stream or device
// synchronisation, a copy to pageable host memory), by name.
void count_synchronisation(const char* name);

// Counts a node of a graph replayed by cudaGraphLaunch, by name (the launch itself is a call).
void count_graph_node(const char* name);

// Device memory as cudaMalloc and cudaFree hand it out and take it back, without their checks
// against stream capture (graphs.cpp allocates for a capture with them).
cudaError_t allocate_device(void** ptr, size_t bytes);
cudaError_t free_device(void* ptr);
// Makes a live allocation read as fresh memory again (NaN), as a graph's allocation node does.
void fill_fresh(void* ptr);

// Stream capture (graphs.cpp). While a stream is captured, the work issued to it is recorded as
// the nodes of a graph, not run; cudaGraphLaunch runs them later, in order, as often as asked.
bool capturing(cudaStream_t stream);
// Runs `work` now, counting it under `name` when `counted`, or records it as a node when
// `stream` is being captured. Returns what `work` returned, or cudaSuccess once recorded.
cudaError_t enqueue(cudaStream_t stream, const char* name, bool counted,
                    std::function<cudaError_t()> work);
// While a capture is under way, `call` is one CUDA refuses in it (it would make the host wait, or
// it allocates or frees outside the stream's order): fails with cudaErrorStreamCaptureUnsupported
// and invalidates the capture, as CUDA's global capture mode does. cudaSuccess otherwise.
cudaError_t refuse_in_capture(const char* call);
// cudaMallocAsync and cudaFreeAsync on a captured stream: the graph owns what it allocates (the
// memory stays put for the graph's life, so that every replay uses the same addresses), and may
// free only that.
cudaError_t capture_allocate(void** ptr, size_t bytes, cudaStream_t stream);
cudaError_t capture_free(void* ptr, cudaStream_t stream);

// Runs threads and blocks in reverse index order from now on (or in index order again).
void set_reverse_order(bool reversed);

// Forgets a sticky fault and the last error (the emulator's own tests provoke faults on purpose).
void reset_errors();

}  // namespace cuda_emulator
