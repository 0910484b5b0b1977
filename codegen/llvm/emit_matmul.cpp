// The Emitter's matmul kernels (emitter.h): each row's sums in double,
// accumulated a block of k at a time in float (tiles of rows x vectors of
// columns sharing each load of B), cache blocking when B is packed and the
// epilogue elementwise, and dot products along k (blocks of k in float
// too, added in double) when B is transposed; the epilogue then reads each
// row's sums as the matmul's value.
//
// Float within a k block of 256, as BLAS sums, where the reference sums in
// double: the MLP benchmark's matmuls ([256,1024] @ [1024,4096] and back,
// 1 thread, explain's run time of each kernel, B packed per call included)
// took 34 and 40 ms in double (its 8-lane FMAs, and a conversion of each
// vector of B), 16.5 and 16.2 ms so with tiles of 6 rows x 4 vectors, 19.3
// and 18.7 with 6 x 2, and 15.0-15.5 and 13.9-14.5 when each tile's float
// sums go to the double sums once per k block against 16.2-16.6 every 64 k.
// A block's float sum is off by at most ~256 float32 epsilons of the sum
// of its terms' magnitudes, typically ~16 (a random walk), 13 seen where
// all are positive: the tests allow 32 epsilons of |A| @ |B| or of the
// largest result (kMatmulSums). As in BLAS, a block's sum (or a product)
// beyond FLT_MAX overflows to Inf where the reference, in double, may
// still come back in range ([[3e38, 3e38, -3e38]] @ ones: Inf against
// 3e38).
#include <algorithm>
#include <numeric>

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
      for_each_k_block(step, [&](Value* k_begin, Value* k_end) {
        counted_loop(group, group_end, 1, [&](Value* block) {
          std::vector<Value*> row_sums;
          for (int i = 0; i < k_.row_block; ++i) row_sums.push_back(sums_row(group, block, b_.getInt64(i), j0));
          accumulate_tile(step, offsets_at_rows(k_.loads[k_.steps[step.args[0]].load], rows_of_block(block)), nullptr, row_sums, j0, j1, k_begin, k_end);
        });
      });
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

