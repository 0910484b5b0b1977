// The interpreter's elementwise ops (internal to ir/): a table of scalar
// functions, a float form and an integer form, run element by element, or
// with the float form inlined and vectorized over runs of the innermost dim
// when every operand is f32.
#pragma once

#include <span>

#include "ir/array.h"
#include "ir/graph.h"
#include "ir/interpreter.h"

namespace tj::interp {

// Any elementwise op (select and cast included) on operand values of any layout.
Array eval_elementwise(const Node& node, std::span<const Array> in, const ParallelFor& parallel);

}  // namespace tj::interp
