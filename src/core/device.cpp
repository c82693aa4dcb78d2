#include "sav/device.h"

#include <ostream>

#include "sav/backend.h"
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

}  // namespace sav