void Emitter::accumulate_tile(const Step& step, const std::vector<Value*>& a_rows, Value* b_row, const std::vector<Value*>& row_sums, Value* j0, Value* j1,
                              Value* k_begin, Value* k_end) {
  // Each row's sums over the k block in float, several vectors of
  // columns at once (rows x vectors chains of FMAs: enough to hide their
  // latency), then added to its double sums.
  const IndexMap& a = k_.loads[k_.steps[step.args[0]].load];
  const IndexMap& bm = k_.loads[k_.steps[step.args[1]].load];
  auto* f32 = vector_of(DType::f32);
  const int n = static_cast<int>(a_rows.size());
  // 6 rows x 4 vectors: 24 of AVX-512's 32 registers; AVX2 has 16.
  const int tile_vectors = lanes_ == 16 ? 4 : 2;
  static_assert(kColumnBlock % (4 * 16) == 0 && kColumnBlock % (2 * 8) == 0, "the cache-blocked kernel's tiles must not straddle two column blocks");
  // A's rows, broadcast straight from A when they run along k; else (A
  // transposed) copied for the k block first.
  Value* copied = a.k_stride == 1 ? nullptr : copy_rows_of_a(a, a_rows, k_begin, k_end);
  auto a_at = [&](int i, Value* k) {
    if (copied) return b_.CreateGEP(b_.getFloatTy(), copied, b_.CreateAdd(b_.getInt64(i * kMatmulKBlock), b_.CreateSub(k, k_begin)));
    return b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], b_.CreateAdd(a_rows[i], k));
  };
  std::vector<std::vector<Value*>> tile(n);
  for (auto& row : tile)
    for (int v = 0; v < tile_vectors; ++v) row.push_back(create_entry_alloca(f32));
  const bool whole = inner_multiple() % (tile_vectors * lanes_) == 0;
  counted_loop(j0, j1, tile_vectors * lanes_, [&](Value* j) {
    // Vector v's columns, and where it loads B: a vector past the strip's
    // end computes on the first vector's panel, and stores nothing (but in
    // the cache-blocked kernel: see the masks).
    std::vector<Value*> columns, panels, masks;
    for (int v = 0; v < tile_vectors; ++v) {
      Value* column = b_.CreateAdd(j, b_.getInt64(v * lanes_));
      columns.push_back(column);
      panels.push_back(v == 0 || whole ? column : b_.CreateSelect(b_.CreateICmpSLT(column, j1), column, j));
      // The cache-blocked kernel's sums have a slot for every column of the
      // block: whole tiles fit, and what lands past j1 is never read.
      masks.push_back(whole || blocked_matmul() ? nullptr : lane_mask(column, j1));
    }
    for (auto& row : tile)
      for (Value* slot : row) b_.CreateStore(splat_f(f32, 0.0), slot);
    // B's vectors, then each row's A broadcast once for all of them: the
    // accumulators, B's vectors and one broadcast fit the registers (AVX2:
    // 12 + 2 + 1 of 16; the other order kept 6 broadcasts and spilled 4
    // accumulators: bench_kernels' MLP at 1 thread, AVX2, 95-103 -> 55 ms;
    // AVX-512 27.6-30.4 -> 26.7).
    counted_loop(k_begin, k_end, 1, [&](Value* k) {
      std::vector<Value*> ys;
      for (int v = 0; v < tile_vectors; ++v) {
        if (k_.packed_b_step >= 0) {
          ys.push_back(load_packed_b(step, panels[v], k));
        } else {
          offsets_[&bm] = b_.CreateAdd(b_row, b_.CreateMul(k, b_.getInt64(bm.k_stride)));  // B's row k
          ys.push_back(load_vector(bm, panels[v], whole ? nullptr : lane_mask(panels[v], j1)));
        }
      }
      for (int i = 0; i < n; ++i) {
        Value* x = splat(b_.CreateLoad(b_.getFloatTy(), a_at(i, k)));
        for (int v = 0; v < tile_vectors; ++v)
          b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f32}, {x, ys[v], b_.CreateLoad(f32, tile[i][v])}), tile[i][v]);
      }
    });
    for (int i = 0; i < n; ++i)
      for (int v = 0; v < tile_vectors; ++v) {
        Value* at = b_.CreateGEP(b_.getDoubleTy(), row_sums[i], columns[v]);
        Value* wide = b_.CreateFPExt(b_.CreateLoad(f32, tile[i][v]), llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_));
        store_doubles(b_.CreateFAdd(load_doubles(at, masks[v]), wide), at, masks[v]);
      }
  }, /*whole_steps=*/false);
  if (k_.packed_b_step < 0) offsets_[&bm] = b_row;
}

void Emitter::for_each_k_block(const Step& step, const std::function<void(Value* k_begin, Value* k_end)>& body) {
  Value* k_extent = b_.getInt64(step.k_extent);
  counted_loop(b_.getInt64(0), k_extent, std::min<int64_t>(kMatmulKBlock, std::max<int64_t>(step.k_extent, 1)), [&](Value* k_begin) {
    Value* k_end = b_.CreateAdd(k_begin, b_.getInt64(kMatmulKBlock));
    body(k_begin, b_.CreateSelect(b_.CreateICmpSLT(k_end, k_extent), k_end, k_extent));
  }, /*whole_steps=*/false);
}

