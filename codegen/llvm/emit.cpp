// The LLVM emitter of loop kernels. Loop-carried values (counters,
// accumulators, row values) live in allocas that SROA promotes to
// registers, which keeps the emitter a straight reading of the loop nest:
//   for row in [begin, end):            (rows split across threads)
//     row offsets of every index map
//     for pass in passes:               (one per level of dependent reductions)
//       vector loop over the inner dim, then one masked tail iteration
//       finish the pass's reductions; compute row values now available
//     store row-level outputs
#include "codegen/llvm/emit.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <mutex>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/InlineAsm.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Support/raw_ostream.h>

#include "codegen/llvm/dump.h"
#include "codegen/llvm/emit_math.h"
#include "codegen/llvm/jit.h"
#include "codegen/target.h"
#include "ir/error.h"

namespace tj::llvm_backend {

namespace {

using llvm::Value;

class Emitter {
 public:
  Emitter(const LoopKernel& kernel, llvm::LLVMContext& context, llvm::Module& module, int lanes)
      : k_(kernel), ctx_(context), module_(module), b_(context), lanes_(lanes) {}

  void emit() {
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
        for (int u = 0; u < kMaxUnroll; ++u) accumulators_[s].push_back(b_.CreateAlloca(accumulator_type(k_.steps[s])));
      if (k_.steps[s].row_level) row_values_[s] = b_.CreateAlloca(vector_of(k_.steps[s].dtype));
    }
    plan_row_cache();
    for (const Step& step : k_.steps)  // a matmul kernel's row of sums (lowering bounds its length)
      if (step.kind == StepKind::matmul && !blocked_matmul())
        row_sums_ = b_.CreateAlloca(b_.getDoubleTy(), b_.getInt64(k_.inner() * k_.row_block));
    if (blocked_matmul()) {
      emit_blocked_matmul(fn_->getArg(1), fn_->getArg(2));
    } else if (ranges_over_elements(k_)) {
      offsets_.clear();
      for (const IndexMap* m : all_maps()) offsets_[m] = b_.getInt64(m->offset);
      ready_.assign(k_.steps.size(), false);
      compute_row_steps();  // constants
      inner_loop(fn_->getArg(1), fn_->getArg(2), k_.passes - 1);
    } else {
      counted_loop(fn_->getArg(1), fn_->getArg(2), 1, [&](Value* block) {
        if (k_.row_block == 1) return emit_row(block);
        emit_row_block(block);
      });
    }
    b_.CreateRetVoid();
  }

 private:
  // ---- types and constants ----
  llvm::Type* scalar_of(DType d) {
    switch (d) {
      case DType::f32: return b_.getFloatTy();
      case DType::f64: return b_.getDoubleTy();
      case DType::boolean: return b_.getInt1Ty();
      default: fail("codegen: no LLVM type for {}", dtype_name(d));
    }
  }
  llvm::Type* memory_of(DType d) { return d == DType::boolean ? b_.getInt8Ty() : scalar_of(d); }
  llvm::VectorType* vector_of(DType d) { return llvm::FixedVectorType::get(scalar_of(d), lanes_); }
  llvm::VectorType* accumulator_type(const Step& s) {
    return llvm::FixedVectorType::get(s.op == Op::sum || s.op == Op::mean ? b_.getDoubleTy() : b_.getFloatTy(), lanes_);
  }
  Value* splat(Value* scalar) { return b_.CreateVectorSplat(lanes_, scalar); }
  Value* splat_f(llvm::Type* vector, double v) { return llvm::ConstantFP::get(vector, v); }
  Value* lane_ids() {
    std::vector<llvm::Constant*> ids;
    for (int i = 0; i < lanes_; ++i) ids.push_back(b_.getInt64(i));
    return llvm::ConstantVector::get(ids);
  }

  std::vector<const IndexMap*> all_maps() {
    std::vector<const IndexMap*> maps;
    for (const IndexMap& m : k_.loads) maps.push_back(&m);
    for (const LoopKernel::Store& s : k_.stores) maps.push_back(&s.map);
    return maps;
  }

  // for (i = from; i < to; i += step) body(i); body may emit blocks. With
  // whole_steps, only steps that fit entirely (i + step <= to) run: the
  // vector loop, whose remainder is the masked tail; without, the last step
  // may be partial (blocks of k).
  template <typename Body>
  void counted_loop(Value* from, Value* to, int64_t step, Body body, bool whole_steps = true) {
    Value* counter = create_entry_alloca(b_.getInt64Ty());
    b_.CreateStore(from, counter);
    auto* check = llvm::BasicBlock::Create(ctx_, "loop.check", fn_);
    auto* loop = llvm::BasicBlock::Create(ctx_, "loop.body", fn_);
    auto* done = llvm::BasicBlock::Create(ctx_, "loop.done", fn_);
    b_.CreateBr(check);
    b_.SetInsertPoint(check);
    Value* i = b_.CreateLoad(b_.getInt64Ty(), counter);
    Value* limit = step == 1 || !whole_steps ? to : b_.CreateSub(to, b_.getInt64(step - 1));
    b_.CreateCondBr(b_.CreateICmpSLT(i, limit), loop, done);
    b_.SetInsertPoint(loop);
    body(i);
    b_.CreateStore(b_.CreateAdd(i, b_.getInt64(step)), counter);
    b_.CreateBr(check);
    b_.SetInsertPoint(done);
  }

