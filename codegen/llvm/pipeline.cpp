// Software pipelining of a straight vector loop body (pipeline.h): stages
// from estimated latencies, then the loop that runs them.
#include "codegen/llvm/pipeline.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <llvm/IR/CFG.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/Transforms/Utils/ValueMapper.h>

#include "ir/error.h"

namespace tj::llvm_backend {

namespace {

using llvm::Instruction;
using llvm::Value;

constexpr int kStageCycles = 16;  // a stage's share of the chain (GELU's estimate: 83 cycles)

// At most this many stages for a register file of this many vectors. Each
// stage carries its live values into the next trip; with 32 registers
// (AVX-512) GELU's loop takes 5 stages without spilling (11.9 cycles a
// vector in cache against 12.2 with 4; GELU's erf form 18.0 against 19.1,
// medians of 12 alternating runs on Zen 5), with 16 (AVX2) 5 stages spill
// and run 25% slower than 4.
int max_stages(int vector_registers) { return vector_registers >= 32 ? 5 : 4; }

// Latencies in cycles on recent x86 cores (Zen 3, Skylake-X, roughly): only
// the shape of the critical path matters, not exact figures.
const std::map<unsigned, int> kOpcodeLatency = {
    {Instruction::Load, 7},   {Instruction::FAdd, 3},    {Instruction::FSub, 3},   {Instruction::FMul, 3},
    {Instruction::FDiv, 11},  {Instruction::Mul, 3},     {Instruction::FPExt, 4},  {Instruction::FPTrunc, 4},
    {Instruction::SIToFP, 4}, {Instruction::FPToSI, 4},  {Instruction::BitCast, 0}, {Instruction::PHI, 0},
    {Instruction::ShuffleVector, 2}, {Instruction::ExtractElement, 2}, {Instruction::InsertElement, 2},
};
const std::map<llvm::Intrinsic::ID, int> kIntrinsicLatency = {
    {llvm::Intrinsic::fma, 4},  {llvm::Intrinsic::fmuladd, 4},    {llvm::Intrinsic::fabs, 1},
    {llvm::Intrinsic::sqrt, 15}, {llvm::Intrinsic::masked_load, 8}, {llvm::Intrinsic::masked_gather, 12},
    {llvm::Intrinsic::prefetch, 0},
};
constexpr int kOtherLatency = 1;           // integer and logic ops, compares, selects, addresses
constexpr int kOtherIntrinsicLatency = 3;  // min/max, copysign, ...

int latency(const Instruction& i) {
  if (const auto* call = llvm::dyn_cast<llvm::IntrinsicInst>(&i)) {
    const auto it = kIntrinsicLatency.find(call->getIntrinsicID());
    return it == kIntrinsicLatency.end() ? kOtherIntrinsicLatency : it->second;
  }
  const auto it = kOpcodeLatency.find(i.getOpcode());
  return it == kOpcodeLatency.end() ? kOtherLatency : it->second;
}

// Which stage each instruction of the body runs in; instructions that do
// not depend on the index are `invariant` (hoisted before the loop).
struct Schedule {
  llvm::BasicBlock* block = nullptr;  // the body, when straight (one block, no branches): the only shape pipelined
  std::map<const Instruction*, int> stage;
  std::vector<Instruction*> invariant;
  std::map<const Instruction*, int> start;  // cycles from the trip's start
  int critical_path = 0;
};

Schedule schedule(const LoopBody& body) {
  Schedule s;
  if (body.block->getTerminator()) return s;
  s.block = body.block;
  std::set<const Instruction*> varying = {body.index};
  for (Instruction& i : *body.block) {
    if (&i == body.index) continue;
    int start = 0;
    bool varying_here = false;
    for (const Value* operand : i.operands()) {
      const auto* def = llvm::dyn_cast<Instruction>(operand);
      if (!def || !varying.contains(def)) continue;
      varying_here = true;
      if (def != body.index) start = std::max(start, s.start.at(def) + latency(*def));
    }
    if (!varying_here) {
      s.invariant.push_back(&i);
      continue;
    }
    varying.insert(&i);
    s.start[&i] = start;
    s.critical_path = std::max(s.critical_path, start + latency(i));
  }
  return s;
}

// Stages by start time, memory reads (and their addresses) in the first,
// then adjusted until no instruction runs in an earlier stage than an
// operand.
void assign_stages(Schedule& s, int stages) {
  for (const auto& [i, start] : s.start) s.stage[i] = std::min(stages - 1, start * stages / std::max(s.critical_path, 1));
  // The trips that fill the pipeline run the later stages on carried zeros:
  // an address computed in one stage and read from in a later one would be
  // a null pointer there. So every read and its address chain go first.
  std::vector<const Instruction*> reads;
  for (const auto& [i, stage] : s.stage)
    if (i->mayReadFromMemory()) reads.push_back(i);
  while (!reads.empty()) {
    const Instruction* i = reads.back();
    reads.pop_back();
    s.stage[i] = 0;
    for (const Value* operand : i->operands())
      if (const auto* def = llvm::dyn_cast<Instruction>(operand); def && s.stage.contains(def) && s.stage.at(def) != 0) reads.push_back(def);
  }
  for (const Instruction& i : *s.block) {  // operands first, so one pass in program order
    if (!s.stage.contains(&i)) continue;
    for (const Value* operand : i.operands())
      if (const auto* def = llvm::dyn_cast<Instruction>(operand); def && s.stage.contains(def))
        s.stage[&i] = std::max(s.stage.at(&i), s.stage.at(def));
  }
  // A mask (a compare's result) moves to the stage of its first user: on
  // AVX2 a carried vector of i1 is packed and unpacked every trip. So do
  // negations and bit casts, which cost nothing next to their user (an FMA
  // takes the negation in): carried, they would be an instruction more.
  auto moves_to_user = [](const Instruction& i) {
    return i.getType()->getScalarType()->isIntegerTy(1) || i.getOpcode() == Instruction::FNeg || i.getOpcode() == Instruction::BitCast;
  };
  for (Instruction& i : llvm::reverse(*s.block)) {
    if (!s.stage.contains(&i) || !moves_to_user(i)) continue;
    std::optional<int> first_use;
    for (const llvm::User* user : i.users())
      if (const auto* u = llvm::dyn_cast<Instruction>(user); u && s.stage.contains(u))
        first_use = std::min(first_use.value_or(stages - 1), s.stage.at(u));
    if (first_use) s.stage[&i] = std::max(s.stage[&i], *first_use);
  }
}

// Whether the stages keep every memory read in the first (see above) and
// the body writes no memory (its stores are the caller's).
bool reads_first(const Schedule& s) {
  for (const auto& [i, stage] : s.stage)
    if (i->mayWriteToMemory() && !llvm::isa<llvm::IntrinsicInst>(i)) return false;
    else if (i->mayReadFromMemory() && stage != 0) return false;
  return true;
}

}  // namespace

int pipeline_stages(const LoopBody& body, int at_most, int vector_registers) {
  Schedule s = schedule(body);
  if (!s.block) return 1;
  const int stages = std::clamp(s.critical_path / kStageCycles, 1, std::max(1, std::min(max_stages(vector_registers), at_most)));
  assign_stages(s, stages);
  return reads_first(s) ? stages : 1;
}

Value* emit_pipelined_loop(llvm::IRBuilder<>& b, LoopBody body, int stages, Value* from, Value* to, int lanes,
                           const std::function<void(Value*, const std::vector<Value*>&)>& store) {
  Schedule s = schedule(body);
  if (!s.block) fail("codegen: a loop body that branches cannot be software-pipelined (pipeline_stages returns 1 for it)");
  assign_stages(s, stages);
  // How many trips each value is carried to the stages that use it, in
  // program order (the loop's phis, and so its code, the same every time).
  std::map<const Instruction*, int> delay;
  auto need = [&](const Value* v, int stage) {
    const auto* def = llvm::dyn_cast<Instruction>(v);
    if (!def || !s.stage.contains(def) || s.stage.at(def) >= stage) return;
    delay[def] = std::max(delay[def], stage - s.stage.at(def));
  };
  for (const auto& [i, stage] : s.stage)
    for (const Value* operand : i->operands()) need(operand, stage);
  for (const Value* result : body.results) need(result, stages - 1);
  std::vector<std::pair<const Instruction*, int>> delays;
  for (const Instruction& i : *s.block)
    if (delay.contains(&i)) delays.emplace_back(&i, delay.at(&i));

  llvm::LLVMContext& context = b.getContext();
  llvm::Function* function = b.GetInsertBlock()->getParent();
  auto block = [&](const char* name) { return llvm::BasicBlock::Create(context, name, function); };
  auto* i64 = b.getInt64Ty();
  auto index = [&](Value* base, int64_t vectors) { return b.CreateAdd(base, b.getInt64(vectors * lanes)); };

  llvm::BasicBlock* entry = b.GetInsertBlock();
  auto* setup = block("pipeline.setup");
  auto* header = block("pipeline.header");
  auto* trip = block("pipeline.trip");
  auto* stores = block("pipeline.store");
  auto* latch = block("pipeline.latch");
  auto* exit = block("pipeline.exit");
  Value* vectors = b.CreateSDiv(b.CreateSub(to, from), b.getInt64(lanes));
  Value* whole_vectors_end = b.CreateAdd(from, b.CreateMul(vectors, b.getInt64(lanes)));
  b.CreateCondBr(b.CreateICmpSGT(vectors, b.getInt64(0)), setup, exit);

  b.SetInsertPoint(setup);
  llvm::ValueToValueMapTy invariant;
  for (Instruction* i : s.invariant) {
    Instruction* copy = i->clone();
    llvm::RemapInstruction(copy, invariant, llvm::RF_IgnoreMissingLocals | llvm::RF_NoModuleLevelChanges);
    b.Insert(copy);
    invariant[i] = copy;
  }
  Value* last = b.CreateAdd(from, b.CreateMul(b.CreateSub(vectors, b.getInt64(1)), b.getInt64(lanes)));
  Value* end = b.CreateAdd(from, b.CreateMul(b.CreateAdd(vectors, b.getInt64(stages - 1)), b.getInt64(lanes)));
  Value* first_store = index(from, stages - 1);
  b.CreateBr(header);

  b.SetInsertPoint(header);
  llvm::PHINode* j = b.CreatePHI(i64, 2, "trip");
  j->addIncoming(from, setup);
  std::map<const Instruction*, std::vector<llvm::PHINode*>> carried;  // [d - 1]: the value d trips ago
  for (const auto& [i, d] : delays)
    for (int k = 0; k < d; ++k) {
      llvm::PHINode* phi = b.CreatePHI(i->getType(), 2);
      phi->addIncoming(llvm::Constant::getNullValue(i->getType()), setup);
      carried[i].push_back(phi);
    }
  b.CreateCondBr(b.CreateICmpSLT(j, end), trip, exit);

  // Stage t works on vector j - t lanes: the oldest first.
  b.SetInsertPoint(trip);
  std::vector<llvm::ValueToValueMapTy> stage_values(stages);
  auto value_in_stage = [&](Value* v, int stage) -> Value* {
    const auto* def = llvm::dyn_cast<Instruction>(v);
    if (!def) return v;
    if (auto it = invariant.find(def); it != invariant.end()) return it->second;
    if (!s.stage.contains(def)) return v;
    const int d = stage - s.stage.at(def);
    return d == 0 ? static_cast<Value*>(stage_values[stage][def]) : carried.at(def)[d - 1];
  };
  for (int t = stages - 1; t >= 0; --t) {
    Value* vector = b.CreateSub(j, b.getInt64(int64_t{t} * lanes));
    Value* clamped = b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, vector, from), last);
    stage_values[t][body.index] = clamped;
    for (Instruction& i : *s.block) {
      if (&i == body.index || !s.stage.contains(&i) || s.stage.at(&i) != t) continue;
      Instruction* copy = i.clone();
      for (unsigned k = 0; k < copy->getNumOperands(); ++k) {
        Value* operand = copy->getOperand(k);
        copy->setOperand(k, operand == body.index ? clamped : value_in_stage(operand, t));
      }
      b.Insert(copy);
      stage_values[t][&i] = copy;
    }
  }
  b.CreateCondBr(b.CreateICmpSGE(j, first_store), stores, latch);

  b.SetInsertPoint(stores);
  std::vector<Value*> results;
  for (Value* result : body.results) results.push_back(value_in_stage(result, stages - 1));
  store(b.CreateSub(j, b.getInt64(int64_t{stages - 1} * lanes)), results);
  b.CreateBr(latch);

  b.SetInsertPoint(latch);
  j->addIncoming(index(j, 1), latch);
  for (const auto& [i, d] : delays) {
    const std::vector<llvm::PHINode*>& phis = carried.at(i);
    phis[0]->addIncoming(stage_values[s.stage.at(i)][i], latch);
    for (size_t k = 1; k < phis.size(); ++k) phis[k]->addIncoming(phis[k - 1], latch);
  }
  b.CreateBr(header);

  b.SetInsertPoint(exit);
  llvm::PHINode* position = b.CreatePHI(i64, 2, "whole_vectors_end");
  position->addIncoming(from, entry);
  position->addIncoming(whole_vectors_end, header);
  discard_loop_body(body);
  return position;
}

void discard_loop_body(LoopBody& body) {
  std::vector<llvm::BasicBlock*> blocks = {body.block};
  for (size_t k = 0; k < blocks.size(); ++k)
    for (llvm::BasicBlock* next : llvm::successors(blocks[k]))
      if (std::find(blocks.begin(), blocks.end(), next) == blocks.end()) blocks.push_back(next);
  for (llvm::BasicBlock* bb : blocks) bb->dropAllReferences();
  for (llvm::BasicBlock* bb : blocks) bb->eraseFromParent();
  body.block = nullptr;
}

}  // namespace tj::llvm_backend
