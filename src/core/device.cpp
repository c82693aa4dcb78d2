#include "sav/device.h"

#include <ostream>

#include "backends/backend.h"
#include "sav/error.h"

namespace sav {

std::string Device::str() const {
  return type == DeviceType::kCpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

std::ostream& operator<<(std::ostream& out, const Device& device) { return out << device.str(); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "auto") return device_available(Device::cuda()) ? Device::cuda() : Device::cpu();
  if (text == "cuda") return Device::cuda();
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos && text.size() <= 8) {
    return Device::cuda(std::stoi(text.substr(5)));
  }
  usage_fail("unknown device '", text, "' (use cpu, cuda, cuda:N or auto)");
}

std::string describe_device(Device device) { return backend_for(device).describe(); }
void set_device_threads(Device device, int threads) {
  backend_for(device).set_num_threads(threads);
}
int device_threads(Device device) { return backend_for(device).num_threads(); }
void set_device_tf32(Device device, bool enabled) { backend_for(device).set_tf32(enabled); }
void synchronize_device(Device device) { backend_for(device).synchronize(); }
void* device_stream(Device device) { return backend_for(device).native_stream(); }
void release_device_cache(Device device) { backend_for(device).release_cached_memory(); }
MemoryStats device_memory(Device device) { return backend_for(device).memory_stats(); }

}  // namespace sav
