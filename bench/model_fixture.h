// What the whole-model benchmarks run on: the seed's model, initialised, and one batch of random
// images and labels as the loader hands them over.
#pragma once

#include <cstdint>
#include <random>

#include "sav/data/images.h"
#include "sav/data/loader.h"
#include "sav/nn/vit.h"

namespace sav {

constexpr int64_t kBatch = 100;

struct ModelFixture {
  explicit ModelFixture(Device device) : model(nn::VitConfig{}, device) {
    model.initialize(1);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    batch.size = kBatch;
    batch.patches.resize(kBatch * data::kPatches * data::kPatchFeatures);
    for (float& v : batch.patches) v = uniform(rng);
    for (int64_t i = 0; i < kBatch; ++i) batch.labels.push_back(static_cast<int32_t>(rng() % 10));
  }

  nn::VisionTransformer model;
  data::Batch batch;
};

}  // namespace sav
