// The LLVM emitter of loop kernels (the Emitter of emitter.h: its loop
// nest, passes and pipelined loops; reductions are in emit_reduce.cpp,
// rows in flight in emit_rows.cpp, memory access in emit_memory.cpp), and
// the entry points of emit.h that compile a kernel for the JIT or to
// assembly.
#include "codegen/llvm/emit.h"

#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/llvm/dump.h"
#include "codegen/llvm/emitter.h"
#include "codegen/llvm/jit.h"
#include "codegen/llvm/pipeline.h"
#include "codegen/target.h"
#include "ir/error.h"

namespace tj::llvm_backend {

void Emitter::emit() {
  auto* i64 = b_.getInt64Ty();
  auto* type = llvm::FunctionType::get(b_.getVoidTy(), {b_.getPtrTy(), i64, i64}, false);
  fn_ = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "kernel", module_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
  b_.SetInsertPoint(entry);
  Value* args = fn_->getArg(0);
  for (int i = 0; i < k_.arguments + (k_.packed_b_step >= 0 ? 1 : 0); ++i)
    base_.push_back(b_.CreateLoad(b_.getPtrTy(), b_.CreateConstGEP1_64(b_.getPtrTy(), args, i)));
  for (size_t s = 0; s < k_.steps.size(); ++s) {
    if (k_.steps[s].kind == StepKind::reduce)
      for (int u = 0; u < unroll(k_.steps[s].pass).vectors; ++u) {
        accumulators_[s].push_back(b_.CreateAlloca(accumulator_type(k_.steps[s])));
        if (is_extremum(k_.steps[s].op)) nan_witnesses_[s].push_back(b_.CreateAlloca(witness_type()));
      }
    if (k_.steps[s].row_level) row_values_[s] = b_.CreateAlloca(vector_of(k_.steps[s].dtype));
  }
  if (!reduces_columns(k_)) plan_row_cache();  // column reductions compute again in each pass
  check_streaming_stores();
  for (const Step& step : k_.steps)  // a matmul kernel's row of sums (lowering bounds its length)
    if (step.kind == StepKind::matmul && !blocked_matmul())
      row_sums_ = scratch(b_.getDoubleTy(), k_.inner() * k_.row_block);
  if (blocked_matmul()) {
    schedule_ = fmt::format("blocks of {} rows, {} blocks sharing each cache block of B", k_.row_block, kBlocksPerGroup);
    emit_blocked_matmul(fn_->getArg(1), fn_->getArg(2));
  } else if (ranges_over_elements(k_)) {
    schedule_ = "one loop over the elements";
    offsets_.clear();
    for (const IndexMap* m : all_maps()) offsets_[m] = b_.getInt64(m->offset);
    ready_.assign(k_.steps.size(), false);
    compute_row_steps();  // constants
    inner_loop(fn_->getArg(1), fn_->getArg(2), k_.passes - 1);
  } else if (interleaves_rows()) {
    schedule_ = "two rows in flight";
    emit_rows_interleaved(fn_->getArg(1), fn_->getArg(2));
  } else if (reduces_columns(k_)) {
    schedule_ = fmt::format("column reduction, {} outputs per vector", lanes_);
    emit_column_reductions(fn_->getArg(1), fn_->getArg(2));
  } else if (reduces_rows_in_groups()) {
    schedule_ = fmt::format("{} rows per loop", kRowsInFlight);
    emit_row_groups(fn_->getArg(1), fn_->getArg(2));
  } else {
    schedule_ = k_.row_block == 1 ? "one row per loop" : fmt::format("blocks of {} rows", k_.row_block);
    counted_loop(fn_->getArg(1), fn_->getArg(2), 1, [&](Value* block) {
      if (k_.row_block == 1) return emit_row(block);
      emit_row_block(block);
    });
  }
  if (pipelined_) schedule_ += ", software-pipelined";
  if (streaming_stores_ok_) b_.CreateIntrinsic(llvm::Intrinsic::x86_sse_sfence, {}, {});  // order them before the pool's join
  b_.CreateRetVoid();
  if (scratch_request_) scratch_request_->setArgOperand(0, b_.getInt64(scratch_bytes_));
}

llvm::Type* Emitter::scalar_of(DType d) {
  switch (d) {
    case DType::f32: return b_.getFloatTy();
    case DType::f64: return b_.getDoubleTy();
    case DType::boolean: return b_.getInt1Ty();
    default: fail("codegen: no LLVM type for {}", dtype_name(d));
  }
}

llvm::VectorType* Emitter::accumulator_type(const Step& s) {
  return llvm::FixedVectorType::get(s.op == Op::sum || s.op == Op::mean ? b_.getDoubleTy() : b_.getFloatTy(), lanes_);
}

Value* Emitter::lane_ids(llvm::IntegerType* type) {
  std::vector<llvm::Constant*> ids;
  for (int i = 0; i < lanes_; ++i) ids.push_back(llvm::ConstantInt::get(type ? type : b_.getInt64Ty(), i));
  return llvm::ConstantVector::get(ids);
}

std::vector<const IndexMap*> Emitter::all_maps() {
  std::vector<const IndexMap*> maps;
  for (const IndexMap& m : k_.loads) maps.push_back(&m);
  for (const LoopKernel::Store& s : k_.stores) maps.push_back(&s.map);
  return maps;
}

void Emitter::set_row_offsets(Value* row) {
  const size_t row_dims = k_.domain.size() - k_.inner_dims;
  std::vector<Value*> index(row_dims);
  Value* rest = row;
  for (size_t d = row_dims; d-- > 0;) {
    index[d] = d == 0 ? rest : b_.CreateSRem(rest, b_.getInt64(k_.domain[d]));
    if (d > 0) rest = b_.CreateSDiv(rest, b_.getInt64(k_.domain[d]));
  }
  offsets_.clear();
  for (const IndexMap* m : all_maps()) {
    Value* offset = b_.getInt64(m->offset);
    for (size_t d = 0; d < row_dims; ++d)
      if (m->strides[d] != 0) offset = b_.CreateAdd(offset, b_.CreateMul(index[d], b_.getInt64(m->strides[d])));
    offsets_[m] = offset;
  }
}

Value* Emitter::opaque_inner() {
  auto* opaque = llvm::InlineAsm::get(llvm::FunctionType::get(b_.getInt64Ty(), {b_.getInt64Ty()}, false), "", "=r,0", false);
  return b_.CreateCall(opaque, {b_.getInt64(k_.inner())});
}

void Emitter::emit_row(Value* row, bool compute_matmul) {
  set_row_offsets(row);
  ready_.assign(k_.steps.size(), false);
  compute_row_steps();
  Value* inner = opaque_inner();
  if (compute_matmul)
    for (const Step& step : k_.steps)
      if (step.kind == StepKind::matmul) {
        current_sums_ = row_sums_;
        matmul_rows(step, {row}, inner);
      }
  row_passes(inner, k_.passes);
  store_row_outputs();
}

void Emitter::row_passes(Value* inner, int passes, const Alongside& alongside_last) {
  for (int pass = 0; pass < passes; ++pass) {
    if (pass_has_work(pass)) inner_loop(b_.getInt64(0), inner, pass, inner_multiple(), pass == passes - 1 ? alongside_last : nullptr);
    compute_row_steps();
  }
}

void Emitter::store_row_outputs() {
  for (const LoopKernel::Store& store : k_.stores) {
    if (!k_.steps[store.step].row_level) continue;
    Value* v = b_.CreateExtractElement(b_.CreateLoad(vector_of(k_.steps[store.step].dtype), row_values_.at(store.step)), uint64_t{0});
    if (store.map.dtype == DType::boolean) v = b_.CreateZExt(v, b_.getInt8Ty());
    b_.CreateStore(v, b_.CreateGEP(memory_of(store.map.dtype), base_[store.map.buffer], offsets_.at(&store.map)));
  }
}

bool Emitter::pass_has_work(int pass) const {
  for (const Step& step : k_.steps)
    if (step.kind == StepKind::reduce && step.pass == pass) return true;
  if (pass != k_.passes - 1) return false;
  return std::any_of(k_.stores.begin(), k_.stores.end(), [&](const LoopKernel::Store& s) { return !k_.steps[s.step].row_level; });
}

void Emitter::compute_row_steps() {
  for (size_t s = 0; s < k_.steps.size(); ++s) {
    const Step& step = k_.steps[s];
    if (!step.row_level || ready_[s] || step.kind == StepKind::reduce) continue;
    if (!std::all_of(step.args.begin(), step.args.end(), [&](int a) { return ready_[a]; })) continue;
    Value* v = nullptr;
    if (step.kind == StepKind::load && reducing_columns_) v = load_column(k_.loads[step.load], b_.getInt64(0), column_mask_);
    else if (step.kind == StepKind::load) v = splat(load_scalar(k_.loads[step.load]));
    else if (step.kind == StepKind::constant) v = constant_vector(step);
    else v = compute(step, [&](int a) { return b_.CreateLoad(vector_of(k_.steps[a].dtype), row_values_.at(a)); });
    b_.CreateStore(v, row_values_.at(s));
    ready_[s] = true;
  }
}

Value* Emitter::constant_vector(const Step& step) {
  if (step.dtype == DType::boolean) return splat(b_.getInt1(step.constant != 0));
  return splat(llvm::ConstantFP::get(scalar_of(step.dtype), step.constant));
}

void Emitter::reset_accumulators(int pass) {
  for (auto& [s, slots] : accumulators_)
    if (k_.steps[s].pass == pass)
      for (Value* slot : slots) b_.CreateStore(identity(k_.steps[s]), slot);
  for (auto& [s, slots] : nan_witnesses_)
    if (k_.steps[s].pass == pass)
      for (Value* slot : slots) b_.CreateStore(llvm::Constant::getNullValue(witness_type()), slot);
}

void Emitter::inner_loop(Value* from, Value* to, int pass, int64_t multiple_of, const Alongside& alongside) {
  reset_accumulators(pass);
  Unroll shape = unroll(pass);
  shape.multiple_of = multiple_of;
  auto body_and_alongside = [&](Part part) {
    return [&, part](Value* j, Value* mask, int slot) {
      body(j, mask, pass, slot, part);
      if (alongside) alongside(j, mask, slot);
    };
  };
  if (may_pipeline(pass, Part::all) && !alongside) {  // (only a final pass pipelines whole; nothing runs alongside one)
    pipelined_loop(from, to, pass, Part::all, multiple_of);
  } else if (reduces_cached_values(pass)) {
    if (may_pipeline(pass, Part::compute) && !alongside) pipelined_loop(from, to, pass, Part::compute, multiple_of);
    else vector_loop(from, to, body_and_alongside(Part::compute), {1, multiple_of});
    vector_loop(from, to, [&](Value* j, Value* mask, int slot) { body(j, mask, pass, slot, Part::reduce); }, {unroll(pass).vectors, multiple_of});
  } else {
    vector_loop(from, to, body_and_alongside(Part::all), shape);
  }
  finish_reductions(pass);
  rerun_if_pairs_overflowed(from, to, pass, multiple_of);
}

bool Emitter::reduces_cached_values(int pass) const {
  if (!has_long_chains()) return false;
  bool reduces = false;
  for (const Step& step : k_.steps) {
    if (step.kind != StepKind::reduce || step.pass != pass) continue;
    const auto cached = row_cache_.find(step.args[0]);
    if (cached == row_cache_.end() || cached->second.first_pass != pass) return false;
    reduces = true;
  }
  return reduces;
}

bool Emitter::may_pipeline(int pass, Part part) const {
  if (!has_long_chains()) return false;
  if (part == Part::compute) return true;  // the math into the row cache, reductions left to the next loop
  const bool reduces = std::any_of(k_.steps.begin(), k_.steps.end(), [&](const Step& s) { return s.kind == StepKind::reduce && s.pass == pass; });
  return part == Part::all && pass == k_.passes - 1 && !reduces;
}

void Emitter::pipelined_loop(Value* from, Value* to, int pass, Part part, int64_t multiple_of) {
  pipelined_ = true;
  llvm::BasicBlock* resume = b_.GetInsertBlock();
  LoopBody proto;
  proto.block = llvm::BasicBlock::Create(ctx_, "pipeline.body", fn_);  // unreachable, erased after use
  b_.SetInsertPoint(proto.block);
  proto.index = b_.CreatePHI(b_.getInt64Ty(), 0, "j");
  std::vector<DeferredStore> stores;
  body(proto.index, nullptr, pass, 0, part, &stores);
  for (const DeferredStore& store : stores) proto.results.push_back(store.value);
  b_.SetInsertPoint(resume);
  // Filling and draining the pipeline cost stages - 1 trips per loop: at
  // most one trip in 8 (short rows, a cache block's 128 columns get fewer stages).
  const int64_t row = ranges_over_elements(k_) ? INT64_MAX : blocked_matmul() ? std::min(k_.inner(), kColumnBlock) : k_.inner();
  const int vector_registers = lanes_ == 16 ? 32 : 16;  // AVX-512 or AVX2
  const int stages = pipeline_stages(proto, static_cast<int>(std::min<int64_t>(INT32_MAX, 1 + row / lanes_ / kTripsPerFillTrip)), vector_registers);
  auto plain_body = [&](Value* j, Value* mask, int slot) { body(j, mask, pass, slot, part); };
  if (stages < 2) {
    discard_loop_body(proto);
    Unroll shape = part == Part::all ? unroll(pass) : Unroll{1};
    shape.multiple_of = multiple_of;
    return vector_loop(from, to, plain_body, shape);
  }
  Value* j = emit_pipelined_loop(b_, proto, stages, from, to, lanes_, [&](Value* at, const std::vector<Value*>& values) {
    for (size_t v = 0; v < values.size(); ++v) stores[v].write(at, values[v]);
  });
  if (multiple_of % lanes_ != 0) masked_tail(j, to, plain_body);
}

namespace {
const std::set<Op> kLongChains = {Op::exp, Op::log, Op::tanh, Op::sigmoid, Op::erf, Op::pow};
}  // namespace

bool Emitter::has_long_chains() const {
  return std::any_of(k_.steps.begin(), k_.steps.end(),
                     [](const Step& step) { return step.kind == StepKind::compute && kLongChains.contains(step.op); });
}

bool Emitter::computes_long_math(int step, int pass) const {
  std::vector<int> pending = {step};
  std::set<int> seen;
  while (!pending.empty()) {
    const int s = pending.back();
    pending.pop_back();
    const Step& st = k_.steps[s];
    const auto cached = row_cache_.find(s);
    const bool read_here = st.row_level || st.kind != StepKind::compute || (cached != row_cache_.end() && cached->second.first_pass < pass);
    if (read_here || !seen.insert(s).second) continue;
    if (kLongChains.contains(st.op)) return true;
    pending.insert(pending.end(), st.args.begin(), st.args.end());
  }
  return false;
}

bool Emitter::stores_through_cache(int step) const { return k_.passes > 1 || computes_long_math(step, k_.passes - 1); }

Emitter::Unroll Emitter::unroll(int pass) const {
  for (const Step& step : k_.steps)
    if (step.kind == StepKind::reduce && step.pass == pass) return {kMaxUnroll};
  return {has_long_chains() ? 1 : kMaxUnroll};
}

void Emitter::body(Value* j, Value* mask, int pass, int slot, Part part, std::vector<DeferredStore>* deferred) {
  std::map<int, Value*> values;
  std::function<Value*(int)> value = [&](int s) -> Value* {
    if (auto it = values.find(s); it != values.end()) return it->second;
    const Step& step = k_.steps[s];
    Value* v;
    if (step.row_level) v = b_.CreateLoad(vector_of(step.dtype), row_values_.at(s));
    else if (step.kind == StepKind::load) v = load_vector(k_.loads[step.load], j, mask);
    else if (step.kind == StepKind::matmul)
      v = b_.CreateFPTrunc(load_doubles(b_.CreateGEP(b_.getDoubleTy(), current_sums_, j), mask), vector_of(DType::f32));
    else if (auto cached = row_cache_.find(s); cached != row_cache_.end() && cached->second.first_pass < pass)
      v = load_floats(b_.CreateGEP(b_.getFloatTy(), cached->second.buffer, j), mask);
    else v = compute(step, value);
    if (auto cached = row_cache_.find(s); cached != row_cache_.end() && cached->second.first_pass == pass) {
      Value* buffer = cached->second.buffer;
      auto write = [this, buffer](Value* at, Value* v) { store_floats(v, b_.CreateGEP(b_.getFloatTy(), buffer, at), nullptr); };
      if (deferred) deferred->push_back({v, write});
      else store_floats(v, b_.CreateGEP(b_.getFloatTy(), buffer, j), mask);
    }
    return values[s] = v;
  };
  if (part == Part::compute)
    for (const auto& [s, cached] : row_cache_)
      if (cached.first_pass == pass) value(s);
  for (size_t s = 0; s < k_.steps.size() && part != Part::compute; ++s) {
    const Step& step = k_.steps[s];
    if (step.kind != StepKind::reduce || step.pass != pass) continue;
    Value* x = part == Part::reduce ? load_floats(b_.CreateGEP(b_.getFloatTy(), row_cache_.at(step.args[0]).buffer, j), mask)
                                    : value(step.args[0]);
    accumulate(step, s, x, mask, slot);
  }
  if (pass != k_.passes - 1 || part == Part::reduce) return;
  for (const LoopKernel::Store& store : k_.stores) {
    if (k_.steps[store.step].row_level) continue;
    const IndexMap* map = &store.map;
    const bool through_cache = stores_through_cache(store.step);
    if (deferred) deferred->push_back({value(store.step), [=, this](Value* at, Value* v) { store_vector(*map, v, at, nullptr, through_cache); }});
    else store_vector(store.map, value(store.step), j, mask, through_cache);
  }
}

void Emitter::plan_row_cache() {
  if (k_.passes < 2 || ranges_over_elements(k_) || k_.inner() > kMaxCachedRow) return;
  std::map<int, std::set<int>> passes_of;  // passes that need each step's value
  for (int pass = 0; pass < k_.passes; ++pass) {
    std::vector<int> pending;
    for (size_t s = 0; s < k_.steps.size(); ++s)
      if (k_.steps[s].kind == StepKind::reduce && k_.steps[s].pass == pass) pending.push_back(k_.steps[s].args[0]);
    if (pass == k_.passes - 1)
      for (const LoopKernel::Store& store : k_.stores) pending.push_back(store.step);
    std::set<int> seen;
    while (!pending.empty()) {
      const int s = pending.back();
      pending.pop_back();
      const Step& step = k_.steps[s];
      if (step.row_level || step.kind != StepKind::compute || !seen.insert(s).second) continue;
      const bool needed_before = passes_of.contains(s);
      passes_of[s].insert(pass);
      if (!needed_before) pending.insert(pending.end(), step.args.begin(), step.args.end());  // else cached: its args are not
    }
  }
  for (const auto& [s, passes] : passes_of)
    if (passes.size() > 1 && k_.steps[s].dtype == DType::f32)
      row_cache_[s] = {*passes.begin(), scratch(b_.getFloatTy(), k_.inner())};
  if (interleaves_rows())
    for (auto& [s, cached] : row_cache_) cached.buffers[0] = cached.buffer, cached.buffers[1] = scratch(b_.getFloatTy(), k_.inner());
}

namespace {

class Compiled : public CompiledKernel {
 public:
  Compiled(std::unique_ptr<LoadedModule> module, CompilePhases phases, int64_t scratch_bytes, std::string schedule)
      : module_(std::move(module)), phases_(phases), scratch_bytes_(scratch_bytes), schedule_(std::move(schedule)) {}
  KernelFn function() const override { return reinterpret_cast<KernelFn>(module_->entry()); }
  const CompilePhases& phases() const override { return phases_; }
  int64_t scratch_bytes() const override { return scratch_bytes_; }
  const std::string& schedule() const override { return schedule_; }

