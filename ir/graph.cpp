// Building functions: appending parameters, statements and constants.
#include "ir/graph.h"

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
