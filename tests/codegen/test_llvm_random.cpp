// Randomized differential tests of the LLVM backend against the reference
// interpreter: chains of elementwise ops with a reduction, matmuls with
// epilogues, and row kernels, on shapes, strides, broadcasts and values
// drawn at random (a fixed seed, so that a failure repeats). FUZZ_TRIALS=N
// runs N trials of each instead of the default, FUZZ_SEED=S another
// sequence: what a fuzzing session runs before a release.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tensorjit/tensorjit.h"
#include "tests/codegen/llvm_kernel_checks.h"

using tj::Tensor;

using namespace tj::llvm_kernel_checks;

namespace {

// The seed of a test's sequence: FUZZ_SEED, or the test's own.
unsigned fuzz_seed(unsigned fallback) { return std::getenv("FUZZ_SEED") ? static_cast<unsigned>(std::atoi(std::getenv("FUZZ_SEED"))) : fallback; }

// Trials per test: FUZZ_TRIALS, or the test's own count.
int fuzz_trials(int fallback) { return std::getenv("FUZZ_TRIALS") ? std::atoi(std::getenv("FUZZ_TRIALS")) : fallback; }

}  // namespace

TEST_F(LlvmKernels, RandomProgramsOnRandomShapes) {
  // Random chains over random shapes: ranks 1-3, dims from 0 to 100 (tails
  // of 1..15 lanes), the second operand broadcast along random dims, the
  // first often a strided view. The chain's ops round exactly as the
  // reference does (+ - * / sqrt maximum minimum select ...), so only its last
  // op, which may be a transcendental one, can differ (by its <= 2 ulps);
  // a reduction over the last axis may follow, on data without NaN. A sum
  // or mean of such values may cancel far below the errors of its terms:
  // it must be within 2 ulps of each term, 2^-22 of the sum (mean) of their
  // magnitudes, plus an ulp of its own rounding (1500 trials of seed 7
  // found such sums 6 ulps apart in 11, and nothing else).
  using Unary = std::function<Tensor(const Tensor&)>;
  using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<Unary> exact_unary = {[](const Tensor& x) { return -x; }, [](const Tensor& x) { return tj::abs(x); },
                                          [](const Tensor& x) { return tj::relu(x); }, [](const Tensor& x) { return tj::sqrt(x); },
                                          [](const Tensor& x) { return x * 0.5 + 2.0; }};
  const std::vector<Binary> exact_binary = {
      [](const Tensor& a, const Tensor& b) { return a + b; },          [](const Tensor& a, const Tensor& b) { return a - b; },
      [](const Tensor& a, const Tensor& b) { return a * b; },          [](const Tensor& a, const Tensor& b) { return a / b; },
      [](const Tensor& a, const Tensor& b) { return tj::maximum(a, b); },
      [](const Tensor& a, const Tensor& b) { return tj::where(a > b, b, a * 3.0); }};
  const std::vector<Unary> last = {[](const Tensor& x) { return x; },          [](const Tensor& x) { return tj::exp(x); },
                                   [](const Tensor& x) { return tj::tanh(x); }, [](const Tensor& x) { return tj::log(x); },
                                   [](const Tensor& x) { return tj::sigmoid(x); }, [](const Tensor& x) { return tj::erf(x); },
                                   [](const Tensor& x) { return tj::pow(x, 1.5); }};
  const int64_t dims[] = {0, 1, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100};
  std::mt19937 rng(fuzz_seed(2026));
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint32_t>(n)); };
  const int trials = fuzz_trials(200);
  for (int trial = 0; trial < trials; ++trial) {
    const int rank = 1 + static_cast<int>(pick(3));
    tj::Shape shape, other;
    for (int d = 0; d < rank; ++d) {
      shape.push_back(dims[pick(std::size(dims))]);
      other.push_back(pick(3) == 0 ? 1 : shape.back());  // broadcast along this dim
    }
    const bool reduce = pick(3) == 0;
    auto values = [&](const tj::Shape& s, uint64_t seed) { return reduce ? Tensor::randn(s, seed) : special_values(s, seed); };
    Tensor a = values(shape, trial);
    switch (pick(3)) {  // a strided view with the same shape
      case 0: {
        tj::Shape reversed(shape.rbegin(), shape.rend());
        std::vector<int64_t> perm;
        for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
        a = values(reversed, trial).transpose(perm);
        break;
      }
      case 1: {
        tj::Shape wider = shape;
        wider.back() = shape.back() * 2;
        a = values(wider, trial).slice(rank - 1, 0, wider.back(), 2);
        break;
      }
      default: break;
    }
    const Tensor b = values(other, 1000 + trial);
    std::vector<int> ops;
    const int length = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < length; ++i) ops.push_back(static_cast<int>(pick(static_cast<int64_t>(exact_unary.size() + exact_binary.size()))));
    const int final_op = static_cast<int>(pick(static_cast<int64_t>(last.size())));
    const int reduction = static_cast<int>(pick(3));
    auto program_of = [&](bool magnitudes) {
      return [&, magnitudes](const std::vector<Tensor>& in) {
        Tensor v = in[0];
        for (int op : ops)
          v = op < static_cast<int>(exact_unary.size()) ? exact_unary[op](v) : exact_binary[op - exact_unary.size()](v, in[1]);
        v = last[final_op](v);
        if (magnitudes) v = tj::abs(v);
        if (!reduce || v.shape().empty()) return std::vector{v};
        if (reduction == 0 || v.shape().back() == 0) return std::vector{v.sum({-1}, true)};  // max has no identity
        if (reduction == 1) return std::vector{v.mean({-1})};
        return std::vector{v, v.max({-1}, true)};
      };
    };
    const std::string what = fmt::format("trial {}: a {} (strides {}), b {}, ops {}, last {}, {}", trial, tj::shape_to_string(shape),
                                         fmt::join(a.strides(), ","), tj::shape_to_string(other), fmt::join(ops, ","), final_op,
                                         reduce ? fmt::format("reduction {}", reduction) : "no reduction");
    const bool sums_inexact_terms = reduce && final_op != 0 && reduction != 2 && !shape.empty();
    if (!sums_inexact_terms) {
      expect_llvm_matches(program_of(false), {a, b}, what);
      continue;
    }
    auto reference = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(program_of(false)), tj::JitOptions{.backend = "interp"});
    auto native = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(program_of(false)), tj::JitOptions{.backend = "llvm"});
    auto magnitude = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(program_of(true)), tj::JitOptions{.backend = "interp"});
    const Tensor want = reference({a, b})[0].contiguous(), got = native({a, b})[0].contiguous(), bound = magnitude({a, b})[0].contiguous();
    EXPECT_EQ(native.explain({a, b}).find("code: interp"), std::string::npos) << what << " was not generated";
    ASSERT_EQ(want.shape(), got.shape()) << what;
    for (int64_t i = 0; i < want.numel(); ++i) {
      const float w = want.data<float>()[i], g = got.data<float>()[i];
      if (ulps(w, g) <= kMaxUlps) continue;
      EXPECT_TRUE(std::isfinite(w)) << what << " element " << i << ": expected " << w << ", got " << g;  // Inf and NaN exactly
      const double tolerance = std::ldexp(bound.data<float>()[i], -22) + std::ldexp(std::fabs(w), -23);
      EXPECT_LE(std::fabs(static_cast<double>(g) - w), tolerance) << what << " element " << i << ": expected " << w << ", got " << g;
    }
  }
}