 private:
  std::unique_ptr<LoadedModule> module_;
  CompilePhases phases_;
  int64_t scratch_bytes_;
  std::string schedule_;
};

}  // namespace

bool ranges_over_elements(const LoopKernel& kernel) {
  const bool has_matmul = std::any_of(kernel.steps.begin(), kernel.steps.end(), [](const Step& s) { return s.kind == StepKind::matmul; });
  return kernel.domain.size() == 1 && kernel.passes == 1 && !has_matmul;
}

std::unique_ptr<CompiledKernel> compile_loop_kernel(const LoopKernel& kernel) {
  // One compile at a time: compiles are rare, and this keeps LLVM's shared
  // target machine out of concurrent use.
  static std::mutex compile_mutex;
  std::lock_guard lock(compile_mutex);
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("tensorjit_kernel", *context);
  CompilePhases phases;
  const auto start = std::chrono::steady_clock::now();
  Emitter emitter(kernel, *context, *module, host_isa().f32_lanes);
  emitter.emit();
  phases.emit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::unique_ptr<LoadedModule> loaded = load_module(std::move(context), std::move(module), "kernel", phases.optimize_ms, phases.machine_code_ms);
  return std::make_unique<Compiled>(std::move(loaded), phases, emitter.scratch_bytes(), emitter.schedule());
}

std::string assemble_loop_kernel(const LoopKernel& kernel, const Isa& isa) {
  llvm::LLVMContext context;
  llvm::Module module("tensorjit_kernel", context);
  llvm::TargetMachine& machine = target_machine_for(isa.name);
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple().str());
  Emitter(kernel, context, module, isa.f32_lanes).emit();
  optimize(module, machine);
  return assembly_text(module, machine);
}

}  // namespace tj::llvm_backend
