// The algorithms behind emit_math.h, as IR: range reductions and
// polynomials, in double for the double functions (truncation error far
// below float32's half ulp) and in float for the float ones (accuracy
// measured and noted per function).
#include "codegen/llvm/emit_math.h"

#include <cmath>
#include <vector>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

namespace tj::llvm_backend {

namespace {

using llvm::Value;

Value* splat(llvm::IRBuilder<>&, Value* like, double c) { return llvm::ConstantFP::get(like->getType(), c); }

Value* horner(llvm::IRBuilder<>& b, Value* x, const std::vector<double>& coefficients) {  // highest degree first
  Value* acc = splat(b, x, coefficients.front());
  for (size_t i = 1; i < coefficients.size(); ++i)
    acc = b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {acc, x, splat(b, x, coefficients[i])});
  return acc;
}

Value* unary(llvm::IRBuilder<>& b, llvm::Intrinsic::ID id, Value* x) { return b.CreateUnaryIntrinsic(id, x); }

// 2^n for integer-valued n in the normal exponent range of n's type
// (doubles: [-1022, 1023], floats: [-126, 127]), built from exponent bits.
Value* pow2(llvm::IRBuilder<>& b, Value* n) {
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(n->getType()));
  const bool is_double = n->getType()->getScalarType()->isDoubleTy();
  Value* e = b.CreateFPToSI(n, ints);
  e = b.CreateAdd(e, llvm::ConstantInt::get(ints, is_double ? 1023 : 127));
  return b.CreateBitCast(b.CreateShl(e, llvm::ConstantInt::get(ints, is_double ? 52 : 23)), n->getType());
}

// exp: n = round(x / ln2), r = x - n ln2 (two-part ln2, |r| <= 0.347),
// e^r by its Taylor series to r^13/13! (truncation < 2e-17), scaled by
// 2^n in two steps so that results down to the smallest denormal are exact
// scalings rounded once.
Value* exp_d(llvm::IRBuilder<>& b, Value* x) {
  Value* clamped = b.CreateIntrinsic(llvm::Intrinsic::maxnum, {x->getType()}, {x, splat(b, x, -746.0)});
  clamped = b.CreateIntrinsic(llvm::Intrinsic::minnum, {x->getType()}, {clamped, splat(b, x, 710.0)});
  Value* n = unary(b, llvm::Intrinsic::rint, b.CreateFMul(clamped, splat(b, x, 1.4426950408889634)));
  constexpr double kLn2Hi = 0.6931471803691238, kLn2Lo = 1.9082149292705877e-10;
  Value* r = b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {n, splat(b, x, -kLn2Hi), clamped});
  r = b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {n, splat(b, x, -kLn2Lo), r});
  std::vector<double> taylor;
  for (int k = 13; k >= 0; --k) taylor.push_back(1.0 / std::tgamma(k + 1.0));
  Value* p = horner(b, r, taylor);
  Value* half = unary(b, llvm::Intrinsic::floor, b.CreateFMul(n, splat(b, x, 0.5)));
  Value* result = b.CreateFMul(b.CreateFMul(p, pow2(b, half)), pow2(b, b.CreateFSub(n, half)));
  Value* overflow = b.CreateFCmpOGT(x, splat(b, x, 709.782712893384));
  result = b.CreateSelect(overflow, splat(b, x, INFINITY), result);
  Value* underflow = b.CreateFCmpOLT(x, splat(b, x, -745.2));
  result = b.CreateSelect(underflow, splat(b, x, 0.0), result);
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, result);
}

