// Where a tensor's storage lives. Only the CPU is built in every configuration; a CUDA device is
// reachable only when sav was built with its CUDA backend and a GPU is usable.
#pragma once

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

}  // namespace sav
