// The ORC LLJIT wrapper: create once, add a module with its own resource
// tracker, look up, remove on destruction.
#include "codegen/llvm/jit.h"

#include <chrono>
#include <map>
#include <mutex>

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/LICM.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/llvm/constant_table.h"
#include "codegen/llvm/dump.h"
#include "codegen/target.h"
#include "ir/error.h"
#include "runtime/kernel_scratch.h"

namespace tj::llvm_backend {

namespace {

std::string message_of(llvm::Error error) { return llvm::toString(std::move(error)); }

// The scheduling model kernels are tuned for (the "tune-cpu" attribute;
// the instruction set stays the host's). LLVM 16 names CPUs newer than
// itself "generic". AMD's Zen 5 is one: with znver4's model, GELU's
// pipelined loop runs 3.5% faster in cache (medians of 16 alternating
// runs: 12.30 against 12.74 cycles a vector; the same instructions in
// another order). Its AVX2 code is no
// faster with znver3's, and Intel's newer cores are not measured, so those
// keep the generic model.
std::string tuning_cpu() {
  const std::string host = llvm::sys::getHostCPUName().str();
  __builtin_cpu_init();
  if (host == "generic" && __builtin_cpu_is("amd") && host_isa().name == "avx512") return "znver4";
  return host;
}

template <typename T>
T unwrap(llvm::Expected<T> value, const char* what) {
  if (!value) fail("llvm: {}: {}", what, message_of(value.takeError()));
  return std::move(*value);
}

struct Jit {
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::unique_ptr<llvm::TargetMachine> machine;
  std::mutex mutex;  // LLJIT is thread-safe; the counter below is not
  int64_t next_module = 0;
};

llvm::orc::JITTargetMachineBuilder machine_builder() {
  llvm::orc::JITTargetMachineBuilder builder = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "detect host");
  if (host_isa().name == "avx2") builder.getFeatures().AddFeature("avx512f", false);  // TJ_ISA=avx2 on an AVX-512 host
  // clang -O2's code generation level: Aggressive gave the same kernel
  // speeds (GELU, softmax, layer norm, attention, MLP, A/B) and compiled
  // matmul kernels 10-30% slower.
  builder.setCodeGenOptLevel(llvm::CodeGenOpt::Default);
  // JITLink lays out each module's code and constants in one block, so
  // constants are addressed relative to the instruction pointer (the small
  // code model) instead of through a 64-bit immediate each time.
  builder.setCodeModel(llvm::CodeModel::Small);
  return builder;
}

Jit& jit() {
  static Jit* instance = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto* j = new Jit;
    j->machine = unwrap(machine_builder().createTargetMachine(), "create target machine");
    j->lljit = unwrap(llvm::orc::LLJITBuilder()
                          .setJITTargetMachineBuilder(machine_builder())
                          .setObjectLinkingLayerCreator([](llvm::orc::ExecutionSession& session, const llvm::Triple&) {
                            return std::make_unique<llvm::orc::ObjectLinkingLayer>(session);
                          })
                          .create(),
                      "create LLJIT");
    // The one function kernels call: their per-thread scratch memory.
    llvm::orc::SymbolMap runtime;
    runtime[j->lljit->mangleAndIntern("tj_kernel_scratch")] =
        llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(&tj_kernel_scratch), llvm::JITSymbolFlags::Exported);
    if (llvm::Error e = j->lljit->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(runtime))))
      fail("llvm: cannot define the kernels' runtime symbols: {}", message_of(std::move(e)));
    return j;
  }();
  return *instance;
}

// The emitter writes vector code already, so the full O2 pipeline (with its
// loop vectorizer, inliner and interprocedural passes) buys nothing but
// compile time. This is what the kernels need: allocas to registers, CSE
// and instruction combining, clean control flow, invariants hoisted out of
// the loops, and CSE of what hoisting brought together. GVN and a second
// InstCombine there changed no instruction of the machine code of 15
// kernels (softmax, layer norm, GELU, sigmoid, matmul epilogues, attention,
// reductions; tails and broadcasts) and cost 1.5 of softmax's 3 ms here.
}  // namespace