// log: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(s),
// s = (m-1)/(m+1), |s| <= 0.172, by its series to s^19 (truncation < 1e-16).
Value* log_d(llvm::IRBuilder<>& b, Value* x) {
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(x->getType()));
  Value* bits = b.CreateBitCast(x, ints);
  Value* exponent = b.CreateSub(b.CreateAnd(b.CreateLShr(bits, 52), llvm::ConstantInt::get(ints, 0x7ff)), llvm::ConstantInt::get(ints, 1023));
  Value* mantissa_bits = b.CreateOr(b.CreateAnd(bits, llvm::ConstantInt::get(ints, 0x000fffffffffffffULL)),
                                    llvm::ConstantInt::get(ints, 0x3ff0000000000000ULL));
  Value* m = b.CreateBitCast(mantissa_bits, x->getType());
  Value* e = b.CreateSIToFP(exponent, x->getType());
  Value* big = b.CreateFCmpOGT(m, splat(b, x, M_SQRT2));
  m = b.CreateSelect(big, b.CreateFMul(m, splat(b, x, 0.5)), m);
  e = b.CreateSelect(big, b.CreateFAdd(e, splat(b, x, 1.0)), e);
  Value* s = b.CreateFDiv(b.CreateFSub(m, splat(b, x, 1.0)), b.CreateFAdd(m, splat(b, x, 1.0)));
  Value* z = b.CreateFMul(s, s);
  std::vector<double> series;
  for (int k = 19; k >= 1; k -= 2) series.push_back(2.0 / k);
  Value* log_m = b.CreateFMul(s, horner(b, z, series));
  Value* result = b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {e, splat(b, x, M_LN2), log_m});
  // Inputs come from float32: all finite positive ones are normal doubles.
  result = b.CreateSelect(b.CreateFCmpOEQ(x, splat(b, x, INFINITY)), x, result);
  result = b.CreateSelect(b.CreateFCmpOEQ(x, splat(b, x, 0.0)), splat(b, x, -INFINITY), result);
  return b.CreateSelect(b.CreateFCmpULT(x, splat(b, x, 0.0)), splat(b, x, NAN), result);  // x < 0 or NaN
}

// tanh: below 0.5 its odd Taylor series to x^19 (truncation < 1e-9
// relative); above, 1 - 2/(e^{2|x|} + 1), which loses no accuracy there.
Value* tanh_d(llvm::IRBuilder<>& b, Value* x) {
  Value* ax = unary(b, llvm::Intrinsic::fabs, x);
  const std::vector<double> series = {-443861162.0 / 1856156927625.0, 6404582.0 / 10854718875.0, -929569.0 / 638512875.0,
                                      21844.0 / 6081075.0, -1382.0 / 155925.0, 62.0 / 2835.0, -17.0 / 315.0, 2.0 / 15.0,
                                      -1.0 / 3.0, 1.0};
  Value* small = b.CreateFMul(ax, horner(b, b.CreateFMul(ax, ax), series));
  Value* e = exp_d(b, b.CreateFMul(ax, splat(b, x, 2.0)));
  Value* large = b.CreateFSub(splat(b, x, 1.0), b.CreateFDiv(splat(b, x, 2.0), b.CreateFAdd(e, splat(b, x, 1.0))));
  Value* t = b.CreateSelect(b.CreateFCmpOLT(ax, splat(b, x, 0.5)), small, large);
  return b.CreateIntrinsic(llvm::Intrinsic::copysign, {x->getType()}, {t, x});
}

Value* sigmoid_d(llvm::IRBuilder<>& b, Value* x) {
  return b.CreateFDiv(splat(b, x, 1.0), b.CreateFAdd(splat(b, x, 1.0), exp_d(b, b.CreateFNeg(x))));
}

// erf: below 3 its Maclaurin series, 2/sqrt(pi) sum (-1)^n x^(2n+1)/(n!(2n+1)),
// to n = 44 (truncation < 1e-15; cancellation costs at most 8 of double's
// 53 bits at 3); from 3, 1 - erfc by the asymptotic series to x^-8, whose
// error there (< 1e-8 absolute) is below float32's half ulp at 1.
Value* erf_d(llvm::IRBuilder<>& b, Value* x) {
  Value* ax = unary(b, llvm::Intrinsic::fabs, x);
  Value* z = b.CreateFMul(x, x);
  std::vector<double> series;
  double factorial = 1;
  std::vector<double> ascending;
  for (int n = 0; n <= 44; ++n) {
    if (n > 0) factorial *= n;
    ascending.push_back((n % 2 ? -1.0 : 1.0) * M_2_SQRTPI / (factorial * (2 * n + 1)));
  }
  series.assign(ascending.rbegin(), ascending.rend());
  Value* inner = b.CreateFMul(x, horner(b, z, series));
  Value* inv = b.CreateFDiv(splat(b, x, 1.0), z);
  Value* asymptotic = horner(b, inv, {105.0 / 16.0, -15.0 / 8.0, 3.0 / 4.0, -1.0 / 2.0, 1.0});
  Value* erfc = b.CreateFMul(b.CreateFDiv(exp_d(b, b.CreateFNeg(z)), b.CreateFMul(ax, splat(b, x, std::sqrt(M_PI)))), asymptotic);
  Value* outer = b.CreateIntrinsic(llvm::Intrinsic::copysign, {x->getType()}, {b.CreateFSub(splat(b, x, 1.0), erfc), x});
  return b.CreateSelect(b.CreateFCmpOLT(ax, splat(b, x, 3.0)), inner, outer);  // NaN: outer gives NaN
}

