// The `interp` backend for a scheduled function: runs it kernel by kernel on
// the reference interpreter, the way compiled code runs it. Values computed
// inside a kernel are dropped when it ends; only kernel outputs survive, and
// intermediates live at their planned offsets in one arena. A fusion or
// memory-planning bug therefore shows as an error or a wrong result, which
// is what the pipeline-on-vs-off tests look for.
#pragma once

#include <vector>

#include "ir/array.h"
#include "ir/graph.h"

namespace tj {

std::vector<Array> run_kernels_interpreted(const Program& program, const Function& function,
                                           const std::vector<Array>& inputs);

}  // namespace tj
