// The Emitter's matmul kernels (emitter.h): a row's sums over k in double,
// shared loads of B across a block of rows, cache blocking when B is packed
// and the epilogue elementwise, and dot products along k when B is
// transposed; the epilogue then reads each row's sums as the matmul's value.
#include <algorithm>

#include "codegen/llvm/emitter.h"

namespace tj::llvm_backend {

void Emitter::emit_blocked_matmul(Value* begin, Value* end) {
  const Step& step = k_.steps[k_.packed_b_step];
  const int64_t width = kColumnBlock, rows_per_group = kBlocksPerGroup * k_.row_block;
  Value* sums = scratch(b_.getDoubleTy(), rows_per_group * width);
  auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
  Value* inner = opaque_inner();
  auto clamp_to = [&](Value* v, Value* limit) { return b_.CreateSelect(b_.CreateICmpSLT(v, limit), v, limit); };
  // Row i of block `block` of the group starting at `group`, column j (absolute; the buffer holds [j0, j0 + width)).
  auto sums_row = [&](Value* group, Value* block, Value* i, Value* j0) {
    Value* slot = b_.CreateAdd(b_.CreateMul(b_.CreateSub(block, group), b_.getInt64(k_.row_block)), i);
    return b_.CreateGEP(b_.getDoubleTy(), sums, b_.CreateSub(b_.CreateMul(slot, b_.getInt64(width)), j0));
  };
  counted_loop(begin, end, kBlocksPerGroup, [&](Value* group) {
    Value* group_end = clamp_to(b_.CreateAdd(group, b_.getInt64(kBlocksPerGroup)), end);
    counted_loop(b_.getInt64(0), inner, width, [&](Value* j0) {
      Value* j1 = clamp_to(b_.CreateAdd(j0, b_.getInt64(width)), inner);
      counted_loop(group, group_end, 1, [&](Value* block) {
        for_each_row_of_block(block, [&](Value* i, Value*) {
          Value* row_sums = sums_row(group, block, i, j0);
          vector_loop(j0, j1, [&](Value* j, Value* mask, int) { store_doubles(splat_f(f64, 0.0), b_.CreateGEP(b_.getDoubleTy(), row_sums, j), mask); },
                      Unroll{.multiple_of = inner_multiple()});
        });
      });
      const int64_t k_block = std::min<int64_t>(kMatmulKBlock, std::max<int64_t>(step.k_extent, 1));
      counted_loop(b_.getInt64(0), b_.getInt64(step.k_extent), k_block, [&](Value* k_begin) {
        Value* k_end = clamp_to(b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent));
        counted_loop(group, group_end, 1, [&](Value* block) {
          std::vector<Value*> row_sums;
          for (int i = 0; i < k_.row_block; ++i) row_sums.push_back(sums_row(group, block, b_.getInt64(i), j0));
          accumulate_tile(step, rows_of_block(block), row_sums, j0, j1, k_begin, k_end);
        });
      }, /*whole_steps=*/false);
      counted_loop(group, group_end, 1, [&](Value* block) {  // the epilogue of these columns
        for_each_row_of_block(block, [&](Value* i, Value* row) {
          set_row_offsets(row);
          ready_.assign(k_.steps.size(), false);
          compute_row_steps();
          current_sums_ = sums_row(group, block, i, j0);
          inner_loop(j0, j1, 0, inner_multiple());
        });
      });
    }, /*whole_steps=*/false);
  }, /*whole_steps=*/false);
}

std::vector<Value*> Emitter::offsets_at_rows(const IndexMap& m, const std::vector<Value*>& rows) {
  std::vector<Value*> offsets;
  for (Value* row : rows) {
    set_row_offsets(row);
    offsets.push_back(offsets_.at(&m));
  }
  return offsets;
}

