// Helpers for the CPU backend's own kernels: several builds of a hot function, one chosen when
// the backend starts, and an exp and an erfc that vectorise.
//
// sav is built for plain x86-64 so that one binary runs on any x86-64 CPU. A kernel body written
// once is compiled three times by SAV_CPU_DISPATCH (AVX-512, AVX2, baseline: the x86-64-v4, -v3
// and -v1 levels), and every call goes to the build of cpu_level(): the best the CPU has, or a
// lower one named by SAV_CPU_LEVEL, so that one machine can run the suite on the kernels another
// machine would pick. The per-row and per-chunk kernels carry it; the loops that share rows out
// between threads call them. The files that use it are compiled with -fno-trapping-math
// (CMakeLists.txt), without which GCC vectorises neither a float clamp nor a rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace sav::cpu {

enum class CpuLevel { kBaseline, kAvx2, kAvx512 };

// The build of the kernels that runs: the best this CPU supports, unless the environment variable
// SAV_CPU_LEVEL (avx512, avx2 or baseline) asks for a lower one. Decided once; throws sav::Error
// for a value it does not know or a level this CPU lacks.
CpuLevel cpu_level();
std::string to_string(CpuLevel level);

// exp(x) for x <= 88.3, to about 2 float ulps, in a form the compiler vectorises (no call):
// exp(x) = 2^k exp(r) with k = round(x / ln 2), |r| <= ln 2 / 2, and exp(r) from the degree-7
// polynomial of Cephes' expf. Inputs below -87.3 give exp(-87.3) (about 1e-38) rather than a
// denormal or zero, which none of its users (softmax, cross-entropy, erfc_approx) can tell apart.
[[gnu::always_inline]] inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  // std::floor does not vectorise in the baseline build (it needs SSE4.1 there), but rounding
  // otherwise would change the seed model's arithmetic, which stays bit for bit as it was.
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - k * 0.693359375f + k * 2.12194440e-4f;  // ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;  // 2^k, k in [-126, 127]
  return p * __builtin_bit_cast(float, bits);
}

// erfc(x) in a form the compiler vectorises, to a relative error under 3e-7 (1 + x^2) wherever
// erfc(x) > 1e-37 (x < 9): the fit's error and exp_approx's, then the rounding of x^2 in float,
// which grows with x^2. For z = |x|, erfc(z) = t exp(-z^2 + P(t)) with t = 1 / (1 + z / 2) and
// P the degree-9 Chebyshev fit of Numerical Recipes' erfcc (relative error under 1.2e-7 in
// exact arithmetic), and erfc(-z) = 2 - erfc(z). Relative, not absolute, accuracy is the point:
// the normal distribution function Phi(x) = erfc(-x / sqrt(2)) / 2 stays accurate far into its
// lower tail, where 1 + erf(x / sqrt(2)) cancels to nothing. Past x = 9, where exp_approx
// clamps, it returns a positive value under 1e-37 rather than a denormal or zero.
[[gnu::always_inline]] inline float erfc_approx(float x) {
  const float z = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float upper = t * exp_approx(p - z * z);  // erfc(|x|)
  return x >= 0.0f ? upper : 2.0f - upper;
}

}  // namespace sav::cpu

// Defines `name(args...)`, which runs `body(args...)` compiled for the build cpu_level() chose.
// `body` must be [[gnu::always_inline]], so that each build inlines it and vectorises it for its
// own instruction set.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SAV_CPU_LEVELS 1  // GCC builds the levels; other compilers build the baseline only
#define SAV_CPU_DISPATCH(name, body)                                     \
  template <typename... Args>                                            \
  [[gnu::target("arch=x86-64-v4")]] void name##_avx512(Args... args) {   \
    body(args...);                                                       \
  }                                                                      \
  template <typename... Args>                                            \
  [[gnu::target("arch=x86-64-v3")]] void name##_avx2(Args... args) {     \
    body(args...);                                                       \
  }                                                                      \
  template <typename... Args>                                            \
  void name##_baseline(Args... args) {                                   \
    body(args...);                                                       \
  }                                                                      \
  template <typename... Args>                                            \
  void name(Args... args) {                                              \
    switch (::sav::cpu::cpu_level()) {                                   \
      case ::sav::cpu::CpuLevel::kAvx512: return name##_avx512(args...); \
      case ::sav::cpu::CpuLevel::kAvx2: return name##_avx2(args...);     \
      case ::sav::cpu::CpuLevel::kBaseline: break;                       \
    }                                                                    \
    name##_baseline(args...);                                            \
  }
#else
#define SAV_CPU_DISPATCH(name, body) \
  template <typename... Args>        \
  void name(Args... args) {          \
    body(args...);                   \
  }
#endif