// pow: |x|^y = exp(y log|x|) in double. The product's error, |y log|x|| ulps
// of double (at most 745 of them where the result is a nonzero float), is
// 2^-42 relative: far below float32's half ulp, so the result rounds once
// like the reference's. The sign and the special cases follow C99 Annex F.
Value* pow_d(llvm::IRBuilder<>& b, Value* x, Value* y) {
  Value* ax = unary(b, llvm::Intrinsic::fabs, x);
  Value* magnitude = exp_d(b, b.CreateFMul(y, log_d(b, ax)));
  Value* integer = b.CreateFCmpOEQ(unary(b, llvm::Intrinsic::floor, y), y);  // +-Inf counts as an even integer
  Value* half = b.CreateFMul(y, splat(b, y, 0.5));
  Value* odd = b.CreateAnd(integer, b.CreateFCmpONE(unary(b, llvm::Intrinsic::floor, half), half));
  Value* result = b.CreateSelect(odd, b.CreateIntrinsic(llvm::Intrinsic::copysign, {x->getType()}, {magnitude, x}), magnitude);
  // A negative finite base to a finite non-integer power has no real value.
  Value* negative_finite = b.CreateAnd(b.CreateFCmpOLT(x, splat(b, x, 0.0)), b.CreateFCmpOGT(x, splat(b, x, -INFINITY)));
  Value* fraction = b.CreateFCmpONE(unary(b, llvm::Intrinsic::floor, y), y);
  result = b.CreateSelect(b.CreateAnd(negative_finite, b.CreateAnd(fraction, b.CreateFCmpOLT(unary(b, llvm::Intrinsic::fabs, y), splat(b, y, INFINITY)))),
                          splat(b, x, NAN), result);
  // pow(x, +-0) = pow(1, y) = pow(-1, +-Inf) = 1, NaN operands included;
  // the product above would be 0 * Inf or NaN there.
  Value* one = splat(b, x, 1.0);
  Value* unit = b.CreateOr(b.CreateFCmpOEQ(y, splat(b, y, 0.0)), b.CreateFCmpOEQ(x, one));
  unit = b.CreateOr(unit, b.CreateAnd(b.CreateFCmpOEQ(ax, one), b.CreateFCmpOEQ(unary(b, llvm::Intrinsic::fabs, y), splat(b, y, INFINITY))));
  return b.CreateSelect(unit, one, result);
}

// --- float32 math: short dependency chains, NaN carried by the data ---
//
// Clamps are written as x86's MAXPS/MINPS (c > v ? c : v), which return v
// when v is NaN, so NaN flows through the arithmetic to the result with no
// select. round(v) comes from adding 1.5 * 2^23 (the sum's low mantissa bits
// are the integer, valid for |v| < 2^22), which also hands 2^n over as
// integer bits without a float-to-int conversion.

constexpr double kRoundingMagic = 12582912.0;  // 1.5 * 2^23
constexpr uint32_t kRoundingMagicBits = 0x4b400000;
constexpr double kLog2e = 1.44269504088896341;
constexpr double kLn2Hi = 0.693359375, kLn2Lo = -2.12194440e-4;  // kLn2Hi has 9 significant bits: n * kLn2Hi is exact

Value* clamp_above(llvm::IRBuilder<>& b, Value* v, double high) {  // min(v, high), NaN kept
  Value* c = splat(b, v, high);
  return b.CreateSelect(b.CreateFCmpOLT(c, v), c, v);
}

