// The Emitter's reductions (emitter.h): accumulators per unrolled vector
// (float sums in double lanes, max and min with their NaN witnesses), and
// the end of a row's pass, which folds the accumulators and their lanes
// into the row's value.
#include "codegen/llvm/emitter.h"

#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/MDBuilder.h>

namespace tj::llvm_backend {

Value* Emitter::identity(const Step& s) {
  auto* type = accumulator_type(s);
  if (s.op == Op::max) return splat_f(type, -INFINITY);
  if (s.op == Op::min) return splat_f(type, INFINITY);
  return splat_f(type, 0.0);
}

Value* Emitter::ordered_extremum(Op op, Value* a, Value* b) {
  return b_.CreateSelect(op == Op::max ? b_.CreateFCmpOGT(a, b) : b_.CreateFCmpOLT(a, b), a, b);  // b when either is NaN
}

Value* Emitter::extremum(Op op, Value* a, Value* b) { return b_.CreateSelect(b_.CreateFCmpUNO(a, a), a, ordered_extremum(op, a, b)); }

Value* Emitter::accumulated_extremum(Op op, Value* x, Value* acc) {
  // {vector bits, float (not double), max (not min)} -> MAXPS/MINPS/MAXPD/MINPD.
  static const std::map<std::tuple<unsigned, bool, bool>, llvm::Intrinsic::ID> kInstructions = {
      {{512, true, true}, llvm::Intrinsic::x86_avx512_max_ps_512}, {{512, true, false}, llvm::Intrinsic::x86_avx512_min_ps_512},
      {{512, false, true}, llvm::Intrinsic::x86_avx512_max_pd_512}, {{512, false, false}, llvm::Intrinsic::x86_avx512_min_pd_512},
      {{256, true, true}, llvm::Intrinsic::x86_avx_max_ps_256},     {{256, true, false}, llvm::Intrinsic::x86_avx_min_ps_256},
      {{256, false, true}, llvm::Intrinsic::x86_avx_max_pd_256},    {{256, false, false}, llvm::Intrinsic::x86_avx_min_pd_256}};
  auto* type = llvm::cast<llvm::FixedVectorType>(x->getType());
  const unsigned bits = type->getPrimitiveSizeInBits().getFixedValue();
  const auto found = kInstructions.find({bits, type->getElementType()->isFloatTy(), op == Op::max});
  if (found == kInstructions.end()) return extremum(op, x, acc);
  std::vector<Value*> args = {x, acc};
  if (bits == 512) args.push_back(b_.getInt32(4));  // the current rounding mode
  return b_.CreateIntrinsic(found->second, {}, args);
}

llvm::VectorType* Emitter::witness_type() { return llvm::FixedVectorType::get(b_.getInt32Ty(), lanes_); }

Value* Emitter::magnitude_bits(Value* x) {
  return b_.CreateAnd(b_.CreateBitCast(x, witness_type()), llvm::ConstantInt::get(witness_type(), 0x7fffffff));
}

std::pair<Value*, Value*> Emitter::two_sum(Value* a, Value* b) {
  Value* sum = b_.CreateFAdd(a, b);
  Value* b_part = b_.CreateFSub(sum, a);
  Value* a_part = b_.CreateFSub(sum, b_part);
  return {sum, b_.CreateFAdd(b_.CreateFSub(a, a_part), b_.CreateFSub(b, b_part))};
}

void Emitter::accumulate(const Step& s, size_t step, Value* x, Value* mask, int unrolled) {
  auto* type = accumulator_type(s);
  Value* slot = accumulators_.at(step).at(unrolled);
  Value* acc = b_.CreateLoad(type, slot);
  if (is_extremum(s.op)) {
    if (mask) x = b_.CreateSelect(mask, x, identity(s));
    b_.CreateStore(accumulated_extremum(s.op, x, acc), slot);
    Value* witness_slot = nan_witnesses_.at(step).at(unrolled);
    Value* witness = b_.CreateLoad(witness_type(), witness_slot);
    b_.CreateStore(b_.CreateBinaryIntrinsic(llvm::Intrinsic::umax, witness, magnitude_bits(x)), witness_slot);
    return;
  }
  // Float sums accumulate in double lanes (each lane's rounding error is
  // ~n * 2^-53 of the sum of magnitudes, far below float32's); the lanes are
  // then added with compensation where they may cancel. The reference
  // compensates every step, so only sums that cancel values 2^29 times
  // larger than the result differ.
  //
  // Converting to double bounds a sum's loop (one 8-lane vcvtps2pd per
  // cycle on Zen 5: a sixth of softmax's row). Sums in pairs convert half
  // as often: a trip's two vectors are added in float first. Each pair's
  // rounding is at most 2^-24 of the pair (none where it is subnormal), and
  // the pairs are never negative, so the total is within 2^-24 of itself,
  // relative, before its rounding to float: 1 ulp of the float result at
  // most, where values of both signs could cancel to a result far smaller
  // than the rounding. A pair that overflows float makes an infinite sum,
  // as the total would round to anyway; a mean's may be finite, and then
  // its pass runs again unpaired (rerun_if_pairs_overflowed).
  if (sums_in_pairs(s) && in_unrolled_trip_ && !mask) {
    if (unrolled % 2 == 0) {
      unpaired_[step] = x;
      return;
    }
    x = b_.CreateFAdd(unpaired_.at(step), x);
  }
  x = b_.CreateFPExt(x, type);
  if (mask) x = b_.CreateSelect(mask, x, identity(s));
  b_.CreateStore(b_.CreateFAdd(acc, x), slot);
}

namespace {
// Ops whose float results are never negative, NaN aside (and squares, x * x).
const std::set<Op> kNeverNegative = {Op::exp, Op::sigmoid, Op::abs, Op::relu, Op::sqrt};
}  // namespace

bool Emitter::sums_never_negative(const Step& s) const {
  if (s.op != Op::sum && s.op != Op::mean) return false;
  const Step& operand = k_.steps[s.args[0]];
  if (operand.kind != StepKind::compute || operand.dtype != DType::f32) return false;
  const bool square = operand.op == Op::mul && operand.args.size() == 2 && operand.args[0] == operand.args[1];
  return square || kNeverNegative.contains(operand.op);
}

bool Emitter::sums_in_pairs(const Step& s) const {
  static_assert(kMaxUnroll % 2 == 0, "a trip's vectors pair up");
  return pairs_allowed_ && sums_never_negative(s);
}

void Emitter::rerun_if_pairs_overflowed(Value* from, Value* to, int pass, int64_t multiple_of) {
  Value* overflowed = nullptr;
  for (const auto& [s, slots] : accumulators_) {
    const Step& step = k_.steps[s];
    if (step.pass != pass || step.op != Op::mean || !sums_in_pairs(step)) continue;
    Value* mean = b_.CreateExtractElement(b_.CreateLoad(vector_of(DType::f32), row_values_.at(s)), uint64_t{0});
    Value* infinite = b_.CreateFCmpOEQ(mean, llvm::ConstantFP::getInfinity(b_.getFloatTy()));
    overflowed = overflowed ? b_.CreateOr(overflowed, infinite) : infinite;
  }
  if (!overflowed) return;
  auto* rerun = llvm::BasicBlock::Create(ctx_, "pairs.rerun", fn_);
  auto* done = llvm::BasicBlock::Create(ctx_, "pairs.done", fn_);
  b_.CreateCondBr(overflowed, rerun, done, llvm::MDBuilder(ctx_).createBranchWeights(1, 1000));
  b_.SetInsertPoint(rerun);
  const bool paired = std::exchange(pairs_allowed_, false);
  inner_loop(from, to, pass, multiple_of);
  pairs_allowed_ = paired;
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

void Emitter::finish_reductions(int pass) {
  for (auto& [s, slots] : accumulators_) {
    const Step& step = k_.steps[s];
    if (step.pass != pass) continue;
    Value* acc = b_.CreateLoad(accumulator_type(step), slots[0]);
    for (size_t u = 1; u < slots.size(); ++u) {
      Value* more = b_.CreateLoad(accumulator_type(step), slots[u]);
      acc = is_extremum(step.op) ? ordered_extremum(step.op, acc, more) : b_.CreateFAdd(acc, more);
    }
    // The lanes fold in halves (8 -> 4 -> 2 -> 1): a chain log2(lanes) steps
    // deep instead of lanes - 1, which every row waits for before its next pass.
    // The last halves are scalars: legal types at every step, cheaper to
    // compile than <1 x double>.
    auto halves = [&](Value* v, int width) {
      if (width == 1) return std::pair{b_.CreateExtractElement(v, uint64_t{0}), b_.CreateExtractElement(v, uint64_t{1})};
      std::vector<int> low(width), high(width);
      for (int i = 0; i < width; ++i) low[i] = i, high[i] = width + i;
      return std::pair{b_.CreateShuffleVector(v, low), b_.CreateShuffleVector(v, high)};
    };
    // Max and min accumulators hold no NaN (a NaN seen is in the witness),
    // so they fold by MAXPS's rule alone: softmax's kernel in cache, 32 x
    // 1024: median 12.17 -> 11.80 cycles a vector (16 alternating runs).
    // Sums of values never negative fold with plain adds: their double
    // lanes cannot cancel, and the fold's error (4 roundings of 2^-53 at
    // most) is 2^-27 of a float ulp; in cache, softmax's kernel: 12.51 ->
    // 12.17, layer norm's (its variance, 32 x 768) 11.30 -> 10.92 (12-16
    // alternating runs). Other sums fold with compensation.
    const bool extremum_fold = is_extremum(step.op), plain_sum = sums_never_negative(step);
    Value* compensation = nullptr;  // the rounding errors of the steps so far
    for (int width = lanes_ / 2; width >= 1; width /= 2) {
      auto [low, high] = halves(acc, width);
      if (extremum_fold || plain_sum) {
        acc = extremum_fold ? ordered_extremum(step.op, low, high) : b_.CreateFAdd(low, high);
        continue;
      }
      auto [sum, error] = two_sum(low, high);
      if (compensation) {
        auto [compensation_low, compensation_high] = halves(compensation, width);
        error = b_.CreateFAdd(b_.CreateFAdd(compensation_low, compensation_high), error);
      }
      acc = sum;
      compensation = error;
    }
    Value* total = acc;
    if (is_extremum(step.op)) {  // a NaN seen: the row's result is one of its NaNs (|NaN|, the largest payload)
      const std::vector<Value*>& witnesses = nan_witnesses_.at(s);
      Value* witness = b_.CreateLoad(witness_type(), witnesses[0]);
      for (size_t u = 1; u < witnesses.size(); ++u)
        witness = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umax, witness, b_.CreateLoad(witness_type(), witnesses[u]));
      witness = b_.CreateUnaryIntrinsic(llvm::Intrinsic::vector_reduce_umax, witness);
      total = b_.CreateSelect(b_.CreateICmpUGT(witness, b_.getInt32(0x7f800000)), b_.CreateBitCast(witness, b_.getFloatTy()), total);
    }
    // A sum that overflowed on the way is not finite at the end either:
    // its compensation (NaN from then on) is not added.
    if (compensation) {
      Value* finite = b_.CreateFCmpOLT(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, total), llvm::ConstantFP::getInfinity(total->getType()));
      total = b_.CreateSelect(finite, b_.CreateFAdd(total, compensation), total);
    }
    if (step.op == Op::mean) total = b_.CreateFDiv(total, llvm::ConstantFP::get(b_.getDoubleTy(), static_cast<double>(k_.inner())));
    if (total->getType() != b_.getFloatTy()) total = b_.CreateFPTrunc(total, b_.getFloatTy());
    b_.CreateStore(splat(total), row_values_.at(s));
    ready_[s] = true;
  }
}

}  // namespace tj::llvm_backend
