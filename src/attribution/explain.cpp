#include "sav/attribution/explain.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "sav/autograd.h"
#include "sav/error.h"

namespace sav::attribution {
namespace {

// A class the model does not have is the caller's mistake; a list of classes of the wrong length
// is the program's.
void check_explained_classes(const ExplainOptions& options, int classes, int64_t batch) {
  if (options.explained_class >= classes) {
    usage_fail("class ", options.explained_class, " does not exist (the model has ", classes,
               " classes)");
  }
  if (options.explained_classes.empty()) return;
  if (static_cast<int64_t>(options.explained_classes.size()) != batch) {
    fail("explain: ", options.explained_classes.size(), " classes given for ", batch, " images");
  }
  for (int k : options.explained_classes) {
    if (k < 0 || k >= classes) {
      usage_fail("class ", k, " does not exist (the model has ", classes, " classes)");
    }
  }
}

// Each image's prediction and probabilities, and the class its maps explain; the maps come later.
std::vector<ImageExplanation> predictions(const std::vector<float>& logits, int64_t batch,
                                          int classes, const ExplainOptions& options) {
  std::vector<ImageExplanation> result(batch);
  for (int64_t b = 0; b < batch; ++b) {
    ImageExplanation& e = result[b];
    const float* row = logits.data() + b * classes;
    e.predicted = static_cast<int>(std::max_element(row, row + classes) - row);
    e.explained = !options.explained_classes.empty() ? options.explained_classes[b]
                  : options.explained_class >= 0     ? options.explained_class
                                                     : e.predicted;
    e.probabilities = softmax(row, classes);
    e.probability = e.probabilities[e.explained];
  }
  return result;
}

// The gradient the backward pass starts from: 1 at each image's explained logit. Images are
// independent, so one pass serves them all.
std::vector<float> logit_seed(const std::vector<ImageExplanation>& result, int classes) {
  std::vector<float> seed(result.size() * classes, 0.0f);
  for (size_t b = 0; b < result.size(); ++b) seed[b * classes + result[b].explained] = 1.0f;
  return seed;
}

// What the methods read, on the host: each layer's attention probabilities and their gradients,
// the last layer's input tokens and theirs (gradients empty when no method needs them).
struct HostValues {
  std::vector<std::vector<float>> probs, grads;
  std::vector<float> tokens, token_grads;
};

// Takes what the methods read out of the model's output and lets the rest of the tape go: the
// tensors are detached first (their values without the graph behind them), the output is
// cleared, and each one is dropped as soon as it is on the host, so that the tape and the host
// copies are never held whole at the same time.
HostValues host_values(nn::VitOutput& out, bool gradients) {
  std::vector<Tensor> probs, grads;
  for (const Tensor& a : out.attention) {
    probs.push_back(a.detach());
    grads.push_back(gradients ? a.grad().detach() : Tensor());
  }
  Tensor tokens = out.last_layer_input.detach();
  Tensor token_grads = gradients ? out.last_layer_input.grad().detach() : Tensor();
  out = nn::VitOutput();
  HostValues values;
  for (size_t l = 0; l < probs.size(); ++l) {
    values.probs.push_back(probs[l].to_vector());
    probs[l] = Tensor();
    values.grads.push_back(gradients ? grads[l].to_vector() : std::vector<float>());
    grads[l] = Tensor();
  }
  values.tokens = tokens.to_vector();
  if (gradients) values.token_grads = token_grads.to_vector();
  return values;
}

// Image b's maps, one per method, from its slice of the batch's values.
std::vector<std::vector<float>> image_scores(const HostValues& values, const nn::VitConfig& c,
                                             int64_t b, bool gradients,
                                             const ExplainOptions& options, uint64_t image_index) {
  const int64_t n = c.tokens(), d = c.d_model;
  const int layers = static_cast<int>(c.layers), heads = static_cast<int>(c.heads);
  const int64_t per_head = n * n, per_image = heads * per_head;
  const int prefix = static_cast<int>(c.prefix_tokens());
  AttentionStack stack{layers, heads, static_cast<int>(n), prefix, {}, {}};
  stack.probs.reserve(layers * per_image);
  for (int l = 0; l < layers; ++l) {
    stack.probs.insert(stack.probs.end(), values.probs[l].begin() + b * per_image,
                       values.probs[l].begin() + (b + 1) * per_image);
    if (gradients) {
      stack.grads.insert(stack.grads.end(), values.grads[l].begin() + b * per_image,
                         values.grads[l].begin() + (b + 1) * per_image);
    }
  }
  const std::vector<float> x(values.tokens.begin() + b * n * d,
                             values.tokens.begin() + (b + 1) * n * d);
  std::vector<float> dx;
  if (gradients) {
    dx.assign(values.token_grads.begin() + b * n * d, values.token_grads.begin() + (b + 1) * n * d);
  }
  MethodInputs inputs;
  inputs.attention = &stack;
  inputs.tokens = &x;
  inputs.token_grads = gradients ? &dx : nullptr;
  inputs.d_model = static_cast<int>(d);
  inputs.prefix_tokens = prefix;
  inputs.random_seed = options.random_seed;
  inputs.image_index = image_index;
  std::vector<std::vector<float>> scores;
  for (Method method : options.methods) {
    scores.push_back(compute_scores(method, inputs, options.settings));
  }
  return scores;
}

}  // namespace

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
  const int64_t batch = patches.shape()[0];
  check_explained_classes(options, classes, batch);
  const bool gradients =
      std::any_of(options.methods.begin(), options.methods.end(), needs_gradients);

  // The gradient methods need the gradients of the attention and of the last block's input, not
  // the parameters': the parameters are frozen and the tape starts at the images (a copy of the
  // handle, so that the caller's tensor is left as it is). Without gradient methods the forward
  // pass runs as evaluation does.
  std::unique_ptr<NoGradGuard> no_grad;
  std::unique_ptr<nn::FrozenParameters> frozen;
  Tensor input = patches;
  if (gradients) {
    frozen = std::make_unique<nn::FrozenParameters>(model);
    input = patches.detach();
    input.set_requires_grad();
  } else {
    no_grad = std::make_unique<NoGradGuard>();
  }
  nn::VitOutput out = model.forward(input);
  std::vector<ImageExplanation> result =
      predictions(out.logits.to_vector(), batch, classes, options);
  if (gradients) {
    for (Tensor& a : out.attention) a.retain_grad();
    out.last_layer_input.retain_grad();
    out.logits.backward(
        Tensor::from_vector(out.logits.shape(), logit_seed(result, classes), out.logits.device()));
  }

  const HostValues values = host_values(out, gradients);
  frozen.reset();  // the tape is gone: the parameters take gradients again
  for (int64_t b = 0; b < batch; ++b) {
    result[b].scores =
        image_scores(values, c, b, gradients, options, first_index + static_cast<uint64_t>(b));
  }
  return result;
}

}  // namespace sav::attribution