// v = n ln2 + r with n = round(v / ln2), |r| <= 0.347, for |v| < 2^21
// (exp's lanes outside [-104, 89] are replaced by its cold branch).
// Returns {r, n as the rounded sum whose integer bits are n + kRoundingMagicBits}.
struct Reduced {
  Value* r;
  Value* rounded;
};
Reduced reduce_ln2(llvm::IRBuilder<>& b, Value* v) {
  auto* t = v->getType();
  Value* rounded = b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {v, splat(b, v, kLog2e), splat(b, v, kRoundingMagic)});
  Value* n = b.CreateFSub(rounded, splat(b, v, kRoundingMagic));
  Value* r = b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {n, splat(b, v, -kLn2Hi), v});
  r = b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {n, splat(b, v, -kLn2Lo), r});
  return {r, rounded};
}

// 2^(k + offset) as a float, k the integer vector, for k + offset in [-126, 127].
Value* pow2_of_int(llvm::IRBuilder<>& b, Value* k, int offset, llvm::Type* float_type) {
  auto* ints = k->getType();
  return b.CreateBitCast(b.CreateShl(b.CreateAdd(k, llvm::ConstantInt::get(ints, 127 + offset)), llvm::ConstantInt::get(ints, 23)), float_type);
}

// q(r) ~ (e^r - 1 - r) / r^2 on |r| <= ln2/2, degree 4, fitted (Lawson's
// iteration to the minimax) for the relative error of 1 + r + r^2 q(r)
// against e^r (0.06 ulp with these float coefficients; Taylor needs a
// degree more for as little), and for that of r + r^2 q(r) against
// expm1(r) (0.29 ulp). Highest degree first.
const std::vector<double> kExpTail = {0.0013814539415761828, 0.00836874544620514, 0.04166838899254799, 0.1666652113199234,
                                      0.4999999403953552};
const std::vector<double> kExpm1Tail = {0.0013882516650483012, 0.008366547524929047, 0.04166720062494278, 0.1666654348373413,
                                        0.4999999701976776};

// e^v = p 2^n for |v| <= 104: reduced by ln2, p = e^r = 1 + r (1 + r q(r))
// in [0.70, 1.42], and n as integer lanes. q by Horner's scheme, 4 FMAs
// where Estrin's takes 6 instructions: exp's loops are bound by the FMA
// ports, not by the chain's latency (they are not software-pipelined,
// pipeline.h); exp on 32K floats in cache 11.6 -> 10.4 us (min of 11).
// The last two steps are Horner's too, so that the sum with 1 rounds once.
struct ExpParts {
  Value* p;
  Value* n;
};
ExpParts exp_parts(llvm::IRBuilder<>& b, Value* v) {
  auto* t = v->getType();
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(t));
  const Reduced red = reduce_ln2(b, v);
  Value* q = horner(b, red.r, kExpTail);
  Value* inner = b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {red.r, q, splat(b, v, 1.0)});
  Value* p = b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {red.r, inner, splat(b, v, 1.0)});
  return {p, b.CreateSub(b.CreateBitCast(red.rounded, ints), llvm::ConstantInt::get(ints, kRoundingMagicBits))};
}

