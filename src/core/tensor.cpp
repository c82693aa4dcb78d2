#include "sav/tensor.h"

#include "backends/backend.h"
#include "core/tensor_impl.h"
#include "sav/autograd.h"
#include "sav/error.h"

namespace sav {
namespace {

const TensorImpl& checked(const TensorImpl* impl) {
  if (impl == nullptr) fail("tensor: this tensor is undefined (default-constructed)");
  return *impl;
}

std::shared_ptr<TensorImpl> new_impl(const Shape& shape, Backend& backend) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->backend = &backend;
  return impl;
}

}  // namespace

TensorImpl::~TensorImpl() {
  if (grad_fn == nullptr) return;
  // Nodes whose last owner went while a teardown was already running wait here instead of
  // being destroyed one inside another.
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  pending.push_back(std::move(grad_fn));
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    node.reset();  // destroys its inputs; their nodes join `pending`
  }
  draining = false;
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  if (shape.rank() == 0)
    fail("tensor: a tensor needs at least one dimension (use [1] for a scalar)");
  Backend& backend = backend_for(device);
  return Tensor(new_impl(shape, backend),
                std::make_shared<Buffer>(backend, sizeof(float) * shape.numel()));
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.backend().fill(t.data(), value, t.numel());
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values, Device device) {
  if (static_cast<int64_t>(values.size()) != shape.numel()) {
    fail("tensor: ", values.size(), " values given for shape ", shape, ", which holds ",
         shape.numel());
  }
  Tensor t = empty(shape, device);
  t.copy_from(values);
  return t;
}

void Tensor::copy_from(const std::vector<float>& values) const {
  if (static_cast<int64_t>(values.size()) != numel()) {
    fail("tensor: ", values.size(), " values given for shape ", shape(), ", which holds ", numel());
  }
  backend().upload(data(), values.data(), sizeof(float) * values.size());
}

const Shape& Tensor::shape() const { return checked(impl_.get()).shape; }
Device Tensor::device() const { return backend().device(); }
Backend& Tensor::backend() const { return *checked(impl_.get()).backend; }
float* Tensor::data() const {
  checked(impl_.get());
  if (!values_) {
    fail("tensor: this handle has no values (a gradient_only handle of a ", impl_->shape,
         " tensor); keep the tensor itself where its values are read");
  }
  return values_->data();
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> values(numel());
  backend().download(values.data(), data(), sizeof(float) * values.size());
  return values;
}

float Tensor::item() const {
  if (numel() != 1) fail("tensor: item() needs a one-element tensor, this one has shape ", shape());
  return to_vector()[0];
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) {
    Tensor copy = empty(shape(), device);
    backend().copy(copy.data(), data(), sizeof(float) * numel());
    return copy;
  }
  return from_vector(shape(), to_vector(), device);
}

bool Tensor::requires_grad() const { return checked(impl_.get()).requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires) {
  if (!is_leaf()) {
    fail("tensor: set_requires_grad applies to leaves; this tensor was made by '", grad_fn()->op,
         "' (use detach() for a leaf copy)");
  }
  impl_->requires_grad = requires;
  return *this;
}

bool Tensor::is_leaf() const { return checked(impl_.get()).grad_fn == nullptr; }
const Node* Tensor::grad_fn() const { return checked(impl_.get()).grad_fn.get(); }

Tensor Tensor::grad() const {
  const TensorImpl& self = checked(impl_.get());
  if (!self.grad) return Tensor();
  return Tensor(new_impl(self.shape, *self.backend), self.grad);
}

void Tensor::zero_grad() const {
  const TensorImpl& self = checked(impl_.get());
  if (self.grad) backend().fill(self.grad->data(), 0.0f, numel());
}

void Tensor::retain_grad() const {
  checked(impl_.get());
  impl_->retain_grad = true;
}

bool Tensor::retains_grad() const { return checked(impl_.get()).retain_grad; }

void Tensor::backward() const {
  if (numel() != 1) {
    fail("backward: needs a one-element tensor (a loss), got shape ", shape(),
         "; pass the output gradient explicitly for a non-scalar");
  }
  detail::run_backward(*this, Tensor::full(shape(), 1.0f, device()));
}

void Tensor::backward(const Tensor& grad_output) const {
  checked(impl_.get());
  if (!grad_output.defined()) fail("backward: the output gradient is undefined");
  if (grad_output.shape() != shape()) {
    fail("backward: output gradient of shape ", grad_output.shape(),
         " does not match the tensor's shape ", shape());
  }
  if (grad_output.device() != device()) {
    fail("backward: output gradient is on ", grad_output.device(), ", the tensor on ", device());
  }
  detail::run_backward(*this, grad_output);
}

Tensor Tensor::detach() const {
  const TensorImpl& self = checked(impl_.get());
  data();  // a gradient_only handle has nothing to detach
  return Tensor(new_impl(self.shape, *self.backend), values_);
}

Tensor Tensor::gradient_only() const {
  checked(impl_.get());
  return Tensor(impl_, nullptr);
}

float* Tensor::grad_data() const {
  TensorImpl& self = const_cast<TensorImpl&>(checked(impl_.get()));
  if (!self.grad) {
    self.grad = std::make_shared<Buffer>(*self.backend, sizeof(float) * self.shape.numel());
    self.backend->fill(self.grad->data(), 0.0f, self.shape.numel());
  }
  return self.grad->data();
}

Tensor::GradSlot Tensor::grad_slot() const {
  TensorImpl& self = const_cast<TensorImpl&>(checked(impl_.get()));
  if (self.grad) return {self.grad->data(), false};
  self.grad = std::make_shared<Buffer>(*self.backend, sizeof(float) * self.shape.numel());
  return {self.grad->data(), true};
}

Tensor Tensor::view(const Shape& shape) const {
  const TensorImpl& self = checked(impl_.get());
  if (shape.numel() != self.shape.numel()) {
    fail("view: cannot view ", self.shape, " (", self.shape.numel(), " values) as ", shape, " (",
         shape.numel(), " values)");
  }
  data();  // a gradient_only handle has no values to view
  return Tensor(new_impl(shape, *self.backend), values_);
}

Tensor Tensor::prefix(const Shape& shape) const {
  const TensorImpl& self = checked(impl_.get());
  if (shape.rank() == 0 || shape.numel() > self.shape.numel()) {
    fail("prefix: cannot take ", shape, " (", shape.numel(), " values) from ", self.shape, " (",
         self.shape.numel(), " values)");
  }
  data();
  return Tensor(new_impl(shape, *self.backend), values_);
}

}  // namespace sav
