// The Emitter: LLVM IR for one loop kernel (codegen/loop_kernel.h).
// Loop-carried values (counters, accumulators, row values) live in allocas
// that SROA promotes to registers, which keeps the emitter a straight
// reading of the loop nest:
//   for row in [begin, end):            (rows split across threads)
//     row offsets of every index map
//     for pass in passes:               (one per level of dependent reductions)
//       vector loop over the inner dim: whole vectors (two per trip when
//       it reduces; software-pipelined when it only computes long math
//       that does not branch, pipeline.h),
//       then what is left
//       masked (nothing, when the row is whole vectors)
//       finish the pass's reductions; compute row values now available
//     store row-level outputs
// Row kernels (several passes) keep two rows in flight (emit_rows.cpp).
// emit.cpp: loop nest, passes, arithmetic; emit_reduce.cpp: reductions;
// emit_memory.cpp: loads, stores, buffers; emit_matmul.cpp: matmul kernels
// (row blocks, cache blocking, dot products). Internal to the LLVM backend.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "codegen/llvm/emit_math.h"
#include "codegen/loop_kernel.h"
#include "ir/error.h"

namespace tj::llvm_backend {

using llvm::Value;

class Emitter {
 public:
  Emitter(const LoopKernel& kernel, llvm::LLVMContext& context, llvm::Module& module, int lanes)
      : k_(kernel), ctx_(context), module_(module), b_(context), lanes_(lanes) {}

  void emit();
  int64_t scratch_bytes() const { return scratch_bytes_; }  // after emit()
  const std::string& schedule() const { return schedule_; }  // after emit(): how rows run, for explain

 private:
  // ---- types and constants ----
  llvm::Type* scalar_of(DType d);
  llvm::Type* memory_of(DType d) { return d == DType::boolean ? b_.getInt8Ty() : scalar_of(d); }
  llvm::VectorType* vector_of(DType d) { return llvm::FixedVectorType::get(scalar_of(d), lanes_); }
  llvm::VectorType* accumulator_type(const Step& s);
  Value* splat(Value* scalar) { return b_.CreateVectorSplat(lanes_, scalar); }
  Value* splat_f(llvm::Type* vector, double v) { return llvm::ConstantFP::get(vector, v); }
  Value* lane_ids(llvm::IntegerType* type = nullptr);  // 0, 1, ..., lanes - 1 (i64 by default)

  std::vector<const IndexMap*> all_maps();

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

  Value* create_entry_alloca(llvm::Type* type, int64_t count = 1);

  // A buffer of `count` elements (row sums, cached rows, blocks of A and of
  // sums, column accumulators): on the stack while the kernel's buffers
  // total at most 16 KiB, else in the thread's kernel scratch
  // (runtime/kernel_scratch.h, 64-byte aligned, one request at the entry),
  // so a caller's small stack is enough.
  Value* scratch(llvm::Type* element, int64_t count);
  static constexpr int64_t kStackBufferBytes = 16 << 10;  // buffers on the stack, in all (the rest in scratch)
  int64_t stack_buffer_bytes_ = 0;
  llvm::CallInst* scratch_request_ = nullptr;
  int64_t scratch_bytes_ = 0;
  std::string schedule_;
  bool pipelined_ = false;  // some loop was software-pipelined (explain says so)

  // ---- rows ----
  // Row index -> per-dim indices -> each map's offset at the start of the row.
  void set_row_offsets(Value* row);

  // The inner length goes through an empty asm so that LLVM sees no constant
  // trip count: fully unrolled loops give tails with constant one-lane masks,
  // which LLVM 16's x86 instruction selection fails on (fp_extend of a
  // zero-extending load: "Cannot select extract_vector_elt"). The loop still
  // runs vectorized; only the full unroll is lost.
  Value* opaque_inner();

  // A matmul with packed B and an elementwise epilogue is cache-blocked:
  // groups of row blocks share each block of B (kColumnBlock columns by
  // kMatmulKBlock rows, packed: 128 KiB, within L2) while it is in the
  // cache, instead of each row block streaming all of B from memory. The
  // epilogue then runs over that column block of the group's rows.
  bool blocked_matmul() const { return k_.packed_b_step >= 0 && k_.row_block > 1 && k_.passes == 1; }

