// Fusion legality: the loop model of fusion_rules.h, checked member by member.
#include "passes/fusion_rules.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/infer.h"
#include "ir/schedule.h"

namespace tj {

namespace {

bool aligned(const Shape& shape, const Shape& domain) {
  if (shape.size() != domain.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != domain[i] && shape[i] != 1) return false;
  return true;
}

std::vector<int64_t> non_unit_dims(const Shape& shape) {
  std::vector<int64_t> dims;
  for (int64_t d : shape)
    if (d != 1) dims.push_back(d);
  return dims;
}

std::vector<int> non_unit_positions(const Shape& shape) {
  std::vector<int> positions;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1) positions.push_back(static_cast<int>(i));
  return positions;
}

// Whether reading `source` through the views from it to `operand` reads, at
// each index of the domain, the element the source holds at that index:
// then an in-kernel value needs no re-indexing. True for broadcasts and for
// reshapes that only add or drop unit dims, as long as the source's dims
// end where they started.
bool relabels_in_place(const Node* operand, const Node* source) {
  std::vector<const Node*> chain;
  for (const Node* v = operand; v != source; v = v->inputs[0]) chain.push_back(v);
  std::reverse(chain.begin(), chain.end());
  std::vector<int> positions = non_unit_positions(source->type.shape);
  for (const Node* view : chain) {
    const Shape& from = view->inputs[0]->type.shape;
    const Shape& to = view->type.shape;
    if (view->op == Op::reshape) {
      if (non_unit_dims(from) != non_unit_dims(to)) return false;
      positions = non_unit_positions(to);
    } else if (view->op == Op::broadcast) {
      for (int& p : positions) p += static_cast<int>(to.size() - from.size());
    } else {
      return false;
    }
  }
  return operand->type.rank() == source->type.rank() && positions == non_unit_positions(source->type.shape);
}

}  // namespace

std::string why_not_one_kernel(const std::vector<Node*>& members) {
  if (members.size() <= 1) return "";
  const std::set<const Node*> in_group(members.begin(), members.end());
  std::vector<const Node*> matmuls, reductions;
  for (const Node* n : members) {
    if (!is_compute(n->op)) return fmt::format("%{} is not a compute statement", n->name);
    if (n->op == Op::concat) return fmt::format("%{} is a concat, which is a copy kernel of its own", n->name);
    if (n->op == Op::matmul) matmuls.push_back(n);
    if (is_reduce(n->op)) reductions.push_back(n);
  }
  if (matmuls.size() > 1) return fmt::format("%{} and %{} are two matmuls", matmuls[0]->name, matmuls[1]->name);
  if (!matmuls.empty() && !reductions.empty())
    return fmt::format("matmul %{} and reduction %{} cannot share a loop nest", matmuls[0]->name, reductions[0]->name);

  Shape domain;
  if (!matmuls.empty()) {
    domain = matmuls[0]->type.shape;
    for (const Node* operand : matmuls[0]->inputs)
      if (in_group.contains(view_source(const_cast<Node*>(operand))))
        return fmt::format("%{} feeds matmul %{} (a matmul has no prologue)", view_source(const_cast<Node*>(operand))->name,
                           matmuls[0]->name);
  } else if (!reductions.empty()) {
    const Node* first = reductions[0];
    domain = first->inputs[0]->type.shape;
    const std::vector<int> axes = reduction_axes(first->attrs, first->inputs[0]->type.rank());
    for (const Node* r : reductions) {
      if (r->inputs[0]->type.shape != domain || reduction_axes(r->attrs, r->inputs[0]->type.rank()) != axes)
        return fmt::format("reductions %{} and %{} reduce different shapes or axes", first->name, r->name);
      if (!get_bool(r->attrs, "keepdim", false))
        return fmt::format("reduction %{} drops its dims (canonicalize keeps them)", r->name);
    }
  } else {
    domain = members[0]->type.shape;
    for (const Node* n : members) {
      std::optional<Shape> b = broadcast_shapes(domain, n->type.shape);
      if (!b) return fmt::format("%{} has shape {}, which does not broadcast with {}", n->name, shape_to_string(n->type.shape),
                                 shape_to_string(domain));
      domain = *b;
    }
  }

  for (const Node* n : members) {
    if (!aligned(n->type.shape, domain))
      return fmt::format("%{} of shape {} is not aligned with the kernel's domain {}", n->name, shape_to_string(n->type.shape),
                         shape_to_string(domain));
    for (Node* operand : n->inputs) {
      const Node* source = view_source(operand);
      if (in_group.contains(source) && !relabels_in_place(operand, source))
        return fmt::format("%{} reads %{} through a view that re-indexes it", n->name, source->name);
    }
  }
  return "";
}

void verify_kernels(const Function& f) {
  size_t statements = 0;
  for (const auto& node : f.nodes()) statements += is_compute(node->op);
  size_t listed = 0;
  for (const Kernel& k : list_kernels(f)) {
    if (k.kind == KernelKind::copy && !k.nodes.empty() && !is_compute(k.nodes[0]->op)) continue;
    listed += k.nodes.size();
    const std::string why = why_not_one_kernel(k.nodes);
    if (!why.empty()) fail("verify @{}: kernel of %{} is not a legal kernel: {}", f.name(), k.nodes[0]->name, why);
  }
  if (listed != statements) fail("verify @{}: the kernels depend on each other in a cycle", f.name());
}

}  // namespace tj
