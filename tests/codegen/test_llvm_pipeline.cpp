// Software-pipelined loops (codegen/llvm/pipeline.h) against the reference
// interpreter: that the pipeline is there (and not for math that branches),
// and that filling, draining, clamping and every kind of input and output
// give the interpreter's values.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/codegen/llvm_kernel_checks.h"
#include "tests/support/arrays.h"

using tj::Tensor;
using namespace tj::llvm_kernel_checks;

namespace {

// Whether fn's kernels include a software-pipelined loop: its optimized IR has the pipeline's blocks.
bool pipelined(const Fn& fn, const std::vector<Tensor>& inputs) { return optimized_ir_contains(fn, inputs, "pipeline.header:"); }

}  // namespace

TEST_F(LlvmKernels, PipelinedLongChains) {
  // Kernels that only compute and store, with long straight math (tanh,
  // GELU), run software-pipelined in up to 4 stages (codegen/llvm/pipeline.h):
  // the first trips fill the pipeline and the last drain it, with each
  // stage's vector clamped into the range. So: 0 to 7 whole vectors at 8
  // lanes and 0 to 6 at 16, tails, strided, reversed and broadcast inputs
  // (along rows and along the inner dim), two outputs (one boolean), a
  // boolean input, a row kernel's last pass and a matmul's epilogue. Math
  // that branches (exp's cold path) is not pipelined: those kernels, next to
  // the pipelined ones, check the plain loop with the same cases.
  const auto gelu = [](const Tensor& x) { return x * 0.5 * (tj::tanh((x + x * x * x * 0.044715) * 0.7978845608) + 1.0); };
  // 1 + tanh(u) cancels for negative u: tanh's last-ulp differences near -1
  // are absolute errors of ~6e-8, so GELU compares at the results' scale
  // (clean inputs), tanh alone in ulps (special values too).
  ASSERT_TRUE(pipelined([&](const auto& in) { return std::vector{gelu(in[0])}; }, {Tensor::randn({100}, 40)}))
      << "GELU's kernel is not software-pipelined: the cases below would test the plain loop only";
  for (int64_t n : {0, 1, 8, 15, 16, 24, 31, 32, 40, 48, 49, 56, 63, 64, 80, 95, 97, 112, 1000}) {
    const std::string at = " on " + std::to_string(n);
    expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0])}; }, {special_values({3, n}, 40)}, "tanh" + at);
    // exp branches to its slow path for lanes that overflow, are denormal
    // or NaN, or whose |x| is too large for the fast path's rounding.
    expect_llvm_matches([&](const auto& in) { return std::vector{tj::exp(in[0]), tj::sigmoid(in[0])}; }, {special_values({2, n}, 47)},
                        "exp, sigmoid" + at);
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0])}; }, {Tensor::randn({n}, 41) * 3.0}, "gelu" + at, kSumsOfProducts);
  }
  // Rows of 203 (25 whole vectors and 3 at 8 lanes): short rows get fewer stages, or none.
  const Tensor base = Tensor::randn({41, 203}, 42) * 3.0, tall = Tensor::randn({203, 41}, 52) * 3.0;
  for (const Tensor& x : {tall.T(), base.slice({0, 1}, {41, 203}, {2, 3}), base.slice({40, 0}, {-42, 203}, {-1, 1})})
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0])}; }, {x}, "gelu of strided " + x.to_string(), kSumsOfProducts);
  expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0] + in[1])}; }, {base, Tensor::randn({203}, 43)},
                      "gelu of a broadcast sum", kSumsOfProducts);
  expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0] + in[1])}; }, {base, Tensor::randn({41, 1}, 50)},
                      "gelu of a sum broadcast along the inner dim", kSumsOfProducts);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0]), gelu(in[0])}; }, {base}, "tanh and gelu, two outputs",
                      kSumsOfProducts);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::where(tj::tanh(in[0]) > 0.5, in[0], in[0] * 0.0), tj::tanh(in[0]) > 0.5}; },
                      {base}, "a boolean output");
  const auto boolean_input = [&](const auto& in) { return std::vector{tj::where(in[1], gelu(in[0]), tj::tanh(in[0]))}; };
  EXPECT_TRUE(pipelined(boolean_input, {base, base > 0.7}));
  expect_llvm_matches(boolean_input, {base, base > 0.7}, "a boolean input", kSumsOfProducts);
  // exp's and sigmoid's exp each branch to their slow path, one after the
  // other in one kernel, which is not pipelined. tanh within 2 ulps moves
  // sigmoid (slope <= 1/4, values >= 0.26) by at most 2 of its ulps,
  // sigmoid adds its own 2; the sum of two positive terms is as accurate as
  // the worse, plus its own rounding.
  const auto two_branches = [](const auto& in) { return std::vector{tj::exp(in[0]) + tj::sigmoid(tj::tanh(in[0]))}; };
  constexpr int64_t kComposedUlps = 5;
  EXPECT_FALSE(pipelined(two_branches, {base}));
  for (int64_t n : {3, 64, 200, 333, 1000})
    expect_llvm_matches(two_branches, {special_values({2, n}, 51)}, "exp + sigmoid of tanh: two cold branches, on " + std::to_string(n), kInUlpsOnly,
                        kComposedUlps);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0] - in[0].mean({-1}, true))}; }, {base},
                      "tanh after a row mean");
  // Softmax's exp(x - max) into the row cache: rows of wide range (exp
  // underflows to denormals and zero, the slow path, in some vectors and
  // not others), and rows with -Inf, +Inf and NaN.
  for (int64_t n : {5, 8, 29, 64, 300}) {
    const std::string at = " on rows of " + std::to_string(n);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {Tensor::randn({7, n}, 48) * 40.0},
                        "softmax of wide range" + at, kInUlpsOnly, kSoftmaxUlps);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {special_values({7, n}, 49)},
                        "softmax of special values" + at, kInUlpsOnly, kSoftmaxUlps);
  }
  for (const auto& [a, b] : std::vector<std::pair<tj::Shape, tj::Shape>>{{{5, 20}, {20, 37}}, {{100, 300}, {300, 260}}})
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(tj::matmul(in[0], in[1]) + in[2])}; },
                        {Tensor::randn(a, 44), Tensor::randn(b, 45), Tensor::randn({b[1]}, 46)},
                        "gelu epilogue of " + tj::shape_to_string(a) + " @ " + tj::shape_to_string(b), kMatmulSums);
}

