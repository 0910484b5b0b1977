// Eager ops as compiled kernels (design §2): an op on concrete tensors runs
// the code the compiler makes for a graph of that one op, compiled the first
// time the op meets a signature and cached. Small ops run the reference
// interpreter, where a compile would cost more than it saves.
#pragma once

#include <vector>

#include "ir/op.h"
#include "tensorjit/tensor.h"

namespace tj {

// Runs `op` on concrete `inputs` at once. Bad operands are reported before
// anything runs, as tracing would report them.
Tensor run_eager(Op op, const std::vector<Tensor>& inputs, const Attrs& attrs);

}  // namespace tj
