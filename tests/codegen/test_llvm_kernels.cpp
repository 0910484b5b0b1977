// The LLVM backend against the reference interpreter: every generated op
// over shapes with 0-size dims, size-1 broadcast dims, tails of 1..15
// elements and non-contiguous inputs, with NaN, Inf, -0 and denormals in the
// data; row kernels (reductions, softmax, layer norm) too; and the vector
// math over 10^7 inputs spread over all float32 values. Results must be
// within 2 float32 ulps of the interpreter's (which computes in double and
// rounds once): the emitted arithmetic is the same IEEE operations; exp and
// sigmoid are computed in float (measured within 2 ulps of the interpreter
// here, and the accuracy test below bounds them by 4 ulps of the correctly
// rounded result); the other functions are computed in double and rounded
// once; sums accumulate in double, compensated, in another order.
#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <functional>

#include <fmt/format.h>

#include "tensorjit/tensorjit.h"
#include "tests/codegen/llvm_kernel_checks.h"
#include "tests/support/arrays.h"

using tj::Tensor;

using namespace tj::llvm_kernel_checks;

namespace {

const std::vector<tj::Shape> kShapes = {{0}, {1}, {7}, {8}, {9}, {15}, {17}, {31}, {3, 5}, {4, 33}, {2, 0, 3}, {2, 3, 19}, {1000}};

// x without its +-1e30: sums with NaN and Inf, but not with +-1e30 in one
// row: cancelling them exposes the summation order (the reference
// compensates every step, the kernels only across vector lanes), which no
// float32 library fixes.
Tensor without_huge_values(const Tensor& x) {
  Tensor y = x.contiguous();
  for (int64_t i = 0; i < y.numel(); ++i)
    if (std::fabs(y.data<float>()[i]) == 1e30f) y.data<float>()[i] = 7.0f;
  return y;
}

}  // namespace

TEST_F(LlvmKernels, UnaryOps) {
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"neg", [](const Tensor& x) { return -x; }},
      {"abs", [](const Tensor& x) { return tj::abs(x); }},
      {"relu", [](const Tensor& x) { return tj::relu(x); }},
      {"exp", [](const Tensor& x) { return tj::exp(x); }},
      {"log", [](const Tensor& x) { return tj::log(x); }},
      {"tanh", [](const Tensor& x) { return tj::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return tj::sigmoid(x); }},
      {"sqrt", [](const Tensor& x) { return tj::sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return tj::rsqrt(x); }},
      {"erf", [](const Tensor& x) { return tj::erf(x); }},
      {"reciprocal", [](const Tensor& x) { return tj::reciprocal(x); }},
  };
  for (const auto& [name, op] : ops)
    for (const tj::Shape& shape : kShapes)
      expect_llvm_matches([&](const auto& in) { return std::vector{op(in[0])}; }, {special_values(shape, 3)},
                          name + " on " + tj::shape_to_string(shape));
}

TEST_F(LlvmKernels, BinaryOpsWithBroadcasting) {
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&, const Tensor&)>>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return tj::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return tj::minimum(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return tj::pow(a, b); }},
      {"pow to odd, even and fractional constants",
       [](const Tensor& a, const Tensor& b) { return tj::pow(a, 3.0) + tj::pow(b, -2.0) * tj::pow(a, 0.5) - tj::pow(b, -3.0); }},
      {"select(lt)", [](const Tensor& a, const Tensor& b) { return tj::where(a < b, a, b * 2.0); }},
      {"eq ne le ge gt",
       [](const Tensor& a, const Tensor& b) {
         return tj::where((a == b) != (a <= b), a, b) + tj::where((a >= b) == (a > b), a, b);
       }},
  };
  const std::vector<std::pair<tj::Shape, tj::Shape>> shapes = {
      {{3, 1}, {1, 17}}, {{17}, {5, 17}}, {{}, {9}}, {{4, 33}, {4, 33}}, {{0, 3}, {1, 3}}, {{2, 1, 7}, {3, 1}}};
  for (const auto& [name, op] : ops)
    for (const auto& [sa, sb] : shapes)
      expect_llvm_matches([&](const auto& in) { return std::vector{op(in[0], in[1])}; }, {special_values(sa, 1), special_values(sb, 2)},
                          name + " on " + tj::shape_to_string(sa) + " and " + tj::shape_to_string(sb));
}