Value* Emitter::copy_rows_of_a(const IndexMap& a, const std::vector<Value*>& a_rows, Value* k_begin, Value* k_end) {
  Value* block = scratch(b_.getFloatTy(), static_cast<int64_t>(a_rows.size()) * kMatmulKBlock);
  counted_loop(k_begin, k_end, 1, [&](Value* k) {
    for (size_t i = 0; i < a_rows.size(); ++i) {
      Value* x_at = b_.CreateAdd(a_rows[i], b_.CreateMul(k, b_.getInt64(a.k_stride)));
      Value* x = b_.CreateLoad(b_.getFloatTy(), b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], x_at));
      b_.CreateStore(x, b_.CreateGEP(b_.getFloatTy(), block, b_.CreateAdd(b_.getInt64(static_cast<int64_t>(i) * kMatmulKBlock), b_.CreateSub(k, k_begin))));
    }
  });
  return block;
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
  const int n = static_cast<int>(rows.size());
  auto sums_at = [&](int i, Value* j) { return b_.CreateGEP(b_.getDoubleTy(), row_sums_, b_.CreateAdd(b_.CreateMul(b_.getInt64(i), inner), j)); };
  if (k_.packed_b_step < 0 && bm.strides.back() != 1 && bm.k_stride == 1 && a.k_stride == 1) return dot_products(step, rows, inner);
  vector_loop(b_.getInt64(0), inner, [&](Value* j, Value* mask, int) {
    for (int i = 0; i < n; ++i) store_doubles(splat_f(f64, 0.0), sums_at(i, j), mask);
  }, Unroll{.multiple_of = inner_multiple()});
  const std::vector<Value*> a_rows = offsets_at_rows(a, rows);
  Value* b_row = offsets_.at(&bm);  // B of the rows' batch
  std::vector<Value*> row_sums;
  for (int i = 0; i < n; ++i) row_sums.push_back(sums_at(i, b_.getInt64(0)));
  // k in blocks, so that the rows of B one column strip walks stay within
  // the TLB and L1 while the strips next to it reuse the same lines.
  for_each_k_block(step, [&](Value* k_begin, Value* k_end) {
    // No software prefetch of B here: its rows are re-read for every
    // column strip and sit in cache (attention's p @ v 9.6-13.4 -> 8.2-11.9
    // ms, [2,9,32] @ [2,32,8192] 2.34 -> 1.72 ms, min of 7).
    const bool prefetching = std::exchange(software_prefetch_, false);
    accumulate_tile(step, a_rows, b_row, row_sums, b_.getInt64(0), inner, k_begin, k_end);
    software_prefetch_ = prefetching;
  });
}

void Emitter::dot_products(const Step& step, const std::vector<Value*>& rows, Value* inner) {
  // B transposed (attention's k^T): its columns are contiguous along k, so
  // each sum is a dot product of two contiguous runs, vectorized along k,
  // instead of gathering B's rows element by element. The block's rows take
  // lanes / rows columns at a time: over each block of kMatmulKBlock k, a
  // vector of products per row and column, each lane summing its share of
  // them in float, then all those vectors summed across their lanes at
  // once (sum_each_vector: the sums in one vector, row by row) and added
  // in double.
  const IndexMap& a = k_.loads[k_.steps[step.args[0]].load];
  const IndexMap& bm = k_.loads[k_.steps[step.args[1]].load];
  auto* f32 = vector_of(DType::f32);
  auto* f64 = llvm::FixedVectorType::get(b_.getDoubleTy(), lanes_);
  const int n = static_cast<int>(rows.size());
  if (lanes_ % n != 0) fail("codegen: {} rows of dot products do not divide {} lanes", n, lanes_);
  const int columns = lanes_ / n;
  const std::vector<Value*> a_rows = offsets_at_rows(a, rows);
  Value* b_row = offsets_.at(&bm);
  std::vector<Value*> tile;  // row i, column c at i * columns + c
  for (int q = 0; q < lanes_; ++q) tile.push_back(create_entry_alloca(f32));
  Value* total = create_entry_alloca(f64);  // the blocks' sums, lane q for tile[q]
  Value* last = b_.CreateSub(inner, b_.getInt64(1));
  const int64_t k_extent = std::max<int64_t>(step.k_extent, 1);
  counted_loop(b_.getInt64(0), inner, columns, [&](Value* j) {
    std::vector<Value*> b_columns;  // past the last column: the last again, its sums not stored
    for (int c = 0; c < columns; ++c) {
      Value* column = b_.CreateAdd(j, b_.getInt64(c));
      column = b_.CreateSelect(b_.CreateICmpSLT(column, inner), column, last);
      b_columns.push_back(b_.CreateAdd(b_row, b_.CreateMul(column, b_.getInt64(bm.strides.back()))));
    }
    b_.CreateStore(splat_f(f64, 0.0), total);
    for_each_k_block(step, [&](Value* k_begin, Value* k_end) {
      for (Value* slot : tile) b_.CreateStore(splat_f(f32, 0.0), slot);
      // The rows' vectors of A, then B's columns one at a time: with 16
      // columns (one row), 16 accumulators, a vector of A and one of B live.
      vector_loop(k_begin, k_end, [&](Value* k, Value* mask, int) {
        std::vector<Value*> xs;
        for (int i = 0; i < n; ++i) xs.push_back(load_floats(b_.CreateGEP(b_.getFloatTy(), base_[a.buffer], b_.CreateAdd(a_rows[i], k)), mask));
        for (int c = 0; c < columns; ++c) {
          Value* y = load_floats(b_.CreateGEP(b_.getFloatTy(), base_[bm.buffer], b_.CreateAdd(b_columns[c], k)), mask);
          for (int i = 0; i < n; ++i) {
            Value* slot = tile[i * columns + c];
            b_.CreateStore(b_.CreateIntrinsic(llvm::Intrinsic::fma, {f32}, {xs[i], y, b_.CreateLoad(f32, slot)}), slot);
          }
        }
      }, Unroll{.multiple_of = std::gcd(k_extent, kMatmulKBlock)});
      std::vector<Value*> products;
      for (Value* slot : tile) products.push_back(b_.CreateLoad(f32, slot));
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f64, total), b_.CreateFPExt(sum_each_vector(products), f64)), total);
    });
    Value* sums = b_.CreateLoad(f64, total);
    std::vector<llvm::Constant*> ids;
    for (int c = 0; c < columns; ++c) ids.push_back(b_.getInt32(c));
    Value* in_range = k_.inner() % columns == 0 ? nullptr
                                                : b_.CreateICmpSLT(llvm::ConstantVector::get(ids), b_.CreateVectorSplat(columns, b_.CreateTrunc(b_.CreateSub(inner, j), b_.getInt32Ty())));
    for (int i = 0; i < n; ++i) {
      std::vector<int> row_lanes;
      for (int c = 0; c < columns; ++c) row_lanes.push_back(i * columns + c);
      Value* row = b_.CreateShuffleVector(sums, row_lanes);
      Value* at = b_.CreateGEP(b_.getDoubleTy(), row_sums_, b_.CreateAdd(b_.CreateMul(b_.getInt64(i), inner), j));
      if (in_range) b_.CreateMaskedStore(row, at, llvm::Align(8), in_range);
      else b_.CreateAlignedStore(row, at, llvm::Align(8));
    }
  }, /*whole_steps=*/false);
}

