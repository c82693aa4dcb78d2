// The CUDA emulator's runtime: errors, the one device, streams, and device memory (allocations
// with guard bytes on both sides, filled with NaN when handed out, checked after every kernel).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "emulator.h"

namespace cuda_emulator {
namespace {

constexpr size_t kAlignment = 256;  // what cudaMalloc guarantees
constexpr size_t kGuard = 256;      // guard bytes before and after each allocation
constexpr unsigned char kGuardByte = 0xA5;
constexpr unsigned char kFreshByte = 0xFF;  // 0xFFFFFFFF is a NaN: reading unwritten memory shows

struct Allocation {
  size_t bytes;     // as asked for
  size_t capacity;  // bytes rounded up to the alignment
  char* raw;        // what malloc returned: guard, payload, slack + guard
};

struct State {
  std::map<const char*, Allocation> allocations;  // by payload address
  std::map<const char*, size_t> pinned;           // page-locked host blocks: start, bytes
  size_t used = 0;
  size_t peak_used = 0;
  uint64_t release_threshold = 0;  // kept for cudaMemPoolGetAttribute, nothing else
  std::set<const void*> streams;
  std::set<const void*> events;
  cudaError_t last = cudaSuccess;
  cudaError_t sticky = cudaSuccess;
  std::string detail;
  cudaError_t detail_for = cudaSuccess;
  int device = 0;
};

State& state() {
  static State* s = new State;  // never destroyed: tensors in static storage may outlive it
  return *s;
}

size_t memory_limit() {
  static const size_t limit = [] {
    const char* text = std::getenv("SAV_CUDA_EMULATOR_MEMORY_MIB");
    const long long mib = text != nullptr ? std::atoll(text) : 0;
    return static_cast<size_t>(mib > 0 ? mib : 4096) << 20;
  }();
  return limit;
}

bool guards_intact(const char* payload, const Allocation& a) {
  static const auto* pattern = [] {
    auto* bytes = new unsigned char[kGuard + kAlignment];
    std::memset(bytes, kGuardByte, kGuard + kAlignment);
    return bytes;
  }();
  return std::memcmp(payload - kGuard, pattern, kGuard) == 0 &&
         std::memcmp(payload + a.bytes, pattern, a.capacity - a.bytes + kGuard) == 0;
}

// The allocation holding ptr (ptr may be its end), or nullptr.
const std::pair<const char* const, Allocation>* find(const void* ptr) {
  auto& allocations = state().allocations;
  const char* p = static_cast<const char*>(ptr);
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin()) return nullptr;
  --it;
  if (p > it->first + it->second.bytes) return nullptr;
  return &*it;
}

cudaError_t fail_if_sticky() { return state().sticky; }

std::string address(const void* ptr) {
  std::ostringstream text;
  text << ptr;
  return text.str();
}

}  // namespace

Coordinates coordinates;

std::recursive_mutex& device_lock() {
  static std::recursive_mutex* mutex = new std::recursive_mutex;
  return *mutex;
}

cudaError_t record(cudaError_t error, const std::string& detail, bool sticky) {
  State& s = state();
  s.last = error;
  s.detail = detail;
  s.detail_for = error;
  if (sticky && s.sticky == cudaSuccess) s.sticky = error;
  return error;
}

cudaError_t sticky_error() { return state().sticky; }

namespace {

// What count_call and count_synchronisation have counted since the last reset, by name.
struct Counts {
  std::map<std::string, long long> calls, synchronisations, graph_nodes;
};

Counts& counts() {
  static Counts* table = [] {
    auto* created = new Counts;  // never destroyed: printed at exit
    if (std::getenv("SAV_CUDA_EMULATOR_STATS") != nullptr) {
      static Counts* printed = created;
      std::atexit([] {
        for (const auto& [what, table] :
             {std::pair{"kernel launches and cuBLAS calls", &printed->calls},
              std::pair{"host synchronisations", &printed->synchronisations},
              std::pair{"nodes of replayed graphs", &printed->graph_nodes}}) {
          long long total = 0;
          for (const auto& [name, count] : *table) total += count;
          std::fprintf(stderr, "cuda emulator: %lld %s\n", total, what);
          for (const auto& [name, count] : *table) {
            std::fprintf(stderr, "  %10lld  %s\n", count, name.c_str());
          }
        }
      });
    }
    return created;
  }();
  return *table;
}

}  // namespace