// exp in float. Where every lane has |x| <= 86.9 (n in [-125, 125], the
// results normal floats), p 2^n is p's exponent field plus n: one integer
// add, exact. Any other vector takes a cold branch that scales the same p
// in two halves (n = a + (n - a), a = n >> 1), so that results down to the
// smallest denormal are one exact scaling rounded once; valid for x in
// [-104, 89] (n in [-150, 128]), beyond which the result is +Inf (x > 89,
// +Inf too) or 0 (x < -104, -Inf too), and NaN stays NaN. The common path
// is the reduction, the polynomial and one add, tested on x itself (three
// instructions): with Horner's step above, exp on 32K floats in cache
// takes 10.0 us instead of 11.8 (min of 11; clamps and a test of n on the
// common path, Estrin's scheme). The cold branch reuses p and n rather than
// recomputing them from a clamped x: bit for bit the same results (exp
// over 20M floats: every 256th bit pattern, all of [86, 90] and [-106, -85],
// the specials), 13 IR instructions instead of 25.
Value* exp_f(llvm::IRBuilder<>& b, Value* x) {
  auto* t = x->getType();
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(t));
  auto int_splat = [&](int64_t v) { return llvm::ConstantInt::get(ints, static_cast<uint64_t>(v)); };
  Value* outside = b.CreateOrReduce(b.CreateFCmpUGT(unary(b, llvm::Intrinsic::fabs, x), splat(b, x, 86.9)));
  const ExpParts parts = exp_parts(b, x);
  Value* fast = b.CreateBitCast(b.CreateAdd(b.CreateBitCast(parts.p, ints), b.CreateShl(parts.n, int_splat(23))), t);
  llvm::BasicBlock* common_block = b.GetInsertBlock();
  llvm::LLVMContext& context = common_block->getContext();
  auto* slow_block = llvm::BasicBlock::Create(context, "exp.slow", common_block->getParent());
  auto* done = llvm::BasicBlock::Create(context, "exp.done", common_block->getParent());
  b.CreateCondBr(outside, slow_block, done, llvm::MDBuilder(context).createBranchWeights(1, 1000));
  b.SetInsertPoint(slow_block);
  Value* a = b.CreateAShr(parts.n, int_splat(1));
  Value* scaled = b.CreateFMul(b.CreateFMul(parts.p, pow2_of_int(b, a, 0, t)), pow2_of_int(b, b.CreateSub(parts.n, a), 0, t));
  Value* slow = b.CreateSelect(b.CreateFCmpOGT(x, splat(b, x, 89.0)), llvm::ConstantFP::getInfinity(t),
                               b.CreateSelect(b.CreateFCmpOLT(x, splat(b, x, -104.0)), llvm::ConstantFP::get(t, 0.0), scaled));
  b.CreateBr(done);
  b.SetInsertPoint(done);
  llvm::PHINode* result = b.CreatePHI(t, 2);
  result->addIncoming(fast, common_block);
  result->addIncoming(slow, slow_block);
  return result;
}

// tanh in float, one branch for every x: with m = expm1(-2|x|) in (-1, 0],
// tanh|x| = -m / (2 + m). expm1 of y = -2|x| clamped at -30 (where tanh is
// 1 in float): reduced by one FMA with float(ln2) (|n| <= 44 here, so n
// times ln2's rounding error, 2e-9 per unit of n, is far below what 2^n e^r
// can show), expm1(r) = r + r^2 q(r) (kExpm1Tail), then 2^n (1 + expm1(r))
// - 1 = 2^n expm1(r) + (2^n - 1), exact scalings, so small |x| keep their
// relative accuracy. The sign is x's, put back with an OR (the result is
// >= 0 or NaN).
//
// GELU's loop leans on the two FMA pipes (without q's five FMAs and
// multiplies it ran 23% faster on Zen 5), so the steps are arranged for
// few of them, 9 instead of 12:
// - the reduction works on h = |x| + n ln2/2 = -r/2, formed from |x| by
//   one FMA (float(ln2)/2 is exactly half of float(ln2), so h is exactly
//   -r/2 as rounded): no multiply for y = -2|x|. Then expm1(r) = -2 (h +
//   h^2 Q(h)) with Q(h) = -2 q(-2h), whose coefficients are q's times
//   powers of two (kExpm1TailOfHalf), and the factor -2 goes into 2^(n+1),
//   an integer add;
// - Q by Horner's scheme: 4 FMAs where Estrin's takes a multiply more;
// - the denominator 2 + m is 2 - (-m), an add.
// Every float in [-10, 10] against double libm: at most 2 ulps (mean 0.07),
// as before (0.06). In cache, 32 x 4096 floats: tanh 20.5 -> 18.7 us,
// GELU 32.3 -> 31.4 us (min of 4 interleaved runs each).
const std::vector<double> kExpm1TailOfHalf = [] {
  std::vector<double> scaled(kExpm1Tail.rbegin(), kExpm1Tail.rend());  // lowest degree first
  double factor = -2;                                                   // -2 (-2)^k for degree k
  for (double& c : scaled) c *= factor, factor *= -2;
  return std::vector<double>(scaled.rbegin(), scaled.rend());
}();

