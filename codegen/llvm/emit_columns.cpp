// Column reductions (emitter.h): a kernel of reductions alone whose
// reduced dim is not the contiguous one (x[R, C] summed over axis 0, a
// batch mean) computes its outputs a vector at a time, one per lane:
//   for each chunk of up to kColumnChunk outputs in [begin, end):
//     accumulators and row values for the chunk's outputs in buffers (L1)
//     for each pass with reductions (a variance: its mean, then its own):
//       for i in the reduced dim, two at a time (two accumulator sets):
//         for each vector of the chunk's outputs (the last one masked):
//           the elements at i, one contiguous load, added lane by lane
//       each vector's lanes are its outputs' results: no fold across lanes
// The reads run along memory, a chunk of each row of the reduced dim after
// the other, fetched 16 KiB ahead. Gathering each output's elements down
// the rows instead (one cache line per element) summed x[8192, 1024] over
// axis 0 in 8.9 ms at 2 threads (3.7 GB/s, 3% of the read loop), against
// 0.44 ms over axis 1; this way, 0.53-0.55 ms. Also measured: a block of
// 64 outputs in registers, down all the rows: 1.06 ms (3.3 at 1 thread);
// without the prefetch, 1.8 ms at 2 threads; one set of accumulators,
// x[200000, 15]: 1.58 against 0.89 ms at 1 thread (their chains through
// memory bound a chunk of one vector). Loads masked on every vector, not
// only the last: 5.65 against 0.79 ms at 1 thread.
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <functional>
#include <map>
#include <utility>

#include "codegen/llvm/emit.h"
#include "codegen/llvm/emitter.h"

namespace tj::llvm_backend {

bool reduces_columns(const LoopKernel& k) {
  if (k.row_block != 1 || k.passes < 2 || k.domain.size() != 2 || k.inner_dims != 1) return false;
  if (k.rows() < kMinColumnOutputs) return false;
  bool column_stream = false;
  for (const Step& step : k.steps) {
    if (step.kind == StepKind::matmul) return false;
    if (step.kind != StepKind::load) continue;
    const IndexMap& m = k.loads[step.load];
    if (m.dtype != DType::f32 || (m.strides[0] != 0 && m.strides[0] != 1)) return false;
    column_stream = column_stream || (m.strides[0] == 1 && m.strides[1] != 1);
  }
  const bool contiguous_row_outputs = std::all_of(k.stores.begin(), k.stores.end(), [&](const LoopKernel::Store& s) {
    return k.steps[s.step].row_level && s.map.dtype == DType::f32 && s.map.strides[0] == 1;
  });
  return column_stream && contiguous_row_outputs;
}

Value* Emitter::load_column(const IndexMap& m, Value* i, Value* mask) {
  Value* p = b_.CreateGEP(b_.getFloatTy(), base_[m.buffer], b_.CreateAdd(offsets_.at(&m), b_.CreateMul(i, b_.getInt64(m.strides[1]))));
  if (m.strides[0] == 0) return splat(b_.CreateLoad(b_.getFloatTy(), p));  // the same element for every output of the block
  auto* type = vector_of(DType::f32);
  if (mask) return b_.CreateMaskedLoad(type, p, llvm::Align(4), mask, llvm::Constant::getNullValue(type));
  if (m.strides[1] != 0) {
    // The rows are short streams (a chunk of each): fetch the chunk some
    // 16 KiB of rows ahead, where the hardware's prefetchers would not.
    const int64_t rows_ahead = std::max<int64_t>(1, kColumnPrefetchBytes / (4 * std::abs(m.strides[1])));
    prefetch(b_.CreateGEP(b_.getFloatTy(), p, b_.getInt64(rows_ahead * m.strides[1])));
  }
  return b_.CreateAlignedLoad(type, p, llvm::Align(4));
}

void Emitter::finish_columns(int pass) {
  for (auto& [s, slots] : accumulators_) {
    const Step& step = k_.steps[s];
    if (step.pass != pass) continue;
    Value* acc = b_.CreateLoad(accumulator_type(step), slots[0]);
    for (size_t u = 1; u < slots.size(); ++u) {
      Value* more = b_.CreateLoad(accumulator_type(step), slots[u]);
      acc = is_extremum(step.op) ? ordered_extremum(step.op, acc, more) : b_.CreateFAdd(acc, more);
    }
    if (is_extremum(step.op)) {  // a lane that saw a NaN: its largest |NaN| (emit_reduce.cpp)
      const std::vector<Value*>& witnesses = nan_witnesses_.at(s);
      Value* witness = b_.CreateLoad(witness_type(), witnesses[0]);
      for (size_t u = 1; u < witnesses.size(); ++u)
        witness = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umax, witness, b_.CreateLoad(witness_type(), witnesses[u]));
      Value* saw_nan = b_.CreateICmpUGT(witness, llvm::ConstantInt::get(witness_type(), 0x7f800000));
      acc = b_.CreateSelect(saw_nan, b_.CreateBitCast(witness, acc->getType()), acc);
    }
    if (step.op == Op::mean) acc = b_.CreateFDiv(acc, splat_f(acc->getType(), static_cast<double>(k_.inner())));
    if (acc->getType() != vector_of(DType::f32)) acc = b_.CreateFPTrunc(acc, vector_of(DType::f32));
    b_.CreateStore(acc, row_values_.at(s));
    ready_[s] = true;
  }
}

