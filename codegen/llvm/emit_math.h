// Vector math for the LLVM emitter: exp, log, tanh, sigmoid, erf and pow.
// Float kernels compute exp, log, tanh, sigmoid and erf in float (within 2
// ulps of correctly rounded float32, tested over all floats), and pow in
// double, rounded once (the reference interpreter computes in double).
// Special values follow C's libm: NaN propagates, exp overflows to Inf and
// underflows through denormals to 0, log(0) = -Inf, log(x<0) = NaN.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "ir/op.h"

namespace tj::llvm_backend {

// `op` (exp, log, tanh, sigmoid or erf) of a vector of doubles.
llvm::Value* emit_double_math(llvm::IRBuilder<>& b, Op op, llvm::Value* x);

// x^y of vectors of doubles, with C's special cases (pow(x, 0) = 1,
// pow(negative, non-integer) = NaN, signed zeros and infinities).
llvm::Value* emit_double_pow(llvm::IRBuilder<>& b, llvm::Value* x, llvm::Value* y);

// x^y of a vector of floats for a constant y that needs no exp and log:
// integers 2 <= |y| <= 8 (pow(x, 3.0) in Hugging Face's GELU), multiplied
// in double, and 0.5, a square root; nullptr for other exponents.
llvm::Value* emit_float_pow_by_constant(llvm::IRBuilder<>& b, llvm::Value* x, double y);

// `op` of a vector of floats computed in float, where an algorithm of
// float32 accuracy (within 4 ulps, tested) exists: exp, sigmoid, tanh, erf,
// log (pow stays in double: y log x needs more than float's precision).
// Returns nullptr for the other ops, which go through double.
llvm::Value* emit_float_math(llvm::IRBuilder<>& b, Op op, llvm::Value* x);

}  // namespace tj::llvm_backend
