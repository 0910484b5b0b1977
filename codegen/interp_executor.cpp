// Kernel-by-kernel execution on the reference interpreter.
#include "codegen/interp_executor.h"

#include <cstring>
#include <map>

#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/schedule.h"
#include "runtime/parallel.h"

namespace tj {

namespace {

void copy_values(const Array& src, const Array& dst) {
  const Array dense = src.contiguous();
  const size_t bytes = static_cast<size_t>(dense.numel() * dtype_size(dense.dtype()));
  if (bytes > 0) std::memcpy(dst.mutable_at(dst.offset()), dense.at(dense.offset()), bytes);
}

class KernelRunner {
 public:
  KernelRunner(const Program& program, const Function& f) : program_(program), f_(f) {}

  std::vector<Array> run(const std::vector<Array>& inputs) {
    const std::vector<Node*> params = f_.params();
    if (inputs.size() != params.size()) fail("@{} takes {} input(s), got {}", f_.name(), params.size(), inputs.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (inputs[i].type() != params[i]->type)
        fail("@{}: input %{} must be {}, got {}", f_.name(), params[i]->name, type_to_string(params[i]->type),
             type_to_string(inputs[i].type()));
      materialized_[params[i]] = inputs[i];
    }
    arena_ = Array::zeros(DType::boolean, {memory_plan(f_).arena_bytes});
    for (const Kernel& kernel : list_kernels(f_)) run_kernel(kernel);
    std::vector<Array> results;
    local_.clear();
    for (Node* r : f_.results()) results.push_back(value(r));  // a reshaped result is a view of its writer's buffer
    return results;
  }

 private:
  void run_kernel(const Kernel& kernel) {
    local_.clear();
    for (Node* n : kernel.nodes) local_[n] = is_compute(n->op) ? compute(n) : value(n);
    for (Node* out : kernel.outputs.empty() ? kernel.nodes : kernel.outputs) {
      Array result = Array::zeros(out->type.dtype, out->type.shape);
      if (out->arena_offset >= 0)
        result = Array::view(arena_.storage(), out->type.dtype, out->type.shape, contiguous_strides(out->type.shape),
                             out->arena_offset / dtype_size(out->type.dtype));
      copy_values(local_.at(out), result);
      materialized_[out] = result;
    }
  }

  Array compute(const Node* n) {
    std::vector<Array> operands;
    for (Node* input : n->inputs) operands.push_back(value(input));
    return evaluate_op(*n, operands, parallel_for);
  }

  // A value as this kernel sees it: computed here, a leaf, materialized by an
  // earlier kernel, or a view of one of those.
  Array value(Node* n) {
    if (auto it = local_.find(n); it != local_.end()) return it->second;
    if (auto it = materialized_.find(n); it != materialized_.end()) return it->second;
    if (n->op == Op::constant) return materialized_[n] = constant_value(program_, f_, *n);
    if (!is_view(n->op))
      fail("internal: @{}: %{} is read by a kernel that does not compute it, and no kernel wrote it", f_.name(), n->name);
    const Array source = value(n->inputs[0]);
    return local_[n] = evaluate_op(*n, std::span<const Array>(&source, 1), parallel_for);
  }

  const Program& program_;
  const Function& f_;
  std::map<const Node*, Array> materialized_;
  std::map<const Node*, Array> local_;
  Array arena_;
};

}  // namespace

std::vector<Array> run_kernels_interpreted(const Program& program, const Function& f, const std::vector<Array>& inputs) {
  return KernelRunner(program, f).run(inputs);
}

}  // namespace tj