  void emit_blocked_matmul(Value* begin, Value* end);

  // Where map `m` starts at each of `rows` (the row offsets are left set for the last one).
  std::vector<Value*> offsets_at_rows(const IndexMap& m, const std::vector<Value*>& rows);

  // sums[i][j0, j1) += A[row i][k_begin, k_end) B[k_begin, k_end)[j0, j1), summed in
  // float (emit_matmul.cpp); A's rows start at a_rows, B's at b_row (unless packed).
  void accumulate_tile(const Step& step, const std::vector<Value*>& a_rows, Value* b_row, const std::vector<Value*>& row_sums, Value* j0, Value* j1,
                       Value* k_begin, Value* k_end);

  // A block of matmul rows: their sums first, sharing each load of B, then
  // each row's epilogue. The last block repeats its last row where rows run
  // out (the same values written twice by the same thread).
  void emit_row_block(Value* block);

  // body(k_begin, k_end) for each block of kMatmulKBlock k of the matmul `step` (the last one partial).
  void for_each_k_block(const Step& step, const std::function<void(Value* k_begin, Value* k_end)>& body);

  // A's rows `a_rows` over [k_begin, k_end) (at most kMatmulKBlock), copied
  // into a block of floats (row i at i * kMatmulKBlock) when A is
  // transposed, so that the k loops broadcast each from contiguous memory.
  Value* copy_rows_of_a(const IndexMap& a, const std::vector<Value*>& a_rows, Value* k_begin, Value* k_end);

  // The vector B[k][j..j+lanes) of a packed B (panels of `lanes` columns), j a multiple of the lanes.
  Value* load_packed_b(const Step& step, Value* j, Value* k);

  // The rows of row block `block`; the last block repeats its last row where
  // rows run out (the same values written twice by the same thread).
  std::vector<Value*> rows_of_block(Value* block);
  Value* row_of_block(Value* block, Value* i);

  // body(i, row) for each row of the block, in a loop: the epilogue is
  // emitted once, not once per row (bench compile/matmul_gelu_kernel, blocks
  // of 6 rows: 76 -> 50 ms; the MLP's kernels ~110 and ~95 -> ~60 and ~46 ms).
  void for_each_row_of_block(Value* block, const std::function<void(Value* i, Value* row)>& body);

  void emit_row(Value* row, bool compute_matmul = true);
  void store_row_outputs();  // the row-level values the kernel stores, at the current row
  using Alongside = std::function<void(Value* j, Value* mask, int slot)>;  // see inner_loop
  // Passes [0, passes) over the current row; alongside_last runs in the last one's loop.
  void row_passes(Value* inner, int passes, const Alongside& alongside_last = nullptr);

  // Row kernels with two rows in flight (emit_rows.cpp): row r's last pass
  // with reductions and row r - 1's final pass share one loop over the inner
  // dim, with row values, offsets and row cache (alternating) for both rows.
  bool interleaves_rows() const;
  void emit_rows_interleaved(Value* begin, Value* end);
  // Kernels of long row reductions alone read kRowsInFlight rows in one loop (emit_rows.cpp).
  bool reduces_rows_in_groups() const;
  void emit_row_groups(Value* begin, Value* end);
  static constexpr int kRowsInFlight = 4;
  // Reductions over a dim that is not the contiguous one (column sums) take a
  // vector of outputs at a time, one per lane (emit_columns.cpp; reduces_columns in emit.h).
  void emit_column_reductions(Value* begin, Value* end);
  Value* load_column(const IndexMap& m, Value* i, Value* mask);  // the block's elements at reduced index i
  bool reducing_columns_ = false;  // then body(i, ...) loads through load_column, and row loads too
  Value* column_mask_ = nullptr;   // the current vector of outputs' mask (null: whole)
  void finish_columns(int pass);  // pass `pass`'s accumulators' lanes into row values, one output each
  static constexpr int64_t kColumnChunk = 1024;  // outputs whose accumulators stay in L1 while rows stream by
  static constexpr int64_t kColumnPrefetchBytes = 16 << 10;
  static constexpr int64_t kMinGroupedRow = 1024;  // shorter rows are one stream anyway

