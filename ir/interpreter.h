// The reference interpreter (the `interp` backend): the meaning of every op,
// slow and obviously right. Float ops compute in double and round once to
// the result dtype (so + - * / sqrt are exactly IEEE float32 results, and
// transcendental functions are within an ulp of correctly rounded);
// reductions and matmul accumulate f32 in double and integers in wrapping
// int64; f64 accumulates in double (so that, as in NumPy and torch, an
// intermediate beyond the double range gives Inf), its sums compensated
// (Neumaier) for accuracy; NaN and Inf follow IEEE and
// NumPy (maximum/minimum and max/min propagate NaN); denormals are kept.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "ir/array.h"
#include "ir/graph.h"

namespace tj {

// Runs `function` on `inputs` (one per parameter, in order; any strides).
// Tensor constants take their data from program.constant_data.
// Throws tj::Error if an input does not match its parameter's type.
std::vector<Array> interpret(const Program& program, const Function& function,
                             const std::vector<Array>& inputs);

// How the interpreter runs independent work in parallel: call body(begin,
// end) on chunks covering [0, count), each of at least `grain` items where
// possible, and return when all are done. The runtime supplies its thread
// pool (ir/ knows nothing of threads); empty means serial.
using ParallelFor = std::function<void(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body)>;

// One statement (not a leaf) applied to operand values; shape ops give views.
Array evaluate_op(const Node& node, std::span<const Array> operands, const ParallelFor& parallel);

// The value of a `const` node: a zero-stride splat, or its bound tensor data.
Array constant_value(const Program& program, const Function& function, const Node& node);

}  // namespace tj
