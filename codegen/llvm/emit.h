// LLVM IR for a loop kernel (codegen/loop_kernel.h) with explicit vector
// types of the host ISA's width, masked tails and the kernel ABI of design
// §5: void kernel(void* const* args, int64_t begin, int64_t end), where
// [begin, end) is a range of rows (or of elements, for a kernel whose domain
// merged into one dim) that the runtime splits across threads.
#pragma once

#include <memory>
#include <string>

#include "codegen/loop_kernel.h"
#include "codegen/target.h"

namespace tj::llvm_backend {

using KernelFn = void (*)(void* const* args, int64_t begin, int64_t end);

// Where a kernel's compile time went, for explain.
struct CompilePhases {
  double emit_ms = 0;          // LLVM IR from the loop kernel
  double optimize_ms = 0;      // the kernel pass pipeline
  double machine_code_ms = 0;  // instruction selection to loaded code
};

class CompiledKernel {
 public:
  virtual ~CompiledKernel() = default;
  virtual KernelFn function() const = 0;
  virtual const CompilePhases& phases() const = 0;
  // Bytes of per-thread scratch (runtime/kernel_scratch.h) the kernel uses:
  // reserve them on the calling thread before each call.
  virtual int64_t scratch_bytes() const = 0;
  // How the kernel runs its rows ("two rows in flight", ...), for explain.
  virtual const std::string& schedule() const = 0;
};

// Compiles `kernel`; throws tj::Error if LLVM fails.
std::unique_ptr<CompiledKernel> compile_loop_kernel(const LoopKernel& kernel);

// The assembly of `kernel` compiled for `isa` (which the host need not
// have): how tests check the AVX-512 code on an AVX2 machine.
std::string assemble_loop_kernel(const LoopKernel& kernel, const Isa& isa);

// Whether [begin, end) counts elements (a one-dim elementwise kernel) or rows.
bool ranges_over_elements(const LoopKernel& kernel);

}  // namespace tj::llvm_backend