void Emitter::emit_column_reductions(Value* begin, Value* end) {
  // Each reduction's accumulators (and NaN witnesses) for a chunk of
  // outputs live in a buffer, a vector per `lanes` outputs and two sets
  // (even and odd rows of the reduced dim: two chains through memory);
  // so do row values, which later passes read (a variance's mean).
  // accumulate() and the row steps load and store them through the
  // emitter's slot pointers, pointed at vector j.
  const int64_t vectors = kColumnChunk / lanes_;
  std::map<size_t, Value*> sums, witnesses, values;
  for (const auto& [s, slots] : accumulators_) sums[s] = scratch(accumulator_type(k_.steps[s]), 2 * vectors);
  for (const auto& [s, slots] : nan_witnesses_) witnesses[s] = scratch(witness_type(), 2 * vectors);
  for (const auto& [s, slot] : row_values_) values[s] = scratch(vector_of(k_.steps[s].dtype), vectors);
  const auto saved_accumulators = accumulators_;
  const auto saved_witnesses = nan_witnesses_;
  const auto saved_values = row_values_;
  Value* first = nullptr;  // the chunk's first output
  auto point_at = [&](Value* j) {
    Value* vector = b_.CreateLShr(b_.CreateSub(j, first), b_.getInt64(std::countr_zero(static_cast<unsigned>(lanes_))));
    Value* odd = b_.CreateAdd(vector, b_.getInt64(vectors));
    for (auto& [s, slots] : accumulators_) slots = {b_.CreateGEP(accumulator_type(k_.steps[s]), sums.at(s), vector), b_.CreateGEP(accumulator_type(k_.steps[s]), sums.at(s), odd)};
    for (auto& [s, slots] : nan_witnesses_) slots = {b_.CreateGEP(witness_type(), witnesses.at(s), vector), b_.CreateGEP(witness_type(), witnesses.at(s), odd)};
    for (auto& [s, slot] : row_values_) slot = b_.CreateGEP(vector_of(k_.steps[s].dtype), values.at(s), vector);
  };
  // Vector j of the chunk's outputs: its offsets, buffers and mask (row
  // loads, operands broadcast down the reduced dim, read through it).
  auto start_vector = [&](Value* j, Value* mask) {
    set_row_offsets(j);
    point_at(j);
    column_mask_ = mask;
  };
  const bool paired = std::exchange(pairs_allowed_, false);
  reducing_columns_ = true;
  Value* inner = opaque_inner();
  counted_loop(begin, end, kColumnChunk, [&](Value* chunk) {
    first = chunk;
    Value* full_end = b_.CreateAdd(first, b_.getInt64(kColumnChunk));
    Value* chunk_end = b_.CreateSelect(b_.CreateICmpSLT(full_end, end), full_end, end);
    vector_loop(first, chunk_end, [&](Value* j, Value* mask, int) {  // (emitted twice: whole vectors, the tail)
      ready_.assign(k_.steps.size(), false);
      start_vector(j, mask);
      compute_row_steps();  // constants and row loads
    });
    for (int pass = 0; pass < k_.passes - 1; ++pass) {  // every pass but the final one reduces (lower.cpp)
      vector_loop(first, chunk_end, [&](Value* j, Value*, int) {
        point_at(j);
        reset_accumulators(pass);
      });
      // Rows of the reduced dim one after another, each over the chunk's
      // outputs: the reads run along memory (the other way round, 64
      // outputs down all the rows in registers, x[8192, 1024] over axis 0
      // took 3.3 ms at 1 thread).
      auto rows = [&](Value* i, int count) {
        vector_loop(first, chunk_end, [&](Value* j, Value* mask, int) {
          start_vector(j, mask);
          for (int r = 0; r < count; ++r) body(b_.CreateAdd(i, b_.getInt64(r)), mask, pass, r, Part::all);  // loads: load_column
        });
      };
      counted_loop(b_.getInt64(0), inner, 2, [&](Value* i) { rows(i, 2); });
      masked_tail(b_.CreateAnd(inner, b_.getInt64(-2)), inner, [&](Value* i, Value*, int) { rows(i, 1); });
      const std::vector<bool> ready_before = ready_;
      vector_loop(first, chunk_end, [&](Value* j, Value* mask, int) {
        ready_ = ready_before;  // each copy of the loop body (whole vectors, the tail) computes the same steps
        start_vector(j, mask);
        finish_columns(pass);
        compute_row_steps();
      });
    }
    vector_loop(first, chunk_end, [&](Value* j, Value* mask, int) {
      start_vector(j, mask);
      for (const LoopKernel::Store& store : k_.stores) {
        Value* p = b_.CreateGEP(b_.getFloatTy(), base_[store.map.buffer], offsets_.at(&store.map));
        store_floats(b_.CreateLoad(vector_of(DType::f32), row_values_.at(store.step)), p, mask);
      }
    });
  }, /*whole_steps=*/false);
  accumulators_ = saved_accumulators;
  nan_witnesses_ = saved_witnesses;
  row_values_ = saved_values;
  pairs_allowed_ = paired;
  reducing_columns_ = false;
}

}  // namespace tj::llvm_backend