  Value* create_entry_alloca(llvm::Type* type, int64_t count = 1) {
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    return entry.CreateAlloca(type, count == 1 ? nullptr : entry.getInt64(count));
  }

  // ---- rows ----
  // Row index -> per-dim indices -> each map's offset at the start of the row.
  void set_row_offsets(Value* row) {
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

  // The inner length goes through an empty asm so that LLVM sees no constant
  // trip count: fully unrolled loops give tails with constant one-lane masks,
  // which LLVM 16's x86 instruction selection fails on (fp_extend of a
  // zero-extending load: "Cannot select extract_vector_elt"). The loop still
  // runs vectorized; only the full unroll is lost.
  Value* opaque_inner() {
    auto* opaque = llvm::InlineAsm::get(llvm::FunctionType::get(b_.getInt64Ty(), {b_.getInt64Ty()}, false), "", "=r,0", false);
    return b_.CreateCall(opaque, {b_.getInt64(k_.inner())});
  }

  // A matmul with packed B and an elementwise epilogue is cache-blocked:
  // groups of row blocks share each block of B (kColumnBlock columns by
  // kMatmulKBlock rows, packed: 128 KiB, within L2) while it is in the
  // cache, instead of each row block streaming all of B from memory. The
  // epilogue then runs over that column block of the group's rows.
  bool blocked_matmul() const { return k_.packed_b_step >= 0 && k_.row_block > 1 && k_.passes == 1; }

  void emit_blocked_matmul(Value* begin, Value* end) {
    const Step& step = k_.steps[k_.packed_b_step];
    const int64_t width = kColumnBlock, rows_per_group = kBlocksPerGroup * k_.row_block;
    Value* sums = create_entry_alloca(b_.getDoubleTy(), rows_per_group * width);
    auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
    Value* inner = opaque_inner();
    auto clamp_to = [&](Value* v, Value* limit) { return b_.CreateSelect(b_.CreateICmpSLT(v, limit), v, limit); };
    auto rows_of = [&](Value* block) {
      std::vector<Value*> rows;
      for (int i = 0; i < k_.row_block; ++i) {
        Value* row = b_.CreateAdd(b_.CreateMul(block, b_.getInt64(k_.row_block)), b_.getInt64(i));
        rows.push_back(clamp_to(row, b_.getInt64(k_.rows() - 1)));  // the last block repeats its last row
      }
      return rows;
    };
    // Row i of block `block` of the group starting at `group`, column j (absolute; the buffer holds [j0, j0 + width)).
    auto sums_row = [&](Value* group, Value* block, int i, Value* j0) {
      Value* slot = b_.CreateAdd(b_.CreateMul(b_.CreateSub(block, group), b_.getInt64(k_.row_block)), b_.getInt64(i));
      return b_.CreateGEP(b_.getDoubleTy(), sums, b_.CreateSub(b_.CreateMul(slot, b_.getInt64(width)), j0));
    };
    counted_loop(begin, end, kBlocksPerGroup, [&](Value* group) {
      Value* group_end = clamp_to(b_.CreateAdd(group, b_.getInt64(kBlocksPerGroup)), end);
      counted_loop(b_.getInt64(0), inner, width, [&](Value* j0) {
        Value* j1 = clamp_to(b_.CreateAdd(j0, b_.getInt64(width)), inner);
        counted_loop(group, group_end, 1, [&](Value* block) {
          for (int i = 0; i < k_.row_block; ++i) {
            Value* row_sums = sums_row(group, block, i, j0);
            vector_loop(j0, j1, [&](Value* j, Value* mask, int) { store_doubles(splat_f(f64, 0.0), b_.CreateGEP(b_.getDoubleTy(), row_sums, j), mask); });
          }
        });
        const int64_t k_block = std::min<int64_t>(kMatmulKBlock, std::max<int64_t>(step.k_extent, 1));
        counted_loop(b_.getInt64(0), b_.getInt64(step.k_extent), k_block, [&](Value* k_begin) {
          Value* k_end = clamp_to(b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent));
          counted_loop(group, group_end, 1, [&](Value* block) {
            std::vector<Value*> row_sums;
            for (int i = 0; i < k_.row_block; ++i) row_sums.push_back(sums_row(group, block, i, j0));
            accumulate_tile(step, rows_of(block), row_sums, j0, j1, k_begin, k_end);
          });
        }, /*whole_steps=*/false);
        counted_loop(group, group_end, 1, [&](Value* block) {  // the epilogue of these columns
          const std::vector<Value*> rows = rows_of(block);
          for (int i = 0; i < k_.row_block; ++i) {
            set_row_offsets(rows[i]);
            ready_.assign(k_.steps.size(), false);
            compute_row_steps();
            current_sums_ = sums_row(group, block, i, j0);
            inner_loop(j0, j1, 0);
          }
        });
      }, /*whole_steps=*/false);
    }, /*whole_steps=*/false);
  }

