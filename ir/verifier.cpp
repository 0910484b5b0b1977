// Graph invariants, checked after parsing and after every pass in tests.
#include "ir/verifier.h"

#include <set>
#include <unordered_set>

#include "ir/error.h"
#include "ir/infer.h"
#include "ir/printer.h"

namespace tj {

namespace {

void check_node(const Function& f, const Node& node, const std::unordered_set<const Node*>& defined) {
  for (const Node* input : node.inputs)
    if (!defined.contains(input))
      fail("verify @{}: operand of %{} is not defined before it in this function", f.name(), node.name);
  if (node.op == Op::param || node.op == Op::constant) {
    if (!node.inputs.empty()) fail("verify @{}: %{} is a leaf but has operands", f.name(), node.name);
    if (!checked_numel(node.type.shape)) fail("verify @{}: %{} has an invalid shape", f.name(), node.name);
    return;
  }
  std::vector<TensorType> types;
  for (const Node* input : node.inputs) types.push_back(input->type);
  TensorType inferred;
  try {
    inferred = infer_type(node.op, types, node.attrs);
  } catch (const Error& e) {
    fail("verify @{}: %{}: {}", f.name(), node.name, e.what());
  }
  if (inferred != node.type)
    fail("verify @{}: `{}` has type {} but inference gives {}", f.name(), print_node(node),
         type_to_string(node.type), type_to_string(inferred));
}

}  // namespace

void verify(const Function& f) {
  std::unordered_set<const Node*> defined;
  std::set<std::string> names;
  bool in_params = true;
  for (const auto& node : f.nodes()) {
    if (node->name.empty()) fail("verify @{}: a value has no name", f.name());
    if (!names.insert(node->name).second) fail("verify @{}: %{} is defined twice", f.name(), node->name);
    if (node->op == Op::param && !in_params) fail("verify @{}: parameter %{} follows a statement", f.name(), node->name);
    in_params = node->op == Op::param;
    check_node(f, *node, defined);
    defined.insert(node.get());
  }
  if (f.results().empty()) fail("verify @{}: the function returns nothing", f.name());
  for (const Node* result : f.results())
    if (!defined.contains(result)) fail("verify @{}: a returned value is not defined in the function", f.name());
}

void verify(const Program& program) {
  std::set<std::string> names;
  for (const Function& f : program.functions) {
    if (!names.insert(f.name()).second) fail("verify: function @{} is defined twice", f.name());
    verify(f);
    for (const auto& node : f.nodes()) {
      if (node->op != Op::constant || node->constant.symbol.empty()) continue;
      auto it = program.constant_data.find(node->constant.symbol);
      if (it != program.constant_data.end() && it->second.type() != node->type)
        fail("verify @{}: const @{} is declared {} but its data is {}", f.name(), node->constant.symbol,
             type_to_string(node->type), type_to_string(it->second.type()));
    }
  }
}

}  // namespace tj
