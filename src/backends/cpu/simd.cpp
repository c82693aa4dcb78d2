// Which build of the CPU backend's own kernels runs (simd.h).
#include "backends/cpu/simd.h"

#include <cstdlib>
#include <cstring>

#include "sav/error.h"

namespace sav::cpu {
namespace {

// The best level this CPU supports and this build has kernels for.
CpuLevel best_supported() {
#ifdef SAV_CPU_LEVELS
  // libgcc's checks include the OS's support for the AVX register state (XCR0).
  if (__builtin_cpu_supports("x86-64-v4")) return CpuLevel::kAvx512;
  if (__builtin_cpu_supports("x86-64-v3")) return CpuLevel::kAvx2;
#endif
  return CpuLevel::kBaseline;
}

CpuLevel choose() {
  const CpuLevel best = best_supported();
  const char* asked = std::getenv("SAV_CPU_LEVEL");
  if (asked == nullptr || *asked == '\0') return best;
  CpuLevel level;
  if (std::strcmp(asked, "avx512") == 0) {
    level = CpuLevel::kAvx512;
  } else if (std::strcmp(asked, "avx2") == 0) {
    level = CpuLevel::kAvx2;
  } else if (std::strcmp(asked, "baseline") == 0) {
    level = CpuLevel::kBaseline;
  } else {
    fail("SAV_CPU_LEVEL=", asked, " is not a level sav knows: use avx512, avx2 or baseline");
  }
  if (level > best) {
    fail("SAV_CPU_LEVEL=", asked, " asks for kernels this CPU or this build cannot run (they ",
         "reach up to ", to_string(best), "); unset it or choose a lower level");
  }
  return level;
}

}  // namespace

std::string to_string(CpuLevel level) {
  switch (level) {
    case CpuLevel::kAvx512: return "avx512";
    case CpuLevel::kAvx2: return "avx2";
    case CpuLevel::kBaseline: return "baseline";
  }
  return "unknown";
}

CpuLevel cpu_level() {
  static const CpuLevel level = choose();
  return level;
}

}  // namespace sav::cpu
