// The CUDA emulator's graphs: stream capture records the work issued to a stream as nodes (a
// closure each, holding its arguments by value), and cudaGraphLaunch runs them again in order.
// Allocations made in a capture belong to the graph and keep their addresses for its life; every
// replay refills them with NaN first, so that a graph that reads what an earlier replay left
// behind shows it.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emulator.h"

struct CUgraph_st;
struct CUgraphExec_st;

namespace cuda_emulator {
namespace {

struct Node {
  std::string name;
  std::function<cudaError_t()> work;
};

// What a capture recorded. Shared by the graph and the executable graphs made from it; the memory
// it owns is freed when the last of them goes.
struct Recording {
  std::vector<Node> nodes;
  std::vector<void*> owned;  // allocated by the capture
  ~Recording() {
    for (void* ptr : owned) free_device(ptr);
  }
};

struct Capture {
  cudaStream_t stream = nullptr;
  std::shared_ptr<Recording> recording;
  std::set<void*> freed;  // owned allocations the capture has freed
  bool invalidated = false;
  std::string why;  // what invalidated it
};

// At most one capture at a time: sav captures one stream, and one device serves the process.
std::unique_ptr<Capture>& active() {
  static auto* capture = new std::unique_ptr<Capture>;
  return *capture;
}

std::set<const void*>& live_handles() {
  static auto* handles = new std::set<const void*>;
  return *handles;
}

}  // namespace

bool capturing(cudaStream_t stream) {
  return active() != nullptr && active()->stream == stream && stream != nullptr;
}

cudaError_t enqueue(cudaStream_t stream, const char* name, bool counted,
                    std::function<cudaError_t()> work) {
  if (capturing(stream)) {
    if (active()->invalidated) {
      return record(cudaErrorStreamCaptureInvalidated,
                    std::string(name) + ": the capture was invalidated by " + active()->why);
    }
    active()->recording->nodes.push_back({name, std::move(work)});
    return cudaSuccess;
  }
  if (counted) count_call(name);
  return work();
}

cudaError_t refuse_in_capture(const char* call) {
  if (active() == nullptr) return cudaSuccess;
  if (!active()->invalidated) {
    active()->invalidated = true;
    active()->why = call;
  }
  return record(cudaErrorStreamCaptureUnsupported,
                std::string(call) + " is not permitted while a stream is being captured");
}

cudaError_t capture_allocate(void** ptr, size_t bytes, cudaStream_t stream) {
  const cudaError_t status = allocate_device(ptr, bytes);
  if (status != cudaSuccess) return status;
  active()->recording->owned.push_back(*ptr);
  void* fresh = *ptr;
  return enqueue(stream, "graph allocation", false, [fresh] {
    fill_fresh(fresh);
    return cudaSuccess;
  });
}

cudaError_t capture_free(void* ptr, cudaStream_t /*stream*/) {
  if (ptr == nullptr) return cudaSuccess;
  const std::vector<void*>& owned = active()->recording->owned;
  if (std::find(owned.begin(), owned.end(), ptr) == owned.end() || active()->freed.count(ptr)) {
    active()->invalidated = true;
    active()->why = "cudaFreeAsync of memory the capture did not allocate";
    return record(cudaErrorInvalidValue,
                  "cudaFreeAsync in a capture: the graph may free only what it allocated, and "
                  "once");
  }
  active()->freed.insert(ptr);  // the memory stays the graph's, for the next replay
  return cudaSuccess;
}

}  // namespace cuda_emulator

struct CUgraph_st {
  std::shared_ptr<cuda_emulator::Recording> recording;
};
struct CUgraphExec_st {
  std::shared_ptr<cuda_emulator::Recording> recording;
};

using cuda_emulator::active;
using cuda_emulator::device_lock;
using cuda_emulator::live_handles;
using cuda_emulator::record;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::sticky_error()) return e;
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaStreamBeginCapture")) {
    return e;
  }
  if (stream == nullptr) {
    return record(cudaErrorStreamCaptureUnsupported, "the legacy stream cannot be captured");
  }
  if (mode > cudaStreamCaptureModeRelaxed) {
    return record(cudaErrorInvalidValue, "cudaStreamBeginCapture: unknown mode");
  }
  if (active() != nullptr) {
    return record(cudaErrorInvalidValue,
                  "cudaStreamBeginCapture: the emulator captures one stream at a time");
  }
  active() = std::make_unique<cuda_emulator::Capture>();
  active()->stream = stream;
  active()->recording = std::make_shared<cuda_emulator::Recording>();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  *graph = nullptr;
  if (!cuda_emulator::capturing(stream)) {
    return record(cudaErrorInvalidValue, "cudaStreamEndCapture: the stream is not being captured");
  }
  std::unique_ptr<cuda_emulator::Capture> capture = std::move(active());
  if (capture->invalidated) {
    return record(cudaErrorStreamCaptureInvalidated,
                  "the capture was invalidated by " + capture->why);
  }
  const size_t unfreed = capture->recording->owned.size() - capture->freed.size();
  if (unfreed != 0) {
    return record(cudaErrorInvalidValue,
                  "cudaStreamEndCapture: the captured work leaves " + std::to_string(unfreed) +
                      " allocation(s) of its own unfreed (the emulator wants a graph to free what "
                      "it allocates)");
  }
  *graph = new CUgraph_st{capture->recording};
  live_handles().insert(*graph);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaStreamIsCapturing")) return e;
  *status = !cuda_emulator::capturing(stream) ? cudaStreamCaptureStatusNone
            : active()->invalidated           ? cudaStreamCaptureStatusInvalidated
                                              : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  *exec = nullptr;
  if (live_handles().count(graph) == 0) {
    return record(cudaErrorInvalidValue, "cudaGraphInstantiate: not a live graph");
  }
  if (flags != 0) return record(cudaErrorInvalidValue, "cudaGraphInstantiate: unknown flags");
  *exec = new CUgraphExec_st{graph->recording};
  live_handles().insert(*exec);
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::sticky_error()) return e;
  if (live_handles().count(exec) == 0) {
    return record(cudaErrorInvalidValue, "cudaGraphLaunch: not a live executable graph");
  }
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaGraphLaunch")) return e;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaGraphLaunch")) return e;
  cuda_emulator::count_call("cudaGraphLaunch");
  for (const cuda_emulator::Node& node : exec->recording->nodes) {
    cuda_emulator::count_graph_node(node.name.c_str());
    if (const cudaError_t e = node.work()) return e;
  }
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (live_handles().erase(exec) == 0) {
    return record(cudaErrorInvalidValue, "cudaGraphExecDestroy: not a live executable graph");
  }
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (live_handles().erase(graph) == 0) {
    return record(cudaErrorInvalidValue, "cudaGraphDestroy: not a live graph");
  }
  delete graph;
  return cudaSuccess;
}