Value* tanh_f(llvm::IRBuilder<>& b, Value* x) {
  auto* t = x->getType();
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(t));
  auto fma = [&](Value* p, Value* q, Value* r) { return b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {p, q, r}); };
  // |x| clamped at 15 (y at -30); n = round(y / ln2) from |x| with the
  // product -2 log2e (as a float, exactly twice log2e's).
  Value* ax = clamp_above(b, unary(b, llvm::Intrinsic::fabs, x), 15.0);
  Value* rounded = fma(ax, splat(b, x, -2.0 * static_cast<float>(kLog2e)), splat(b, x, kRoundingMagic));
  Value* h = fma(b.CreateFSub(rounded, splat(b, x, kRoundingMagic)), splat(b, x, static_cast<float>(M_LN2) / 2), ax);
  Value* half_minus_em = fma(b.CreateFMul(h, h), horner(b, h, kExpm1TailOfHalf), h);  // -expm1(r) / 2
  Value* n = b.CreateSub(b.CreateBitCast(rounded, ints), llvm::ConstantInt::get(ints, kRoundingMagicBits));
  Value* scale = pow2_of_int(b, n, 0, t);
  Value* minus_m = fma(pow2_of_int(b, n, 1, t), half_minus_em, b.CreateFSub(splat(b, x, 1.0), scale));  // +0 at x = 0
  Value* magnitude = b.CreateFDiv(minus_m, b.CreateFSub(splat(b, x, 2.0), minus_m));
  Value* sign = b.CreateAnd(b.CreateBitCast(x, ints), llvm::ConstantInt::get(ints, 0x80000000u));
  return b.CreateBitCast(b.CreateOr(b.CreateBitCast(magnitude, ints), sign), t);
}

// erf in float, without a branch: two polynomials, both evaluated, one
// picked per lane (PyTorch's default GELU is x/2 (1 + erf(x/sqrt2)); the
// double series took 28 ns per 16 floats, this 2-3). Coefficients fitted
// by Lawson's iteration, highest degree first. Each result is an exact
// part plus a small correction, rounded once at the end:
// - |x| < 1: x + x R(x^2), R(t) = erf(sqrt t)/sqrt t - 1 of degree 6
//   (relative error 1.2e-9);
// - 1 <= |x| < 3.9375: 1 - Q(|x| - 2.46875), Q ~ erfc of degree 12 about
//   the interval's middle (absolute error 3e-8, no exp needed), and Q = 0
//   from 3.925 on, where erf rounds to 1 in float; the sign is x's.
// Every float in [-5, 5] against double libm: at most 1 ulp, 0.06 on
// average (with x P(x^2) and the polynomial of erf itself: 2 ulps, 0.64,
// enough for a row mean of erf values to drift 6 ulps from the reference's).
const std::vector<double> kErfNearZero = {7.853857834357048e-05, -0.0008010192681786182, 0.005188327595439607, -0.02685381189985475,
                                          0.1128358514821714,    -0.3761262582428021,    0.12837916572677255};
const std::vector<double> kErfcBeyondOne = {9.11464950431617e-06,    -2.4467689869603956e-05, -5.400698942624623e-05, 0.00029707718226226434,
                                            -0.00036768938597137285, -0.0004887729672981014,  0.0029345160516577027,  -0.006642783051640775,
                                            0.009610760830665317,    -0.009491506206026425,   0.0062821618900190035,  -0.0025440483990996805,
                                            0.00048057869708717504};
constexpr double kErfMiddle = 2.46875, kErfTop = 3.9375, kErfIsOne = 3.925;

