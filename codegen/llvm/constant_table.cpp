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

// One load per constant and block, before its first use there: a compare
// and the select that picks by it (a min or a max) then share it, as the
// instruction selector needs.
void load_constants_from_table(llvm::Function& f) {
  std::map<llvm::Constant*, unsigned> slot;
  std::vector<llvm::Constant*> entries;
  for (llvm::BasicBlock& block : f)
    for (llvm::Instruction& i : block)
      if (takes_memory_operand(i))
        for (llvm::Value* operand : i.operands())
          if (is_vector_splat(operand) && slot.emplace(llvm::cast<llvm::Constant>(operand), entries.size()).second)
            entries.push_back(llvm::cast<llvm::Constant>(operand));
  if (entries.empty()) return;
  llvm::Constant* contents = llvm::ConstantStruct::getAnon(entries);
  auto* table = new llvm::GlobalVariable(*f.getParent(), contents->getType(), true, llvm::GlobalValue::PrivateLinkage, contents,
                                         f.getName() + ".constants");
  llvm::IRBuilder<> b(f.getContext());
  llvm::MDNode* invariant = llvm::MDNode::get(f.getContext(), {});
  for (llvm::BasicBlock& block : f) {
    std::map<llvm::Constant*, llvm::Value*> loaded;
    for (llvm::Instruction& i : block) {
      if (!takes_memory_operand(i)) continue;
      for (unsigned k = 0; k < i.getNumOperands(); ++k) {
        if (!is_vector_splat(i.getOperand(k))) continue;
        auto* c = llvm::cast<llvm::Constant>(i.getOperand(k));
        llvm::Value*& load = loaded[c];
        if (!load) {
          b.SetInsertPoint(&i);
          auto* l = b.CreateLoad(c->getType(), b.CreateStructGEP(contents->getType(), table, slot.at(c)));
          l->setMetadata(llvm::LLVMContext::MD_invariant_load, invariant);
          load = l;
        }
        i.setOperand(k, load);
      }
    }
  }
}

}  // namespace

void load_constants_from_table(llvm::Module& module) {
  for (llvm::Function& f : module)
    if (!f.isDeclaration()) load_constants_from_table(f);
}

}  // namespace tj::llvm_backend