void count_call(const char* name) { ++counts().calls[name]; }

void count_synchronisation(const char* name) { ++counts().synchronisations[name]; }

void count_graph_node(const char* name) { ++counts().graph_nodes[name]; }

bool is_pinned(const void* ptr) {
  const auto& pinned = state().pinned;
  const char* p = static_cast<const char*>(ptr);
  auto it = pinned.upper_bound(p);
  if (it == pinned.begin()) return false;
  --it;
  return p < it->first + it->second;
}

void reset_errors() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  state().last = state().sticky = state().detail_for = cudaSuccess;
}

bool inside_allocation(const void* ptr, size_t bytes, std::string* why) {
  const auto* entry = find(ptr);
  if (entry == nullptr) {
    *why = address(ptr) + " is not device memory (no live allocation holds it)";
    return false;
  }
  const char* p = static_cast<const char*>(ptr);
  if (p + bytes > entry->first + entry->second.bytes) {
    std::ostringstream text;
    const char* end = entry->first + entry->second.bytes;
    text << bytes << " bytes at " << ptr << " run " << (p + bytes - end)
         << " bytes past the end of an allocation of " << entry->second.bytes << " bytes";
    *why = text.str();
    return false;
  }
  return true;
}

bool is_device_pointer(const void* ptr) { return find(ptr) != nullptr; }

bool check_guards(const std::string& culprit) {
  for (const auto& [payload, a] : state().allocations) {
    if (!guards_intact(payload, a)) {
      std::ostringstream text;
      text << culprit << " wrote outside an allocation of " << a.bytes << " bytes at "
           << static_cast<const void*>(payload) << " (its guard bytes changed)";
      record(cudaErrorIllegalAddress, text.str(), true);
      return false;
    }
  }
  return true;
}

}  // namespace cuda_emulator

using cuda_emulator::device_lock;
using cuda_emulator::record;
using cuda_emulator::state;

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureIsolation: return "cudaErrorStreamCaptureIsolation";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (error != cudaSuccess && error == state().detail_for) return state().detail.c_str();
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureIsolation:
      return "operation would make the legacy stream depend on a capturing blocking stream";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  const cudaError_t last = state().last;
  state().last = state().sticky;  // a sticky fault never clears
  return last;
}

cudaError_t cudaPeekAtLastError() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  return state().last;
}

cudaError_t cudaGetDeviceCount(int* count) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  const char* driver = std::getenv("SAV_CUDA_EMULATOR_DRIVER");
  if (driver != nullptr && std::string(driver) == "old") {
    *count = 0;
    return record(cudaErrorInsufficientDriver,
                  "CUDA driver version is insufficient for CUDA runtime version");
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (device != 0) return record(cudaErrorInvalidDevice, "the emulator has one device, 0");
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int device) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (device != 0) return record(cudaErrorInvalidDevice, "the emulator has one device, 0");
  *props = cudaDeviceProp{};
  std::snprintf(props->name, sizeof props->name, "%s", "sav CUDA emulator (on the CPU)");
  props->totalGlobalMem = cuda_emulator::memory_limit();
  props->major = 9;
  props->minor = 0;
  props->multiProcessorCount = 1;
  props->maxThreadsPerBlock = 1024;
  props->warpSize = 32;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  *total = cuda_emulator::memory_limit();
  *free = *total - state().used;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (flags > cudaStreamNonBlocking) return record(cudaErrorInvalidValue, "unknown stream flags");
  auto* handle = reinterpret_cast<cudaStream_t>(new char[1]);
  state().streams.insert(handle);
  *stream = handle;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (state().streams.erase(stream) == 0) {
    return record(cudaErrorInvalidValue, "cudaStreamDestroy: not a live stream");
  }
  delete[] reinterpret_cast<char*>(stream);
  return cudaSuccess;
}