Value* erf_f(llvm::IRBuilder<>& b, Value* x) {
  Value* ax = unary(b, llvm::Intrinsic::fabs, x);
  Value* r = horner(b, b.CreateFMul(x, x), kErfNearZero);
  Value* near_zero = b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {x, r, x});  // -0 stays -0
  Value* q = horner(b, b.CreateFSub(clamp_above(b, ax, kErfTop), splat(b, x, kErfMiddle)), kErfcBeyondOne);
  q = b.CreateSelect(b.CreateFCmpOGE(ax, splat(b, x, kErfIsOne)), splat(b, x, 0.0), q);  // +-Inf too
  Value* beyond_one = b.CreateIntrinsic(llvm::Intrinsic::copysign, {x->getType()}, {b.CreateFSub(splat(b, x, 1.0), q), x});
  return b.CreateSelect(b.CreateFCmpOLT(ax, splat(b, x, 1.0)), near_zero, beyond_one);  // NaN: beyond_one, NaN
}

// log in float: x = m 2^k with m in [sqrt(1/2), sqrt(2)) by integer steps
// on x's bits (denormals scaled by 2^23 first), f = m - 1 exactly, then
// log(1 + f) = f - f^2/2 + f^3 R(f), R of degree 7 (Lawson's fit, highest
// degree first), and k ln2 added in two parts (kLn2Hi's product is exact).
// The small terms are summed first, f and k ln2 last. Every 97th float
// from the smallest normal up (and all of [0.5, 2) every 3rd), simulated
// in numpy: at most 1 ulp. Every positive float through the JIT, denormals
// and +Inf included, against double libm: at most 1 ulp, mean 0.006.
const std::vector<double> kLogTail = {-0.07974114584964896, 0.12655657358868014, -0.12989292121572005, 0.14209951431602283,
                                      -0.1664158087659393,  0.20001200767167848, -0.250003039307218,   0.33333329944957163};

Value* log_f(llvm::IRBuilder<>& b, Value* x) {
  auto* t = x->getType();
  auto* ints = llvm::VectorType::getInteger(llvm::cast<llvm::VectorType>(t));
  auto int_splat = [&](int64_t v) { return llvm::ConstantInt::get(ints, static_cast<uint64_t>(v)); };
  auto fma = [&](Value* p, Value* q, Value* r) { return b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {p, q, r}); };
  constexpr int64_t kOne = 0x3f800000, kSqrtHalf = 0x3f3504f3;  // the bits of 1.0f and of sqrt(1/2) as a float
  Value* denormal = b.CreateFCmpOLT(x, splat(b, x, 0x1p-126));
  Value* bits = b.CreateBitCast(b.CreateSelect(denormal, b.CreateFMul(x, splat(b, x, 0x1p23)), x), ints);
  Value* shifted = b.CreateAdd(bits, int_splat(kOne - kSqrtHalf));  // m >= sqrt(2) carries into the exponent
  Value* k = b.CreateSub(b.CreateAShr(shifted, int_splat(23)), b.CreateSelect(denormal, int_splat(127 + 23), int_splat(127)));
  Value* m = b.CreateBitCast(b.CreateAdd(b.CreateAnd(shifted, int_splat(0x007fffff)), int_splat(kSqrtHalf)), t);
  Value* f = b.CreateFSub(m, splat(b, x, 1.0));
  Value* e = b.CreateSIToFP(k, t);
  Value* small = fma(b.CreateFMul(f, f), fma(f, horner(b, f, kLogTail), splat(b, x, -0.5)), b.CreateFMul(e, splat(b, x, kLn2Lo)));
  Value* result = fma(e, splat(b, x, kLn2Hi), b.CreateFAdd(f, small));
  // log(+-0) = -Inf, log(+Inf) = +Inf, log(x < 0) = log(NaN) = NaN.
  Value* special = b.CreateSelect(b.CreateFCmpOEQ(x, splat(b, x, 0.0)), llvm::ConstantFP::getInfinity(t, true),
                                  b.CreateSelect(b.CreateFCmpOEQ(x, llvm::ConstantFP::getInfinity(t)), x, llvm::ConstantFP::getNaN(t)));
  Value* finite_positive = b.CreateAnd(b.CreateFCmpOGT(x, splat(b, x, 0.0)), b.CreateFCmpOLT(x, llvm::ConstantFP::getInfinity(t)));
  return b.CreateSelect(finite_positive, result, special);
}