  // Whether a pass over the row accumulates or stores anything: a kernel
  // of row reductions only has nothing left for its final pass.
  bool pass_has_work(int pass) const;

  // Row values whose inputs are ready: loads at the row's start, constants, computations.
  void compute_row_steps();

  Value* constant_vector(const Step& step);

  Value* load_scalar(const IndexMap& m);

  // ---- the inner loop ----
  // multiple_of: what the length of [from, to) is known to be a multiple of.
  // alongside(j, mask, slot), when given, is emitted after the pass's body for each vector, in the
  // same loop (that of its math, when the pass reduces cached values in a second; not pipelined).
  void inner_loop(Value* from, Value* to, int pass, int64_t multiple_of = 1, const Alongside& alongside = nullptr);
  void reset_accumulators(int pass);  // to the identities of pass `pass`'s reductions

  // How a loop takes several vectors per trip: side by side (j, j + lanes,
  // ...), one stream (more streams: emit_row_groups).
  // multiple_of: what the range's length is known to be a multiple of
  // (1: nothing known). A range of whole vectors gets no masked tail, one of
  // whole trips no remainder loop either.
  struct Unroll {
    int vectors = 1;
    int64_t multiple_of = 1;
  };

  // Vectors per trip of pass `pass`'s loop: kMaxUnroll (two) when it
  // accumulates a reduction, so that it keeps two independent accumulator
  // chains (the adds' latency, not memory, bounds a single chain: softmax's
  // exp-and-sum pass runs 1.3x faster so), and in kernels without transcendental math,
  // whose short bodies halve their loop overhead. Other long math bodies
  // stay single: two of them at once spill registers (GELU runs slower).
  Unroll unroll(int pass) const;
  // What a range over the inner dim, or over a column block of it, is known
  // to be a multiple of: the row length's common divisor with the block width.
  int64_t inner_multiple() const { return std::gcd(k_.inner(), kColumnBlock); }

  // One vector of elements starting at inner index j (all lanes, or
  // `mask`'s), accumulating reductions into accumulator `slot`: all of the
  // pass's work, or only its computation of values the row caches, or only
  // its reductions of such values, read back from the row cache.
  // With `deferred`, the body's stores (outputs, the row cache) are not
  // emitted but handed over, each a value and how to write it at an index:
  // a software-pipelined loop stores them in its last stage.
  struct DeferredStore {
    Value* value;
    std::function<void(Value* j, Value* v)> write;
  };
  enum class Part { all, compute, reduce };
  void body(Value* j, Value* mask, int pass, int slot, Part part, std::vector<DeferredStore>* deferred = nullptr);

  // Whether the loop of `part` of pass `pass` runs software-pipelined
  // (pipeline.h): a loop that only computes and stores (no reductions),
  // with transcendental math (GELU: 53 -> 43 us per 64K floats in cache).
  // pipeline_stages then refuses bodies that branch (exp's cold path).
  bool may_pipeline(int pass, Part part) const;
  static constexpr int64_t kTripsPerFillTrip = 8;
  void pipelined_loop(Value* from, Value* to, int pass, Part part, int64_t multiple_of);

  // Whether pass `pass` runs as two loops over the row: one computing the
  // long math (one vector per trip) into the row cache, then one reducing
  // the cached values (two per trip, from L1). In one loop, the math and
  // the double accumulators spill registers, and each spilled accumulator
  // chains through memory (softmax on 64K floats in cache: 64 -> 60 us).
  bool reduces_cached_values(int pass) const;
  bool has_long_chains() const;  // transcendental math anywhere in the kernel