void optimize(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager cgscc;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(cgscc);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, cgscc, modules);
  llvm::FunctionPassManager kernel;
  kernel.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
  kernel.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/true));
  kernel.addPass(llvm::InstCombinePass());
  kernel.addPass(llvm::SimplifyCFGPass());
  kernel.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LICMPass(llvm::LICMOptions()), /*UseMemorySSA=*/true));
  kernel.addPass(llvm::EarlyCSEPass());
  kernel.addPass(llvm::SimplifyCFGPass());
  llvm::ModulePassManager pipeline;
  pipeline.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(kernel)));
  pipeline.run(module, modules);
  // AVX-512 folds a broadcast into the instruction ({1to16}) and has 32
  // vector registers: its constants stay constants.
  if (!machine.getMCSubtargetInfo()->checkFeatures("+avx512f")) load_constants_from_table(module);
}

namespace {

class OrcModule : public LoadedModule {
 public:
  OrcModule(llvm::orc::ResourceTrackerSP tracker, void* entry) : tracker_(std::move(tracker)), entry_(entry) {}
  ~OrcModule() override { llvm::consumeError(tracker_->remove()); }
  void* entry() const override { return entry_; }

 private:
  llvm::orc::ResourceTrackerSP tracker_;
  void* entry_;
};

}  // namespace

llvm::TargetMachine& target_machine_for(std::string_view isa) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<llvm::TargetMachine>> machines;
  jit();  // targets initialized
  std::lock_guard lock(mutex);
  std::unique_ptr<llvm::TargetMachine>& machine = machines[std::string(isa)];
  if (!machine) {
    const std::string triple = "x86_64-pc-linux-gnu";
    std::string error;
    const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target) fail("llvm: no x86-64 target: {}", error);
    const char* cpu = isa == "avx512" ? "x86-64-v4" : "x86-64-v3";  // AVX-512 F/BW/DQ/VL, or AVX2 + FMA
    // With PREFETCHW (prefetches for writing, emit_memory.cpp), which the
    // JIT's host features have on AMD and on Intel since Broadwell.
    machine.reset(target->createTargetMachine(triple, cpu, "+prfchw", llvm::TargetOptions(), llvm::Reloc::Static, llvm::CodeModel::Small,
                                              llvm::CodeGenOpt::Default));
    if (!machine) fail("llvm: cannot make a target machine for {}", isa);
  }
  return *machine;
}

std::unique_ptr<LoadedModule> load_module(std::unique_ptr<llvm::LLVMContext> context_in, std::unique_ptr<llvm::Module> module_in,
                                          const std::string& entry_name, double& optimize_ms, double& machine_code_ms) {
  // Locals, declared context first: if anything below throws, the module
  // is destroyed before its context (parameters' order is the compiler's).
  std::unique_ptr<llvm::LLVMContext> context = std::move(context_in);
  std::unique_ptr<llvm::Module> module = std::move(module_in);
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  Jit& j = jit();
  module->setDataLayout(j.lljit->getDataLayout());
  module->setTargetTriple(j.lljit->getTargetTriple().str());
  std::string problems;
  llvm::raw_string_ostream out(problems);
  if (llvm::verifyModule(*module, &out)) fail("llvm: the emitted module is invalid: {}", out.str());
  {
    std::lock_guard lock(j.mutex);  // unique symbol names per module
    module->getFunction(entry_name)->setName(entry_name + "_" + std::to_string(j.next_module++));
  }
  const std::string symbol = module->getFunctionList().front().getName().str();
  static const std::string tuning = tuning_cpu();
  for (llvm::Function& f : *module)
    if (!f.isDeclaration()) f.addFnAttr("tune-cpu", tuning);
  if (dump_requested("llvm")) dump("llvm", symbol, ir_text(*module));
  const auto optimize_start = Clock::now();
  optimize(*module, *j.machine);
  optimize_ms = ms_since(optimize_start);
  if (dump_requested("opt")) dump("opt", symbol, ir_text(*module));
  if (dump_requested("asm")) dump("asm", symbol, assembly_text(*module, *j.machine));
  const auto machine_code_start = Clock::now();
  llvm::orc::ResourceTrackerSP tracker = j.lljit->getMainJITDylib().createResourceTracker();
  if (llvm::Error e = j.lljit->addIRModule(tracker, llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
    fail("llvm: adding a module failed: {}", message_of(std::move(e)));
  llvm::orc::ExecutorAddr address = unwrap(j.lljit->lookup(symbol), "look up the kernel");  // compiles it
  machine_code_ms = ms_since(machine_code_start);
  return std::make_unique<OrcModule>(std::move(tracker), address.toPtr<void*>());
}

}  // namespace tj::llvm_backend
