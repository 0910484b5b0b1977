// A small wrapper of LLVM's ORC LLJIT: one JIT per process, one resource
// tracker per added module, so that an evicted kernel frees its code.
// Modules are linked by JITLink, whose memory manager maps each module's
// block writable, then its code executable, never both (tested).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace tj::llvm_backend {

// A compiled module: the address of one entry function; destroying it
// removes the module's code from the JIT.
class LoadedModule {
 public:
  virtual ~LoadedModule() = default;
  virtual void* entry() const = 0;
};

// Optimizes `module` (new pass manager, the kernel pipeline of jit.cpp)
// and adds it to the JIT; returns the loaded code of function `entry_name`.
// Throws tj::Error with LLVM's message if anything fails.
// `optimize_ms` and `machine_code_ms` receive the time of each phase.
std::unique_ptr<LoadedModule> load_module(std::unique_ptr<llvm::LLVMContext> context, std::unique_ptr<llvm::Module> module,
                                          const std::string& entry_name, double& optimize_ms, double& machine_code_ms);

// A target machine for x86-64 with `isa` ("avx2" or "avx512") whatever the
// host has: for assembly only, to check the other ISA's code on this machine.
llvm::TargetMachine& target_machine_for(std::string_view isa);

// The kernel pass pipeline (new pass manager) for `machine`.
void optimize(llvm::Module& module, llvm::TargetMachine& machine);

}  // namespace tj::llvm_backend
