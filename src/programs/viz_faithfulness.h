// sav_viz --faithfulness: deletion and insertion AUCs of every method against random, with the
// sanity check, written as a table (terminal, Markdown, CSV) and a plot of the mean curves.
#pragma once

#include <string>
#include <vector>

#include "sav/attribution/methods.h"
#include "sav/data/cifar10.h"
#include "sav/nn/vit.h"

namespace sav {

struct FaithfulnessRun {
  std::string checkpoint_path;   // named in the report
  std::string out_dir;           // faithfulness.md, .csv and .png go here
  std::vector<int64_t> indices;  // test images
  std::vector<attribution::Method> methods;
  attribution::MethodSettings settings;
  bool true_class = false;
  int random_draws = 10;
  uint64_t seed = 0;
};

// Measures, prints the table and writes the files; returns the paths written.
std::vector<std::string> run_faithfulness(const nn::VisionTransformer& model,
                                          const data::Cifar10& cifar, const FaithfulnessRun& run);

}  // namespace sav
