// Type and shape inference: the result type of every op from its operand
// types and attributes, with an error naming the op and the operand types
// when they do not fit.
#pragma once

#include <span>

#include "ir/op.h"
#include "ir/shape.h"

namespace tj {

// Checks attribute names, kinds and presence against the op table.
void check_attrs(Op op, const Attrs& attrs);

// Result type of `op` applied to `inputs`; throws tj::Error "op: reason (operand types)".
// Not defined for param and const, whose types are declared.
TensorType infer_type(Op op, std::span<const TensorType> inputs, const Attrs& attrs);

// Normalized, sorted, duplicate-free reduction axes (all axes when absent).
std::vector<int> reduction_axes(const Attrs& attrs, int rank);

}  // namespace tj
