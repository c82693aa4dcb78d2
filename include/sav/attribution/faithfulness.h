// Faithfulness of a heat map: does it point at the patches the model's decision rests on? The
// deletion and insertion curves (faithfulness_curves.h) of every method's maps on a set of test
// images, against random maps, with a sanity check; vit_probabilities adapts the ViT to the
// curves' model.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sav/attribution/faithfulness_curves.h"
#include "sav/attribution/methods.h"
#include "sav/data/cifar10.h"
#include "sav/nn/vit.h"

namespace sav::attribution {

// The ViT as a ProbabilityFn: forward passes without the tape, softmax of the logits. Images are
// sent to the model's device in batches of at most `batch` images.
ProbabilityFn vit_probabilities(const nn::VisionTransformer& model, int64_t batch = 500);

// The whole measurement: every method's maps on a set of test images, their curves, and the
// sanity check of Adebayo et al. 2018 (the same maps from a copy of the model with randomised
// weights: a method whose maps hardly change is not explaining the model).
struct FaithfulnessOptions {
  std::vector<Method> methods;  // the maps to judge; `random` is always measured, as the baseline
  MethodSettings settings;      // rollout's knobs
  bool true_class = false;      // follow the true class (default: the predicted one)
  int random_draws = 10;        // random maps per image, their AUCs averaged
  uint64_t seed = 0;            // random maps and tie breaks
  float blur_sigma = 2.0f;      // pixels: insertion's start
  std::array<float, 3> fill{};  // deletion's fill (channel_means of the training set)
  int64_t explain_batch = 50;   // images a forward and backward pass for the maps
  int64_t curve_batch = 1300;   // perturbed images gathered before they go to the model
  int64_t forward_batch = 100;  // images a forward pass of the ViT
  bool sanity_check = true;
};

struct MethodFaithfulness {
  std::string method;
  std::vector<double> deletion_auc, insertion_auc;    // per image (random: mean of draws)
  std::vector<double> mean_deletion, mean_insertion;  // kCurvePoints: the mean curves
  std::vector<double> randomized_correlation;         // per image; empty for random
};

struct FaithfulnessResult {
  std::vector<MethodFaithfulness> methods;  // options' order, then random
  int64_t images = 0;
  std::string target;  // "predicted" or "true"
  int random_draws = 0;
  float blur_sigma = 0;
  std::array<float, 3> fill{};
};

// `indices` are records of `images` (the test set). `progress(done, total)` is called as images
// are finished.
FaithfulnessResult measure_faithfulness(
    const nn::VisionTransformer& model, const data::RecordSet& images,
    const std::vector<int64_t>& indices, const FaithfulnessOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace sav::attribution
