// The one place that knows which backends this build has.
//
// The CPU backend is part of the core library. The CUDA backend is a module (libsav_cuda.so,
// built beside the programs) that is loaded only when a CUDA device is asked for: a run on the
// CPU never maps the CUDA libraries.
#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "sav/error.h"
#include "sav/module_path.h"

namespace sav {
namespace {

struct CudaModule {
  bool (*device_usable)(int index) = nullptr;
  Backend* (*create_backend)(int index) = nullptr;
  std::string problem;  // why the module is not there, when it is not
};

// Tries each file in turn; the first that loads and has the entry points is the module.
CudaModule open_cuda_module(const std::vector<std::string>& candidates) {
  CudaModule module;
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    module.device_usable = reinterpret_cast<bool (*)(int)>(dlsym(handle, "sav_cuda_device_usable"));
    module.create_backend =
        reinterpret_cast<Backend* (*)(int)>(dlsym(handle, "sav_cuda_create_backend"));
    if (module.device_usable == nullptr || module.create_backend == nullptr) {
      module = CudaModule{};
      tried += "\n  " + path + ": not sav's CUDA module (its entry points are missing)";
      continue;
    }
    return module;  // stays loaded for the life of the process
  }
  module.problem = "the CUDA backend module could not be loaded; tried:" + tried;
  return module;
}

CudaModule load_cuda_module() {
  // SAV_CUDA_MODULE_PATH names the module to use, and only that one: the test suite points it
  // at the CUDA emulator's build of the backend (tests/cuda_emulator), which needs no driver.
  if (const char* path = std::getenv("SAV_CUDA_MODULE_PATH"); path != nullptr && *path != 0) {
    CudaModule module = open_cuda_module({path});
    if (!module.problem.empty()) module.problem += " (from SAV_CUDA_MODULE_PATH)";
    return module;
  }
#if SAV_HAVE_CUDA
  // No CUDA driver, no CUDA device: not worth mapping the CUDA libraries to learn that.
  if (dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) == nullptr) {
    return CudaModule{nullptr, nullptr, "no CUDA driver (libcuda.so.1) on this machine"};
  }
  return open_cuda_module(module_candidates("libsav_cuda.so", SAV_CUDA_MODULE));
#else
  return CudaModule{nullptr, nullptr, "this build of sav has no CUDA backend"};
#endif
}

const CudaModule& cuda_module() {
  static const CudaModule module = load_cuda_module();
  return module;
}

}  // namespace

bool device_available(Device device) {
  if (device.type == DeviceType::kCpu) return device.index == 0;
  const CudaModule& cuda = cuda_module();
  return cuda.device_usable != nullptr && cuda.device_usable(device.index);
}

Backend& backend_for(Device device) {
  if (device.type == DeviceType::kCpu) {
    if (device.index != 0) fail("device ", device, " does not exist (the CPU is device 'cpu')");
    // Never destroyed: tensors in static storage may be freed after it would have been.
    static CpuBackend* cpu = new CpuBackend;
    return *cpu;
  }
  const CudaModule& cuda = cuda_module();
  if (cuda.create_backend == nullptr) {
    fail("device ", device, " is not available: ", cuda.problem, " (use --device cpu)");
  }
  // Never destroyed, as the CPU's: tensors in static storage may free into a GPU backend after
  // static destructors would have run, and the driver tears the device down at exit anyway.
  static auto* mutex = new std::mutex;
  static auto* gpus = new std::map<int, std::unique_ptr<Backend>>;
  std::lock_guard<std::mutex> lock(*mutex);
  std::unique_ptr<Backend>& gpu = (*gpus)[device.index];
  if (!gpu) gpu.reset(cuda.create_backend(device.index));
  return *gpu;
}

}  // namespace sav