void Emitter::accumulate_tile(const Step& step, const std::vector<Value*>& rows, const std::vector<Value*>& row_sums, Value* j0, Value* j1, Value* k_begin, Value* k_end) {
  const IndexMap& a = k_.loads[k_.steps[step.args[0]].load];
  auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
  const std::vector<Value*> a_rows = offsets_at_rows(a, rows);
  const int n = static_cast<int>(rows.size());
  const WideRows wide = widen_rows_of_a(a, a_rows, k_begin, k_end);
  std::vector<Value*> tile;
  for (int i = 0; i < n; ++i) tile.push_back(create_entry_alloca(f64));
  vector_loop(j0, j1, [&](Value* j, Value* mask, int) {
    for (int i = 0; i < n; ++i) b_.CreateStore(load_doubles(b_.CreateGEP(b_.getDoubleTy(), row_sums[i], j), mask), tile[i]);
    counted_loop(k_begin, k_end, 1, [&](Value* k) {
      Value* y = b_.CreateFPExt(load_packed_b(step, j, k), f64);
      for (int i = 0; i < n; ++i) {
        Value* x = splat(b_.CreateLoad(b_.getDoubleTy(), wide.at(i, k)));
        b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f64}, {x, y, b_.CreateLoad(f64, tile[i])}), tile[i]);
      }
    });
    for (int i = 0; i < n; ++i) store_doubles(b_.CreateLoad(f64, tile[i]), b_.CreateGEP(b_.getDoubleTy(), row_sums[i], j), mask);
  }, Unroll{.multiple_of = inner_multiple()});
}

Emitter::WideRows Emitter::widen_rows_of_a(const IndexMap& a, const std::vector<Value*>& a_rows, Value* k_begin, Value* k_end) {
  WideRows wide{this, scratch(b_.getDoubleTy(), static_cast<int64_t>(a_rows.size()) * kMatmulKBlock), k_begin};
  counted_loop(k_begin, k_end, 1, [&](Value* k) {
    for (size_t i = 0; i < a_rows.size(); ++i) {
      Value* x_at = b_.CreateAdd(a_rows[i], b_.CreateMul(k, b_.getInt64(a.k_stride)));
      Value* x = b_.CreateLoad(b_.getFloatTy(), b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], x_at));
      b_.CreateStore(b_.CreateFPExt(x, b_.getDoubleTy()), wide.at(static_cast<int>(i), k));
    }
  });
  return wide;
}

Value* Emitter::WideRows::at(int i, Value* k) const {
  llvm::IRBuilder<>& b = emitter->b_;
  return b.CreateGEP(b.getDoubleTy(), buffer, b.CreateAdd(b.getInt64(i * kMatmulKBlock), b.CreateSub(k, k_begin)));
}

Value* Emitter::load_packed_b(const Step& step, Value* j, Value* k) {
  // Panel j / lanes holds B[k][j..j+lanes) at (j / lanes * K + k) * lanes,
  // which is j * K + k * lanes: j is a multiple of the lanes.
  Value* at = b_.CreateAdd(b_.CreateMul(j, b_.getInt64(step.k_extent)), b_.CreateMul(k, b_.getInt64(lanes_)));
  return b_.CreateAlignedLoad(vector_of(DType::f32), b_.CreateGEP(b_.getFloatTy(), base_[k_.arguments], at), llvm::Align(32));
}

Value* Emitter::row_of_block(Value* block, Value* i) {
  Value* row = b_.CreateAdd(b_.CreateMul(block, b_.getInt64(k_.row_block)), i);
  return b_.CreateSelect(b_.CreateICmpSLT(row, b_.getInt64(k_.rows())), row, b_.getInt64(k_.rows() - 1));
}

std::vector<Value*> Emitter::rows_of_block(Value* block) {
  std::vector<Value*> rows;
  for (int i = 0; i < k_.row_block; ++i) rows.push_back(row_of_block(block, b_.getInt64(i)));
  return rows;
}

void Emitter::for_each_row_of_block(Value* block, const std::function<void(Value* i, Value* row)>& body) {
  counted_loop(b_.getInt64(0), b_.getInt64(k_.row_block), 1, [&](Value* i) { body(i, row_of_block(block, i)); });
}

