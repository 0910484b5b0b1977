// The graph IR: one node type in SSA form. A Function owns its nodes in
// definition order (parameters first); a Program is a list of functions plus
// the data of tensor constants that a trace captured (bound by name).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/array.h"
#include "ir/op.h"
#include "ir/shape.h"

namespace tj {

struct SourceLoc {
  int line = 0;  // 1-based; 0 = not from text
  int column = 0;
};

// The value of a `const` node: a splat literal, or a named tensor (`const @w0`).
struct ConstValue {
  double f = 0;      // float dtypes
  int64_t i = 0;     // integer and bool dtypes
  std::string symbol;  // non-empty: tensor data bound by this name
};

struct Node {
  Op op;
  std::string name;  // SSA name without the '%'
  std::vector<Node*> inputs;
  Attrs attrs;
  TensorType type;
  ConstValue constant;  // only for Op::constant
  SourceLoc loc;

  // Schedule annotations written by the fusion and planning passes; they
  // never change what the function computes.
  int kernel = -1;            // fused group (kernel) id; -1 = not in a kernel (leaf or view)
  bool prepack = false;       // a constant matmul operand packed once at compile time
  int64_t arena_offset = -1;  // planned byte offset of a materialized intermediate
};

class Function {
 public:
  explicit Function(std::string name) : name_(std::move(name)) {}
  Function(Function&&) = default;
  Function& operator=(Function&&) = default;

  const std::string& name() const { return name_; }

  // Appends a parameter; parameters precede all statements.
  Node* add_param(std::string name, TensorType type, SourceLoc loc = {});
  // Appends a statement; its type is inferred (throws tj::Error on a mismatch).
  // An empty name gets a fresh numeric one.
  Node* add(Op op, std::vector<Node*> inputs, Attrs attrs = {}, std::string name = {},
            SourceLoc loc = {});
  // Appends a constant of a given type.
  Node* add_const(TensorType type, ConstValue value, std::string name = {}, SourceLoc loc = {});

  // Inserts a statement just before `before` (which must be a statement of
  // this function); its type is inferred.
  Node* insert_before(Node* before, Op op, std::vector<Node*> inputs, Attrs attrs = {});
  Node* insert_const_before(Node* before, TensorType type, ConstValue value);
  // Makes every use of `old` (operands and results) use `replacement`.
  void replace_uses(Node* old, Node* replacement);
  // Removes the nodes for which `dead` holds; they must have no remaining users.
  template <typename Pred>
  void erase_if(Pred dead) {
    std::vector<std::unique_ptr<Node>> kept;
    for (auto& node : nodes_) {
      if (dead(node.get())) by_name_.erase(node->name);
      else kept.push_back(std::move(node));
    }
    nodes_ = std::move(kept);
  }

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<Node*> params() const;
  const std::vector<Node*>& results() const { return results_; }
  void set_results(std::vector<Node*> results) { results_ = std::move(results); }
  Node* find(const std::string& name) const;

 private:
  Node* append(std::unique_ptr<Node> node);
  Node* insert_node(Node* before, std::unique_ptr<Node> node);
  std::string fresh_name();

  std::string name_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Node*> results_;
  std::map<std::string, Node*> by_name_;
  int64_t next_id_ = 0;
};

// The users of every node (each user once per operand slot that reads it).
std::map<const Node*, std::vector<Node*>> compute_users(const Function& function);

struct Program {
  std::vector<Function> functions;
  std::map<std::string, Array> constant_data;  // by symbol of `const @symbol`

  const Function* find_function(const std::string& name) const;
};

}  // namespace tj
