// Transpose folding.
// Needs: a verified function. Guarantees: no matmul operand is a transpose
// of its last two dims: the transpose becomes the matmul's transpose_a or
// transpose_b flag, so the kernel reads the operand in its stored layout.
// A transpose that feeds elementwise work needs no rewrite: views are index
// maps of the loads of the kernel that reads them (ir/schedule.h), so it
// becomes a strided load and never a copy kernel.
#include "ir/infer.h"
#include "passes/passes.h"
#include "passes/rewrite.h"

namespace tj {

namespace {

bool swaps_last_two(const Node* x) {
  if (x->op != Op::transpose || x->type.rank() < 2) return false;
  const std::vector<int64_t>& perm = *find_ints(x->attrs, "perm");
  const int rank = x->type.rank();
  for (int i = 0; i < rank; ++i) {
    const int expected = i < rank - 2 ? i : (i == rank - 2 ? rank - 1 : rank - 2);
    if (*normalize_axis(perm[i], rank) != expected) return false;
  }
  return true;
}

Node* fold_operand(Rewriter& r, Node* n, int operand, const char* flag) {
  Node* x = n->inputs[operand];
  if (!swaps_last_two(x)) return nullptr;
  std::vector<Node*> inputs = n->inputs;
  inputs[operand] = x->inputs[0];
  Attrs attrs = n->attrs;
  attrs[flag] = !get_bool(n->attrs, flag, false);
  return r.make(Op::matmul, inputs, attrs);
}

const RewriteRule kRules[] = {
    {Op::matmul, [](Rewriter& r, Node* n) { return fold_operand(r, n, 0, "transpose_a"); }, "matmul(transpose(a), b) -> matmul{transpose_a}(a, b)"},
    {Op::matmul, [](Rewriter& r, Node* n) { return fold_operand(r, n, 1, "transpose_b"); }, "matmul(a, transpose(b)) -> matmul{transpose_b}(a, b)"},
};

}  // namespace

bool fold_transpose(Function& f) { return apply_rules(f, kRules); }

}  // namespace tj