TEST_F(LlvmKernels, NonContiguousInputs) {
  const Tensor base = special_values({17, 10}, 4);
  const Tensor transposed = base.T();                           // strides [1, 10]
  const Tensor every_other = base.slice({0, 1}, {17, 10}, {2, 3});  // [9, 3]
  const Tensor reversed = base.slice({16, 0}, {-18, 10}, {-1, 1});  // negative stride
  for (const Tensor& x : {transposed, every_other, reversed})
    expect_llvm_matches([](const auto& in) { return std::vector{tj::exp(in[0]) * 2.0 + in[0]}; }, {x}, "strided " + x.to_string());
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].T() + in[1]}; }, {base, special_values({10, 17}, 5)},
                      "transpose of a parameter read as a strided load");
}

TEST_F(LlvmKernels, RowKernels) {
  // {3, 16400}: rows too long for the row cache (16K floats), so the final
  // pass computes its values again, with two rows in flight.
  for (const tj::Shape& shape : std::vector<tj::Shape>{{1, 1}, {3, 7}, {5, 8}, {4, 17}, {2, 3, 33}, {64, 100}, {0, 5}, {3, 16400}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    const Tensor x = special_values(shape, 6), clean = Tensor::randn(shape, 7);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].max({-1}), in[0].min({-1}, true)}; }, {x}, "max, min" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({-1}, true)}; }, {without_huge_values(x)}, "sum" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].mean({-1}, true)}; }, {clean}, "mean" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {clean}, "softmax" + at);
    const int64_t n = shape.back();
    // Its variance, a mean of squares in pairs, is within 1 ulp (see the
    // sums below), 1 / sqrt of it within 1 more, and n = x * r and y = n *
    // gamma round once each, as the reference's: with beta 0, y within 4
    // ulps (measured: 3). With beta, y = n * gamma + beta keeps that error
    // of n * gamma, absolute where y cancels: 8 epsilons of the largest result.
    const auto layer_norm = [&](const auto& in) { return std::vector{tj::layer_norm(in[0], in[1], in[2])}; };
    expect_llvm_matches(layer_norm, {clean, Tensor::randn({n}, 8), Tensor::zeros({n})}, "layer_norm without beta" + at, kInUlpsOnly, 4);
    expect_llvm_matches(layer_norm, {clean, Tensor::randn({n}, 8), Tensor::randn({n}, 9)}, "layer_norm" + at, kSumsOfProducts);
  }
  // Reductions over a leading axis: the domain is permuted, loads become strided.
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({0}, true), in[0].max({0}, true)}; },
                      {special_values({33, 5}, 10)}, "column reductions");
  expect_llvm_matches([](const auto& in) { return std::vector{tj::exp(in[0]), tj::exp(in[0]).sum({1})}; },
                      {Tensor::randn({6, 300}, 11)}, "exp and its row sums, written once");
}

