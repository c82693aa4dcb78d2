#include "sav/attribution/faithfulness_report.h"

#include <cstdio>
#include <sstream>

#include "sav/error.h"

namespace sav::attribution {
namespace {

std::vector<double> gaps(const MethodFaithfulness& m) {
  std::vector<double> g(m.deletion_auc.size());
  for (size_t i = 0; i < g.size(); ++i) g[i] = m.insertion_auc[i] - m.deletion_auc[i];
  return g;
}

// "0.123 [0.101, 0.145]", "-" where nothing was measured, and "0.123 [1 image]" where one image
// gives no interval.
std::string interval(const MeanInterval& v) {
  if (v.count == 0) return "-";
  char text[96];
  if (v.count == 1) {
    std::snprintf(text, sizeof text, "%.3f [1 image]", v.mean);
  } else {
    std::snprintf(text, sizeof text, "%.3f [%.3f, %.3f]", v.mean, v.low, v.high);
  }
  return text;
}

// "+0.050 [+0.031, +0.069]": a difference, signed.
std::string difference(const MeanInterval& v) {
  if (v.count == 0) return "-";
  char text[96];
  if (v.count == 1) {
    std::snprintf(text, sizeof text, "%+.3f [1 image]", v.mean);
  } else {
    std::snprintf(text, sizeof text, "%+.3f [%+.3f, %+.3f]", v.mean, v.low, v.high);
  }
  return text;
}

// ",mean,low,high"; the interval's ends left empty where there is none (no image, or one).
void csv_interval(std::ostringstream& out, const MeanInterval& v) {
  if (v.count == 0) {
    out << ",,,";
    return;
  }
  char text[96];
  if (v.count == 1) {
    std::snprintf(text, sizeof text, ",%.6f,,", v.mean);
  } else {
    std::snprintf(text, sizeof text, ",%.6f,%.6f,%.6f", v.mean, v.low, v.high);
  }
  out << text;
}

// "on a grid of 8 x 8 patches of 4 x 4 pixels (a 32 x 32 image, 3 channels)"
std::string grid_text(const PatchGrid& g) {
  std::ostringstream out;
  out << "on a grid of " << g.rows << " x " << g.cols << " patches of " << g.patch << " x "
      << g.patch << " pixels (a " << g.height() << " x " << g.width() << " image, " << g.channels
      << (g.channels == 1 ? " channel)" : " channels)");
  return out.str();
}

// "the training set's channel means (0.491, 0.482, 0.447)"
std::string fill_text(const DeletionFill& fill) {
  std::ostringstream out;
  out << (fill.description.empty() ? "the values" : fill.description) << " (";
  for (size_t c = 0; c < fill.values.size(); ++c) {
    char value[32];
    std::snprintf(value, sizeof value, "%.3f", fill.values[c]);
    out << (c > 0 ? ", " : "") << value;
  }
  out << ")";
  return out.str();
}

// "64 steps of 1 patch, 65 points a curve"
std::string steps_text(const FaithfulnessResult& result) {
  const int per_step = result.steps > 0 ? result.grid.patches() / result.steps : 0;
  std::ostringstream out;
  out << result.steps << (result.steps == 1 ? " step of " : " steps of ") << per_step
      << (per_step == 1 ? " patch, " : " patches, ") << result.steps + 1 << " points a curve";
  return out.str();
}

}  // namespace

std::vector<FaithfulnessRow> summarize(const FaithfulnessResult& result) {
  if (result.methods.empty() || result.methods.back().method != "random") {
    fail("faithfulness: a result needs the random baseline as its last method");
  }
  const MethodFaithfulness& random = result.methods.back();
  std::vector<FaithfulnessRow> rows;
  for (const MethodFaithfulness& m : result.methods) {
    FaithfulnessRow row;
    row.method = m.method;
    row.deletion = mean_confidence_interval(m.deletion_auc);
    row.insertion = mean_confidence_interval(m.insertion_auc);
    row.gap = mean_confidence_interval(gaps(m));
    if (&m != &random) {
      row.deletion_vs_random = paired_difference(m.deletion_auc, random.deletion_auc);
      row.insertion_vs_random = paired_difference(m.insertion_auc, random.insertion_auc);
      row.gap_vs_random = paired_difference(gaps(m), gaps(random));
    }
    if (!m.randomized_correlation.empty()) {
      row.randomized_correlation = mean_confidence_interval(m.randomized_correlation);
    }
    rows.push_back(row);
  }
  return rows;
}

std::string faithfulness_markdown(const FaithfulnessResult& result,
                                  const std::vector<FaithfulnessRow>& rows,
                                  const std::string& source) {
  std::ostringstream out;
  out << "# Faithfulness\n\n"
      << source << ": " << result.images << " " << result.image_description << ", the "
      << result.target << " class's probability, " << grid_text(result.grid)
      << ". Deletion fills the ranked patches with " << fill_text(result.fill)
      << "; insertion reveals them on a Gaussian blur of sigma " << result.blur_sigma << " pixels. "
      << steps_text(result) << ", AUC by the trapezoid rule on [0, 1]; random is the mean of "
      << result.random_draws
      << " random maps per image. Means with 95 % confidence intervals "
         "(Student t, over images); \"vs random\" is the paired difference on the same images.\n\n";
  out << "| method | deletion AUC (lower is better) | insertion AUC (higher is better) | "
         "insertion - deletion | deletion vs random | insertion vs random | "
         "(ins - del) vs random | rank corr. with randomised model |\n"
      << "|---|---|---|---|---|---|---|---|\n";
  for (const FaithfulnessRow& r : rows) {
    out << "| " << r.method << " | " << interval(r.deletion) << " | " << interval(r.insertion)
        << " | " << interval(r.gap) << " | " << difference(r.deletion_vs_random) << " | "
        << difference(r.insertion_vs_random) << " | " << difference(r.gap_vs_random) << " | "
        << interval(r.randomized_correlation) << " |\n";
  }
  out << "\nA method explains the model better than chance where its deletion AUC is below "
         "random's and its insertion AUC above, with intervals of the paired difference that "
         "exclude 0. The last column is the sanity check of Adebayo et al. (2018): the Spearman "
         "correlation between a method's maps on the trained model and on a copy with "
         "randomised weights, per image; near 1 means the maps do not depend on what the model "
         "learned.\n";
  return out.str();
}

std::string faithfulness_csv(const std::vector<FaithfulnessRow>& rows) {
  std::ostringstream out;
  out << "method,images";
  for (const char* name :
       {"deletion", "insertion", "insertion_minus_deletion", "deletion_vs_random",
        "insertion_vs_random", "insertion_minus_deletion_vs_random", "randomized_correlation"}) {
    out << ',' << name << "_mean," << name << "_low," << name << "_high";
  }
  out << '\n';
  for (const FaithfulnessRow& r : rows) {
    out << r.method << ',' << r.deletion.count;
    for (const MeanInterval* v :
         {&r.deletion, &r.insertion, &r.gap, &r.deletion_vs_random, &r.insertion_vs_random,
          &r.gap_vs_random, &r.randomized_correlation}) {
      csv_interval(out, *v);
    }
    out << '\n';
  }
  return out.str();
}

std::string faithfulness_text(const std::vector<FaithfulnessRow>& rows) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-13s %-24s %-24s %-24s %-24s\n", "method", "deletion AUC",
                "insertion AUC", "ins - del vs random", "corr. randomised");
  out << line;
  for (const FaithfulnessRow& r : rows) {
    std::snprintf(line, sizeof line, "%-13s %-24s %-24s %-24s %-24s\n", r.method.c_str(),
                  interval(r.deletion).c_str(), interval(r.insertion).c_str(),
                  difference(r.gap_vs_random).c_str(), interval(r.randomized_correlation).c_str());
    out << line;
  }
  return out.str();
}

}  // namespace sav::attribution