  // The matmul rows `rows` into `row_sums_` (one double per output column
  // and row), a block of k at a time (accumulate_tile: the rows' float sums
  // for a tile of vectors of columns stay in registers over the block, each
  // k adding A's element (splat) times B's row-k vectors, loaded once for
  // all rows; then added to the double sums). The epilogue loop then reads
  // a row's sums as the matmul's value.
  void matmul_rows(const Step& step, const std::vector<Value*>& rows, Value* inner);
  // matmul_rows when B is transposed (its columns run along k): dot products.
  void dot_products(const Step& step, const std::vector<Value*>& rows, Value* inner);
  // A vector whose lane q is the sum of vectors[q]'s lanes (as many vectors as lanes).
  Value* sum_each_vector(std::vector<Value*> vectors);

  Value* load_floats(Value* p, Value* mask);
  void store_floats(Value* v, Value* p, Value* mask);

  // Element values that several passes over a row need (softmax's exp(x - max)
  // in its sum pass and its output pass) are computed once, in the first, and
  // kept in a row buffer (stack or scratch) for the later ones; two buffers
  // per value when two rows are in flight (interleaves_rows).
  void plan_row_cache();

  Value* load_doubles(Value* p, Value* mask);
  void store_doubles(Value* v, Value* p, Value* mask);

  // for (j = from; j < to; j += lanes) body(j, nullptr, 0), then one masked
  // tail. With unroll.vectors > 1, a first loop takes that many vectors per
  // trip, the u-th with slot u, and what is left (less than a trip) runs
  // masked, vector by vector: one copy of the body less to compile than a
  // loop of whole vectors and a tail. unroll.multiple_of drops the tail for
  // ranges of whole vectors, and what is left for ranges of whole trips.
  template <typename Body>
  void vector_loop(Value* from, Value* to, Body body, Unroll unroll = {}) {
    Value* position = create_entry_alloca(b_.getInt64Ty());
    b_.CreateStore(from, position);
    if (unroll.vectors > 1) {
      counted_loop(from, to, lanes_ * unroll.vectors, [&](Value* j) {
        const bool outer_trip = std::exchange(in_unrolled_trip_, true);
        for (int u = 0; u < unroll.vectors; ++u) body(u == 0 ? j : b_.CreateAdd(j, b_.getInt64(u * lanes_)), nullptr, u);
        in_unrolled_trip_ = outer_trip;
        b_.CreateStore(b_.CreateAdd(j, b_.getInt64(lanes_ * unroll.vectors)), position);
      });
      from = b_.CreateLoad(b_.getInt64Ty(), position);
    }
    if (unroll.vectors > 1) {
      if (unroll.multiple_of % (lanes_ * unroll.vectors) == 0) return;
      if (unroll.multiple_of % lanes_ == 0) return counted_loop(from, to, lanes_, [&](Value* j) { body(j, nullptr, 0); });
      counted_loop(from, to, lanes_, [&](Value* j) { body(j, lane_mask(j, to), 0); }, /*whole_steps=*/false);
      return;
    }
    counted_loop(from, to, lanes_, [&](Value* j) {
      body(j, nullptr, 0);
      b_.CreateStore(b_.CreateAdd(j, b_.getInt64(lanes_)), position);
    });
    if (unroll.multiple_of % lanes_ != 0) masked_tail(b_.CreateLoad(b_.getInt64Ty(), position), to, body);
  }

  // Lane l is in when j + l < to (i32 lanes, one compare; to - j clamped to a vector).
  Value* lane_mask(Value* j, Value* to) {
    Value* remaining = b_.CreateSub(to, j);
    remaining = b_.CreateSelect(b_.CreateICmpSLT(remaining, b_.getInt64(lanes_)), remaining, b_.getInt64(lanes_));
    return b_.CreateICmpSLT(lane_ids(b_.getInt32Ty()), splat(b_.CreateTrunc(remaining, b_.getInt32Ty())));
  }

  // body(j, mask, 0) for the elements of [j, to) when j < to (fewer than a vector).
  template <typename Body>
  void masked_tail(Value* j, Value* to, Body body) {
    auto* tail = llvm::BasicBlock::Create(ctx_, "tail", fn_);
    auto* after = llvm::BasicBlock::Create(ctx_, "tail.done", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(j, to), tail, after);
    b_.SetInsertPoint(tail);
    body(j, lane_mask(j, to), 0);
    b_.CreateBr(after);
    b_.SetInsertPoint(after);
  }

