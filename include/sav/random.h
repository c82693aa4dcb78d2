// Counter-based random numbers (Philox4x32-10, Salmon et al., SC 2011). A value is a pure
// function of (seed, stream, index): any element can be drawn in any order, on any backend, and
// a dropout mask can be drawn again in the backward pass instead of being stored.
#pragma once

#include <cmath>
#include <cstdint>

namespace sav {

// Compiled for the host, and for the GPU too where a CUDA file includes this header.
#if defined(__CUDACC__)
#define SAV_HOST_DEVICE __host__ __device__
#else
#define SAV_HOST_DEVICE
#endif

struct PhiloxBlock {
  uint32_t v[4];
  SAV_HOST_DEVICE uint32_t operator[](int i) const { return v[i]; }
  const uint32_t* begin() const { return v; }
  const uint32_t* end() const { return v + 4; }
  bool operator==(const PhiloxBlock& o) const {
    return v[0] == o.v[0] && v[1] == o.v[1] && v[2] == o.v[2] && v[3] == o.v[3];
  }
};
struct PhiloxKey {
  uint32_t v[2];
};

// One Philox4x32 block with 10 rounds.
SAV_HOST_DEVICE inline PhiloxBlock philox4x32_10(PhiloxBlock counter, PhiloxKey key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.v[0] += kWeyl0;
      key.v[1] += kWeyl1;
    }
    const uint64_t p0 = uint64_t{kMul0} * counter.v[0];
    const uint64_t p1 = uint64_t{kMul1} * counter.v[2];
    counter = {
        {static_cast<uint32_t>(p1 >> 32) ^ counter.v[1] ^ key.v[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ counter.v[3] ^ key.v[1], static_cast<uint32_t>(p0)}};
  }
  return counter;
}

// The four 32-bit values of block `block` of stream `stream` under `seed`. Element i of a stream
// is lane i % 4 of block i / 4.
SAV_HOST_DEVICE inline PhiloxBlock random_block(uint64_t seed, uint64_t stream, uint64_t block) {
  return philox4x32_10({{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                         static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}},
                       {{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}});
}

// A uniform float in [0, 1) from 24 random bits.
SAV_HOST_DEVICE inline float uniform_from_bits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * 0x1.0p-24f;
}

// Independent seeds for the separate uses of one user seed (initialisation, dropout, data
// order), so that their Philox streams never coincide: the splitmix64 finaliser of
// seed + purpose * golden ratio.
enum class SeedPurpose : uint64_t { kInit = 1, kDropout = 2, kData = 3 };
inline uint64_t derive_seed(uint64_t seed, SeedPurpose purpose) {
  uint64_t z = seed + static_cast<uint64_t>(purpose) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A standard normal value for element `index` of a stream (Box-Muller on lanes 0 and 1 of
// block `index`): initialisation draws its weights from it, the same on every platform.
inline float normal_at(uint64_t seed, uint64_t stream, uint64_t index) {
  const PhiloxBlock bits = random_block(seed, stream, index);
  const double u1 = (static_cast<double>(bits[0]) + 1.0) * 0x1.0p-32;  // (0, 1]: log is finite
  const double u2 = static_cast<double>(bits[1]) * 0x1.0p-32;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// Whether dropout keeps element `index` of stream `stream`: the definition every backend follows.
SAV_HOST_DEVICE inline bool dropout_keeps(uint64_t seed, uint64_t stream, uint64_t index, float p) {
  return uniform_from_bits(random_block(seed, stream, index / 4)[static_cast<int>(index % 4)]) >= p;
}

}  // namespace sav
