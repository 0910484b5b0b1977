// The rewrite driver shared by simplify, canonicalize and fold-transpose.
#include "passes/rewrite.h"

#include "ir/error.h"
#include "ir/schedule.h"
#include "passes/passes.h"

namespace tj {

Node* Rewriter::splat(const TensorType& type, double value) {
  ConstValue c;
  c.f = value;
  c.i = is_float(type.dtype) ? 0 : static_cast<int64_t>(value);
  return f_.insert_const_before(at_, type, c);
}

Node* Rewriter::as_result(Node* x) {
  const TensorType& want = at_->type;
  if (x->type == want) return x;
  if (x->type.dtype != want.dtype || !broadcast_shapes(x->type.shape, want.shape) ||
      *broadcast_shapes(x->type.shape, want.shape) != want.shape)
    return nullptr;
  return make(Op::broadcast, {x}, {{"shape", want.shape}});
}

std::optional<double> Rewriter::splat_value(const Node* x) {
  while (is_view(x->op)) x = x->inputs[0];
  if (x->op != Op::constant || !x->constant.symbol.empty()) return std::nullopt;
  return is_float(x->type.dtype) ? x->constant.f : static_cast<double>(x->constant.i);
}

bool apply_rules(Function& f, std::span<const RewriteRule> rules) {
  constexpr int kMaxRounds = 64;  // each round shrinks or canonicalizes; this bounds a buggy rule
  bool changed_any = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool changed = false;
    std::vector<Node*> statements;
    for (const auto& node : f.nodes())
      if (node->op != Op::param) statements.push_back(node.get());
    for (Node* node : statements) {
      for (const RewriteRule& rule : rules) {
        if (rule.op && *rule.op != node->op) continue;
        Rewriter rewriter(f, node);
        Node* replacement = rule.rewrite(rewriter, node);
        if (!replacement || replacement == node) continue;
        if (replacement->type != node->type)
          fail("internal: rewrite '{}' changed the type of %{} from {} to {}", rule.comment, node->name,
               type_to_string(node->type), type_to_string(replacement->type));
        f.replace_uses(node, replacement);
        changed = true;
        break;
      }
    }
    if (!changed) break;
    eliminate_dead_code(f);
    changed_any = true;
  }
  return changed_any;
}

}  // namespace tj
