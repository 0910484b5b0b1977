// LLVM IR for a loop kernel (codegen/loop_kernel.h) with explicit vector
// types of the host ISA's width, masked tails and the kernel ABI of design
// §5: void kernel(void* const* args, int64_t begin, int64_t end), where
// [begin, end) is a range of rows (or of elements, for a kernel whose domain
// merged into one dim) that the runtime splits across threads.
#pragma once

#include <memory>
#include <string>

#include "codegen/loop_kernel.h"

namespace tj::llvm_backend {

using KernelFn = void (*)(void* const* args, int64_t begin, int64_t end);

class CompiledKernel {
 public:
  virtual ~CompiledKernel() = default;
  virtual KernelFn function() const = 0;
  virtual const std::string& ir() const = 0;  // the LLVM IR before optimization, for TJ_DUMP
};

// Compiles `kernel`; throws tj::Error if LLVM fails.
std::unique_ptr<CompiledKernel> compile_loop_kernel(const LoopKernel& kernel);

// Whether [begin, end) counts elements (a one-dim elementwise kernel) or rows.
bool ranges_over_elements(const LoopKernel& kernel);

}  // namespace tj::llvm_backend
