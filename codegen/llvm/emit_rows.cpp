// Rows in flight (emitter.h): two in row kernels, four in long row reductions.
// Row kernels with two rows in flight: the thread's rows as
//   for row in [begin, end):
//     its passes with reductions, the last of them in one loop with the
//     final pass of row - 1 (its outputs; not in the first row's);
//     its row-level outputs (a rerun of the pass, emit_reduce.cpp, leaves
//     row - 1 out)
//   the final pass of row end - 1
// Softmax's final pass is a divide per vector, which alone runs at the
// divider's pace while the FMA pipes wait; beside the next row's exp the
// two overlap, and the stores spread over the row instead of coming in a
// burst at its end. In cache (32 rows, 10-12 alternating runs, cycles a
// vector): softmax 11.3 -> 10.2, layer norm 9.8 -> 7.0; at 512 rows (L2)
// 11.2 -> 10.5 and 10.3 -> 7.2; with AVX2 (16 floats) 22.8 -> 19.4 and
// 14.2 -> 10.7. From memory (bench_kernels, 13 alternating
// runs) the fractions of the triad stayed within noise: the stores' reads
// for ownership bound them. Streaming those stores is still slower:
// directly after a triad at 2 threads, 5 alternating runs, best us, cached
// against streaming: softmax 684-849 against 843-1006, layer norm
// 1013-1141 against 1190-1254. Compile time: softmax's kernel 13.5 -> 16.4
// ms; peeling the first row instead of its branch in the loop, 20.8.
//
// Kernels of row reductions alone (a sum, mean, max or min per row, the
// first kernel of a split full reduction), over rows of 1024 elements or
// more and without math that chains, read four rows in one loop: four
// streams from memory instead of one, each row with its own accumulators,
// offsets and row values; the rows left over run one by one. Zen 5 (this
// VM) fetches one stream at about 70% of the bandwidth of several: a C
// loop summing 64 MiB read 2.6 ms as one stream against 1.5-1.8 as two.
// (Four quarters of one row, tried before, were slower at 2 threads.)
// Without software prefetches: the hardware's follow four streams better.
// Sum of 2^24 floats ([256, 65536] rows), the kernel called directly after
// the read limit loop, best of 20, fraction of that loop's bandwidth, one
// row at a time against four: 53% -> 66-73% at 2 threads, 65% -> 81-85%
// at 1, with prefetches; without them four rows read 83-90% and 98-101%
// (two rows 71-73% and 83-88%, six 75-79% and 89-107%, eight 71-79%).
#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "codegen/llvm/emitter.h"

