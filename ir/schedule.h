// The kernel schedule of a function, read off the annotations that the
// fusion passes leave on nodes (Node::kernel, prepack, arena_offset).
// Compute nodes without a kernel id are kernels of their own; views
// (reshape, transpose, broadcast, slice) are index maps folded into the
// kernels that read them, so they never launch anything, except when a
// function result is a view or a leaf and must be copied out.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace tj {

enum class KernelKind { elementwise, reduce, matmul, copy };

struct Kernel {
  KernelKind kind = KernelKind::elementwise;
  std::vector<Node*> nodes;    // members in function order (for copy: the node copied)
  std::vector<Node*> inputs;   // materialized values read: leaves or other kernels' outputs
  std::vector<Node*> outputs;  // members read outside the kernel or returned
};

// Views are shape ops that only re-index their operand.
bool is_view(Op op);
// Ops that form kernels: everything but leaves and views.
bool is_compute(Op op);

// The value a node reads when it reads `value`: itself, or the first non-view
// producer behind a chain of views.
Node* view_source(Node* value);

// A result that is a chain of reshapes of a compute statement needs no copy:
// the statement's kernel writes the result buffer, and the reshape is only a
// new shape for it. Returns that statement, or nullptr.
Node* reshaped_result_source(Node* result);

// The values whose kernels write result buffers (not the arena): every
// result, and the writer of each reshaped result.
std::set<const Node*> result_writers(const Function& function);

// The kernels of `function` in an order that respects dependences.
std::vector<Kernel> list_kernels(const Function& function);

struct MemoryPlan {
  int64_t arena_bytes = 0;     // planned size of the shared arena
  int64_t unshared_bytes = 0;  // the same intermediates without sharing
  int64_t output_bytes = 0;    // results, allocated apart
  int buffers = 0;
};
// The plan recorded by the plan-memory pass (zeros if it has not run).
MemoryPlan memory_plan(const Function& function);

// The kernel listing printed by `tensorjit opt`: one block per kernel, then
// the memory plan, then the line "# kernels: N".
std::string print_schedule(const Function& function);

// What `tensorjit opt` prints: the program, each function's schedule, and
// last the line "# kernels: N" with the number of kernels of all functions.
std::string print_optimized(const Program& program);

}  // namespace tj
