// Splat constants of arithmetic moved into a table in memory (constant_table.h).
#include "codegen/llvm/constant_table.h"

#include <map>
#include <set>
#include <vector>

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicInst.h>

namespace tj::llvm_backend {

namespace {

// Instructions whose vector operands x86 can take from memory (shifts are
// left out: their constant is an immediate).
bool takes_memory_operand(const llvm::Instruction& i) {
  static const std::set<unsigned> kOpcodes = {
      llvm::Instruction::FAdd, llvm::Instruction::FSub, llvm::Instruction::FMul, llvm::Instruction::FDiv, llvm::Instruction::FCmp,
      llvm::Instruction::Add,  llvm::Instruction::Sub,  llvm::Instruction::And,  llvm::Instruction::Or,   llvm::Instruction::Xor,
      llvm::Instruction::ICmp, llvm::Instruction::Select};
  if (kOpcodes.contains(i.getOpcode())) return true;
  const auto* call = llvm::dyn_cast<llvm::IntrinsicInst>(&i);
  return call && (call->getIntrinsicID() == llvm::Intrinsic::fma || call->getIntrinsicID() == llvm::Intrinsic::fmuladd);
}

// A vector of one repeated value, float or integer (not of i1, not zero:
// zeroing a register is free).
bool is_vector_splat(const llvm::Value* v) {
  const auto* c = llvm::dyn_cast<llvm::Constant>(v);
  if (!c || !c->getType()->isVectorTy() || !c->getSplatValue() || c->isNullValue()) return false;
  const llvm::Type* element = c->getType()->getScalarType();
  return element->isFloatingPointTy() || (element->isIntegerTy() && element->getIntegerBitWidth() >= 8);
}

// Each constant is loaded once, at the function's entry: where registers
// suffice it stays in one (hoisted, as a constant would be); where they run
// out, the register allocator rematerializes the load, and a full-width load
// folds into the instruction that uses it.
void load_constants_from_table(llvm::Function& f) {
  std::map<llvm::Constant*, llvm::Value*> loaded;
  std::vector<std::pair<llvm::Instruction*, unsigned>> uses;
  std::vector<llvm::Constant*> entries;
  for (llvm::BasicBlock& block : f)
    for (llvm::Instruction& i : block)
      if (takes_memory_operand(i))
        for (unsigned k = 0; k < i.getNumOperands(); ++k) {
          if (!is_vector_splat(i.getOperand(k))) continue;
          auto* c = llvm::cast<llvm::Constant>(i.getOperand(k));
          if (loaded.emplace(c, nullptr).second) entries.push_back(c);
          uses.emplace_back(&i, k);
        }
  if (entries.empty()) return;
  llvm::Constant* contents = llvm::ConstantStruct::getAnon(entries);
  auto* table = new llvm::GlobalVariable(*f.getParent(), contents->getType(), true, llvm::GlobalValue::PrivateLinkage, contents,
                                         f.getName() + ".constants");
  llvm::IRBuilder<> b(&*f.getEntryBlock().getFirstInsertionPt());
  llvm::MDNode* invariant = llvm::MDNode::get(f.getContext(), {});
  for (unsigned slot = 0; slot < entries.size(); ++slot) {
    llvm::LoadInst* load = b.CreateLoad(entries[slot]->getType(), b.CreateStructGEP(contents->getType(), table, slot));
    load->setMetadata(llvm::LLVMContext::MD_invariant_load, invariant);
    loaded[entries[slot]] = load;
  }
  for (auto [user, k] : uses) user->setOperand(k, loaded.at(llvm::cast<llvm::Constant>(user->getOperand(k))));
}

}  // namespace

void load_constants_from_table(llvm::Module& module) {
  for (llvm::Function& f : module)
    if (!f.isDeclaration()) load_constants_from_table(f);
}

}  // namespace tj::llvm_backend
