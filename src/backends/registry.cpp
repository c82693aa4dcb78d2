// The one place that knows which backends this build has.
#include <map>
#include <memory>
#include <mutex>

#include "backends/cpu/cpu_backend.h"
#include "sav/backend.h"
#include "sav/error.h"
#if SAV_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace sav {

bool device_available(Device device) {
  if (device.type == DeviceType::kCpu) return device.index == 0;
#if SAV_HAVE_CUDA
  return cuda_device_usable(device.index);
#else
  return false;  // this build has no CUDA backend
#endif
}

Backend& backend_for(Device device) {
  if (device.type == DeviceType::kCpu) {
    if (device.index != 0) fail("device ", device, " does not exist (the CPU is device 'cpu')");
    // Never destroyed: tensors in static storage may be freed after it would have been.
    static CpuBackend* cpu = new CpuBackend;
    return *cpu;
  }
#if SAV_HAVE_CUDA
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<CudaBackend>> gpus;
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<CudaBackend>& gpu = gpus[device.index];
  if (!gpu) gpu = std::make_unique<CudaBackend>(device.index);
  return *gpu;
#else
  fail("device ", device, " is not available: this build of sav has no CUDA backend "
       "(use --device cpu)");
#endif
}

}  // namespace sav