// x^k for an integer 2 <= |k| <= 8 of floats widened to double: x^|k| by
// squaring (x^2 exact, at most three roundings of 2^-53 after it), then
// 1 / that for k < 0; the float result is correctly rounded but where
// x^k lies within 2^-51 of a rounding boundary, as with exp(y log x) in
// double (2^-42). No special case is needed: where x^|k| overflows or
// underflows double, the float result is already infinite or zero; zeros,
// infinities and NaN multiply and divide into C's results
// (pow(-0, 3) = -0, pow(-0, -3) = -Inf, pow(-Inf, 2) = +Inf, NaN stays NaN).
// Hugging Face's GELU writes pow(x, 3.0): 32 x 4096 floats in cache
// 0.16-0.17 -> 0.011 ms (every 61st float pattern, k in +-2..8: 0 ulps).
constexpr int kLargestMultipliedPower = 8;

Value* integer_power(llvm::IRBuilder<>& b, Value* x, int k) {
  Value* result = nullptr;
  Value* square = x;
  for (int bits = std::abs(k); bits > 0; bits >>= 1) {
    if (bits & 1) result = result ? b.CreateFMul(result, square) : square;
    if (bits > 1) square = b.CreateFMul(square, square);
  }
  return k < 0 ? b.CreateFDiv(splat(b, x, 1.0), result) : result;
}

// x^0.5 (norms written as s ** 0.5): the float square root, correctly
// rounded, equals the reference's square root in double rounded to float
// (rounding twice is innocuous for sqrt when 53 >= 2 * 24 + 2, Figueroa
// 1995); but C's pow(-0, 0.5) is +0 and pow(-Inf, 0.5) is +Inf, where
// sqrt gives -0 and NaN. Every 61st float pattern: 0 ulps, zeros' signs
// included; 32 x 4096 in cache 0.16 -> 0.013 ms.
Value* square_root_power(llvm::IRBuilder<>& b, Value* x) {
  Value* root = b.CreateFAdd(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x), splat(b, x, 0.0));  // -0 + 0 = +0
  return b.CreateSelect(b.CreateFCmpOEQ(x, llvm::ConstantFP::getInfinity(x->getType(), true)), llvm::ConstantFP::getInfinity(x->getType()), root);
}

}  // namespace

Value* emit_float_math(llvm::IRBuilder<>& b, Op op, Value* x) {
  switch (op) {
    case Op::exp: return exp_f(b, x);
    case Op::tanh: return tanh_f(b, x);
    case Op::erf: return erf_f(b, x);
    case Op::log: return log_f(b, x);
    case Op::sigmoid: {
      // e = e^-|x| never overflows: 1/(1+e) for x >= 0, e/(1+e) below (denormal results included).
      Value* e = exp_f(b, b.CreateFNeg(unary(b, llvm::Intrinsic::fabs, x)));
      Value* denominator = b.CreateFAdd(splat(b, x, 1.0), e);
      Value* negative = b.CreateFCmpOLT(x, splat(b, x, 0.0));
      return b.CreateFDiv(b.CreateSelect(negative, e, splat(b, x, 1.0)), denominator);  // NaN: NaN/NaN
    }
    default: return nullptr;
  }
}

Value* emit_double_math(llvm::IRBuilder<>& b, Op op, Value* x) {
  switch (op) {
    case Op::exp: return exp_d(b, x);
    case Op::log: return log_d(b, x);
    case Op::tanh: return tanh_d(b, x);
    case Op::sigmoid: return sigmoid_d(b, x);
    case Op::erf: return erf_d(b, x);
    default: return nullptr;
  }
}

Value* emit_double_pow(llvm::IRBuilder<>& b, Value* x, Value* y) { return pow_d(b, x, y); }

Value* emit_float_pow_by_constant(llvm::IRBuilder<>& b, Value* x, double y) {
  if (y == 0.5) return square_root_power(b, x);
  if (y != std::trunc(y) || std::fabs(y) < 2 || std::fabs(y) > kLargestMultipliedPower) return nullptr;
  auto* doubles = llvm::VectorType::get(b.getDoubleTy(), llvm::cast<llvm::VectorType>(x->getType())->getElementCount());
  return b.CreateFPTrunc(integer_power(b, b.CreateFPExt(x, doubles), static_cast<int>(y)), x->getType());
}

}  // namespace tj::llvm_backend