TEST_F(LlvmKernels, LongRowReductionsReadFourRowsAtOnce) {
  // Kernels of row reductions alone, over rows of 1024 floats or more, read
  // four rows in one loop (emit_rows.cpp): whole groups and rows left over
  // (1, 3, 6, 13 rows), tails (1030, 1100), NaN and Inf in every row, paired sums of
  // squares, rows read with a stride (reductions over the leading axis),
  // and full sums, which split into such rows.
  const auto reductions = [](const auto& in) {
    return std::vector{in[0].max({-1}), in[0].min({-1}, true), in[0].sum({-1}), (in[0] * in[0]).sum({-1}), (in[0] * in[0]).mean({-1})};
  };
  for (const tj::Shape& shape : std::vector<tj::Shape>{{1, 4100}, {3, 1024}, {4, 1024}, {6, 1030}, {13, 1100}, {2, 5, 1040}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    expect_llvm_matches(reductions, {without_huge_values(special_values(shape, 30))}, "row reductions" + at);
    expect_llvm_matches(reductions, {Tensor::randn(shape, 31)}, "row reductions of clean values" + at);
  }
  const auto columns = [](const auto& in) { return std::vector{in[0].sum({0}), in[0].max({0}, true), in[0].mean({0})}; };
  expect_llvm_matches(columns, {without_huge_values(special_values({1100, 9}, 32))}, "column reductions of 1100 rows");
  const auto full = [](const auto& in) { return std::vector{in[0].sum(), in[0].max(), (in[0] * in[0]).mean()}; };
  expect_llvm_matches(full, {Tensor::randn({int64_t{1} << 20}, 33)}, "full reductions of 2^20 floats");
  expect_llvm_matches(full, {without_huge_values(special_values({int64_t{1} << 19}, 34))}, "full reductions with NaN and Inf");
  // Rows 2 and 5 of 8 have squares near FLT_MAX: their pairs overflow, their
  // means do not, and each reruns unpaired inside its group (the third row
  // of the first, the second of the next) while the other rows keep theirs.
  Tensor big = Tensor::randn({8, 1030}, 35);
  for (int64_t row : {2, 5})
    for (int64_t i = 0; i < 1030; ++i) big.data<float>()[row * 1030 + i] = i % 2 ? 1.5e19f : -1.8e19f;
  const auto mean_of_squares = [](const auto& in) { return std::vector{(in[0] * in[0]).mean({-1})}; };
  ASSERT_TRUE(optimized_ir_contains(mean_of_squares, {big}, "pairs.done")) << "the mean of squares is not paired: this case tests nothing";
  expect_llvm_matches(mean_of_squares, {big}, "means of squares near FLT_MAX in groups of rows");
}

TEST_F(LlvmKernels, ColumnReductionsTakeAVectorOfOutputsAtATime) {
  // Reductions over a dim that is not the contiguous one put one output in
  // each lane (emit_columns.cpp): output counts around the vector width and
  // beyond a chunk of 1024 (masked tails), 0, 1 and odd numbers of rows,
  // NaN and Inf, operands broadcast along either dim, and, through other
  // paths, strided columns and a leading batch dim.
  const auto reductions = [](const auto& in) {
    return std::vector{in[0].sum({0}), in[0].max({0}, true), in[0].min({0}), in[0].mean({0}), (in[0] * in[0]).mean({0}, true)};
  };
  for (const tj::Shape& shape : std::vector<tj::Shape>{{1, 1}, {3, 5}, {64, 15}, {7, 16}, {300, 17}, {33, 1000}, {5, 1030}, {9, 2100}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    expect_llvm_matches(reductions, {without_huge_values(special_values(shape, 36))}, "column reductions" + at);
    expect_llvm_matches(reductions, {Tensor::randn(shape, 37)}, "column reductions of clean values" + at);
    const int64_t rows = shape[0], columns = shape[1];
    const auto broadcast = [](const auto& in) { return std::vector{(in[0] * in[1]).sum({0}), (in[0] + in[2]).max({0})}; };
    expect_llvm_matches(broadcast, {Tensor::randn(shape, 38), Tensor::randn({columns}, 39), Tensor::randn({rows, 1}, 40)}, "broadcast operands" + at);
  }
  // No rows: sums are 0 and means NaN (max and min of nothing are errors).
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({0}), in[0].mean({0})}; }, {Tensor::randn({0, 20}, 44)}, "no rows");
  const Tensor wide = Tensor::randn({40, 2 * 1030}, 41);
  expect_llvm_matches(reductions, {wide.slice(1, 0, 2 * 1030, 2)}, "strided columns");
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({1}), in[0].max({1})}; }, {special_values({3, 50, 40}, 42)},
                      "a middle dim of three");
  // Batch statistics: the variance's kernel reads the mean, broadcast down
  // the reduced dim, a vector of outputs at a time (all of its kernels are
  // column reductions).
  const auto batch_variance = [](const auto& in) {
    const Tensor centered = in[0] - in[0].mean({0}, true);
    return std::vector{(centered * centered).mean({0})};
  };
  for (const tj::Shape& shape : std::vector<tj::Shape>{{300, 17}, {64, 1030}}) {
    const std::string report = expect_llvm_matches(batch_variance, {Tensor::randn(shape, 43) * 3.0 + 1.0}, "batch variance on " + tj::shape_to_string(shape));
    size_t kernels = 0, columns = 0;
    for (size_t at = report.find("  code: "); at != std::string::npos; at = report.find("  code: ", at + 1)) ++kernels;
    for (size_t at = report.find("column reduction, "); at != std::string::npos; at = report.find("column reduction, ", at + 1)) ++columns;
    EXPECT_EQ(columns, kernels) << "a kernel of the batch variance is not a column reduction:\n" << report;
  }
}