namespace cuda_emulator {
// Work runs when it is issued; a stream only has to be one the program created (or 0).
cudaError_t check_stream(cudaStream_t stream, const char* call) {
  if (stream != nullptr && state().streams.count(stream) == 0) {
    return record(cudaErrorInvalidValue, std::string(call) + ": not a live stream");
  }
  return cudaSuccess;
}
}  // namespace cuda_emulator

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaStreamSynchronize")) return e;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaStreamSynchronize")) return e;
  cuda_emulator::count_synchronisation("cudaStreamSynchronize");
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaDeviceSynchronize")) return e;
  cuda_emulator::count_synchronisation("cudaDeviceSynchronize");
  return cuda_emulator::fail_if_sticky();
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  *ptr = nullptr;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaMalloc")) return e;
  return cuda_emulator::allocate_device(ptr, bytes);
}

cudaError_t cuda_emulator::allocate_device(void** ptr, size_t bytes) {
  *ptr = nullptr;
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  using cuda_emulator::kAlignment;
  using cuda_emulator::kGuard;
  if (bytes > cuda_emulator::memory_limit() - state().used) {
    return record(cudaErrorMemoryAllocation, "out of memory");
  }
  const size_t capacity = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  char* raw = static_cast<char*>(std::aligned_alloc(kAlignment, capacity + 2 * kGuard));
  if (raw == nullptr) return record(cudaErrorMemoryAllocation, "out of memory (host)");
  std::memset(raw, cuda_emulator::kGuardByte, capacity + 2 * kGuard);
  std::memset(raw + kGuard, cuda_emulator::kFreshByte, bytes);
  state().allocations[raw + kGuard] = {bytes, capacity, raw};
  state().used += bytes;
  state().peak_used = std::max(state().peak_used, state().used);
  *ptr = raw + kGuard;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (ptr == nullptr) return cudaSuccess;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaFree")) return e;
  return cuda_emulator::free_device(ptr);
}

void cuda_emulator::fill_fresh(void* ptr) {
  const auto it = state().allocations.find(static_cast<const char*>(ptr));
  if (it != state().allocations.end()) std::memset(ptr, kFreshByte, it->second.bytes);
}

cudaError_t cuda_emulator::free_device(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  auto& allocations = state().allocations;
  const auto it = allocations.find(static_cast<const char*>(ptr));
  if (it == allocations.end()) {
    return record(cudaErrorInvalidValue, "cudaFree: " + cuda_emulator::address(ptr) +
                                             " is not the start of a live allocation");
  }
  if (!cuda_emulator::guards_intact(it->first, it->second)) {
    cuda_emulator::check_guards("an earlier kernel");
  }
  state().used -= it->second.bytes;
  std::free(it->second.raw);
  allocations.erase(it);
  return cuda_emulator::fail_if_sticky();
}

cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaMallocAsync")) return e;
  if (cuda_emulator::capturing(stream)) return cuda_emulator::capture_allocate(ptr, bytes, stream);
  return cudaMalloc(ptr, bytes);
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaFreeAsync")) return e;
  if (cuda_emulator::capturing(stream)) return cuda_emulator::capture_free(ptr, stream);
  return cudaFree(ptr);
}

namespace cuda_emulator {
namespace {

// Both copies: checks the pointers against the kind (the copy itself is a memmove).
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyHostToHost || kind == cudaMemcpyDefault) {
    return record(cudaErrorInvalidMemcpyDirection,
                  "the emulator checks directions: name HostToDevice, DeviceToHost or "
                  "DeviceToDevice");
  }
  std::string why;
  for (const auto& [ptr, device, role] :
       {std::tuple{static_cast<const void*>(dst), dst_device, "destination"},
        std::tuple{src, src_device, "source"}}) {
    if (device && !cuda_emulator::inside_allocation(ptr, bytes, &why)) {
      return record(cudaErrorInvalidValue, std::string("cudaMemcpy ") + role + ": " + why);
    }
    if (!device && cuda_emulator::is_device_pointer(ptr)) {
      return record(cudaErrorInvalidValue, std::string("cudaMemcpy ") + role + " " +
                                               cuda_emulator::address(ptr) +
                                               " is device memory, but the copy's kind says host");
    }
  }
  return cudaSuccess;
}

}  // namespace
}  // namespace cuda_emulator