namespace tj::llvm_backend {

bool Emitter::interleaves_rows() const {
  if (k_.row_block != 1 || k_.passes < 2) return false;  // every pass before the final one reduces (lower.cpp)
  const bool has_matmul = std::any_of(k_.steps.begin(), k_.steps.end(), [](const Step& s) { return s.kind == StepKind::matmul; });
  return !has_matmul && pass_has_work(k_.passes - 1);
}

void Emitter::emit_rows_interleaved(Value* begin, Value* end) {
  const int final_pass = k_.passes - 1;
  struct RowState {
    std::map<const IndexMap*, Value*> offsets;
    std::map<size_t, Value*> values;  // allocas of the row values
    std::map<int, Value*> cache;      // each cached step's buffer
  };
  RowState previous;  // row - 1's: its values are copied there once its reductions are done
  auto swap_row_state = [&] {
    std::swap(offsets_, previous.offsets);
    std::swap(row_values_, previous.values);
    for (auto& [s, cached] : row_cache_) std::swap(cached.buffer, previous.cache[s]);
  };
  // Each cached step's buffer, the row's (odd: whether the row is an odd
  // number of rows after the thread's first).
  auto use_row_cache_of = [&](Value* odd) {
    for (auto& [s, cached] : row_cache_) cached.buffer = b_.CreateSelect(odd, cached.buffers[1], cached.buffers[0]);
  };
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
    row_passes(inner, final_pass, alongside);
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
    reduction_passes(row, inner, [&](Value* j, Value* mask, int) {
      auto* then = llvm::BasicBlock::Create(ctx_, "previous_row", fn_);
      auto* after = llvm::BasicBlock::Create(ctx_, "previous_row.done", fn_);
      b_.CreateCondBr(has_previous, then, after);
      b_.SetInsertPoint(then);
      swap_row_state();
      body(j, mask, final_pass, 0, Part::all);
      swap_row_state();
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

bool Emitter::reduces_rows_in_groups() const {
  if (k_.row_block != 1 || k_.passes != 2 || pass_has_work(1) || has_long_chains() || k_.inner() < kMinGroupedRow) return false;
  return std::none_of(k_.steps.begin(), k_.steps.end(), [](const Step& s) { return s.kind == StepKind::matmul; });
}

void Emitter::emit_row_groups(Value* begin, Value* end) {
  struct RowState {
    std::map<const IndexMap*, Value*> offsets;
    std::map<size_t, Value*> values;                      // allocas of the row values
    std::map<size_t, std::vector<Value*>> accumulators;   // and of the reductions' accumulators
    std::map<size_t, std::vector<Value*>> witnesses;
    std::map<size_t, Value*> unpaired;
    std::vector<bool> ready;
  };
  std::vector<RowState> others(kRowsInFlight - 1);  // rows 1, 2, ... of a group; row 0's state is the emitter's
  for (RowState& row : others) {
    for (const auto& [s, slot] : row_values_) row.values[s] = create_entry_alloca(vector_of(k_.steps[s].dtype));
    for (const auto& [s, slots] : accumulators_)
      for (size_t u = 0; u < slots.size(); ++u) row.accumulators[s].push_back(create_entry_alloca(accumulator_type(k_.steps[s])));
    for (const auto& [s, slots] : nan_witnesses_)
      for (size_t u = 0; u < slots.size(); ++u) row.witnesses[s].push_back(create_entry_alloca(witness_type()));
  }
  auto swap_row_state = [&](RowState& row) {
    std::swap(offsets_, row.offsets);
    std::swap(row_values_, row.values);
    std::swap(accumulators_, row.accumulators);
    std::swap(nan_witnesses_, row.witnesses);
    std::swap(unpaired_, row.unpaired);
    std::swap(ready_, row.ready);
  };
  auto for_other_rows = [&](const std::function<void(int)>& body) {
    for (int r = 1; r < kRowsInFlight; ++r) {
      swap_row_state(others[r - 1]);
      body(r);
      swap_row_state(others[r - 1]);
    }
  };
  auto start_row = [&](Value* row) {
    set_row_offsets(row);
    ready_.assign(k_.steps.size(), false);
    compute_row_steps();
  };
  auto finish_row = [&] {
    compute_row_steps();
    store_row_outputs();
  };
  software_prefetch_ = false;  // the hardware's prefetchers follow four streams better (rows left over too)
  // Rows left over after the whole groups run one by one: a group that
  // repeated its last row instead would compute it four times, and a thread
  // with a single row (sums of [2, 2^23] at 2 threads) took 1.8x as long.
  Value* inner = opaque_inner();
  Value* whole_groups = b_.CreateMul(b_.CreateSDiv(b_.CreateSub(end, begin), b_.getInt64(kRowsInFlight)), b_.getInt64(kRowsInFlight));
  Value* groups_end = b_.CreateAdd(begin, whole_groups);
  counted_loop(begin, groups_end, kRowsInFlight, [&](Value* first) {
    start_row(first);
    for_other_rows([&](int r) {
      start_row(b_.CreateAdd(first, b_.getInt64(r)));
      reset_accumulators(0);
    });
    inner_loop(b_.getInt64(0), inner, 0, inner_multiple(), [&](Value* j, Value* mask, int slot) {
      for_other_rows([&](int) { body(j, mask, 0, slot, Part::all); });
    });
    finish_row();
    for_other_rows([&](int) {
      finish_reductions(0);
      rerun_if_pairs_overflowed(b_.getInt64(0), inner, 0, inner_multiple());
      finish_row();
    });
  });
  counted_loop(groups_end, end, 1, [&](Value* row) { emit_row(row); });
}

}  // namespace tj::llvm_backend
