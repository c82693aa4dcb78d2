#include "sav/attribution/methods.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "sav/error.h"
#include "sav/random.h"

namespace sav::attribution {
namespace {

constexpr const char* kMethodNames = "seed, rollout, last, grad-rollout, gradcam, random";

void check_stack(const AttentionStack& stack, const RollupOptions& options, const char* where) {
  if (stack.layers < 1 || stack.heads < 1 || stack.prefix_tokens < 1 ||
      stack.tokens <= stack.prefix_tokens) {
    fail(where, ": attention stack of ", stack.layers, " layers, ", stack.heads, " heads, ",
         stack.tokens, " tokens, ", stack.prefix_tokens, " of them before the patches (need at ",
         "least 1 layer, 1 head, CLS and a patch)");
  }
  const size_t expected =
      size_t(stack.layers) * size_t(stack.heads) * size_t(stack.tokens) * size_t(stack.tokens);
  if (stack.probs.size() != expected) {
    fail(where, ": attention probs hold ", stack.probs.size(), " values, expected layers ",
         stack.layers, " x heads ", stack.heads, " x tokens ", stack.tokens, "^2 = ", expected,
         " (fill AttentionStack.probs in [layers, heads, tokens, tokens] order)");
  }
  if (!stack.grads.empty() && stack.grads.size() != expected) {
    fail(where, ": attention grads hold ", stack.grads.size(), " values, expected ", expected,
         " (the layout of probs) or none");
  }
  if (options.gradient_weighted && stack.grads.empty()) {
    fail(where, ": gradient weighting (grad-rollout) needs the gradient of the explained logit",
         " with respect to every attention probability, but AttentionStack.grads is empty",
         " (keep the attention gradients in the backward pass, or pick a method without them)");
  }
  const double a = options.identity_weight, b = options.attention_weight;
  if (!(a >= 0 && b >= 0 && a + b > 0 && std::isfinite(a + b))) {
    fail(where, ": identity weight ", a, " and attention weight ", b,
         " must be finite, non-negative and not both zero");
  }
  if (!(options.discard_ratio >= 0 && options.discard_ratio < 1)) {
    fail(where, ": discard ratio ", options.discard_ratio,
         " is outside [0, 1) (it is the fraction of each fused matrix set to zero)");
  }
  fusion_name(options.fusion);  // fails on a value outside the enum
  if (options.last_layers < 0 || options.last_layers > stack.layers) {
    fail(where, ": last_layers ", options.last_layers, " is outside [0, ", stack.layers,
         "] (0 takes every layer)");
  }
}

// Writes B_l ([n, n], row-major) into `out`; the stack and options are already checked.
void fill_layer_matrix(const AttentionStack& stack, int layer, const RollupOptions& options,
                       std::vector<double>& out) {
  const int n = stack.tokens;
  const size_t matrix = size_t(n) * size_t(n);
  out.assign(matrix, 0.0);
  for (int h = 0; h < stack.heads; ++h) {
    const size_t base = (size_t(layer) * size_t(stack.heads) + size_t(h)) * matrix;
    for (size_t i = 0; i < matrix; ++i) {
      const double p = stack.probs[base + i];
      if (!(p >= 0 && std::isfinite(p))) {
        fail("rollup: attention probability ", p, " at layer ", layer, ", head ", h, ", query ",
             i / size_t(n), ", key ", i % size_t(n), " is not a finite non-negative number");
      }
      double g = p;
      if (options.gradient_weighted) {
        const double grad = stack.grads[base + i];
        if (!std::isfinite(grad)) {
          fail("rollup: attention gradient ", grad, " at layer ", layer, ", head ", h,
               " is not finite");
        }
        g = std::max(0.0, grad * p);
      }
      switch (options.fusion) {
        case HeadFusion::kMean:
        case HeadFusion::kSum: out[i] += g; break;
        case HeadFusion::kMax: out[i] = h == 0 ? g : std::max(out[i], g); break;
        case HeadFusion::kMin: out[i] = h == 0 ? g : std::min(out[i], g); break;
      }
    }
  }
  if (options.fusion == HeadFusion::kMean) {
    for (double& v : out) v /= stack.heads;
  }
  // Discard among the n (n - 1) entries outside column 0: the CLS column is never dropped.
  const size_t discard = size_t(options.discard_ratio * double(size_t(n) * size_t(n - 1)));
  if (discard > 0) {
    std::vector<size_t> candidates;
    candidates.reserve(size_t(n) * size_t(n - 1));
    for (size_t i = 0; i < matrix; ++i) {
      if (i % size_t(n) != 0) candidates.push_back(i);
    }
    std::nth_element(
        candidates.begin(), candidates.begin() + std::ptrdiff_t(discard) - 1, candidates.end(),
        [&out](size_t x, size_t y) { return out[x] < out[y] || (out[x] == out[y] && x < y); });
    for (size_t k = 0; k < discard; ++k) out[candidates[k]] = 0.0;
  }
  for (int r = 0; r < n; ++r) {
    double* row = out.data() + size_t(r) * size_t(n);
    double sum = 0;
    for (int c = 0; c < n; ++c) {
      row[c] = options.attention_weight * row[c] + (r == c ? options.identity_weight : 0.0);
      sum += row[c];
    }
    if (options.normalize_rows && sum > 0) {
      for (int c = 0; c < n; ++c) row[c] /= sum;
    }
  }
}

}  // namespace

HeadFusion parse_fusion(const std::string& name) {
  for (HeadFusion f : {HeadFusion::kMean, HeadFusion::kMax, HeadFusion::kMin, HeadFusion::kSum}) {
    if (fusion_name(f) == name) return f;
  }
  usage_fail("unknown head fusion '", name, "' (use one of: mean, max, min, sum)");
}

std::string fusion_name(HeadFusion fusion) {
  switch (fusion) {
    case HeadFusion::kMean: return "mean";
    case HeadFusion::kMax: return "max";
    case HeadFusion::kMin: return "min";
    case HeadFusion::kSum: return "sum";
  }
  fail("fusion_name: invalid HeadFusion value ", static_cast<int>(fusion));
}

std::vector<double> layer_matrix(const AttentionStack& stack, int layer,
                                 const RollupOptions& options) {
  check_stack(stack, options, "layer_matrix");
  if (layer < 0 || layer >= stack.layers) {
    fail("layer_matrix: layer ", layer, " is outside [0, ", stack.layers, ")");
  }
  std::vector<double> out;
  fill_layer_matrix(stack, layer, options, out);
  return out;
}

std::vector<float> rollup(const AttentionStack& stack, const RollupOptions& options) {
  check_stack(stack, options, "rollup");
  const size_t n = static_cast<size_t>(stack.tokens);
  const int first = options.last_layers == 0 ? 0 : stack.layers - options.last_layers;
  // Only row 0 of B_N ... B_first is needed: carry e_0^T through the product from the left,
  // row <- row B_l for l = N .. first, O(n^2) per layer instead of a matrix product.
  std::vector<double> row(n, 0.0), next(n, 0.0), matrix;
  row[0] = 1.0;
  for (int l = stack.layers - 1; l >= first; --l) {
    fill_layer_matrix(stack, l, options, matrix);
    std::fill(next.begin(), next.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      if (row[i] == 0) continue;
      for (size_t j = 0; j < n; ++j) next[j] += row[i] * matrix[i * n + j];
    }
    row.swap(next);
  }
  return std::vector<float>(row.begin() + stack.prefix_tokens, row.end());
}

std::vector<float> gradcam(const std::vector<float>& tokens, const std::vector<float>& token_grads,
                           int n, int d, int prefix) {
  if (prefix < 1 || n <= prefix || d < 1) {
    fail("gradcam: ", n, " tokens of width ", d, " with ", prefix, " before the patches (need ",
         "CLS and at least a patch, and width 1)");
  }
  const size_t expected = size_t(n) * size_t(d);
  if (tokens.size() != expected || token_grads.size() != expected) {
    fail("gradcam: tokens hold ", tokens.size(), " and token gradients ", token_grads.size(),
         " values, expected ", n, " x ", d, " = ", expected, " each ([tokens, d_model])");
  }
  // Channel weights: the gradient averaged over the patch tokens (CLS and the like excluded).
  std::vector<double> weights(size_t(d), 0.0);
  for (int t = prefix; t < n; ++t) {
    const float* grad = token_grads.data() + size_t(t) * size_t(d);
    for (int c = 0; c < d; ++c) weights[size_t(c)] += grad[c];
  }
  for (double& w : weights) w /= (n - prefix);
  std::vector<float> scores(size_t(n - prefix));
  for (int t = prefix; t < n; ++t) {
    const float* token = tokens.data() + size_t(t) * size_t(d);
    double sum = 0;
    for (int c = 0; c < d; ++c) sum += weights[size_t(c)] * token[c];
    if (!std::isfinite(sum)) fail("gradcam: the score of token ", t, " is not finite");
    scores[size_t(t - prefix)] = static_cast<float>(std::max(0.0, sum));
  }
  return scores;
}

std::vector<float> random_scores(int patches, uint64_t seed, uint64_t image_index) {
  if (patches < 0) fail("random_scores: ", patches, " patches (need a non-negative count)");
  std::vector<float> scores(static_cast<size_t>(patches));
  for (int p = 0; p < patches; ++p) {
    const PhiloxBlock bits = random_block(seed, image_index, uint64_t(p) / 4);
    scores[size_t(p)] = uniform_from_bits(bits[size_t(p % 4)]);
  }
  return scores;
}

Method parse_method(const std::string& name) {
  for (Method m : all_methods()) {
    if (method_name(m) == name) return m;
  }
  usage_fail("unknown attribution method '", name, "' (use one of: ", kMethodNames, ")");
}

std::string method_name(Method method) {
  switch (method) {
    case Method::kSeed: return "seed";
    case Method::kRollout: return "rollout";
    case Method::kLast: return "last";
    case Method::kGradRollout: return "grad-rollout";
    case Method::kGradcam: return "gradcam";
    case Method::kRandom: return "random";
  }
  fail("method_name: invalid Method value ", static_cast<int>(method));
}

const std::vector<Method>& all_methods() {
  static const std::vector<Method> methods{Method::kSeed,        Method::kRollout, Method::kLast,
                                           Method::kGradRollout, Method::kGradcam, Method::kRandom};
  return methods;
}

bool needs_gradients(Method method) {
  return method == Method::kGradRollout || method == Method::kGradcam;
}

bool is_rollup(Method method) {
  return method == Method::kSeed || method == Method::kRollout || method == Method::kLast ||
         method == Method::kGradRollout;
}

RollupOptions rollup_options(Method method, const MethodSettings& settings) {
  RollupOptions options;
  switch (method) {
    case Method::kSeed:  // I + sum_h A_l, unnormalised (paper eq. 17)
      options.fusion = HeadFusion::kSum;
      break;
    case Method::kRollout:
      if (!(settings.residual_weight >= 0 && settings.residual_weight <= 1)) {
        fail("rollout: residual weight ", settings.residual_weight, " is outside [0, 1]");
      }
      options.identity_weight = settings.residual_weight;
      options.attention_weight = 1.0 - settings.residual_weight;
      options.fusion = settings.fusion;
      options.normalize_rows = true;
      options.discard_ratio = settings.discard_ratio;
      break;
    case Method::kLast:  // row 0 of mean_h A_N alone
      options.identity_weight = 0.0;
      options.last_layers = 1;
      break;
    case Method::kGradRollout:  // R <- R + mean_h(max(0, dA * A)) R
      options.gradient_weighted = true;
      break;
    case Method::kGradcam:
    case Method::kRandom:
      fail("rollup_options: method '", method_name(method), "' is not a rollup of attention");
  }
  return options;
}

std::vector<float> compute_scores(Method method, const MethodInputs& inputs,
                                  const MethodSettings& settings) {
  if (is_rollup(method)) {
    if (inputs.attention == nullptr) {
      fail("compute_scores: method '", method_name(method),
           "' needs the attention probabilities, but MethodInputs.attention is null");
    }
    return rollup(*inputs.attention, rollup_options(method, settings));
  }
  if (method == Method::kGradcam) {
    if (inputs.tokens == nullptr || inputs.token_grads == nullptr || inputs.d_model < 1) {
      fail("compute_scores: method 'gradcam' needs the tokens entering the last layer, their ",
           "gradients and d_model (MethodInputs.tokens / token_grads / d_model are not all set)");
    }
    if (inputs.tokens->size() % size_t(inputs.d_model) != 0) {
      fail("compute_scores: gradcam tokens hold ", inputs.tokens->size(),
           " values, not a multiple of d_model ", inputs.d_model);
    }
    const int n = static_cast<int>(inputs.tokens->size() / size_t(inputs.d_model));
    return gradcam(*inputs.tokens, *inputs.token_grads, n, inputs.d_model, inputs.prefix_tokens);
  }
  int patches = inputs.patches;
  if (patches == 0 && inputs.attention != nullptr) {
    patches = inputs.attention->tokens - inputs.attention->prefix_tokens;
  }
  if (patches < 1) {
    fail("compute_scores: method 'random' needs the number of patches (set MethodInputs.patches",
         " or MethodInputs.attention)");
  }
  return random_scores(patches, inputs.random_seed, inputs.image_index);
}

std::vector<float> min_max_normalize(std::vector<float> scores) {
  if (scores.empty()) return scores;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      fail("min_max_normalize: score ", i, " is ", scores[i], " (every score must be finite)");
    }
  }
  const auto [low, high] = std::minmax_element(scores.begin(), scores.end());
  const double min = *low, range = double(*high) - double(*low);
  for (float& s : scores) s = range > 0 ? static_cast<float>((s - min) / range) : 0.0f;
  return scores;
}

}  // namespace sav::attribution
