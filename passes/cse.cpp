// Common-subexpression elimination.
// Needs: a verified function. Guarantees: no two statements compute the same
// op on the same operands with the same attributes and type; the later one's
// uses move to the earlier one, and dead-code elimination removes it.
#include <map>

#include <fmt/format.h>

#include "ir/printer.h"
#include "passes/passes.h"

namespace tj {

namespace {

// A key that is equal exactly when two statements compute the same value.
std::string key_of(const Node& n) {
  std::string key(op_name(n.op));
  for (const Node* input : n.inputs) key += fmt::format(" {}", static_cast<const void*>(input));
  for (const auto& [name, value] : n.attrs) key += " " + name + "=" + print_attr_value(value);
  key += " : " + type_to_string(n.type);
  if (n.op == Op::constant)
    key += n.constant.symbol.empty() ? fmt::format(" {:a} {}", n.constant.f, n.constant.i) : " @" + n.constant.symbol;
  return key;
}

}  // namespace

bool eliminate_common_subexpressions(Function& f) {
  std::map<std::string, Node*> seen;
  bool changed = false;
  for (const auto& node : f.nodes()) {
    if (node->op == Op::param) continue;
    auto [it, inserted] = seen.emplace(key_of(*node), node.get());
    if (inserted) continue;
    f.replace_uses(node.get(), it->second);
    changed = true;
  }
  if (changed) eliminate_dead_code(f);
  return changed;
}

}  // namespace tj
