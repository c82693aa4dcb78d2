#include "sav/attribution/explain.h"

#include <algorithm>
#include <cmath>

#include "sav/autograd.h"
#include "sav/error.h"

namespace sav::attribution {

std::vector<float> softmax(const float* logits, int classes) {
  const float top = *std::max_element(logits, logits + classes);
  std::vector<float> p(classes);
  double sum = 0;
  for (int j = 0; j < classes; ++j) sum += p[j] = std::exp(logits[j] - top);
  for (float& x : p) x = static_cast<float>(x / sum);
  return p;
}

std::vector<ImageExplanation> explain(const nn::VisionTransformer& model, const Tensor& patches,
                                      const ExplainOptions& options, uint64_t first_index) {
  const nn::VitConfig& c = model.config();
  const int classes = static_cast<int>(c.classes);
  if (options.explained_class >= classes) {
    usage_fail("class ", options.explained_class, " does not exist (the model has ", classes,
               " classes)");
  }
  if (!options.explained_classes.empty()) {
    if (static_cast<int64_t>(options.explained_classes.size()) != patches.shape()[0]) {
      fail("explain: ", options.explained_classes.size(), " classes given for ",
           patches.shape()[0], " images");
    }
    for (int k : options.explained_classes) {
      if (k < 0 || k >= classes) {
        usage_fail("class ", k, " does not exist (the model has ", classes, " classes)");
      }
    }
  }
  const bool gradients = std::any_of(options.methods.begin(), options.methods.end(), needs_gradients);
  const int64_t batch = patches.shape()[0], n = c.tokens(), d = c.d_model;
  const int layers = static_cast<int>(c.layers), heads = static_cast<int>(c.heads);

  // Gradients flow only where the parameters record the tape; without gradient methods the
  // forward pass runs as evaluation does.
  std::unique_ptr<NoGradGuard> no_grad;
  if (!gradients) no_grad = std::make_unique<NoGradGuard>();
  nn::VitOutput out = model.forward(patches, false);
  const std::vector<float> logits = out.logits.to_vector();

  std::vector<ImageExplanation> result(batch);
  std::vector<float> seed(batch * classes, 0.0f);
  for (int64_t b = 0; b < batch; ++b) {
    ImageExplanation& e = result[b];
    const float* row = logits.data() + b * classes;
    e.predicted = static_cast<int>(std::max_element(row, row + classes) - row);
    e.explained = !options.explained_classes.empty() ? options.explained_classes[b]
                  : options.explained_class >= 0       ? options.explained_class
                                                       : e.predicted;
    e.probabilities = softmax(row, classes);
    e.probability = e.probabilities[e.explained];
    seed[b * classes + e.explained] = 1.0f;  // images are independent: one pass serves all
  }
  if (gradients) {
    for (Tensor& a : out.attention) a.retain_grad();
    out.last_layer_input.retain_grad();
    out.logits.backward(Tensor::from_vector(out.logits.shape(), seed, out.logits.device()));
  }

  std::vector<std::vector<float>> probs, grads;
  for (const Tensor& a : out.attention) {
    probs.push_back(a.to_vector());
    grads.push_back(gradients ? a.grad().to_vector() : std::vector<float>());
  }
  const std::vector<float> tokens = out.last_layer_input.to_vector();
  const std::vector<float> token_grads =
      gradients ? out.last_layer_input.grad().to_vector() : std::vector<float>();

  const int64_t per_head = n * n, per_image = heads * per_head;
  for (int64_t b = 0; b < batch; ++b) {
    AttentionStack stack{layers, heads, static_cast<int>(n), {}, {}};
    stack.probs.reserve(layers * per_image);
    for (int l = 0; l < layers; ++l) {
      stack.probs.insert(stack.probs.end(), probs[l].begin() + b * per_image,
                         probs[l].begin() + (b + 1) * per_image);
      if (gradients) {
        stack.grads.insert(stack.grads.end(), grads[l].begin() + b * per_image,
                           grads[l].begin() + (b + 1) * per_image);
      }
    }
    const std::vector<float> x(tokens.begin() + b * n * d, tokens.begin() + (b + 1) * n * d);
    std::vector<float> dx;
    if (gradients) dx.assign(token_grads.begin() + b * n * d, token_grads.begin() + (b + 1) * n * d);
    MethodInputs inputs;
    inputs.attention = &stack;
    inputs.tokens = &x;
    inputs.token_grads = gradients ? &dx : nullptr;
    inputs.d_model = static_cast<int>(d);
    inputs.random_seed = options.random_seed;
    inputs.image_index = first_index + static_cast<uint64_t>(b);
    for (Method method : options.methods) {
      result[b].scores.push_back(compute_scores(method, inputs, options.settings));
    }
  }
  return result;
}

}  // namespace sav::attribution
