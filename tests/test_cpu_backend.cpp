// The CPU backend's own parts: the host memory pool, the OpenBLAS it loads, the vectorisable
// math of its kernels (simd.h), and its batched products over matrices that interleave.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "backends/backend.h"
#include "backends/cpu/host_pool.h"
#include "backends/cpu/openblas.h"
#include "backends/cpu/simd.h"
#include "batched_products.h"

namespace sav::testing {
namespace {

TEST(HostPool, ReusesFreedBlocksOfTheSameSize) {
  cpu::HostPool pool(1 << 20);
  void* a = pool.allocate(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % cpu::HostPool::kAlignment, 0u);
  pool.deallocate(a, 1000);
  void* b = pool.allocate(1000);
  EXPECT_EQ(a, b);  // the same block, not a new one from the system
  EXPECT_EQ(pool.stats().system_allocations, 1u);
  void* c = pool.allocate(5000);  // another size: a new block
  EXPECT_NE(c, b);
  EXPECT_EQ(pool.stats().system_allocations, 2u);
  pool.deallocate(b, 1000);
  pool.deallocate(c, 5000);
}

TEST(HostPool, CountsLivePeakAndCachedBytes) {
  cpu::HostPool pool(1 << 20);
  void* a = pool.allocate(64);
  void* b = pool.allocate(100);  // rounded up to 128
  EXPECT_EQ(pool.stats().live, 192u);
  pool.deallocate(a, 64);
  EXPECT_EQ(pool.stats().live, 128u);
  EXPECT_EQ(pool.stats().peak_live, 192u);
  EXPECT_EQ(pool.stats().cached, 64u);
  pool.release();
  EXPECT_EQ(pool.stats().cached, 0u);
  pool.deallocate(b, 100);
}

TEST(HostPool, KeepsNoMoreThanItsLimit) {
  cpu::HostPool pool(4096);
  void* a = pool.allocate(4096);
  void* b = pool.allocate(4096);
  pool.deallocate(a, 4096);
  pool.deallocate(b, 4096);  // over the limit: back to the system
  EXPECT_EQ(pool.stats().cached, 4096u);
  pool.allocate(4096);
  pool.allocate(4096);
  EXPECT_EQ(pool.stats().system_allocations, 3u);
}

TEST(ExpApprox, MatchesExpWithinAFewUlps) {
  double worst = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {  // 2^-9 steps: 89,600 points
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::exp_approx(x) - exact) / exact);
  }
  EXPECT_LT(worst, 3e-7);  // about 2.5 float ulps (an ulp is 1.19e-7 relative at most)
  EXPECT_EQ(cpu::exp_approx(0.0f), 1.0f);
  EXPECT_GT(cpu::exp_approx(-1000.0f), 0.0f);  // clamped, not a denormal or zero
  EXPECT_LT(cpu::exp_approx(-1000.0f), 1e-37f);
}

TEST(ErfcApprox, MatchesErfcRelatively) {
  // The relative error over (1 + x^2): the fit's 1.2e-7 and exp_approx's 2.5 ulps near 0, the
  // float rounding of x^2 inside exp in the tails (at x = 9, erfc is 4e-37).
  double worst = 0.0;
  for (float x = -9.0f; x <= 9.0f; x += 0.0009765625f) {  // 2^-10 steps: 18,433 points
    const double exact = std::erfc(static_cast<double>(x));
    const double error = std::abs(cpu::erfc_approx(x) - exact) / exact;
    worst = std::max(worst, error / (1.0 + double{x} * x));
  }
  EXPECT_LT(worst, 3e-7);  // measured: 2.4e-7 (baseline), 2.2e-7 (AVX2, AVX-512)
  EXPECT_EQ(cpu::erfc_approx(std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(cpu::erfc_approx(-std::numeric_limits<float>::infinity()), 2.0f);
  EXPECT_GE(cpu::erfc_approx(30.0f), 0.0f);  // past the clamp: tiny, never negative
  EXPECT_LT(cpu::erfc_approx(30.0f), 1e-37f);
  EXPECT_TRUE(std::isnan(cpu::erfc_approx(std::nanf(""))));
}

TEST(OpenBlas, LoadsAndMultiplies) {
  const cpu::OpenBlas& blas = cpu::openblas();
  EXPECT_FALSE(blas.path.empty());
  EXPECT_FALSE(std::string(blas.corename()).empty());
  const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
  float c[4] = {};
  blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  EXPECT_EQ(c[0], 19.0f);
  EXPECT_EQ(c[1], 22.0f);
  EXPECT_EQ(c[2], 43.0f);
  EXPECT_EQ(c[3], 50.0f);
  // The kernels sav asked for are the kernels in use (OpenBLAS names them in lower case).
  if (!blas.requested_kernels.empty()) {
    std::string asked = blas.requested_kernels, used = blas.corename();
    for (char& ch : asked) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (char& ch : used) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(used, asked);
  }
}

TEST(CpuLevel, IsTheBestTheCpuHasUnlessALowerOneIsAsked) {
  const char* asked = std::getenv("SAV_CPU_LEVEL");
  if (asked != nullptr && *asked != '\0') {
    EXPECT_EQ(cpu::to_string(cpu::cpu_level()), asked);
#ifdef SAV_CPU_LEVELS
  } else if (__builtin_cpu_supports("x86-64-v4")) {
    EXPECT_EQ(cpu::cpu_level(), cpu::CpuLevel::kAvx512);
  } else if (__builtin_cpu_supports("x86-64-v3")) {
    EXPECT_EQ(cpu::cpu_level(), cpu::CpuLevel::kAvx2);
#endif
  } else {
    EXPECT_EQ(cpu::cpu_level(), cpu::CpuLevel::kBaseline);
  }
  // The backend's description, which the programs and benchmarks print, names it.
  const std::string description = backend_for(Device::cpu()).describe();
  EXPECT_NE(description.find(cpu::to_string(cpu::cpu_level()) + " row kernels"), std::string::npos)
      << description;
}

// Where the build found the OpenMP build of OpenBLAS, that is the one loaded: the other one
// starts threads of its own beside OpenMP's and runs the model's products slower.
TEST(CpuBackend, LoadsTheOpenMPBuildOfOpenBlasWhereBuiltWithIt) {
#ifdef SAV_EXPECT_OPENBLAS_OPENMP
  const std::string description = describe_device(Device::cpu());
  EXPECT_NE(description.find("USE_OPENMP"), std::string::npos) << description;
#else
  GTEST_SKIP() << "built without the OpenMP build of OpenBLAS (libopenblas0-openmp)";
#endif
}

// Products over matrices laid side by side with gaps (attention's heads, read and written in
// place), against a naive loop; beta 0 reads nothing of C.
TEST(CpuBackend, BatchedProductsReadAndWriteMatricesWhereTheyLie) {
  expect_gemm_batched_matches_a_loop(Device::cpu());
}

}  // namespace
}  // namespace sav::testing