TEST_F(LlvmKernels, RandomMatmuls) {
  // Random matmuls: m, n, k from 0 to 300 (tails of every block size:
  // rows of 4, columns of 128, k of 256), batch dims broadcast either way,
  // either operand a transposed view, then a random epilogue (bias, relu,
  // scale, GELU's tanh).
  const int64_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 129, 257, 300};
  std::mt19937 rng(fuzz_seed(2027));
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint32_t>(n)); };
  const int trials = fuzz_trials(40);
  for (int trial = 0; trial < trials; ++trial) {
    const int64_t m = sizes[pick(std::size(sizes))], n = sizes[pick(std::size(sizes))], k = sizes[pick(std::size(sizes))];
    tj::Shape batch_a, batch_b;
    for (int d = 0, rank = static_cast<int>(pick(3)); d < rank; ++d) {
      const int64_t extent = 1 + pick(3);
      batch_a.push_back(pick(3) == 0 ? 1 : extent);
      batch_b.push_back(pick(3) == 0 ? 1 : extent);
    }
    if (pick(2) == 0 && !batch_b.empty()) batch_b.erase(batch_b.begin());  // B of lower rank
    const bool transpose_a = pick(3) == 0, transpose_b = pick(2) == 0;
    auto operand = [&](tj::Shape batch, int64_t rows, int64_t cols, bool transposed, uint64_t seed) {
      batch.push_back(transposed ? cols : rows);
      batch.push_back(transposed ? rows : cols);
      const Tensor stored = Tensor::randn(batch, seed);
      return transposed ? stored.transpose(-1, -2) : stored;
    };
    const Tensor a = operand(batch_a, m, k, transpose_a, 10 + trial), b = operand(batch_b, k, n, transpose_b, 500 + trial);
    const int epilogue = static_cast<int>(pick(4));
    const std::string what = fmt::format("trial {}: {} @ {} (transposed {}, {}), epilogue {}", trial, tj::shape_to_string(a.shape()),
                                         tj::shape_to_string(b.shape()), transpose_a, transpose_b, epilogue);
    // Kernels sum each block of k in float: a sum's error is relative to
    // the size of its terms, |A| @ |B| (returned too: it sets the
    // tolerance's scale, which a few outputs that cancel would not).
    expect_llvm_matches(
        [epilogue](const auto& in) {
          const Tensor y = tj::matmul(in[0], in[1]), terms = tj::matmul(tj::abs(in[0]), tj::abs(in[1]));
          switch (epilogue) {
            case 0: return std::vector{y, terms};
            case 1: return std::vector{y + in[2], terms};
            case 2: return std::vector{tj::relu(y * 0.25 + in[2]), terms};
            // GELU cancels in 1 + tanh for negative y: tanh's last ulp
            // near -1 is an error of ~6e-8 * |y|, so y (a second output of
            // the kernel) sets the tolerance's scale too.
            default: return std::vector{0.5 * y * (1.0 + tj::tanh(0.7978845608028654 * (y + 0.044715 * y * y * y))), y, terms};
          }
        },
        {a, b, Tensor::randn({n}, 900 + trial)}, what, kMatmulSums);
  }
}

