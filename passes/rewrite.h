// The driver of local rewrites: a rule table is a list of (op, rewrite,
// comment) entries; the driver offers every statement to the rules of its op
// until nothing changes. A rule returns the value that replaces the statement
// (of the same type) or nullptr when its pattern does not match.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "ir/graph.h"

namespace tj {

class Rewriter {
 public:
  Rewriter(Function& f, Node* at) : f_(f), at_(at) {}

  // A new statement, inserted before the one being rewritten.
  Node* make(Op op, std::vector<Node*> inputs, Attrs attrs = {}) { return f_.insert_before(at_, op, std::move(inputs), std::move(attrs)); }
  // A splat constant of `type` holding `value`.
  Node* splat(const TensorType& type, double value);
  // `x` given the type of the statement being rewritten: itself, or broadcast
  // to its shape; nullptr when the dtypes differ or x cannot broadcast.
  Node* as_result(Node* x);
  // The value of a splat constant (seen through views), if `x` is one.
  static std::optional<double> splat_value(const Node* x);

  Node* at() const { return at_; }

 private:
  Function& f_;
  Node* at_;
};

struct RewriteRule {
  std::optional<Op> op;  // the op a rule applies to; nullopt: any op (the rule checks)
  Node* (*rewrite)(Rewriter& r, Node* n);
  std::string_view comment;
};

// Applies `rules` until none matches; returns whether anything changed.
// Replaced statements are removed by dead-code elimination.
bool apply_rules(Function& f, std::span<const RewriteRule> rules);

}  // namespace tj
