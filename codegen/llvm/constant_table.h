// Vector constants as loads from a table in memory: a full-width constant
// can be an FP instruction's memory operand, a broadcast one cannot. With
// the 16 vector registers of AVX2 full, LLVM rematerializes splat constants
// as broadcast loads, one more instruction each (a pipelined GELU loop
// re-broadcast 12 per trip); from the table they fold into the arithmetic,
// or are hoisted into registers where there is room. Internal to the LLVM
// backend.
#pragma once

#include <llvm/IR/Module.h>

namespace tj::llvm_backend {

// Replaces the splat floating-point constants that `module`'s arithmetic
// (fadd, fsub, fmul, fdiv, fcmp, fma) uses by invariant loads from one
// constant table per function, reached through a pointer LLVM cannot see
// through (so that it does not fold the loads back into constants).
void load_constants_from_table(llvm::Module& module);

}  // namespace tj::llvm_backend
