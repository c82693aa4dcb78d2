#include "sav/autograd.h"

#include <unordered_set>
#include <utility>

#include "core/tensor_impl.h"
#include "sav/error.h"

namespace sav {
namespace {

thread_local bool g_grad_enabled = true;

// Every tensor that leads to `root` through ops requiring gradients, inputs before the tensors
// made from them (depth-first post-order, iterative so that deep graphs cannot overflow).
std::vector<Tensor> topological_order(const Tensor& root) {
  std::vector<Tensor> order;
  std::unordered_set<const TensorImpl*> visited{root.impl()};
  std::vector<std::pair<Tensor, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [tensor, next_input] = stack.back();
    const Node* node = tensor.grad_fn();
    if (node != nullptr && next_input < node->inputs.size()) {
      const Tensor& input = node->inputs[next_input++];
      if (input.defined() && input.requires_grad() && visited.insert(input.impl()).second) {
        stack.emplace_back(input, 0);
      }
      continue;
    }
    order.push_back(tensor);
    stack.pop_back();
  }
  return order;
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Tensor record(Tensor out, const char* op, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any_requires = false;
  for (const Tensor& input : inputs) any_requires |= input.defined() && input.requires_grad();
  if (!any_requires) return out;
  for (Tensor& input : inputs) {
    if (input.defined()) input = input.gradient_only();
  }
  out.impl()->grad_fn = std::make_shared<Node>(Node{op, std::move(inputs), std::move(backward)});
  out.impl()->requires_grad = true;
  return out;
}

void detail::run_backward(const Tensor& root, const Tensor& grad_output) {
  if (!root.requires_grad()) {
    fail(
        "backward: this tensor does not require a gradient (no input of the ops that made it "
        "requires one, or it was computed under NoGradGuard)");
  }
  Backend& backend = root.backend();
  const std::vector<Tensor> order = topological_order(root);

  // A non-leaf's gradient is this pass's alone; leaves accumulate across passes. Non-leaf
  // gradients are allocated when their first contribution arrives (grad_data) and freed as soon
  // as their op has passed them on, so that only a few exist at any time.
  for (const Tensor& tensor : order) {
    if (!tensor.is_leaf()) tensor.impl()->grad.reset();
  }
  const Tensor::GradSlot seed = root.grad_slot();  // a leaf's may hold earlier passes' sums
  if (seed.overwrite) {
    backend.copy(seed.data, grad_output.data(), sizeof(float) * root.numel());
  } else {
    backend.accumulate(seed.data, grad_output.data(), root.numel());
  }

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl& impl = *it->impl();
    // No gradient arrived (nothing downstream depends on this tensor): its op's contribution
    // would be zero, since every backward is linear in its output gradient.
    if (impl.grad_fn == nullptr || impl.grad == nullptr) continue;
    impl.grad_fn->backward(it->grad());
    if (!impl.retain_grad) impl.grad.reset();
  }
}

}  // namespace sav