// A real GPU's cudaMemcpy waits for the device's queued work, except from device to device.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaMemcpy")) return e;
  const cudaError_t status = cuda_emulator::check_copy(dst, src, bytes, kind);
  if (status != cudaSuccess) return status;
  std::memmove(dst, src, bytes);
  if (kind != cudaMemcpyDeviceToDevice) cuda_emulator::count_synchronisation("cudaMemcpy");
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaMemcpyAsync")) return e;
  if (const cudaError_t e = cuda_emulator::check_copy(dst, src, bytes, kind)) return e;
  // Into or out of pageable host memory the copy is done through a staging buffer, synchronously
  // with the host: a capture cannot record it, and a copy into it returns only after the stream's
  // work.
  const void* host = kind == cudaMemcpyDeviceToHost   ? dst
                     : kind == cudaMemcpyHostToDevice ? src
                                                      : nullptr;
  const bool pageable = host != nullptr && !cuda_emulator::is_pinned(host);
  if (pageable) {
    if (const cudaError_t e =
            cuda_emulator::refuse_in_capture("cudaMemcpyAsync to or from pageable host memory")) {
      return e;
    }
  }
  if (pageable && kind == cudaMemcpyDeviceToHost) {
    cuda_emulator::count_synchronisation("cudaMemcpyAsync to pageable host memory");
  }
  // Work the device does, as a kernel is: a copy within the device is counted with the launches.
  const bool within = kind == cudaMemcpyDeviceToDevice;
  return cuda_emulator::enqueue(
      stream, within ? "cudaMemcpyAsync device to device" : "cudaMemcpyAsync to or from the host",
      within, [=] {
        std::memmove(dst, src, bytes);
        return cudaSuccess;
      });
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  *ptr = nullptr;
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  char* block = static_cast<char*>(std::malloc(bytes == 0 ? 1 : bytes));
  if (block == nullptr) return record(cudaErrorMemoryAllocation, "out of page-locked memory");
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaMallocHost")) {
    std::free(block);
    return e;
  }
  state().pinned[block] = bytes == 0 ? 1 : bytes;
  *ptr = block;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (ptr == nullptr) return cudaSuccess;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaFreeHost")) return e;
  if (state().pinned.erase(static_cast<const char*>(ptr)) == 0) {
    return record(cudaErrorInvalidValue, "cudaFreeHost: " + cuda_emulator::address(ptr) +
                                             " is not the start of a page-locked allocation");
  }
  std::free(ptr);
  return cudaSuccess;
}

extern "C" __attribute__((visibility("default"))) int sav_cuda_emulator_counts(int kind,
                                                                               const char** names,
                                                                               long long* counts,
                                                                               int capacity) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  const auto& all = cuda_emulator::counts();
  const auto& table = kind == 0 ? all.calls : kind == 1 ? all.synchronisations : all.graph_nodes;
  int i = 0;
  for (const auto& [name, count] : table) {
    if (i < capacity) {
      names[i] = name.c_str();
      counts[i] = count;
    }
    ++i;
  }
  return i;
}

extern "C" __attribute__((visibility("default"))) void sav_cuda_emulator_reset_counts() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  cuda_emulator::counts() = {};
}

// The one pool: every freed block goes straight back, so reserved memory is live memory.
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (device != 0) return record(cudaErrorInvalidDevice, "the emulator has one device, 0");
  static char handle = 0;
  *pool = reinterpret_cast<cudaMemPool_t>(&handle);
  return cudaSuccess;
}