  Value* element_pointers(const IndexMap& m, Value* j, int64_t stride);

  Value* load_vector(const IndexMap& m, Value* j, Value* mask);

  // Whether a load moves on from row to row (a stream worth prefetching),
  // not a vector every row reads again (a bias, layer norm's gamma).
  bool streams(const IndexMap& m) const;

  // Streams are fetched this far ahead (a few KiB), so that loads hit the
  // cache while long math chains fill the reorder buffer. A prefetch past
  // the end of a buffer is harmless: it never faults.
  static constexpr int64_t kPrefetchElements = 1024;
  enum class Access { read, write };
  void prefetch(Value* p, Access access = Access::read);
  bool software_prefetch_ = true;  // off in a matmul's loops over B (emit_matmul.cpp)

  void store_vector(const IndexMap& m, Value* v, Value* j, Value* mask, bool through_cache = false);

  // Outputs too large to stay in the caches (kStreamingStoreBytes) are
  // written with non-temporal stores: no read of each line before it is
  // written (a third less memory traffic for a one-in, one-out kernel), and
  // no eviction of the inputs. They need whole vectors at aligned addresses:
  // every row starts aligned when the row strides are whole vectors, and the
  // kernel checks its first address once (streaming_stores_ok_); a kernel
  // called on unaligned memory or an unaligned range stores through the
  // cache. Masked tails always do.
  // Values out of long math (GELU, an element-wise exp) and row kernels'
  // outputs (softmax, layer norm) go through the cache all the same: on Zen
  // 5 streaming stores stall such loops (measurements in emit_memory.cpp).
  static constexpr int64_t kStreamingStoreBytes = int64_t{8} << 20;
  bool computes_long_math(int step, int pass) const;
  // Whether stored value `step` goes through the cache whatever its size:
  // it comes out of long math, or out of a row kernel's last pass.
  bool stores_through_cache(int step) const;
  bool streams_out(const IndexMap& m) const;
  void check_streaming_stores();
  void store_streaming(Value* v, Value* p);
  Value* streaming_stores_ok_ = nullptr;  // i1, null when no store streams

  // ---- reductions ----
  Value* identity(const Step& s);

  // NaN-propagating max/min, as the reference (x86 has no instruction for
  // llvm.maximum in LLVM 16): a if it is NaN, else a > b ? a : b (MAXPS, b
  // when either is NaN, and on ties, as the reference's elementwise ops).
  // Only the last two depend on b: accumulated as extremum(x, acc) (within
  // a lane, ties keep the accumulator, as the reference's reductions; which
  // zero a row's max is across lanes is unspecified).
  Value* extremum(Op op, Value* a, Value* b);
  // a > b ? a : b for max (< for min) alone: MAXPS's rule, b when either is NaN.
  Value* ordered_extremum(Op op, Value* a, Value* b);
  // The accumulator's step of a row max (min): MAXPS (MINPS) of x and acc,
  // called by its intrinsic, acc when either is NaN. NaN is not blended in
  // on the chain: each accumulator has a NaN witness beside it, the
  // unsigned max of |x|'s bit patterns, above +Inf's exactly when a NaN was
  // seen; finish_reductions turns it into the row's result. From the two
  // selects of extremum(), LLVM 16 builds, with AVX-512, two compares into
  // mask registers, an OR and a masked move on the chain; with the blend of
  // a NaN test, one compare into a mask and a masked move, which issue
  // less often than integer ops. A row max over 1024 floats in cache: 3.1
  // us (selects) -> 1.5 us (blend); softmax's kernel 13.1 -> 12.2 cycles a
  // vector with the witness (Zen 5).
  Value* accumulated_extremum(Op op, Value* x, Value* acc);
  llvm::VectorType* witness_type();
  Value* magnitude_bits(Value* x);  // as witness_type(), sign cleared
  static bool is_extremum(Op op) { return op == Op::max || op == Op::min; }

