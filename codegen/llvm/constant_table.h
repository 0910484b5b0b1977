// Vector constants as loads from a table in memory, for AVX2: a full-width
// constant can be an FP instruction's memory operand, a broadcast one cannot
// (AVX-512 can, {1to16}). With
// the 16 vector registers of AVX2 full, LLVM rematerializes splat constants
// as broadcast loads, one more instruction each (a pipelined GELU loop
// re-broadcast 12 per trip). Loaded once from the table, at the kernel's
// entry, they stay in registers where there is room, and where there is not
// the allocator reloads them folded into the arithmetic. Internal to the
// LLVM backend.
#pragma once

#include <llvm/IR/Module.h>

namespace tj::llvm_backend {

// Replaces the splat constants (float, or integer but i1) that `module`'s
// arithmetic, logic, compares and selects use by invariant loads from one
// constant table per function, at its entry. Run after the optimization
// pipeline, which would fold the loads back into constants.
void load_constants_from_table(llvm::Module& module);

}  // namespace tj::llvm_backend
