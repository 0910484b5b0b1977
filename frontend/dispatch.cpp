// Traced and eager application of one op: a node appended to the trace of
// the operands, or the op run at once (frontend/eager.h).
#include "frontend/dispatch.h"

#include "frontend/eager.h"
#include "frontend/tensor_impl.h"
#include "ir/error.h"

namespace tj {

namespace {

std::shared_ptr<Tracer> trace_of(Op op, const std::vector<Tensor>& inputs) {
  std::shared_ptr<Tracer> tracer;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("{}: operand {} is an undefined tensor", op_name(op), i);
    const auto& impl = inputs[i].impl();
    if (!impl->tracer) continue;
    if (!impl->tracer->active())
      fail("{}: operand {} is a traced tensor of a finished trace (did it escape from a jit function?)", op_name(op), i);
    if (tracer && tracer != impl->tracer) fail("{}: operands belong to two different traces", op_name(op));
    tracer = impl->tracer;
  }
  return tracer;
}

}  // namespace

Tensor apply(Op op, const std::vector<Tensor>& inputs, Attrs attrs) {
  if (std::shared_ptr<Tracer> tracer = trace_of(op, inputs)) {
    std::vector<Node*> nodes;
    for (const Tensor& t : inputs) nodes.push_back(t.is_traced() ? t.impl()->node : tracer->capture(t));
    return tracer->make_traced(tracer->function().add(op, nodes, std::move(attrs)));
  }
  return run_eager(op, inputs, attrs);
}

}  // namespace tj
