// Row kernels with two rows in flight (emitter.h): the thread's rows as
//   for row in [begin, end):
//     its passes with reductions, the last of them in one loop with the
//     final pass of row - 1 (its outputs; not in the first row's);
//     its row-level outputs (a rerun of the pass, emit_reduce.cpp, leaves
//     row - 1 out)
//   the final pass of row end - 1
// Softmax's final pass is a divide per vector, which alone runs at the
// divider's pace while the FMA pipes wait; beside the next row's exp the
// two overlap, and the stores spread over the row instead of coming in a
// burst at its end.
#include <algorithm>
#include <utility>

#include "codegen/llvm/emitter.h"

namespace tj::llvm_backend {

bool Emitter::interleaves_rows() const {
  if (k_.row_block != 1 || k_.passes < 2) return false;  // every pass before the final one reduces (lower.cpp)
  const bool has_matmul = std::any_of(k_.steps.begin(), k_.steps.end(), [](const Step& s) { return s.kind == StepKind::matmul; });
  return !has_matmul && pass_has_work(k_.passes - 1);
}

void Emitter::swap_row_state(RowState& other) {
  std::swap(offsets_, other.offsets);
  std::swap(row_values_, other.values);
  for (auto& [s, cached] : row_cache_) std::swap(cached.buffer, other.cache[s]);
}

void Emitter::use_row_cache_of(Value* odd) {
  for (auto& [s, cached] : row_cache_) cached.buffer = b_.CreateSelect(odd, cached.buffers[1], cached.buffers[0]);
}

void Emitter::emit_rows_interleaved(Value* begin, Value* end) {
  const int final_pass = k_.passes - 1;
  RowState previous;  // row - 1's: its values are copied there once its reductions are done
  for (const auto& [s, slot] : row_values_) previous.values[s] = create_entry_alloca(vector_of(k_.steps[s].dtype));
  auto keep_row_values = [&] {
    for (const auto& [s, slot] : row_values_) {
      auto* type = vector_of(k_.steps[s].dtype);
      b_.CreateStore(b_.CreateLoad(type, slot), previous.values.at(s));
    }
  };
  auto odd = [&](Value* row) { return b_.CreateTrunc(b_.CreateSub(row, begin), b_.getInt1Ty()); };
  auto reduction_passes = [&](Value* row, Value* inner, const Alongside& alongside) {
    set_row_offsets(row);
    use_row_cache_of(odd(row));
    ready_.assign(k_.steps.size(), false);
    compute_row_steps();
    for (int pass = 0; pass < final_pass; ++pass) {
      if (pass_has_work(pass)) inner_loop(b_.getInt64(0), inner, pass, inner_multiple(), pass == final_pass - 1 ? alongside : nullptr);
      compute_row_steps();
    }
    store_row_outputs();
  };

  Value* inner = opaque_inner();
  counted_loop(begin, end, 1, [&](Value* row) {
    Value* previous_row = b_.CreateSub(row, b_.getInt64(1));
    set_row_offsets(previous_row);
    previous.offsets = offsets_;
    use_row_cache_of(odd(previous_row));
    for (const auto& [s, cached] : row_cache_) previous.cache[s] = cached.buffer;
    Value* has_previous = b_.CreateICmpSGT(row, begin);
    reduction_passes(row, inner, [&](Value* j, Value* mask) {
      auto* then = llvm::BasicBlock::Create(ctx_, "previous_row", fn_);
      auto* after = llvm::BasicBlock::Create(ctx_, "previous_row.done", fn_);
      b_.CreateCondBr(has_previous, then, after);
      b_.SetInsertPoint(then);
      swap_row_state(previous);
      body(j, mask, final_pass, 0, Part::all);
      swap_row_state(previous);
      b_.CreateBr(after);
      b_.SetInsertPoint(after);
    });
    keep_row_values();
  });
  auto* last = llvm::BasicBlock::Create(ctx_, "last_row", fn_);
  auto* done = llvm::BasicBlock::Create(ctx_, "last_row.done", fn_);
  b_.CreateCondBr(b_.CreateICmpSLT(begin, end), last, done);
  b_.SetInsertPoint(last);
  Value* last_row = b_.CreateSub(end, b_.getInt64(1));
  set_row_offsets(last_row);
  use_row_cache_of(odd(last_row));
  inner_loop(b_.getInt64(0), inner, final_pass, inner_multiple());
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

}  // namespace tj::llvm_backend