TEST_F(LlvmKernels, MaxMinSeeNaNAnywhereAndKeepTheReferencesZeros) {
  // A reduction keeps several accumulators (unrolled vectors, lanes) and a
  // masked tail; a NaN must reach the result from any of them. Row i of
  // [35, 35] has its NaN at column i: at 8 lanes and two vectors per trip,
  // columns 0-7 and 16-23 go to the first accumulator, 8-15 and 24-31 to
  // the second, 32-34 to the tail (at 16 lanes: 0-15, 16-31, tail).
  Tensor x = Tensor::randn({35, 35}, 80);
  for (int64_t i = 0; i < 35; ++i) x.data<float>()[i * 35 + i] = NAN;
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].max({-1}), in[0].min({-1})}; }, {x}, "max, min with a NaN in each place");
  // Elementwise maximum and minimum of equal operands give the second, as
  // the reference's a > b ? a : b: -0 and +0 in both orders, bit for bit
  // (ulps() would count them equal).
  std::vector<float> a(35), b(35);
  for (int64_t i = 0; i < 35; ++i) a[i] = i % 2 ? 0.0f : -0.0f, b[i] = i % 2 ? -0.0f : 0.0f;
  const Tensor ta = Tensor::from_blob(a.data(), {35}), tb = Tensor::from_blob(b.data(), {35});
  const auto fn = [](const Tensor& p, const Tensor& q) { return std::vector{tj::maximum(p, q), tj::minimum(p, q)}; };
  auto reference = tj::jit(fn, tj::JitOptions{.backend = "interp"});
  auto native = tj::jit(fn, tj::JitOptions{.backend = "llvm"});
  const std::vector<Tensor> want = reference(ta, tb), got = native(ta, tb);
  for (size_t r = 0; r < want.size(); ++r)
    for (int64_t i = 0; i < 35; ++i)
      EXPECT_EQ(std::signbit(want[r].data<float>()[i]), std::signbit(got[r].data<float>()[i])) << (r ? "minimum" : "maximum") << " at " << i;
}

TEST_F(LlvmKernels, RowSumsCompensateAcrossLanes) {
  // 1e20 and -1e20 sit in different vector lanes and 1 in a third: doubles
  // lose the 1 where a lane with 1e20 meets the lane with 1, and only the
  // rounding error carried across the lanes' steps (two_sum in the
  // emitter) brings it back. Row lengths 16 and 37 (a masked tail); the
  // reference compensates every step, so both give exactly 1 and 2.
  for (int64_t n : {16, 37}) {
    std::vector<float> row(2 * n, 0.0f);
    for (int64_t r = 0; r < 2; ++r) row[r * n + 0] = 1e20f, row[r * n + 1] = -1e20f, row[r * n + 4] = 1.0f + r;
    const Tensor x = Tensor::from_blob(row.data(), {2, n});
    auto native = tj::jit([](const Tensor& t) { return t.sum({-1}); }, tj::JitOptions{.backend = "llvm"});
    const Tensor sums = native(x);
    EXPECT_EQ(sums.data<float>()[0], 1.0f) << "row length " << n;
    EXPECT_EQ(sums.data<float>()[1], 2.0f) << "row length " << n;
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({-1})}; }, {x}, "cancelling lanes");
  }
}

