// Building functions: appending parameters, statements and constants.
#include "ir/graph.h"

#include <algorithm>

#include "ir/error.h"
#include "ir/infer.h"

namespace tj {

Node* Function::append(std::unique_ptr<Node> node) {
  if (node->name.empty()) node->name = fresh_name();
  if (by_name_.contains(node->name)) fail("%{} is defined twice in @{}", node->name, name_);
  Node* raw = node.get();
  by_name_[raw->name] = raw;
  nodes_.push_back(std::move(node));
  return raw;
}

std::string Function::fresh_name() {
  std::string name;
  do name = std::to_string(next_id_++);
  while (by_name_.contains(name));
  return name;
}

Node* Function::add_param(std::string name, TensorType type, SourceLoc loc) {
  if (!nodes_.empty() && nodes_.back()->op != Op::param)
    fail("@{}: parameter %{} added after a statement", name_, name);
  if (!checked_numel(type.shape))
    fail("@{}: parameter %{} has an invalid shape {}", name_, name, shape_to_string(type.shape));
  auto node = std::make_unique<Node>(Node{Op::param, std::move(name), {}, {}, std::move(type), {}, loc});
  return append(std::move(node));
}

Node* Function::add(Op op, std::vector<Node*> inputs, Attrs attrs, std::string name, SourceLoc loc) {
  std::vector<TensorType> types;
  for (const Node* input : inputs) types.push_back(input->type);
  TensorType type = infer_type(op, types, attrs);
  auto node = std::make_unique<Node>(
      Node{op, std::move(name), std::move(inputs), std::move(attrs), std::move(type), {}, loc});
  return append(std::move(node));
}

Node* Function::add_const(TensorType type, ConstValue value, std::string name, SourceLoc loc) {
  if (!checked_numel(type.shape)) fail("const: invalid shape {}", shape_to_string(type.shape));
  auto node = std::make_unique<Node>(
      Node{Op::constant, std::move(name), {}, {}, std::move(type), std::move(value), loc});
  return append(std::move(node));
}

Node* Function::insert_before(Node* before, Op op, std::vector<Node*> inputs, Attrs attrs) {
  std::vector<TensorType> types;
  for (const Node* input : inputs) types.push_back(input->type);
  TensorType type = infer_type(op, types, attrs);
  auto node = std::make_unique<Node>(Node{op, {}, std::move(inputs), std::move(attrs), std::move(type), {}, before->loc});
  return insert_node(before, std::move(node));
}

Node* Function::insert_const_before(Node* before, TensorType type, ConstValue value) {
  auto node = std::make_unique<Node>(Node{Op::constant, {}, {}, {}, std::move(type), std::move(value), before->loc});
  return insert_node(before, std::move(node));
}

Node* Function::insert_node(Node* before, std::unique_ptr<Node> node) {
  auto at = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return n.get() == before; });
  if (at == nodes_.end()) fail("@{}: insertion point %{} is not in this function", name_, before->name);
  node->name = fresh_name();
  Node* raw = node.get();
  by_name_[raw->name] = raw;
  nodes_.insert(at, std::move(node));
  return raw;
}

void Function::replace_uses(Node* old, Node* replacement) {
  for (auto& node : nodes_)
    for (Node*& input : node->inputs)
      if (input == old) input = replacement;
  for (Node*& result : results_)
    if (result == old) result = replacement;
}

std::map<const Node*, std::vector<Node*>> compute_users(const Function& function) {
  std::map<const Node*, std::vector<Node*>> users;
  for (const auto& node : function.nodes())
    for (const Node* input : node->inputs) users[input].push_back(node.get());
  return users;
}

std::vector<Node*> Function::params() const {
  std::vector<Node*> params;
  for (const auto& node : nodes_)
    if (node->op == Op::param) params.push_back(node.get());
  return params;
}

Node* Function::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const Function* Program::find_function(const std::string& name) const {
  for (const Function& f : functions)
    if (f.name() == name) return &f;
  return nullptr;
}

}  // namespace tj