TEST_F(LlvmKernels, KernelsWritingOverTheirInput) {
  // The memory planner lets a kernel write its output over an input that
  // dies in it and is read at the index written (passes/plan_memory.cpp):
  // pipelined loops must load later vectors before they store earlier
  // ones, and row kernels must finish reading a row before writing it.
  // Unfused, every op of a chain of long math is a kernel (over a flat
  // range, split across threads; tanh's pipelined, sigmoid's a plain loop)
  // updating one buffer in place;
  // fused, softmax and layer norm between two matmuls write over the first
  // matmul's result. `in_one_buffer`: the plan puts every intermediate in
  // one buffer (explain's arena line), so each kernel wrote over its input.
  const auto in_one_buffer = [](const std::string& report) {
    std::smatch m;
    const bool found = std::regex_search(report, m, std::regex(R"(arena (\d+) bytes for (\d+) intermediates \((\d+) unshared\))"));
    return found && std::stoll(m[2]) > 1 && std::stoll(m[1]) * std::stoll(m[2]) == std::stoll(m[3]);
  };
  // tanh, sigmoid, tanh: each within 2 ulps, and none magnifies its
  // input's relative error (condition numbers <= 1 on these ranges): 6 ulps.
  constexpr int64_t kChainUlps = 6;
  const auto chain = [](const auto& in) { return std::vector{tj::tanh(tj::sigmoid(tj::tanh(in[0])) * 2.0)}; };
  ASSERT_TRUE(pipelined([](const auto& in) { return std::vector{tj::tanh(in[0])}; }, {Tensor::randn({100}, 70)}));
  for (const tj::Shape& shape : std::vector<tj::Shape>{{37, 203}, {(int64_t{1} << 12) + 5}, {3, 8}}) {
    const std::string report = expect_llvm_matches(chain, {special_values(shape, 71)}, "an unfused chain in place on " + tj::shape_to_string(shape),
                                                   kInUlpsOnly, kChainUlps, /*fuse=*/false);
    EXPECT_TRUE(in_one_buffer(report)) << report;
  }
  for (const auto& [rows, inner] : std::vector<std::pair<int64_t, int64_t>>{{37, 24}, {64, 203}}) {
    const Tensor q = Tensor::randn({2, rows, 16}, 72), k = Tensor::randn({2, inner, 16}, 73), v = Tensor::randn({2, inner, 9}, 74);
    const std::string at = " of rows of " + std::to_string(inner);
    std::string report = expect_llvm_matches(
        [](const auto& in) { return std::vector{tj::matmul(tj::softmax(tj::matmul(in[0], in[1].transpose(-1, -2)), -1), in[2])}; }, {q, k, v},
        "softmax in place" + at, kMatmulSums);
    EXPECT_TRUE(in_one_buffer(report)) << report;
    report = expect_llvm_matches(
        [](const auto& in) { return std::vector{tj::matmul(tj::layer_norm(tj::matmul(in[0], in[1].transpose(-1, -2)), in[3], in[4]), in[2])}; },
        {q, k, v, Tensor::randn({inner}, 75), Tensor::randn({inner}, 76)}, "layer norm in place" + at, kMatmulSums);
    EXPECT_TRUE(in_one_buffer(report)) << report;
  }
}

TEST_F(LlvmKernels, ExplainSaysWhichKernelsArePipelined) {
  // explain's code line says ", software-pipelined" for a kernel with a
  // pipelined loop, and only then: column reductions of long math never
  // pipeline (they said so before).
  const Tensor x = Tensor::randn({256, 512}, 44);
  auto gelu = tj::jit([](const Tensor& x) { return x * 0.5 * (tj::tanh((x + x * x * x * 0.044715) * 0.7978845608) + 1.0); },
                      tj::JitOptions{.backend = "llvm"});
  EXPECT_NE(gelu.explain(x).find("one row per loop, software-pipelined"), std::string::npos) << gelu.explain(x);
  auto columns = tj::jit([](const Tensor& x) { return tj::tanh(x).sum({0}) + x.mean({0}); }, tj::JitOptions{.backend = "llvm"});
  const std::string explained = columns.explain(x);
  EXPECT_NE(explained.find("column reduction"), std::string::npos) << explained;
  EXPECT_EQ(explained.find("software-pipelined"), std::string::npos) << explained;
}
