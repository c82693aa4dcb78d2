// The faithfulness report: per method, the mean deletion AUC, insertion AUC and insertion minus
// deletion with their 95 % confidence intervals, the paired difference of each against the
// random baseline on the same images, and the sanity check's rank correlation between the maps
// of the trained model and of a randomised one. Rendered as a Markdown table and as CSV.
#pragma once

#include <string>
#include <vector>

#include "sav/attribution/faithfulness.h"
#include "sav/attribution/statistics.h"

namespace sav::attribution {

struct FaithfulnessRow {
  std::string method;
  MeanInterval deletion, insertion, gap;  // gap: insertion - deletion, per image
  // Paired against random on the same images (method - random); count 0 in random's own row.
  MeanInterval deletion_vs_random, insertion_vs_random, gap_vs_random;
  MeanInterval randomized_correlation;  // count 0 where not measured (random, or no check)
};

// One row per method of the result, in its order (random last).
std::vector<FaithfulnessRow> summarize(const FaithfulnessResult& result);

// A Markdown section: what was measured (`source` names the model; the result says on which
// images, grid, steps, fill and blur), the table, and how to read it.
std::string faithfulness_markdown(const FaithfulnessResult& result,
                                  const std::vector<FaithfulnessRow>& rows,
                                  const std::string& source);

// The same numbers, one row per method: mean, low and high of each interval.
std::string faithfulness_csv(const std::vector<FaithfulnessRow>& rows);

// A compact table for the terminal.
std::string faithfulness_text(const std::vector<FaithfulnessRow>& rows);

}  // namespace sav::attribution
