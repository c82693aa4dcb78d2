// sav_viz --faithfulness: deletion and insertion AUCs of every method against random, with the
// sanity check, written as a table (terminal, Markdown, CSV) and a plot of the mean curves. The
// measurement takes its images from the caller; the CIFAR-10 ones are built here.
#pragma once

#include <string>
#include <vector>

#include "sav/attribution/faithfulness.h"
#include "sav/attribution/methods.h"
#include "sav/data/cifar10.h"
#include "sav/nn/vit.h"

namespace sav {

struct FaithfulnessRun {
  std::string model_description;  // names the model in the report: a checkpoint's path
  std::string out_dir;            // faithfulness.md, .csv and .png go here
  std::vector<attribution::Method> methods;
  attribution::MethodSettings settings;
  bool true_class = false;
  int random_draws = 10;
  uint64_t seed = 0;
  int steps = 0;            // patches change in `steps` equal steps; 0: one patch a step
  float blur_sigma = 2.0f;  // pixels: insertion's start
};

// The test images `indices` of CIFAR-10 as the seed's model takes them (8 x 8 patches of 4 x 4
// pixels, bytes / 255), each identified by its index. Throws sav::UsageError for an index the
// test set does not have.
attribution::FaithfulnessImages cifar_test_images(const data::Cifar10& cifar,
                                                  const std::vector<int64_t>& indices);

// Deletion's fill for CIFAR-10: the training set's channel means, which reads all of it.
attribution::DeletionFill cifar_training_means(const data::Cifar10& cifar);

// Measures, prints the table and writes the files; returns the paths written. In a job of several
// processes (mpirun) rank r measures images [floor(r n / N), floor((r + 1) n / N)) of the n, in
// the batches one process would put them in, and rank 0 gathers them, prints and writes the
// report one process would; the other ranks print nothing and return no paths.
std::vector<std::string> run_faithfulness(const nn::VisionTransformer& model,
                                          const attribution::FaithfulnessImages& images,
                                          const attribution::DeletionFill& fill,
                                          const FaithfulnessRun& run);

}  // namespace sav
