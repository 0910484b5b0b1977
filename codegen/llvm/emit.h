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

// Whether the kernel's rows (outputs) are reductions down a dim that is not
// the contiguous one (column sums), computed a vector of outputs at a time
// (emit_columns.cpp). Each thread then reads its outputs' part of every row
// of the reduced dim: chunks of at least kColumnGrain outputs keep those
// parts long streams (x[500000, 31] over axis 0 split in two took 15.7 ms
// at 2 threads, against 6.0 on one).
bool reduces_columns(const LoopKernel& kernel);
inline constexpr int64_t kMinColumnOutputs = 8;  // fewer: a masked vector per row, slower than gathers
inline constexpr int64_t kColumnGrain = 256;

}  // namespace tj::llvm_backend
