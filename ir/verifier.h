// The verifier: invariants every pass must keep. Checks SSA order (operands
// defined earlier in the same function), unique names, parameters first,
// attributes and types against inference, results, and bound constant data.
#pragma once

#include "ir/graph.h"

namespace tj {

void verify(const Function& function);  // throws tj::Error naming the function and value
void verify(const Program& program);

}  // namespace tj
