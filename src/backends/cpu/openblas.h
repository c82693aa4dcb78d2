// OpenBLAS, loaded by sav itself so that sav chooses its kernels.
//
// A dynamic-architecture OpenBLAS picks its kernels once, when it is loaded: from
// OPENBLAS_CORETYPE if that is set, else from its own CPU detection (which, in the 0.3.21 that
// Debian ships, takes an AVX-512 AMD Zen 4 for a Haswell). The SkylakeX kernels run sgemm about
// twice as fast on an AVX-512 CPU, so sav loads the library after choosing them:
//   - SAV_OPENBLAS_CORETYPE, when set, is used as it is (any name OpenBLAS knows);
//   - otherwise, on a CPU (and OS) with AVX-512 F/BW/DQ/VL, SkylakeX;
//   - otherwise OpenBLAS chooses, as it would anyway.
// It prefers the OpenMP build of OpenBLAS (Debian's libopenblas0-openmp), whose threads are the
// same OpenMP threads as sav's own kernels: the pthreads build's threads would spin against them.
#pragma once

#include <cblas.h>

#include <string>

namespace sav::cpu {

struct OpenBlas {
  decltype(&cblas_sgemm) sgemm = nullptr;
  decltype(&openblas_set_num_threads) set_num_threads = nullptr;
  decltype(&openblas_get_corename) corename = nullptr;  // the kernels in use
  decltype(&openblas_get_config) config = nullptr;
  decltype(&openblas_get_parallel) parallel = nullptr;  // 0 serial, 1 pthreads, 2 OpenMP
  std::string path;                                     // the file that was loaded
  std::string requested_kernels;  // what sav asked for; empty when OpenBLAS chose

  bool uses_openmp() const { return parallel() == 2; }
};

// Loads OpenBLAS on the first call (thread-safe) and returns the same library ever after.
// Throws sav::Error, naming every file it tried, when no OpenBLAS can be loaded.
const OpenBlas& openblas();

}  // namespace sav::cpu