  // Where map `m` starts at each of `rows` (the row offsets are left set for the last one).
  std::vector<Value*> offsets_at_rows(const IndexMap& m, const std::vector<Value*>& rows) {
    std::vector<Value*> offsets;
    for (Value* row : rows) {
      set_row_offsets(row);
      offsets.push_back(offsets_.at(&m));
    }
    return offsets;
  }

  // sums[i][j0, j1) += A[rows[i]][k_begin, k_end) B[k_begin, k_end)[j0, j1), B packed.
  void accumulate_tile(const Step& step, const std::vector<Value*>& rows, const std::vector<Value*>& row_sums, Value* j0, Value* j1,
                       Value* k_begin, Value* k_end) {
    const IndexMap& a = k_.loads[k_.steps[step.args[0]].load];
    auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
    const std::vector<Value*> a_rows = offsets_at_rows(a, rows);
    const int n = static_cast<int>(rows.size());
    // A's rows over [k_begin, k_end), widened to doubles once: the inner
    // loop broadcasts them straight from memory.
    Value* a_block = create_entry_alloca(b_.getDoubleTy(), n * kMatmulKBlock);
    auto a_at = [&](int i, Value* k) { return b_.CreateGEP(b_.getDoubleTy(), a_block, b_.CreateAdd(b_.getInt64(i * kMatmulKBlock), b_.CreateSub(k, k_begin))); };
    counted_loop(k_begin, k_end, 1, [&](Value* k) {
      for (int i = 0; i < n; ++i) {
        Value* x_at = b_.CreateAdd(a_rows[i], b_.CreateMul(k, b_.getInt64(a.k_stride)));
        b_.CreateStore(b_.CreateFPExt(b_.CreateLoad(b_.getFloatTy(), b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], x_at)), b_.getDoubleTy()), a_at(i, k));
      }
    });
    std::vector<Value*> tile;
    for (int i = 0; i < n; ++i) tile.push_back(create_entry_alloca(f64));
    vector_loop(j0, j1, [&](Value* j, Value* mask, int) {
      for (int i = 0; i < n; ++i) b_.CreateStore(load_doubles(b_.CreateGEP(b_.getDoubleTy(), row_sums[i], j), mask), tile[i]);
      counted_loop(k_begin, k_end, 1, [&](Value* k) {
        // panels: B[k][j..j+lanes) is contiguous at (j / lanes * K + k) * lanes
        Value* at = b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateSDiv(j, b_.getInt64(lanes_)), b_.getInt64(step.k_extent)), k),
                                 b_.getInt64(lanes_));
        Value* y = b_.CreateFPExt(b_.CreateAlignedLoad(vector_of(DType::f32), b_.CreateGEP(b_.getFloatTy(), base_[k_.arguments], at), llvm::Align(32)), f64);
        for (int i = 0; i < n; ++i) {
          Value* x = splat(b_.CreateLoad(b_.getDoubleTy(), a_at(i, k)));
          b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f64}, {x, y, b_.CreateLoad(f64, tile[i])}), tile[i]);
        }
      });
      for (int i = 0; i < n; ++i) store_doubles(b_.CreateLoad(f64, tile[i]), b_.CreateGEP(b_.getDoubleTy(), row_sums[i], j), mask);
    });
  }

  // A block of matmul rows: their sums first, sharing each load of B, then
  // each row's epilogue. The last block repeats its last row where rows run
  // out (the same values written twice by the same thread).
  void emit_row_block(Value* block) {
    const Step* matmul = nullptr;
    for (const Step& step : k_.steps)
      if (step.kind == StepKind::matmul) matmul = &step;
    Value* inner = opaque_inner();
    std::vector<Value*> rows;
    for (int i = 0; i < k_.row_block; ++i) {
      Value* row = b_.CreateAdd(b_.CreateMul(block, b_.getInt64(k_.row_block)), b_.getInt64(i));
      rows.push_back(b_.CreateSelect(b_.CreateICmpSLT(row, b_.getInt64(k_.rows())), row, b_.getInt64(k_.rows() - 1)));
    }
    matmul_rows(*matmul, rows, inner);
    for (int i = 0; i < k_.row_block; ++i) {
      current_sums_ = b_.CreateGEP(b_.getDoubleTy(), row_sums_, b_.CreateMul(b_.getInt64(i), inner));
      emit_row(rows[i], /*compute_matmul=*/false);
    }
  }

  void emit_row(Value* row, bool compute_matmul = true) {
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
    for (int pass = 0; pass < k_.passes; ++pass) {
      if (pass_has_work(pass)) inner_loop(b_.getInt64(0), inner, pass);
      compute_row_steps();
    }
    for (const LoopKernel::Store& store : k_.stores) {
      if (!k_.steps[store.step].row_level) continue;
      Value* v = b_.CreateExtractElement(b_.CreateLoad(vector_of(k_.steps[store.step].dtype), row_values_.at(store.step)), uint64_t{0});
      if (store.map.dtype == DType::boolean) v = b_.CreateZExt(v, b_.getInt8Ty());
      b_.CreateStore(v, b_.CreateGEP(memory_of(store.map.dtype), base_[store.map.buffer], offsets_.at(&store.map)));
    }
  }

  // Whether a pass over the row accumulates or stores anything: a kernel
  // of row reductions only has nothing left for its final pass.
  bool pass_has_work(int pass) const {
    for (const Step& step : k_.steps)
      if (step.kind == StepKind::reduce && step.pass == pass) return true;
    if (pass != k_.passes - 1) return false;
    return std::any_of(k_.stores.begin(), k_.stores.end(), [&](const LoopKernel::Store& s) { return !k_.steps[s.step].row_level; });
  }

  // Row values whose inputs are ready: loads at the row's start, constants, computations.
  void compute_row_steps() {
    for (size_t s = 0; s < k_.steps.size(); ++s) {
      const Step& step = k_.steps[s];
      if (!step.row_level || ready_[s] || step.kind == StepKind::reduce) continue;
      if (!std::all_of(step.args.begin(), step.args.end(), [&](int a) { return ready_[a]; })) continue;
      Value* v = nullptr;
      if (step.kind == StepKind::load) v = splat(load_scalar(k_.loads[step.load]));
      else if (step.kind == StepKind::constant) v = constant_vector(step);
      else v = compute(step, [&](int a) { return b_.CreateLoad(vector_of(k_.steps[a].dtype), row_values_.at(a)); });
      b_.CreateStore(v, row_values_.at(s));
      ready_[s] = true;
    }
  }

  Value* constant_vector(const Step& step) {
    if (step.dtype == DType::boolean) return splat(b_.getInt1(step.constant != 0));
    return splat(llvm::ConstantFP::get(scalar_of(step.dtype), step.constant));
  }

  Value* load_scalar(const IndexMap& m) {
    Value* v = b_.CreateLoad(memory_of(m.dtype), b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], offsets_.at(&m)));
    return m.dtype == DType::boolean ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
  }

  // ---- the inner loop ----
  void inner_loop(Value* from, Value* to, int pass) {
    for (auto& [s, slots] : accumulators_)
      if (k_.steps[s].pass == pass)
        for (Value* slot : slots) b_.CreateStore(identity(k_.steps[s]), slot);
    vector_loop(from, to, [&](Value* j, Value* mask, int slot) { body(j, mask, pass, slot); }, unroll(pass));
    finish_reductions(pass);
  }

  // Vectors per trip of pass `pass`'s loop: two when it accumulates a
  // reduction, so that it keeps two independent accumulator chains (the
  // adds' latency, not memory, bounds a single chain: softmax's exp-and-sum
  // pass runs 1.3x faster so), and in kernels without transcendental math,
  // whose short bodies halve their loop overhead. Other long math bodies
  // stay single: two of them at once spill registers (GELU runs slower).
  int unroll(int pass) const {
    static const std::set<Op> kLongChains = {Op::exp, Op::log, Op::tanh, Op::sigmoid, Op::erf, Op::pow};
    for (const Step& step : k_.steps)
      if (step.kind == StepKind::reduce && step.pass == pass) return kMaxUnroll;
    for (const Step& step : k_.steps)
      if (step.kind == StepKind::compute && kLongChains.contains(step.op)) return 1;
    return kMaxUnroll;
  }

  // One vector of elements starting at inner index j (all lanes, or
  // `mask`'s), accumulating reductions into accumulator `slot`.
  void body(Value* j, Value* mask, int pass, int slot) {
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
      if (auto cached = row_cache_.find(s); cached != row_cache_.end() && cached->second.first_pass == pass)
        store_floats(v, b_.CreateGEP(b_.getFloatTy(), cached->second.buffer, j), mask);
      return values[s] = v;
    };
    const bool last = pass == k_.passes - 1;
    for (size_t s = 0; s < k_.steps.size(); ++s) {
      const Step& step = k_.steps[s];
      if (step.kind != StepKind::reduce || step.pass != pass) continue;
      accumulate(step, s, value(step.args[0]), mask, slot);
    }
    if (!last) return;
    for (const LoopKernel::Store& store : k_.stores)
      if (!k_.steps[store.step].row_level) store_vector(store.map, value(store.step), j, mask);
  }

  // The matmul rows `rows` into `row_sums_` (one double per output column
  // and row). Register tiles: for each vector of columns, the rows' sums stay
  // in registers over the whole k loop, each k adding A's element (splat)
  // times B's row-k vector, loaded once for all rows (B's map does not depend
  // on the row when rows are blocked). Sums are double (as the reference
  // does), with FMAs. The epilogue loop then reads a row's sums as the
  // matmul's value.
  void matmul_rows(const Step& step, const std::vector<Value*>& rows, Value* inner) {
    const IndexMap& a = k_.loads[k_.steps[step.args[0]].load];
    const IndexMap& bm = k_.loads[k_.steps[step.args[1]].load];
    auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
    const std::vector<Value*> a_rows = offsets_at_rows(a, rows);
    Value* b_row = offsets_.at(&bm);
    const int n = static_cast<int>(rows.size());
    std::vector<Value*> tile;
    for (int i = 0; i < n; ++i) tile.push_back(create_entry_alloca(f64));
    auto sums_at = [&](int i, Value* j) { return b_.CreateGEP(b_.getDoubleTy(), row_sums_, b_.CreateAdd(b_.CreateMul(b_.getInt64(i), inner), j)); };
    if (k_.packed_b_step < 0 && bm.strides.back() != 1 && bm.k_stride == 1 && a.k_stride == 1) {
      // B transposed (attention's k^T): its columns are contiguous along k,
      // so each sum is a dot product of two contiguous runs, vectorized
      // along k, instead of gathering B's rows element by element; the
      // block's rows share each load of B's column.
      counted_loop(b_.getInt64(0), inner, 1, [&](Value* j) {
        Value* b_column = b_.CreateAdd(b_row, b_.CreateMul(j, b_.getInt64(bm.strides.back())));
        for (int i = 0; i < n; ++i) b_.CreateStore(splat_f(f64, 0.0), tile[i]);
        vector_loop(b_.getInt64(0), b_.getInt64(step.k_extent), [&](Value* k, Value* mask, int) {
          Value* y = b_.CreateFPExt(load_floats(b_.CreateGEP(b_.getFloatTy(), base_[bm.buffer], b_.CreateAdd(b_column, k)), mask), f64);
          for (int i = 0; i < n; ++i) {
            Value* x = b_.CreateFPExt(load_floats(b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], b_.CreateAdd(a_rows[i], k)), mask), f64);
            b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f64}, {x, y, b_.CreateLoad(f64, tile[i])}), tile[i]);
          }
        });
        for (int i = 0; i < n; ++i)
          b_.CreateStore(b_.CreateFAddReduce(llvm::ConstantFP::get(b_.getDoubleTy(), 0.0), b_.CreateLoad(f64, tile[i])), sums_at(i, j));
      });
      return;
    }
    vector_loop(b_.getInt64(0), inner, [&](Value* j, Value* mask, int) {
      for (int i = 0; i < n; ++i) store_doubles(splat_f(f64, 0.0), sums_at(i, j), mask);
    });
    // k in blocks, so that the rows of B one column strip walks stay within
    // the TLB and L1 while the strips next to it reuse the same lines.
    const int64_t k_block = std::min<int64_t>(kMatmulKBlock, std::max<int64_t>(step.k_extent, 1));
    counted_loop(b_.getInt64(0), b_.getInt64(step.k_extent), k_block, [&](Value* k_begin) {
      Value* k_end = b_.CreateSelect(b_.CreateICmpSLT(b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent)),
                                     b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent));
      vector_loop(b_.getInt64(0), inner, [&](Value* j, Value* mask, int) {
        for (int i = 0; i < n; ++i) b_.CreateStore(load_doubles(sums_at(i, j), mask), tile[i]);
        counted_loop(k_begin, k_end, 1, [&](Value* k) {
          Value* y;
          if (k_.packed_b_step >= 0) {  // panels: B[k][j..j+lanes) is contiguous at (j / lanes * K + k) * lanes
            Value* at = b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateSDiv(j, b_.getInt64(lanes_)), b_.getInt64(step.k_extent)), k),
                                     b_.getInt64(lanes_));
            y = b_.CreateAlignedLoad(vector_of(DType::f32), b_.CreateGEP(b_.getFloatTy(), base_[k_.arguments], at), llvm::Align(32));
          } else {
            offsets_[&bm] = b_.CreateAdd(b_row, b_.CreateMul(k, b_.getInt64(bm.k_stride)));  // B's row k
            y = load_vector(bm, j, mask);
          }
          y = b_.CreateFPExt(y, f64);
          for (int i = 0; i < n; ++i) {
            Value* at = b_.CreateAdd(a_rows[i], b_.CreateMul(k, b_.getInt64(a.k_stride)));
            Value* x = splat(b_.CreateFPExt(b_.CreateLoad(b_.getFloatTy(), b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], at)), b_.getDoubleTy()));
            b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f64}, {x, y, b_.CreateLoad(f64, tile[i])}), tile[i]);
          }
        });
        offsets_[&bm] = b_row;
        for (int i = 0; i < n; ++i) store_doubles(b_.CreateLoad(f64, tile[i]), sums_at(i, j), mask);
      });
    }, /*whole_steps=*/false);
  }

  Value* load_floats(Value* p, Value* mask) {
    auto* f32 = vector_of(DType::f32);
    if (mask) return b_.CreateMaskedLoad(f32, p, llvm::Align(4), mask, llvm::Constant::getNullValue(f32));
    return b_.CreateAlignedLoad(f32, p, llvm::Align(4));
  }
  void store_floats(Value* v, Value* p, Value* mask) {
    if (mask) b_.CreateMaskedStore(v, p, llvm::Align(4), mask);
    else b_.CreateAlignedStore(v, p, llvm::Align(4));
  }

  // Element values that several passes over a row need (softmax's exp(x - max)
  // in its sum pass and its output pass) are computed once, in the first, and
  // kept in a row buffer on the stack for the later ones.
  void plan_row_cache() {
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
        row_cache_[s] = {*passes.begin(), b_.CreateAlloca(b_.getFloatTy(), b_.getInt64(k_.inner()))};
  }

  Value* load_doubles(Value* p, Value* mask) {
    auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
    if (mask) return b_.CreateMaskedLoad(f64, p, llvm::Align(8), mask, llvm::Constant::getNullValue(f64));
    return b_.CreateAlignedLoad(f64, p, llvm::Align(8));
  }
  void store_doubles(Value* v, Value* p, Value* mask) {
    if (mask) b_.CreateMaskedStore(v, p, llvm::Align(8), mask);
    else b_.CreateAlignedStore(v, p, llvm::Align(8));
  }

  // for (j = from; j < to; j += lanes) body(j, nullptr, 0), then one masked
  // tail. With unroll > 1, a first loop takes `unroll` vectors per trip,
  // the u-th with slot u.
  template <typename Body>
  void vector_loop(Value* from, Value* to, Body body, int unroll = 1) {
    Value* position = create_entry_alloca(b_.getInt64Ty());
    b_.CreateStore(from, position);
    if (unroll > 1) {
      counted_loop(from, to, lanes_ * unroll, [&](Value* j) {
        for (int u = 0; u < unroll; ++u) body(u == 0 ? j : b_.CreateAdd(j, b_.getInt64(u * lanes_)), nullptr, u);
        b_.CreateStore(b_.CreateAdd(j, b_.getInt64(lanes_ * unroll)), position);
      });
      from = b_.CreateLoad(b_.getInt64Ty(), position);
    }
    counted_loop(from, to, lanes_, [&](Value* j) {
      body(j, nullptr, 0);
      b_.CreateStore(b_.CreateAdd(j, b_.getInt64(lanes_)), position);
    });
    Value* j = b_.CreateLoad(b_.getInt64Ty(), position);
    auto* tail = llvm::BasicBlock::Create(ctx_, "tail", fn_);
    auto* after = llvm::BasicBlock::Create(ctx_, "tail.done", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(j, to), tail, after);
    b_.SetInsertPoint(tail);
    body(j, b_.CreateICmpSLT(b_.CreateAdd(splat(j), lane_ids()), splat(to)), 0);
    b_.CreateBr(after);
    b_.SetInsertPoint(after);
  }

  Value* element_pointers(const IndexMap& m, Value* j, int64_t stride) {
    Value* index = b_.CreateAdd(splat(offsets_.at(&m)), b_.CreateMul(b_.CreateAdd(splat(j), lane_ids()), splat(b_.getInt64(stride))));
    return b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], index);
  }

  Value* load_vector(const IndexMap& m, Value* j, Value* mask) {
    const int64_t stride = m.strides.back();
    auto* type = llvm::FixedVectorType::get(memory_of(m.dtype), lanes_);
    const llvm::Align align(m.dtype == DType::boolean ? 1 : 4);
    Value* v;
    if (stride == 0) {
      v = splat(b_.CreateLoad(memory_of(m.dtype), b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], offsets_.at(&m))));
    } else if (stride == 1) {
      Value* p = b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], b_.CreateAdd(offsets_.at(&m), j));
      v = mask ? static_cast<Value*>(b_.CreateMaskedLoad(type, p, align, mask, llvm::Constant::getNullValue(type)))
               : b_.CreateAlignedLoad(type, p, align);
      if (!mask && streams(m)) prefetch(b_.CreateGEP(memory_of(m.dtype), p, b_.getInt64(kPrefetchElements)));
    } else {
      Value* all = mask ? mask : splat(b_.getInt1(true));
      v = b_.CreateMaskedGather(type, element_pointers(m, j, stride), align, all, llvm::Constant::getNullValue(type));
    }
    return m.dtype == DType::boolean ? b_.CreateICmpNE(v, llvm::Constant::getNullValue(type)) : v;
  }

  // Whether a load moves on from row to row (a stream worth prefetching),
  // not a vector every row reads again (a bias, layer norm's gamma).
  bool streams(const IndexMap& m) const {
    if (ranges_over_elements(k_)) return true;
    const size_t row_dims = k_.domain.size() - k_.inner_dims;
    return std::any_of(m.strides.begin(), m.strides.begin() + row_dims, [](int64_t s) { return s != 0; });
  }

  // Streams are fetched this far ahead (a few KiB), so that loads hit the
  // cache while long math chains fill the reorder buffer. A prefetch past
  // the end of a buffer is harmless: it never faults.
  static constexpr int64_t kPrefetchElements = 1024;
  void prefetch(Value* p) {
    b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {p->getType()}, {p, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
  }

  void store_vector(const IndexMap& m, Value* v, Value* j, Value* mask) {
    if (m.dtype == DType::boolean) v = b_.CreateZExt(v, llvm::FixedVectorType::get(b_.getInt8Ty(), lanes_));
    const int64_t stride = m.strides.back();
    const llvm::Align align(m.dtype == DType::boolean ? 1 : 4);
    if (stride == 1) {
      Value* p = b_.CreateGEP(memory_of(m.dtype), base_[m.buffer], b_.CreateAdd(offsets_.at(&m), j));
      if (mask) b_.CreateMaskedStore(v, p, align, mask);
      else b_.CreateAlignedStore(v, p, align);
    } else {
      b_.CreateMaskedScatter(v, element_pointers(m, j, stride), align, mask ? mask : splat(b_.getInt1(true)));
    }
  }

  // ---- reductions ----
  Value* identity(const Step& s) {
    auto* type = accumulator_type(s);
    if (s.op == Op::max) return splat_f(type, -INFINITY);
    if (s.op == Op::min) return splat_f(type, INFINITY);
    return splat_f(type, 0.0);
  }

  // NaN-propagating max/min, as the reference (x86 has no instruction for
  // llvm.maximum in LLVM 16): pick by comparison, then NaN if either is NaN.
  Value* extremum(Op op, Value* a, Value* b) {
    Value* picked = b_.CreateSelect(op == Op::max ? b_.CreateFCmpOGT(a, b) : b_.CreateFCmpOLT(a, b), a, b);
    return b_.CreateSelect(b_.CreateFCmpUNO(a, b), b_.CreateFAdd(a, b), picked);
  }

  // Neumaier's compensated step: sum + x, with the rounding error of the
  // addition added to `compensation` (while the sum is finite). Used to add
  // the lanes of a sum.
  std::pair<Value*, Value*> compensated_add(Value* sum, Value* compensation, Value* x) {
    Value* t = b_.CreateFAdd(sum, x);
    Value* sum_bigger = b_.CreateFCmpOGE(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, sum), b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x));
    Value* error = b_.CreateSelect(sum_bigger, b_.CreateFAdd(b_.CreateFSub(sum, t), x), b_.CreateFAdd(b_.CreateFSub(x, t), sum));
    Value* finite = b_.CreateFCmpOLT(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, t), llvm::ConstantFP::getInfinity(t->getType()));
    return {t, b_.CreateSelect(finite, b_.CreateFAdd(compensation, error), compensation)};
  }

  void accumulate(const Step& s, size_t step, Value* x, Value* mask, int unrolled) {
    auto* type = accumulator_type(s);
    Value* slot = accumulators_.at(step).at(unrolled);
    Value* acc = b_.CreateLoad(type, slot);
    if (s.op == Op::max || s.op == Op::min) {
      if (mask) x = b_.CreateSelect(mask, x, identity(s));
      b_.CreateStore(extremum(s.op, acc, x), slot);
      return;
    }
    // Float sums accumulate in double lanes (each lane's rounding error is
    // ~n * 2^-53 of the sum of magnitudes, far below float32's); the lanes are
    // then added with compensation. The reference compensates every step, so
    // only sums that cancel values 2^29 times larger than the result differ.
    x = b_.CreateFPExt(x, type);
    if (mask) x = b_.CreateSelect(mask, x, identity(s));
    b_.CreateStore(b_.CreateFAdd(acc, x), slot);
  }

  void finish_reductions(int pass) {
    for (auto& [s, slots] : accumulators_) {
      const Step& step = k_.steps[s];
      if (step.pass != pass) continue;
      Value* acc = b_.CreateLoad(accumulator_type(step), slots[0]);
      for (size_t u = 1; u < slots.size(); ++u) {
        Value* more = b_.CreateLoad(accumulator_type(step), slots[u]);
        acc = step.op == Op::max || step.op == Op::min ? extremum(step.op, acc, more) : b_.CreateFAdd(acc, more);
      }
      Value* total = b_.CreateExtractElement(acc, uint64_t{0});
      if (step.op == Op::max || step.op == Op::min) {
        for (int lane = 1; lane < lanes_; ++lane) total = extremum(step.op, total, b_.CreateExtractElement(acc, lane));
      } else {
        Value* compensation = llvm::ConstantFP::get(b_.getDoubleTy(), 0.0);
        for (int lane = 1; lane < lanes_; ++lane)
          std::tie(total, compensation) = compensated_add(total, compensation, b_.CreateExtractElement(acc, lane));
        Value* finite = b_.CreateFCmpOLT(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, total), llvm::ConstantFP::getInfinity(total->getType()));
        total = b_.CreateSelect(finite, b_.CreateFAdd(total, compensation), total);
      }
      if (step.op == Op::mean) total = b_.CreateFDiv(total, llvm::ConstantFP::get(b_.getDoubleTy(), static_cast<double>(k_.inner())));
      if (total->getType() != b_.getFloatTy()) total = b_.CreateFPTrunc(total, b_.getFloatTy());
      b_.CreateStore(splat(total), row_values_.at(s));
      ready_[s] = true;
    }
  }

  // ---- arithmetic ----
  template <typename ValueOf>
  Value* compute(const Step& step, ValueOf&& value) {
    std::vector<Value*> a;
    for (int arg : step.args) a.push_back(value(arg));
    auto* f32 = vector_of(DType::f32);
    auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
    auto in_double = [&](Op op) {
      if (Value* fast = emit_float_math(b_, op, a[0])) return fast;
      return b_.CreateFPTrunc(emit_double_math(b_, op, b_.CreateFPExt(a[0], f64)), f32);
    };
    switch (step.op) {
      case Op::neg: return b_.CreateFNeg(a[0]);
      case Op::abs: return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a[0]);
      case Op::relu: return b_.CreateSelect(b_.CreateFCmpOLT(a[0], splat_f(f32, 0.0)), splat_f(f32, 0.0), a[0]);
      case Op::sqrt: return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a[0]);
      case Op::rsqrt:  // in double, rounded once, as the reference
        return b_.CreateFPTrunc(b_.CreateFDiv(splat_f(f64, 1.0), b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, b_.CreateFPExt(a[0], f64))), f32);
      case Op::reciprocal: return b_.CreateFDiv(splat_f(f32, 1.0), a[0]);
      case Op::exp: case Op::log: case Op::tanh: case Op::sigmoid: case Op::erf: return in_double(step.op);
      case Op::pow: return b_.CreateFPTrunc(emit_double_pow(b_, b_.CreateFPExt(a[0], f64), b_.CreateFPExt(a[1], f64)), f32);
      case Op::add: return b_.CreateFAdd(a[0], a[1]);
      case Op::sub: return b_.CreateFSub(a[0], a[1]);
      case Op::mul: return b_.CreateFMul(a[0], a[1]);
      case Op::div:
        if (!k_.steps[step.args[1]].row_level) return b_.CreateFDiv(a[0], a[1]);
        // By a row value (softmax's sum): its reciprocal in double, hoisted out
        // of the loop, times the element in double, rounded once; the same
        // float as dividing, but in rare double-rounding ties.
        return b_.CreateFPTrunc(b_.CreateFMul(b_.CreateFPExt(a[0], f64), b_.CreateFDiv(splat_f(f64, 1.0), b_.CreateFPExt(a[1], f64))), f32);
      case Op::maximum: return extremum(Op::max, a[0], a[1]);
      case Op::minimum: return extremum(Op::min, a[0], a[1]);
      case Op::eq: return a[0]->getType()->isIntOrIntVectorTy() ? b_.CreateICmpEQ(a[0], a[1]) : b_.CreateFCmpOEQ(a[0], a[1]);
      case Op::ne: return a[0]->getType()->isIntOrIntVectorTy() ? b_.CreateICmpNE(a[0], a[1]) : b_.CreateFCmpUNE(a[0], a[1]);
      case Op::lt: return b_.CreateFCmpOLT(a[0], a[1]);
      case Op::le: return b_.CreateFCmpOLE(a[0], a[1]);
      case Op::gt: return b_.CreateFCmpOGT(a[0], a[1]);
      case Op::ge: return b_.CreateFCmpOGE(a[0], a[1]);
      case Op::select: return b_.CreateSelect(a[0], a[1], a[2]);
      default: fail("codegen: op {} has no emitter", op_name(step.op));
    }
  }

  const LoopKernel& k_;
  llvm::LLVMContext& ctx_;
  llvm::Module& module_;
  llvm::IRBuilder<> b_;
  const int lanes_;
  llvm::Function* fn_ = nullptr;
  std::vector<Value*> base_;
  std::map<const IndexMap*, Value*> offsets_;
  static constexpr int kMaxUnroll = 2;
  std::map<size_t, std::vector<Value*>> accumulators_;  // per reduce step, one per unrolled vector
  Value* row_sums_ = nullptr;      // the sums of a block of matmul rows
  Value* current_sums_ = nullptr;  // the row of sums the epilogue reads
  struct CachedRow {
    int first_pass;
    Value* buffer;
  };
  std::map<int, CachedRow> row_cache_;
  static constexpr int64_t kMaxCachedRow = 1 << 14;  // floats per cached value: 64 KiB of stack at most
  static constexpr int64_t kMatmulKBlock = 256;      // rows of B per block: 256 pages at most, within the TLB
  static constexpr int64_t kColumnBlock = 128;       // columns of B per cache block (a multiple of every lane count)
  static constexpr int64_t kBlocksPerGroup = 8;      // row blocks sharing each block of B
  std::map<size_t, Value*> row_values_;
  std::vector<bool> ready_;
};

class Compiled : public CompiledKernel {
 public:
  Compiled(std::unique_ptr<LoadedModule> module, CompilePhases phases) : module_(std::move(module)), phases_(phases) {}
  KernelFn function() const override { return reinterpret_cast<KernelFn>(module_->entry()); }
  const CompilePhases& phases() const override { return phases_; }

 private:
  std::unique_ptr<LoadedModule> module_;
  CompilePhases phases_;
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
  Emitter(kernel, *context, *module, host_isa().f32_lanes).emit();
  phases.emit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::unique_ptr<LoadedModule> loaded = load_module(std::move(context), std::move(module), "kernel", phases.optimize_ms, phases.machine_code_ms);
  return std::make_unique<Compiled>(std::move(loaded), phases);
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
