// TJ_DUMP output of the LLVM backend (see dump.h).
#include "codegen/llvm/dump.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include "ir/error.h"

namespace tj::llvm_backend {

namespace {

// File suffix per kind of dump.
constexpr std::pair<std::string_view, std::string_view> kSuffixes[] = {{"llvm", ".ll"}, {"opt", ".opt.ll"}, {"asm", ".s"}};

}  // namespace

bool dump_requested(std::string_view what) {
  const char* setting = std::getenv("TJ_DUMP");
  if (!setting) return false;
  const std::string_view s(setting);
  if (s == "all") return true;
  for (size_t at = 0; at <= s.size();) {
    const size_t comma = std::min(s.find(',', at), s.size());
    if (s.substr(at, comma - at) == what) return true;
    at = comma + 1;
  }
  return false;
}

void dump(std::string_view what, const std::string& kernel_name, const std::string& text) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const char* dir = std::getenv("TJ_DUMP_DIR");
  if (!dir) {
    std::fprintf(stderr, "; ---- %s: %.*s ----\n%s\n", kernel_name.c_str(), static_cast<int>(what.size()), what.data(), text.c_str());
    return;
  }
  std::string_view suffix = ".txt";
  for (const auto& [kind, s] : kSuffixes)
    if (kind == what) suffix = s;
  const std::string path = std::string(dir) + "/" + kernel_name + std::string(suffix);
  std::ofstream out(path);
  out << text;
  if (!out) fail("TJ_DUMP_DIR: cannot write {}", path);
}

std::string ir_text(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream out(text);
  module.print(out, nullptr);
  return out.str();
}

std::string assembly_text(const llvm::Module& module, llvm::TargetMachine& machine) {
  // Code generation consumes the module: emit a copy, the original goes to the JIT.
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(module);
  llvm::SmallString<0> text;
  llvm::raw_svector_ostream out(text);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, out, nullptr, llvm::CGFT_AssemblyFile))
    fail("TJ_DUMP=asm: this target cannot print assembly");
  passes.run(*copy);
  return std::string(text.str());
}

}  // namespace tj::llvm_backend
