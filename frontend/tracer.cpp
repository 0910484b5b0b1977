// The tracer: a thread-local stack of traces, parameters and captured constants.
#include "frontend/tensor_impl.h"

#include <vector>

#include "ir/error.h"

namespace tj {

namespace {
thread_local std::vector<std::shared_ptr<Tracer>> trace_stack;
}

Tracer::Tracer() { program_.functions.emplace_back("traced"); }

std::shared_ptr<Tracer> Tracer::current() { return trace_stack.empty() ? nullptr : trace_stack.back(); }

Tensor Tracer::add_param(const TensorType& type) {
  Function& f = function();
  return make_traced(f.add_param("x" + std::to_string(f.params().size()), type));
}

Tensor Tracer::make_traced(Node* node) {
  auto impl = std::make_shared<TensorImpl>();
  impl->tracer = shared_from_this();
  impl->node = node;
  impl->type = node->type;
  return Tensor(impl);
}

Node* Tracer::capture(const Tensor& concrete) {
  const TensorImpl* key = concrete.impl().get();
  if (auto it = captured_.find(key); it != captured_.end()) return it->second.second;
  const Array& value = concrete.array();
  ConstValue c;
  if (value.numel() == 1 && value.rank() == 0) {
    if (is_float(value.dtype())) c.f = read_double(value.at(value.offset()), value.dtype());
    else c.i = read_int(value.at(value.offset()), value.dtype());
  } else {
    // A snapshot (as JAX and numba take one): the caller's tensor, or a numpy
    // array under it, may change in place later; the compiled program keeps
    // the values it was traced with (a matmul packs a constant B only once).
    c.symbol = "c" + std::to_string(next_constant_++);
    program_.constant_data[c.symbol] = value.copy();
  }
  Node* node = function().add_const(value.type(), c);
  captured_[key] = {concrete.impl(), node};
  return node;
}

Tracer::Scope::Scope(std::shared_ptr<Tracer> tracer) : tracer_(std::move(tracer)) { trace_stack.push_back(tracer_); }

Tracer::Scope::~Scope() {
  tracer_->active_ = false;
  trace_stack.pop_back();
}

}  // namespace tj
