// Where a tensor's storage lives. Only the CPU is built in every configuration; a CUDA device is
// reachable only when sav was built with its CUDA backend and a GPU is usable.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>

namespace sav {

enum class DeviceType { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;

  static Device cpu() { return {DeviceType::kCpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::kCuda, index}; }

  bool operator==(const Device& other) const { return type == other.type && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }
  std::string str() const;  // "cpu", "cuda:0"
};

std::ostream& operator<<(std::ostream& out, const Device& device);

// What a device's memory pool holds, in bytes (all zero where a backend keeps no count).
struct MemoryStats {
  size_t live = 0;                // handed out and not yet given back
  size_t peak_live = 0;           // the most `live` has been
  size_t cached = 0;              // freed blocks kept for reuse
  size_t system_allocations = 0;  // blocks that had to come from the system (a count)
};

// What a program asks of a device, above the kernel interface (src/backends/backend.h), which
// only the ops and the backends see. Each throws sav::Error when the device is not available in
// this build or on this machine.

// Whether the device can be used: built in, and present.
bool device_available(Device device);

// Parses "cpu", "cuda", "cuda:1" (and "auto": CUDA where usable, else the CPU); throws
// UsageError for anything else.
Device parse_device(const std::string& text);

// One line for logs: the device, its libraries and the threads or kernels it runs.
std::string describe_device(Device device);

// Threads of the CPU's row kernels and BLAS; 0 means all cores. Other devices ignore it.
void set_device_threads(Device device, int threads);
int device_threads(Device device);

// TF32 tensor-core matrix products where the device has them (off by default: exact float32).
void set_device_tf32(Device device, bool enabled);

// Waits until the device's queued work is done.
void synchronize_device(Device device);

// The queue the device's work goes to (a cudaStream_t for CUDA), for a library that queues its
// own work behind sav's, such as NCCL (sav/dist/device_communicator.h); null where work is
// synchronous (the CPU).
void* device_stream(Device device);

// Gives the memory the device keeps for reuse back to the system: for when the work ahead
// allocates other sizes, or none.
void release_device_cache(Device device);
MemoryStats device_memory(Device device);

}  // namespace sav
