// Loading OpenBLAS with the kernels sav chooses (see openblas.h for why).
#include "backends/cpu/openblas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <optional>
#include <vector>

#include "sav/error.h"

namespace sav::cpu {
namespace {

// The kernels to ask OpenBLAS for; empty: let OpenBLAS choose.
std::string chosen_kernels() {
  if (const char* forced = std::getenv("SAV_OPENBLAS_CORETYPE"); forced != nullptr && *forced) {
    return forced;
  }
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc's checks include the OS's support for the AVX-512 register state (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
#endif
  return "";
}

// Sets an environment variable for the life of the object, then puts back what was there.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (!value.empty()) setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

template <typename Function>
void bind(Function& function, void* library, const char* name, const std::string& path) {
  function = reinterpret_cast<Function>(dlsym(library, name));
  if (function == nullptr) fail("cpu: ", path, " has no symbol ", name, " (is it OpenBLAS?)");
}

OpenBlas load() {
  // The OpenMP build first (its path is found by CMake), then whatever the system links as
  // libopenblas.so.0.
  std::vector<std::string> candidates;
#ifdef SAV_OPENBLAS_OPENMP_LIBRARY
  candidates.push_back(SAV_OPENBLAS_OPENMP_LIBRARY);
#endif
  candidates.push_back("libopenblas.so.0");

  OpenBlas blas;
  blas.requested_kernels = chosen_kernels();
  std::string tried;
  void* library = nullptr;
  {
    ScopedEnvironment kernels("OPENBLAS_CORETYPE", blas.requested_kernels);
    for (const std::string& candidate : candidates) {
      library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library != nullptr) {
        blas.path = candidate;
        break;
      }
      tried += "\n  " + candidate + ": " + dlerror();
    }
  }
  if (library == nullptr) {
    fail("cpu: cannot load OpenBLAS; tried:", tried,
         "\n(install it with tools/install-deps.sh, or: apt-get install libopenblas0-openmp)");
  }
  bind(blas.sgemm, library, "cblas_sgemm", blas.path);
  bind(blas.set_num_threads, library, "openblas_set_num_threads", blas.path);
  bind(blas.corename, library, "openblas_get_corename", blas.path);
  bind(blas.config, library, "openblas_get_config", blas.path);
  bind(blas.parallel, library, "openblas_get_parallel", blas.path);
  return blas;  // the library stays loaded for the life of the process
}

}  // namespace

const OpenBlas& openblas() {
  static const OpenBlas blas = load();
  return blas;
}

}  // namespace sav::cpu
