// The bridge between the model and the attribution methods: runs a batch of images through the
// ViT, takes the gradient of each image's explained-class logit from the tape where a method
// needs it, and hands every image's attention (and tokens) to the standalone routines.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/attribution/methods.h"
#include "sav/nn/vit.h"

namespace sav::attribution {

struct ExplainOptions {
  std::vector<Method> methods;
  MethodSettings settings;             // rollout's residual weight, head fusion and discard ratio
  int explained_class = -1;            // -1: each image's predicted class
  std::vector<int> explained_classes;  // when not empty: the class to explain, one per image
  uint64_t random_seed = 0;            // for the `random` baseline
};

struct ImageExplanation {
  int predicted = 0;                       // argmax of the logits
  int explained = 0;                       // the class the maps explain
  float probability = 0;                   // softmax probability of the explained class
  std::vector<float> probabilities;        // every class's
  std::vector<std::vector<float>> scores;  // per method (options order): a score per patch
};

// The softmax of one row of logits, on the host.
std::vector<float> softmax(const float* logits, int classes);

// patches [batch, 64, 48] on the model's device; first_index numbers the images for `random`.
std::vector<ImageExplanation> explain(const nn::VisionTransformer& model, const Tensor& patches,
                                      const ExplainOptions& options, uint64_t first_index = 0);

}  // namespace sav::attribution