  // Knuth's TwoSum: {a + b rounded, its rounding error}, exact whatever
  // the magnitudes' order, without a compare (the reference's Neumaier step
  // orders them; the error is the same), unless a step overflows near
  // DBL_MAX, which lanes of float32 sums (at most n * FLT_MAX, ~2^191)
  // never reach. Used to add the lanes of a sum: 6 adds instead of 11
  // instructions, and softmax's kernel takes 10% fewer instructions to
  // compile (callgrind).
  std::pair<Value*, Value*> two_sum(Value* a, Value* b);

  // Adds vector x (lanes `mask`) into accumulator `unrolled` of reduce step `step`.
  void accumulate(const Step& s, size_t step, Value* x, Value* mask, int unrolled);

  // Whether sum or mean `s` adds the vectors of an unrolled trip in pairs,
  // in float, before converting them to double: its terms are never
  // negative (see accumulate), and pairs are allowed (not in a rerun).
  bool sums_in_pairs(const Step& s) const;
  // A mean in pairs is +Inf where a pair's sum overflowed float (reached
  // 2^128 - 2^103) though the mean itself is finite: then, on a cold
  // branch, pass `pass` runs again (from `from` to `to`) without pairs.
  // Passes with reductions store no outputs (only the last pass does, and
  // it has none) and rewrite the row cache with the same values, so running
  // one twice changes nothing else (nor the previous row's final pass, not rerun).
  void rerun_if_pairs_overflowed(Value* from, Value* to, int pass, int64_t multiple_of);
  // Whether sum or mean `s` adds float32 values that are never negative
  // (exp, sigmoid, abs, relu, sqrt, squares): its lanes cannot cancel.
  bool sums_never_negative(const Step& s) const;

  void finish_reductions(int pass);

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
      case Op::pow: {
        const Step& exponent = k_.steps[step.args[1]];
        if (exponent.kind == StepKind::constant)
          if (Value* power = emit_float_pow_by_constant(b_, a[0], exponent.constant)) return power;
        return b_.CreateFPTrunc(emit_double_pow(b_, b_.CreateFPExt(a[0], f64), b_.CreateFPExt(a[1], f64)), f32);
      }
      case Op::add: return b_.CreateFAdd(a[0], a[1]);
      case Op::sub: return b_.CreateFSub(a[0], a[1]);
      case Op::mul: return b_.CreateFMul(a[0], a[1]);
      // Divided even by a row value (softmax's sum): DIVPS is correctly rounded
      // and, on Zen 3, faster than a hoisted reciprocal in double times the
      // widened element (softmax [256,1024]: 0.160 -> 0.145 ms, median of 8).
      case Op::div: return b_.CreateFDiv(a[0], a[1]);
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
  std::map<size_t, std::vector<Value*>> nan_witnesses_;  // per max/min reduce step, beside its accumulators
  bool in_unrolled_trip_ = false;         // emitting a trip's vectors (slots 0, 1, ...), not a remainder's
  std::map<size_t, Value*> unpaired_;     // per sum in pairs: the trip's even slot's vector, for the odd slot
  bool pairs_allowed_ = true;             // false while a pass runs again unpaired
  Value* row_sums_ = nullptr;      // the sums of a block of matmul rows
  Value* current_sums_ = nullptr;  // the row of sums the epilogue reads
  struct CachedRow {
    int first_pass;
    Value* buffer;                        // the current row's
    Value* buffers[2] = {nullptr, nullptr};  // rows with two in flight: even and odd rows' buffers
  };
  std::map<int, CachedRow> row_cache_;
  static constexpr int64_t kMaxCachedRow = 1 << 14;  // floats per cached value: 64 KiB (in scratch beyond 16 KiB), twice with rows in flight
  static constexpr int64_t kMatmulKBlock = 256;      // rows of B per block: 256 pages at most, within the TLB
  static constexpr int64_t kColumnBlock = 128;       // columns of B per cache block (a multiple of every lane count)
  static constexpr int64_t kBlocksPerGroup = 8;      // row blocks sharing each block of B
  std::map<size_t, Value*> row_values_;
  std::vector<bool> ready_;
};

}  // namespace tj::llvm_backend
