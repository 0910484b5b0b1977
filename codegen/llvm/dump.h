// TJ_DUMP: what the LLVM backend shows of each kernel it compiles.
//   TJ_DUMP=llvm      the LLVM IR as emitted
//   TJ_DUMP=opt       the LLVM IR after the optimization pipeline
//   TJ_DUMP=asm       the machine code, as assembly
//   TJ_DUMP=llvm,asm  several; TJ_DUMP=all for every one
// Output goes to stderr, or with TJ_DUMP_DIR=dir to dir/kernel_<n>.{ll,opt.ll,s}.
#pragma once

#include <string>
#include <string_view>

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace tj::llvm_backend {

bool dump_requested(std::string_view what);  // "llvm", "opt" or "asm"
void dump(std::string_view what, const std::string& kernel_name, const std::string& text);
std::string ir_text(const llvm::Module& module);
std::string assembly_text(const llvm::Module& module, llvm::TargetMachine& machine);

}  // namespace tj::llvm_backend