void Emitter::emit_row_block(Value* block) {
  const Step* matmul = nullptr;
  for (const Step& step : k_.steps)
    if (step.kind == StepKind::matmul) matmul = &step;
  Value* inner = opaque_inner();
  const std::vector<Value*> rows = rows_of_block(block);
  matmul_rows(*matmul, rows, inner);
  for_each_row_of_block(block, [&](Value* i, Value* row) {
    current_sums_ = b_.CreateGEP(b_.getDoubleTy(), row_sums_, b_.CreateMul(i, inner));
    emit_row(row, /*compute_matmul=*/false);
  });
}

void Emitter::matmul_rows(const Step& step, const std::vector<Value*>& rows, Value* inner) {
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
      }, Unroll{.multiple_of = std::max<int64_t>(step.k_extent, 1)});
      // The lanes in halves (a tree, log2 lanes adds deep), not in order:
      // every column waits for its rows' sums.
      for (int i = 0; i < n; ++i) {
        llvm::CallInst* sum = b_.CreateFAddReduce(llvm::ConstantFP::get(b_.getDoubleTy(), -0.0), b_.CreateLoad(f64, tile[i]));
        sum->setHasAllowReassoc(true);
        b_.CreateStore(sum, sums_at(i, j));
      }
    });
    return;
  }
  vector_loop(b_.getInt64(0), inner, [&](Value* j, Value* mask, int) {
    for (int i = 0; i < n; ++i) store_doubles(splat_f(f64, 0.0), sums_at(i, j), mask);
  }, Unroll{.multiple_of = inner_multiple()});
  // k in blocks, so that the rows of B one column strip walks stay within
  // the TLB and L1 while the strips next to it reuse the same lines.
  const int64_t k_block = std::min<int64_t>(kMatmulKBlock, std::max<int64_t>(step.k_extent, 1));
  counted_loop(b_.getInt64(0), b_.getInt64(step.k_extent), k_block, [&](Value* k_begin) {
    Value* k_end = b_.CreateSelect(b_.CreateICmpSLT(b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent)),
                                   b_.CreateAdd(k_begin, b_.getInt64(k_block)), b_.getInt64(step.k_extent));
    const WideRows wide = widen_rows_of_a(a, a_rows, k_begin, k_end);
    // No software prefetch of B here: its rows are re-read for every
    // column strip and sit in cache (attention's p @ v 9.6-13.4 -> 8.2-11.9
    // ms, [2,9,32] @ [2,32,8192] 2.34 -> 1.72 ms, min of 7).
    const bool prefetching = std::exchange(software_prefetch_, false);
    vector_loop(b_.getInt64(0), inner, [&](Value* j, Value* mask, int) {
      for (int i = 0; i < n; ++i) b_.CreateStore(load_doubles(sums_at(i, j), mask), tile[i]);
      counted_loop(k_begin, k_end, 1, [&](Value* k) {
        Value* y;
        if (k_.packed_b_step >= 0) {
          y = load_packed_b(step, j, k);
        } else {
          offsets_[&bm] = b_.CreateAdd(b_row, b_.CreateMul(k, b_.getInt64(bm.k_stride)));  // B's row k
          y = load_vector(bm, j, mask);
        }
        y = b_.CreateFPExt(y, f64);
        for (int i = 0; i < n; ++i) {
          Value* x = splat(b_.CreateLoad(b_.getDoubleTy(), wide.at(i, k)));
          b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f64}, {x, y, b_.CreateLoad(f64, tile[i])}), tile[i]);
        }
      });
      offsets_[&bm] = b_row;
      for (int i = 0; i < n; ++i) store_doubles(b_.CreateLoad(f64, tile[i]), sums_at(i, j), mask);
    }, Unroll{.multiple_of = inner_multiple()});
    software_prefetch_ = prefetching;
  }, /*whole_steps=*/false);
}

}  // namespace tj::llvm_backend
