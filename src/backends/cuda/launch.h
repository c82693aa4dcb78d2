// Launching a kernel, checked. Compiled by nvcc this is the <<<grid, block, 0, stream>>> launch;
// compiled by a plain C++ compiler against the CUDA emulator (tests/cuda_emulator), the emulator
// runs the kernel on the CPU. Either way a failed launch throws, naming the kernel and the line.
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/cuda_backend.h"

namespace sav {

template <typename... Params, typename... Args>
void launch_kernel(const char* name, const char* file, int line, void (*kernel)(Params...),
                   dim3 grid, dim3 block, cudaStream_t stream, const Args&... args) {
#if defined(SAV_CUDA_EMULATOR)
  cuda_emulator::launch_kernel(name, kernel, grid, block, stream, args...);
#else
  // clang-format reads a launch in a header as nested templates' closing brackets.
  // clang-format off
  kernel<<<grid, block, 0, stream>>>(static_cast<Params>(args)...);
  // clang-format on
#endif
  cuda_check(cudaGetLastError(), name, file, line);
}

}  // namespace sav

// SAV_LAUNCH(kernel, grid, block, stream, args...)
#define SAV_LAUNCH(kernel, grid, block, stream, ...) \
  ::sav::launch_kernel(#kernel, __FILE__, __LINE__, kernel, grid, block, stream, __VA_ARGS__)
