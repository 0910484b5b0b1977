// Broadcast and shape canonicalization, as a rule table.
// Needs: a verified function. Guarantees: reductions keep their reduced dims
// (a reshape drops them afterwards); every operand of an elementwise op has
// the op's rank (lower-rank operands get leading 1s by a reshape, a view);
// chains of reshapes, of broadcasts and of transposes collapse to one view;
// views that change nothing disappear. Fusion relies on the first two.
#include <numeric>

#include "ir/infer.h"
#include "ir/schedule.h"
#include "passes/passes.h"
#include "passes/rewrite.h"

namespace tj {

namespace {

Node* keep_reduced_dims(Rewriter& r, Node* n) {
  if (!is_reduce(n->op) || get_bool(n->attrs, "keepdim", false)) return nullptr;
  Attrs attrs = n->attrs;
  attrs["keepdim"] = true;
  Node* kept = r.make(n->op, n->inputs, attrs);
  return r.make(Op::reshape, {kept}, {{"shape", n->type.shape}});
}

Node* align_operand_ranks(Rewriter& r, Node* n) {
  if (!is_elementwise(n->op)) return nullptr;
  const int rank = n->type.rank();
  bool aligned = true;
  for (const Node* input : n->inputs) aligned = aligned && input->type.rank() == rank;
  if (aligned) return nullptr;
  std::vector<Node*> inputs;
  for (Node* input : n->inputs) {
    if (input->type.rank() == rank) {
      inputs.push_back(input);
      continue;
    }
    Shape shape(rank - input->type.rank(), 1);
    shape.insert(shape.end(), input->type.shape.begin(), input->type.shape.end());
    inputs.push_back(r.make(Op::reshape, {input}, {{"shape", shape}}));
  }
  return r.make(n->op, inputs, n->attrs);
}

Node* identity_view(Rewriter&, Node* n) {
  if (!is_view(n->op) || n->inputs[0]->type != n->type) return nullptr;
  if (n->op == Op::transpose) {
    const std::vector<int64_t>& perm = *find_ints(n->attrs, "perm");
    for (size_t i = 0; i < perm.size(); ++i)
      if (*normalize_axis(perm[i], n->type.rank()) != static_cast<int>(i)) return nullptr;
  }
  if (n->op == Op::slice) {
    const std::vector<int64_t>* steps = find_ints(n->attrs, "steps");
    if (steps)
      for (int64_t s : *steps)
        if (s != 1) return nullptr;  // a full-length reversal is not the identity
  }
  return n->inputs[0];
}

Node* collapse_views(Rewriter& r, Node* n) {
  Node* inner = n->inputs[0];
  if (inner->op != n->op) return nullptr;
  if (n->op == Op::reshape || n->op == Op::broadcast) return r.make(n->op, {inner->inputs[0]}, n->attrs);
  if (n->op != Op::transpose) return nullptr;
  const std::vector<int64_t>& outer_perm = *find_ints(n->attrs, "perm");
  const std::vector<int64_t>& inner_perm = *find_ints(inner->attrs, "perm");
  const int rank = n->type.rank();
  std::vector<int64_t> composed(rank);
  for (int i = 0; i < rank; ++i) composed[i] = *normalize_axis(inner_perm[*normalize_axis(outer_perm[i], rank)], rank);
  return r.make(Op::transpose, {inner->inputs[0]}, {{"perm", composed}});
}

Node* single_concat(Rewriter&, Node* n) { return n->inputs.size() == 1 ? n->inputs[0] : nullptr; }

// A reshape of elementwise work on same-shaped operands reshapes the
// operands instead, so that the work fuses with what reads the reshape
// (a split reduction, say). Splat operands stay as they are.
Node* reshape_operands(Rewriter& r, Node* n) {
  Node* op = n->inputs[0];
  if (!is_elementwise(op->op)) return nullptr;
  std::vector<Node*> inputs;
  for (Node* input : op->inputs) {
    if (Rewriter::splat_value(input)) {
      inputs.push_back(r.make(Op::reshape, {r.make(Op::broadcast, {input}, {{"shape", op->type.shape}})}, n->attrs));
      continue;
    }
    if (input->type.shape != op->type.shape) return nullptr;
    inputs.push_back(r.make(Op::reshape, {input}, n->attrs));
  }
  return r.make(op->op, inputs, op->attrs);
}

const RewriteRule kRules[] = {
    {std::nullopt, keep_reduced_dims, "reduce{keepdim=false}(x) -> reshape(reduce{keepdim=true}(x))"},
    {std::nullopt, align_operand_ranks, "op(x[n], y[m,n]) -> op(reshape(x)[1,n], y)"},
    {std::nullopt, identity_view, "view(x) with x's shape and order -> x"},
    {Op::reshape, collapse_views, "reshape(reshape(x)) -> reshape(x)"},
    {Op::broadcast, collapse_views, "broadcast(broadcast(x)) -> broadcast(x)"},
    {Op::transpose, collapse_views, "transpose(transpose(x)) -> transpose(x) with the composed perm"},
    {Op::concat, single_concat, "concat(x) -> x"},
    {Op::reshape, reshape_operands, "reshape(op(x, y)) -> op(reshape(x), reshape(y)) for same-shaped x, y"},
};

}  // namespace

bool canonicalize(Function& f) { return apply_rules(f, kRules); }

}  // namespace tj
