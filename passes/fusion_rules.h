// When a set of compute statements may run as one kernel. The loop model
// (what codegen builds, design §5): a kernel iterates a domain D; a kernel
// with reductions splits D into rows (the kept dims) and the reduced dims,
// and every reduction in it reduces the same dims of an input of shape D; a
// matmul kernel iterates the matmul's output and applies its epilogue there.
// Every member's shape is aligned with D (same rank; each dim equal to D's or
// 1), which canonicalize guarantees for connected work.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace tj {

// Empty when `members` (in function order) may form one kernel; otherwise
// why not, in words fit for `explain` ("two matmuls", ...).
std::string why_not_one_kernel(const std::vector<Node*>& members);

// Throws tj::Error unless every kernel of `f` is legal and the kernels form
// an acyclic graph.
void verify_kernels(const Function& f);

}  // namespace tj
