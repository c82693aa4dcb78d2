// The entry point of the NCCL communicator: checks what a rank needs, then loads the module that
// holds NCCL (libsav_nccl.so, src/dist/nccl_communicator.cpp) the way the registry loads the
// CUDA backend's: on first use, beside the running program first, then where the build put it.
#include "sav/dist/device_communicator.h"

#include <dlfcn.h>

#include <string>
#include <vector>

#include "dist/agree.h"
#include "sav/error.h"
#include "sav/module_path.h"

namespace sav::dist {
namespace {

// The module's one entry point: makes the communicator of rank host->rank() on cuda:index,
// queueing its work on `stream`. Collective over `host`; throws sav::Error.
using CreateCommunicator = Communicator* (*)(Communicator* host, int index, void* stream);

#if SAV_HAVE_NCCL
struct NcclModule {
  CreateCommunicator create = nullptr;
  std::string problem;  // why the module is not there, when it is not
};

NcclModule load_nccl_module() {
  NcclModule module;
  std::string tried;
  for (const std::string& path : module_candidates("libsav_nccl.so", SAV_NCCL_MODULE)) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    module.create =
        reinterpret_cast<CreateCommunicator>(dlsym(handle, "sav_nccl_create_communicator"));
    if (module.create != nullptr) return module;  // stays loaded for the life of the process
    tried += "\n  " + path + ": not sav's NCCL module (its entry point is missing)";
  }
  const std::string hint = "NCCL's libnccl.so.2 must be where the loader finds it";
  module.problem = "the NCCL module could not be loaded (" + hint + "); tried:" + tried;
  return module;
}

const NcclModule& nccl_module() {
  static const NcclModule module = load_nccl_module();
  return module;
}
#endif

// What this rank needs before any rank talks to NCCL: a CUDA device that works, its stream, and
// the module. Throws sav::Error naming what is missing.
CreateCommunicator prepare(Device device, void** stream) {
  if (device.type != DeviceType::kCuda) {
    fail(device,
         " is not a CUDA device: NCCL moves data between GPUs (pass cuda:<local rank>; the host "
         "communicator, sav::dist::world(), sums host memory)");
  }
#if SAV_HAVE_NCCL
  *stream = device_stream(device);  // throws when the GPU or its driver is absent
  const NcclModule& module = nccl_module();
  if (module.create == nullptr) fail(module.problem);
  return module.create;
#else
  (void)stream;
  fail(
      "this build of sav has no NCCL communicator: it needs the CUDA toolkit and NCCL (nccl.h, "
      "libnccl.so) when it is built (install NCCL and rebuild; CMake then reports "
      "'sav: NCCL communicator ON')");
#endif
}

}  // namespace

#if SAV_HAVE_NCCL
bool built_with_nccl() { return true; }
#else
bool built_with_nccl() { return false; }
#endif

std::unique_ptr<Communicator> device_communicator(Communicator& host, Device device) {
  void* stream = nullptr;
  CreateCommunicator create = nullptr;
  std::string problem;
  try {
    create = prepare(device, &stream);
  } catch (const Error& e) {
    problem = e.what();
  }
  agree_every_rank_is_ready(host, problem);
  return std::unique_ptr<Communicator>(create(&host, device.index, stream));
}

}  // namespace sav::dist