Value* Emitter::sum_each_vector(std::vector<Value*> vectors) {
  // Pairs of vectors (a, b) become one: each owner's block of lanes in a,
  // then in b, halved by adding its upper half to its lower, the blocks of
  // a and b interleaved. After log2(lanes) levels every lane has one owner;
  // a last shuffle puts owner q at lane q.
  std::vector<std::vector<int>> owners;  // per vector, the owner of each block (blocks of lanes / owners)
  for (size_t q = 0; q < vectors.size(); ++q) owners.push_back({static_cast<int>(q)});
  while (vectors.size() > 1) {
    std::vector<Value*> next;
    std::vector<std::vector<int>> next_owners;
    for (size_t p = 0; p + 1 < vectors.size(); p += 2) {
      const int blocks = static_cast<int>(owners[p].size()), size = lanes_ / blocks, half = size / 2;
      std::vector<int> lower, upper, merged;
      for (int block = 0; block < blocks; ++block) {
        for (int from : {0, lanes_})
          for (int t = 0; t < half; ++t) lower.push_back(from + block * size + t), upper.push_back(from + block * size + half + t);
        merged.push_back(owners[p][block]);
        merged.push_back(owners[p + 1][block]);
      }
      next.push_back(b_.CreateFAdd(b_.CreateShuffleVector(vectors[p], vectors[p + 1], lower), b_.CreateShuffleVector(vectors[p], vectors[p + 1], upper)));
      next_owners.push_back(merged);
    }
    vectors = std::move(next);
    owners = std::move(next_owners);
  }
  std::vector<int> order(lanes_);
  for (int lane = 0; lane < lanes_; ++lane) order[owners[0][lane]] = lane;
  return b_.CreateShuffleVector(vectors[0], order);
}

}  // namespace tj::llvm_backend
