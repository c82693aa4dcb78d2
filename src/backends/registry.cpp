// The one place that knows which backends this build has.
#include "backends/cpu/cpu_backend.h"
#include "sav/backend.h"
#include "sav/error.h"

namespace sav {

bool device_available(Device device) {
  if (device.type == DeviceType::kCpu) return device.index == 0;
  return false;  // this build has no CUDA backend
}

Backend& backend_for(Device device) {
  if (device.type == DeviceType::kCpu) {
    if (device.index != 0) fail("device ", device, " does not exist (the CPU is device 'cpu')");
    static CpuBackend cpu;
    return cpu;
  }
  fail("device ", device, " is not available: this build of sav has no CUDA backend "
       "(use --device cpu)");
}

}  // namespace sav
