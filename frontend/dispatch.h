// Applying an op to tensors: traced when any operand is traced (a node is
// appended to its trace), eager otherwise (the op runs at once).
#pragma once

#include <vector>

#include "ir/op.h"
#include "tensorjit/tensor.h"

namespace tj {

Tensor apply(Op op, const std::vector<Tensor>& inputs, Attrs attrs = {});

}  // namespace tj
