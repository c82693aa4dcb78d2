// Helpers for the CPU backend's own kernels: several builds of a hot function, one chosen when
// the program loads, and an exp that vectorises.
//
// sav is built for plain x86-64 so that one binary runs on any x86-64 CPU; a function marked
// SAV_CPU_CLONES is compiled three times more (AVX-512, AVX2, baseline) and the loader picks
// the best the CPU has (GCC's target_clones, through an ifunc). The per-row and per-chunk
// kernels carry it; the loops that share rows out between threads call them. The files that
// use it are compiled with -fno-trapping-math (CMakeLists.txt), without which GCC vectorises
// neither a float clamp nor a rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define SAV_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SAV_CPU_CLONES
#endif

namespace sav::cpu {

// exp(x) for x <= 88.3, to about 2 float ulps, in a form the compiler vectorises (no call):
// exp(x) = 2^k exp(r) with k = round(x / ln 2), |r| <= ln 2 / 2, and exp(r) from the degree-7
// polynomial of Cephes' expf. Inputs below -87.3 give exp(-87.3) (about 1e-38) rather than a
// denormal or zero, which softmax and cross-entropy (their only users) cannot tell apart.
[[gnu::always_inline]] inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
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

}  // namespace sav::cpu