TEST_F(LlvmKernels, RandomRowKernels) {
  // Softmax, log-softmax, layer norm and row statistics over random
  // shapes: rows of 1 to 4100 (tails, cached rows, long rows that row
  // statistics read four at a time), over the last axis or another one (a permuted domain), inputs
  // scaled from 1e-3 to 1e3 or special values, and in a third of the
  // trials strided.
  const int64_t lengths[] = {1, 2, 7, 15, 16, 17, 31, 64, 100, 255, 768, 1024, 2000, 4100};
  std::mt19937 rng(fuzz_seed(2028));
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint32_t>(n)); };
  const int trials = fuzz_trials(40);
  for (int trial = 0; trial < trials; ++trial) {
    const int64_t rows = 1 + pick(40), n = lengths[pick(std::size(lengths))];
    const bool strided = pick(3) == 0, leading_axis = pick(4) == 0;
    const double scale = std::pow(10.0, static_cast<double>(pick(7)) - 3);
    const tj::Shape stored = strided ? tj::Shape{rows, 2 * n} : tj::Shape{rows, n};
    const bool specials = pick(4) == 0;  // NaN, Inf, denormals, +-1e30 among the values
    Tensor x = specials ? special_values(stored, 3000 + trial) : Tensor::randn(stored, 3000 + trial) * scale;
    if (strided) x = x.slice(1, 0, 2 * n, 2);
    if (leading_axis) x = x.transpose(0, 1);  // rows become columns: reductions over axis 0
    const int64_t axis = leading_axis ? 0 : -1;
    const int program = static_cast<int>(pick(4));
    if (program == 1 && specials) continue;  // log-softmax's tolerance scales with the largest result: +-1e30 would void it
    const std::string what = fmt::format("trial {}: {} rows of {} (strided {}, over axis {}), scale {}, specials {}, program {}", trial, rows, n,
                                         strided, axis, scale, specials, program);
    const Tensor gamma = Tensor::randn({x.shape().back()}, 4000 + trial), beta = Tensor::randn({x.shape().back()}, 5000 + trial);
    switch (program) {
      case 0: expect_llvm_matches([axis](const auto& in) { return std::vector{tj::softmax(in[0], axis)}; }, {x}, what, kInUlpsOnly, kSoftmaxUlps); break;
      case 1:  // x - max - log(sum): the log's error is absolute, relative to the largest result
        expect_llvm_matches([axis](const auto& in) { return std::vector{tj::log_softmax(in[0], axis)}; }, {x}, what, kSumsOfProducts); break;
      case 2: {  // without beta within 4 ulps; with it, n * gamma's error is absolute where y cancels (test_llvm_kernels.cpp)
        if (leading_axis) break;
        const auto layer_norm = [](const auto& in) { return std::vector{tj::layer_norm(in[0], in[1], in[2])}; };
        if (trial % 2) expect_llvm_matches(layer_norm, {x, gamma, beta}, what, kSumsOfProducts);
        else expect_llvm_matches(layer_norm, {x, gamma, Tensor::zeros(beta.shape())}, what + ", beta 0", kInUlpsOnly, 4);
        break;
      }
      default:
        expect_llvm_matches([axis](const auto& in) { return std::vector{in[0].max({axis}, true), in[0].min({axis}), (in[0] * in[0]).mean({axis})}; },
                            {x}, what);
    }
  }
}