namespace cuda_emulator {
namespace {
cudaError_t check_pool(cudaMemPool_t pool, const char* call) {
  cudaMemPool_t only = nullptr;
  cudaDeviceGetDefaultMemPool(&only, 0);
  if (pool != only) return record(cudaErrorInvalidValue, std::string(call) + ": not a pool");
  return cudaSuccess;
}
}  // namespace
}  // namespace cuda_emulator

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_pool(pool, "cudaMemPoolSetAttribute")) return e;
  if (attr == cudaMemPoolAttrReleaseThreshold) {
    state().release_threshold = *static_cast<uint64_t*>(value);
  } else if (attr == cudaMemPoolAttrReservedMemHigh || attr == cudaMemPoolAttrUsedMemHigh) {
    if (*static_cast<uint64_t*>(value) != 0) {
      return record(cudaErrorInvalidValue, "a pool's high-water marks can only be reset to 0");
    }
    state().peak_used = state().used;
  } else {
    return record(cudaErrorInvalidValue, "cudaMemPoolSetAttribute: a read-only attribute");
  }
  return cudaSuccess;
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_pool(pool, "cudaMemPoolGetAttribute")) return e;
  uint64_t& out = *static_cast<uint64_t*>(value);
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: out = state().release_threshold; break;
    case cudaMemPoolAttrReservedMemCurrent:
    case cudaMemPoolAttrUsedMemCurrent: out = state().used; break;
    case cudaMemPoolAttrReservedMemHigh:
    case cudaMemPoolAttrUsedMemHigh: out = state().peak_used; break;
    default: return record(cudaErrorInvalidValue, "cudaMemPoolGetAttribute: unknown attribute");
  }
  return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t /*min_bytes_to_keep*/) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  return cuda_emulator::check_pool(pool, "cudaMemPoolTrimTo");
}

namespace cuda_emulator {
namespace {
cudaError_t check_event(cudaEvent_t event, const char* call) {
  if (state().events.count(event) == 0) {
    return record(cudaErrorInvalidValue, std::string(call) + ": not a live event");
  }
  return cudaSuccess;
}
}  // namespace
}  // namespace cuda_emulator

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if ((flags & ~cudaEventDisableTiming) != 0) {
    return record(cudaErrorInvalidValue, "cudaEventCreateWithFlags: unknown flags");
  }
  auto* handle = reinterpret_cast<cudaEvent_t>(new char[1]);
  state().events.insert(handle);
  *event = handle;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_event(event, "cudaEventDestroy")) return e;
  state().events.erase(event);
  delete[] reinterpret_cast<char*>(event);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::check_event(event, "cudaEventRecord")) return e;
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaEventRecord")) return e;
  if (cuda_emulator::capturing(stream)) {
    return cuda_emulator::refuse_in_capture("cudaEventRecord on a captured stream");
  }
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  return cuda_emulator::check_event(event, "cudaEventQuery");
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  if (const cudaError_t e = cuda_emulator::check_event(event, "cudaEventSynchronize")) return e;
  if (const cudaError_t e = cuda_emulator::refuse_in_capture("cudaEventSynchronize")) return e;
  cuda_emulator::count_synchronisation("cudaEventSynchronize");
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (flags != 0) return record(cudaErrorInvalidValue, "cudaStreamWaitEvent: unknown flags");
  if (const cudaError_t e = cuda_emulator::check_event(event, "cudaStreamWaitEvent")) return e;
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaStreamWaitEvent")) return e;
  if (cuda_emulator::capturing(stream)) {
    return cuda_emulator::refuse_in_capture("cudaStreamWaitEvent on a captured stream");
  }
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (const cudaError_t e = cuda_emulator::fail_if_sticky()) return e;
  if (const cudaError_t e = cuda_emulator::check_stream(stream, "cudaMemsetAsync")) return e;
  std::string why;
  if (!cuda_emulator::inside_allocation(dst, bytes, &why)) {
    return record(cudaErrorInvalidValue, "cudaMemsetAsync: " + why);
  }
  return cuda_emulator::enqueue(stream, "cudaMemsetAsync", true, [=] {
    std::memset(dst, value, bytes);
    return cudaSuccess;
  });
}