TEST_F(LlvmKernels, SumsOfValuesNeverNegativeAddPairsInFloat) {
  // Sums and means of exp, sigmoid and squares add each trip's two vectors
  // in float before widening to double (emit_reduce.cpp): rows with tails,
  // NaN, Inf and denormals, within the usual 2 ulps (measured; the pairs
  // add at most 2^-24 of the sum, the terms' own errors average out).
  const auto sums = [](const Tensor& v) { return std::vector{v.sum({-1}), v.mean({-1}, true)}; };
  for (const tj::Shape& shape : std::vector<tj::Shape>{{3, 7}, {4, 33}, {5, 64}, {2, 1000}, {0, 5}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    for (const Tensor& x : {Tensor::randn(shape, 12), special_values(shape, 13)}) {
      expect_llvm_matches([&](const auto& in) { return sums(tj::exp(in[0])); }, {x}, "sums of exp" + at);
      expect_llvm_matches([&](const auto& in) { return sums(tj::sigmoid(in[0])); }, {x}, "sums of sigmoid" + at);
    }
    // Every term subnormal (exp of -100 to -103): float adds them exactly.
    expect_llvm_matches([&](const auto& in) { return sums(tj::exp(in[0])); }, {Tensor::randn(shape, 15) * 0.5 - 101.5}, "subnormal sums of exp" + at);
    // Squares are exactly rounded, so only the pairs' rounding is left: 1 ulp.
    expect_llvm_matches([&](const auto& in) { return sums(in[0] * in[0]); }, {Tensor::randn(shape, 14)}, "sums of squares" + at, kInUlpsOnly, 1);
    expect_llvm_matches([&](const auto& in) { return sums(in[0] * in[0]); }, {Tensor::randn(shape, 16) * 1e-21}, "subnormal squares" + at, kInUlpsOnly, 1);
  }
  // exp(88.5) is 2.7e38, a float, and so is the row's mean, but any two of
  // them overflow float: a pair's overflow makes the sum infinite, as the
  // reference's, and the mean's pass runs again unpaired.
  const Tensor x = Tensor::full({3, 64}, 88.5);
  expect_llvm_matches([](const auto& in) { return std::vector{tj::exp(in[0]).mean({-1}), tj::exp(in[0]).sum({-1})}; }, {x}, "sums near FLT_MAX");
  // RMS norm of rows whose squares are near FLT_MAX (|x| = 1.5e19 and 1.8e19,
  // tails included): their pairs overflow, their mean does not, and the rows
  // after them pair again. Unpaired, y would be 0 instead of about 1.
  for (int64_t n : {37, 64, 300}) {
    Tensor big = Tensor::randn({4, n}, 17);
    for (int64_t i = 0; i < 2 * n; ++i) big.data<float>()[i] = (i % 2 ? 1.5e19f : -1.8e19f);
    const auto rms_norm = [](const auto& in) { return std::vector{in[0] * tj::rsqrt((in[0] * in[0]).mean({-1}, true) + 1e-6)}; };
    ASSERT_TRUE(optimized_ir_contains(rms_norm, {big}, "pairs.done")) << "the mean of squares is not paired: this case tests nothing";
    expect_llvm_matches(rms_norm, {big}, "RMS norm near FLT_MAX, rows of " + std::to_string(n));
    // Layer norm's variance pass reruns so too, and its loop also carries
    // the previous row's final pass (emit_rows.cpp), which the rerun leaves
    // out. Beta 0: within 4 ulps, as in RowKernels.
    const auto layer_norm = [](const auto& in) { return std::vector{tj::layer_norm(in[0], in[1], in[2])}; };
    const std::vector<Tensor> norm_inputs = {big, Tensor::randn({n}, 18), Tensor::zeros({n})};
    ASSERT_TRUE(optimized_ir_contains(layer_norm, norm_inputs, "pairs.done")) << "layer norm's variance is not paired";
    expect_llvm_matches(layer_norm, norm_inputs, "layer norm near FLT_MAX, rows of " + std::to_string(n), kInUlpsOnly, 4);
  }
}

TEST_F(LlvmKernels, MatmulWithEpilogues) {
  struct Case {
    tj::Shape a, b;
    bool transpose_b;
  };
  const Case cases[] = {
      {{1, 1}, {1, 1}, false},     {{3, 5}, {5, 7}, false},      {{4, 17}, {17, 33}, false},   {{2, 3, 8}, {8, 9}, false},
      {{2, 1, 4, 6}, {3, 6, 5}, false}, {{5, 0}, {0, 3}, false}, {{0, 4}, {4, 3}, false},       {{6, 16}, {9, 16}, true},
      {{64, 100}, {100, 70}, false},
      // B per batch, rows in blocks of 4 within each batch.
      {{2, 8, 13}, {2, 13, 19}, false},
      // Cache-blocked: 3 groups of 8 row blocks of 6 (the last group 1 block of 4 rows), 3 column blocks (the
      // last of 4 columns), 2 k blocks.
      {{100, 300}, {300, 260}, false},
      // B packed from a transposed view (strided columns) in blocks of 256 of its 300 rows, the last panel partial.
      {{10, 300}, {75, 300}, true},
  };
  for (const Case& c : cases) {
    const std::string at = tj::shape_to_string(c.a) + " @ " + tj::shape_to_string(c.b) + (c.transpose_b ? "^T" : "");
    const int64_t n = c.transpose_b ? c.b[c.b.size() - 2] : c.b.back();
    const bool t = c.transpose_b;
    expect_llvm_matches([t](const auto& in) { return std::vector{tj::matmul(in[0], t ? in[1].T() : in[1])}; },
                        {Tensor::randn(c.a, 1), Tensor::randn(c.b, 2)}, "matmul " + at, kMatmulSums);
    expect_llvm_matches([t](const auto& in) { return std::vector{tj::relu(tj::matmul(in[0], t ? in[1].T() : in[1]) + in[2]) * 0.5}; },
                        {Tensor::randn(c.a, 1), Tensor::randn(c.b, 2), Tensor::randn({n}, 3)}, "matmul + bias, relu " + at, kMatmulSums);
  }
  // Batched B transposed (attention's q @ k^T): dot products along k, with
  // k tails (19 = 2 x 8 + 3) and a scaled epilogue; NaN and Inf in q.
  for (int64_t m : {7, 8})  // rows one by one, and in blocks of 4
    expect_llvm_matches([](const auto& in) { return std::vector{tj::matmul(in[0], in[1].transpose(-1, -2)) * 0.125}; },
                        {special_values({2, 3, m, 19}, 6), Tensor::randn({2, 3, 5, 19}, 7)}, "batched q @ k^T", kMatmulSums);
  // Dot products over k = 20000 of equal terms (rounding errors that add up
  // instead of cancelling: the worst case for float sums): blocks of 256 k in float, added in double, stay within
  // kMatmulSums (in one float sum over all of k: ~114 epsilons at 16384).
  for (int64_t m : {1, 8})
    expect_llvm_matches([](const auto& in) { return std::vector{tj::matmul(in[0], in[1].transpose(-1, -2))}; },
                        {Tensor::full({2, m, 20000}, 0.1), Tensor::full({2, 3, 20000}, 0.1)}, "long dot products", kMatmulSums);
  // A transposed (strided) left operand and NaN/Inf in the data.
  expect_llvm_matches([](const auto& in) { return std::vector{tj::matmul(in[0].T(), in[1])}; },
                      {special_values({9, 4}, 4), Tensor::randn({9, 11}, 5)}, "matmul of a transposed operand with specials", kMatmulSums);
}

TEST_F(LlvmKernels, ReviewRegressions) {
  // A residual added in a matmul's epilogue, 5 rows (a block of 4 repeats its last row).
  expect_llvm_matches([](const auto& in) {
    const Tensor r = tj::matmul(in[0], in[1]);
    const Tensor y = tj::matmul(in[2], in[1]) + r;
    return std::vector{tj::matmul(y, in[3])};
  }, {Tensor::randn({5, 8}, 1), Tensor::randn({8, 16}, 2), Tensor::randn({5, 8}, 3), Tensor::randn({16, 4}, 4)},
     "residual epilogue over a repeated row", kMatmulSums);
  // A per-row value broadcast across the row as an output: interpreted for
  // now (lowering refuses it), and every element must be written.
  const Tensor x = Tensor::randn({4, 8}, 5);
  auto f = tj::jit([](const Tensor& t) { return tj::exp(t.max({1}, true).broadcast_to({4, 8})); }, tj::JitOptions{.backend = "llvm"});
  const std::vector<double> got = tj::testing::values_of(f(x).array());
  const std::vector<double> want = tj::testing::values_of(tj::exp(x.max({1}, true).broadcast_to({4, 8})).array());
  EXPECT_EQ(got, want);
}

TEST_F(LlvmKernels, VectorMathOverAllFloats) {
  // 10^7 inputs spread evenly over the 2^32 float32 bit patterns, plus the
  // boundaries where results overflow, underflow or turn denormal, side
  // by side, so that vectors mix lanes either side of each; then, 16-lane
  // aligned, where exp's fast path ends (|x| = 86.9, below where 2^n stays
  // normal): whole vectors at the bound, and one lane past it among fast ones.
  constexpr int64_t kCount = 10'000'000;
  std::vector<float> inputs(kCount);
  const uint64_t step = (uint64_t{1} << 32) / (kCount - 128);
  int64_t n = 0;
  for (float special : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1.17549435e-38f, 88.72283f, 88.72284f, -87.33654f,
                        -103.97208f, -103.97209f, -86.3f, -86.7f, 88.37f, 88.38f, 86.9f, -86.9f, 86.900009f, -86.900009f, 3.4028235e38f,
                        -3.4028235e38f, 3.0f, 3.9f, 0.5f, -0.5f})
    inputs[n++] = special;
  n = 32;
  for (float bound : {86.9f, -86.9f})
    for (int lane = 0; lane < 16; ++lane) inputs[n++] = bound;
  for (float past : {86.900009f, -86.900009f})
    for (int lane = 0; lane < 16; ++lane) inputs[n++] = lane == 5 ? past : 1.5f;
  // Every float within 2048 of each seam where an algorithm switches
  // polynomials or clamps: erf's at 1, 3.925 and 3.9375; log's reduction at
  // sqrt(1/2) and sqrt(2) (and 1); tanh's clamp at 15.
  for (float seam : {1.0f, 3.925f, 3.9375f, 0.70710677f, 1.4142135f, 15.0f})
    for (float sign : {1.0f, -1.0f})
      for (int32_t offset = -2048; offset < 2048; ++offset) inputs[n++] = sign * std::bit_cast<float>(std::bit_cast<int32_t>(seam) + offset);
  for (uint64_t bits = 0; n < kCount; bits += step) inputs[n++] = std::bit_cast<float>(static_cast<uint32_t>(bits));
  const Tensor x = Tensor::from_blob(inputs.data(), {kCount});
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    double (*reference)(double);
  };
  const Case cases[] = {
      {"exp", [](const Tensor& t) { return tj::exp(t); }, [](double v) { return std::exp(v); }},
      {"log", [](const Tensor& t) { return tj::log(t); }, [](double v) { return std::log(v); }},
      {"tanh", [](const Tensor& t) { return tj::tanh(t); }, [](double v) { return std::tanh(v); }},
      {"sigmoid", [](const Tensor& t) { return tj::sigmoid(t); }, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"erf", [](const Tensor& t) { return tj::erf(t); }, [](double v) { return std::erf(v); }},
      {"sqrt", [](const Tensor& t) { return tj::sqrt(t); }, [](double v) { return std::sqrt(v); }},
      {"rsqrt", [](const Tensor& t) { return tj::rsqrt(t); }, [](double v) { return 1 / std::sqrt(v); }},
      {"reciprocal", [](const Tensor& t) { return tj::reciprocal(t); }, [](double v) { return 1 / v; }},
  };
  for (const Case& c : cases) {
    auto f = tj::jit(c.op, tj::JitOptions{.backend = "llvm"});
    const Tensor y = f(x);
    const float* got = y.data<float>();
    int64_t worst = 0, worst_at = 0;
    for (int64_t i = 0; i < kCount; ++i) {
      // double libm rounded to float: correctly rounded but in rare hard cases
      const float want = static_cast<float>(c.reference(inputs[i]));
      int64_t d = ulps(want, got[i]);
      if (want == 0 && got[i] == 0 && std::signbit(want) != std::signbit(got[i])) d = 1000;  // the sign of zero, as libm's
      if (d > worst) worst = d, worst_at = i;
    }
    EXPECT_LE(worst, 4) << c.name << " is " << worst << " ulps off at x = " << inputs[worst_at];
    RecordProperty(std::string(c.name) + "_max_ulps", static_cast<int>(worst));
  }
  // pow: the same bases against exponents that keep most results finite
  // and nonzero (common ones, then uniform in [-8, 8)), and every pair of
  // special values, where C's libm defines the result case by case.
  std::vector<float> exponents(kCount);
  const float common[] = {2.0f, 0.5f, -1.0f, 3.0f, -2.5f, 1.0f / 3.0f, 7.0f, 0.1f, -0.7f, 1.5f, -3.0f, 1.2f};
  for (int64_t i = 0; i < kCount; ++i)
    exponents[i] = i % 2 ? common[(i / 2) % std::size(common)] : static_cast<float>((i * 2654435761u) % 1600) / 100.0f - 8.0f;
  const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f, -0.5f, 3.0f, -3.0f, 2.5f, -2.5f, INFINITY, -INFINITY, NAN, 1e-45f, 1e30f};
  int64_t at = 0;
  for (float base : specials)
    for (float exponent : specials) inputs[at] = base, exponents[at++] = exponent;
  auto pow = tj::jit([](const Tensor& a, const Tensor& b) { return tj::pow(a, b); }, tj::JitOptions{.backend = "llvm"});
  const Tensor y = pow(x, Tensor::from_blob(exponents.data(), {kCount}));
  int64_t worst = 0, worst_at = 0;
  for (int64_t i = 0; i < kCount; ++i) {
    const float want = static_cast<float>(std::pow(static_cast<double>(inputs[i]), static_cast<double>(exponents[i])));
    const float got = y.data<float>()[i];
    int64_t d = ulps(want, got);
    if (want == 0 && got == 0 && std::signbit(want) != std::signbit(got)) d = 1000;
    if (d > worst) worst = d, worst_at = i;
  }
  EXPECT_LE(worst, 4) << "pow is " << worst << " ulps off at " << inputs[worst_at] << " ^ " << exponents[worst_at];
  RecordProperty("pow_max_ulps", static_cast<int>(worst));
}

TEST_F(LlvmKernels, PowersBySmallIntegersAndSquareRoots) {
  // A constant integer exponent 2 <= |k| <= 8 multiplies in double instead
  // of exp(k log x), and 0.5 takes a square root: the reference's results,
  // special values included
  // (signed zeros to odd powers, infinities, NaN, denormals, overflow).
  const Tensor x = special_values({7, 37}, 41);
  for (double k : {3.0, -3.0, 5.0, -2.0, 8.0, -8.0, 7.0, 0.5})
    expect_llvm_matches([k](const auto& in) { return std::vector{tj::pow(in[0], k), tj::pow(in[0] * 1e-3, k)}; }, {x},
                        fmt::format("pow(x, {})", k), kInUlpsOnly, 0);
}
