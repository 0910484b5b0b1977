// tj::jit against eager execution: the same numbers for elementwise chains,
// softmax, layer norm, an MLP, attention with transposes, reductions and
// views; recompiles on new signatures only; many threads compile a
// signature once; traced branches fail clearly; the cache stays bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <cfloat>
#include <cmath>
#include <functional>
#include <thread>

#include "tensorjit/tensorjit.h"
#include "tests/support/arrays.h"

using tj::Tensor;

namespace {

// Jitted and eager results agree to a few float32 ulps: fusion reorders no
// elementwise arithmetic (kernels evaluate each op exactly as eager does),
// so the only differences come from simplifications such as x/2 -> x*0.5,
// which are exact; 1e-6 relative leaves room for reductions, which sum in
// double in another order. Matmul kernels sum each block of 256 k in float
// (codegen/llvm/emit_matmul.cpp), as BLAS does, where eager sums in double:
// their results (`sums_of_products`) may also differ by 8 float32
// epsilons of the largest result, the scale of the terms that cancel.
constexpr double kRelTol = 1e-6;
constexpr double kAbsTol = 1e-6;

void expect_close(const Tensor& expected, const Tensor& got, const std::string& what, bool sums_of_products = false) {
  ASSERT_EQ(expected.shape(), got.shape()) << what;
  ASSERT_EQ(expected.dtype(), got.dtype()) << what;
  const std::vector<double> e = tj::testing::values_of(expected.array()), g = tj::testing::values_of(got.array());
  double scale = 0;
  for (double v : e)
    if (sums_of_products && std::isfinite(v)) scale = std::max(scale, 8 * FLT_EPSILON * std::fabs(v));
  for (size_t i = 0; i < e.size(); ++i) {
    if (std::isnan(e[i]) && std::isnan(g[i])) continue;
    if (std::isinf(e[i]) || std::isinf(g[i])) {
      EXPECT_EQ(e[i], g[i]) << what << " element " << i;
      continue;
    }
    ASSERT_NEAR(g[i], e[i], kAbsTol + kRelTol * std::fabs(e[i]) + scale) << what << " element " << i;
  }
}

struct Case {
  std::string name;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> fn;
  std::vector<tj::Shape> shapes;
  bool sums_of_products = false;  // has matmuls (expect_close)
};

std::vector<Case> cases() {
  const Tensor w1 = Tensor::randn({16, 32}, 101), b1 = Tensor::randn({32}, 102);
  const Tensor w2 = Tensor::randn({32, 16}, 103), b2 = Tensor::randn({16}, 104);
  const Tensor gamma = Tensor::randn({24}, 105), beta = Tensor::randn({24}, 106);
  const Tensor wl = Tensor::randn({8, 24}, 107), bl = Tensor::randn({8}, 108);
  return {
      {"elementwise_chain", [](const auto& in) { return std::vector{tj::relu(in[0] * 2.0 + 1.0) - tj::exp(-in[0])}; }, {{7, 33}}},
      {"broadcast_bias_relu_scale", [](const auto& in) { return std::vector{tj::relu(in[0] + in[1]) * 0.5}; }, {{9, 17}, {17}}},
      {"gelu_erf", [](const auto& in) { return std::vector{tj::gelu(in[0])}; }, {{5, 31}}},
      {"gelu_tanh", [](const auto& in) { return std::vector{tj::gelu(in[0], true)}; }, {{5, 31}}},
      {"silu_sigmoid_tanh", [](const auto& in) { return std::vector{tj::silu(in[0]) + tj::tanh(in[0]) * tj::sigmoid(in[0])}; }, {{65}}},
      {"softmax", [](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {{6, 100}}},
      {"softmax_axis0", [](const auto& in) { return std::vector{tj::softmax(in[0], 0)}; }, {{6, 10}}},
      {"log_softmax", [](const auto& in) { return std::vector{tj::log_softmax(in[0])}; }, {{4, 50}}},
      {"layer_norm", [=](const auto& in) { return std::vector{tj::layer_norm(in[0], gamma, beta)}; }, {{10, 24}}},
      {"mlp_with_captured_weights",
       [=](const auto& in) { return std::vector{tj::matmul(tj::gelu(tj::matmul(in[0], w1) + b1, true), w2) + b2}; },
       {{12, 16}}, true},
      {"linear", [=](const auto& in) { return std::vector{tj::linear(in[0], wl, bl)}; }, {{3, 24}}, true},
      {"attention_with_transposes",
       [](const auto& in) {
         const Tensor scores = tj::matmul(in[0], in[1].transpose(-2, -1)) * 0.25;
         return std::vector{tj::matmul(tj::softmax(scores, -1), in[2])};
       },
       {{2, 3, 8, 16}, {2, 3, 8, 16}, {2, 3, 8, 16}}, true},
      {"reductions",
       [](const auto& in) {
         return std::vector{in[0].sum({1}), in[0].mean({0}, true), in[0].max(), in[0].min({-1}, true)};
       },
       {{8, 13}}},
      {"views_slice_reshape_transpose",
       [](const auto& in) {
         const Tensor s = in[0].slice({0, 1}, {6, 12}, {2, 3});  // [3,4]
         return std::vector{s.reshape({2, 6}).transpose({1, 0}) + 1.0, in[0].T().reshape({-1})};
       },
       {{6, 12}}},
      {"compare_where_cast",
       [](const auto& in) {
         const Tensor mask = in[0] > in[1];
         return std::vector{tj::where(mask, in[0], in[1] * 2.0), tj::cast(mask, tj::DType::i32).sum({1})};
       },
       {{5, 7}, {5, 7}}},
      {"concat_and_two_outputs",
       [](const auto& in) {
         const Tensor y = tj::exp(in[0]);
         return std::vector{tj::concat({y, in[0], -in[0]}, 1), y.sum({1})};
       },
       {{4, 3}}},
      {"pow_sqrt_rsqrt_log_abs",
       [](const auto& in) {
         const Tensor a = tj::abs(in[0]) + 0.1;
         return std::vector{tj::pow(a, 2.0) + tj::sqrt(a) * tj::rsqrt(a) - tj::log(a) / tj::reciprocal(a)};
       },
       {{3, 11}}},
  };
}

std::vector<Tensor> random_inputs(const std::vector<tj::Shape>& shapes, uint64_t seed) {
  std::vector<Tensor> in;
  for (const tj::Shape& s : shapes) in.push_back(Tensor::randn(s, seed++));
  return in;
}

}  // namespace

TEST(Jit, MatchesEagerOnManyFunctions) {
  const std::vector<Case> all = cases();
  ASSERT_GE(all.size(), 15u);
  for (const Case& c : all) {
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> in = random_inputs(c.shapes, 7);
    const std::vector<Tensor> eager = c.fn(in);
    auto f = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(c.fn));
    const std::vector<Tensor> jitted = f(in);
    ASSERT_EQ(eager.size(), jitted.size());
    for (size_t i = 0; i < eager.size(); ++i) expect_close(eager[i], jitted[i], c.name + " result " + std::to_string(i), c.sums_of_products);
  }
}

TEST(Jit, CompilesOncePerSignature) {
  auto f = tj::jit([](const Tensor& x) { return tj::exp(x) + 1.0; });
  const Tensor a = Tensor::randn({4, 8}, 1), b = Tensor::randn({4, 8}, 2), c = Tensor::randn({4, 9}, 3);
  f(a);
  f(b);
  EXPECT_EQ(f.stats().compiles, 1);
  EXPECT_EQ(f.stats().hits, 1);
  EXPECT_EQ(f.stats().last_miss, "first call");
  f(c);
  EXPECT_EQ(f.stats().compiles, 2);
  EXPECT_EQ(f.stats().last_miss, "input 0: f32[4,8] contiguous -> f32[4,9] contiguous");
  f(tj::cast(a, tj::DType::f64));
  EXPECT_EQ(f.stats().last_miss, "input 0: f32[4,9] contiguous -> f64[4,8] contiguous");
  f(Tensor::randn({8, 4}, 4).T());  // same shape as a, other strides
  EXPECT_EQ(f.stats().last_miss, "input 0: f64[4,8] contiguous -> f32[4,8] strides [1,4]");
  f(a);
  EXPECT_EQ(f.stats().compiles, 4);
  EXPECT_EQ(f.stats().misses, 4);
  EXPECT_EQ(f.stats().hits, 2);
  EXPECT_GT(f.stats().compile_ms, 0);
}

TEST(Jit, ThreadsCompileEachSignatureOnce) {
  std::atomic<int> traces = 0;
  auto f = tj::jit([&](const Tensor& x) {
    ++traces;
    return tj::softmax(x * 3.0, -1);
  });
  const std::vector<tj::Shape> shapes = {{16, 32}, {8, 100}, {3, 7}};
  std::vector<Tensor> inputs, expected;
  for (size_t i = 0; i < shapes.size(); ++i) {
    inputs.push_back(Tensor::randn(shapes[i], 10 + i));
    expected.push_back(tj::softmax(inputs.back() * 3.0, -1));
  }
  std::vector<std::thread> threads;
  std::atomic<int> wrong = 0;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round)
        for (size_t i = 0; i < shapes.size(); ++i) {
          const size_t s = (i + t) % shapes.size();
          const Tensor y = f(inputs[s]);
          const std::vector<double> e = tj::testing::values_of(expected[s].array()), g = tj::testing::values_of(y.array());
          for (size_t k = 0; k < e.size(); ++k)
            if (std::fabs(e[k] - g[k]) > kAbsTol + kRelTol * std::fabs(e[k])) ++wrong;
        }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(f.stats().compiles, 3);
  EXPECT_EQ(traces.load(), 3);
  EXPECT_EQ(f.stats().hits + f.stats().misses, 8 * 5 * 3);
}

TEST(Jit, CacheStaysBounded) {
  // The cache does not depend on the backend; the interpreter keeps 10,000
  // compiles fast (LLVM takes milliseconds per kernel).
  auto f = tj::jit([](const Tensor& x) { return x * 2.0 + 1.0; }, tj::JitOptions{.backend = "interp", .cache_capacity = 16});
  constexpr int kShapes = 10000;
  for (int n = 1; n <= kShapes; ++n) {
    const Tensor y = f(Tensor::full({n}, 1.5));
    if (n % 2500 == 0) {
      EXPECT_EQ(y.array().data<float>()[n - 1], 4.0f);
    }
    ASSERT_LE(f.stats().cached, 16u);
  }
  EXPECT_EQ(f.stats().compiles, kShapes);
  EXPECT_EQ(f.stats().evictions, kShapes - 16);
  f(Tensor::full({kShapes}, 1.0));  // still cached: most recent
  EXPECT_EQ(f.stats().compiles, kShapes);
  f(Tensor::full({1}, 1.0));  // evicted long ago
  EXPECT_EQ(f.stats().compiles, kShapes + 1);
  EXPECT_EQ(f.stats().last_miss, "input 0: f32[10000] contiguous -> f32[1] contiguous");
}

TEST(Jit, BranchingOnATracedValueFails) {
  auto f = tj::jit([](const Tensor& x) {
    if (x.sum() > 0.0) return x;  // value-dependent control flow
    return -x;
  });
  try {
    f(Tensor::randn({3}, 1));
    FAIL() << "no error";
  } catch (const tj::Error& e) {
    EXPECT_NE(std::string(e.what()).find("value-dependent control flow cannot be traced"), std::string::npos) << e.what();
  }
  auto g = tj::jit([](const Tensor& x) { return x * x.data<float>()[0]; });
  EXPECT_THROW(g(Tensor::randn({3}, 1)), tj::Error);
  auto h = tj::jit([](const Tensor& x) { return x * x.item(); });
  EXPECT_THROW(h(Tensor::randn({}, 1)), tj::Error);
  // Shape-dependent control flow is fine: shapes are known while tracing.
  auto k = tj::jit([](const Tensor& x) { return x.shape()[0] > 2 ? x * 2.0 : x; });
  EXPECT_EQ(k(Tensor::full({3}, 1.0)).array().data<float>()[0], 2.0f);
  EXPECT_EQ(k(Tensor::full({2}, 1.0)).array().data<float>()[0], 1.0f);
}

TEST(Jit, CapturedTensorsBecomeConstants) {
  Tensor w = Tensor::randn({4, 4}, 5);
  auto f = tj::jit([&](const Tensor& x) { return tj::matmul(x, w); });
  const Tensor x = Tensor::randn({2, 4}, 6);
  expect_close(tj::matmul(x, w), f(x), "captured weight", true);
  const std::string report = tj::explain(f, x);
  EXPECT_NE(report.find("matmul"), std::string::npos) << report;
}

TEST(Jit, CapturedWeightsArePackedOnce) {
  // A matmul's B is packed into panels before its kernel runs: a captured
  // weight (a constant) at the first call only, and the calls after read
  // that copy; a weight passed as an input on every call.
  const Tensor w = Tensor::randn({40, 70}, 7);
  auto captured = tj::jit([&](const Tensor& x) { return tj::relu(tj::matmul(x, w)); }, tj::JitOptions{.backend = "llvm"});
  auto passed = tj::jit([](const Tensor& x, const Tensor& weight) { return tj::relu(tj::matmul(x, weight)); }, tj::JitOptions{.backend = "llvm"});
  for (uint64_t seed = 8; seed < 11; ++seed) {
    const Tensor x = Tensor::randn({13, 40}, seed);
    const std::string at = "call with seed " + std::to_string(seed);
    expect_close(tj::relu(tj::matmul(x, w)), captured(x), "captured weight, " + at, true);
    const Tensor weight = seed == 9 ? Tensor::randn({40, 70}, 12) : w;  // another weight in one call
    expect_close(tj::relu(tj::matmul(x, weight)), passed(x, weight), "weight as an input, " + at, true);
  }
  const Tensor x = Tensor::randn({13, 40}, 11);
  EXPECT_NE(tj::explain(captured, x).find(", B (a constant) packed once"), std::string::npos) << tj::explain(captured, x);
  EXPECT_NE(tj::explain(passed, x, w).find(", B packed on every call"), std::string::npos) << tj::explain(passed, x, w);
}

TEST(Jit, TuplesPairsAndNestedJit) {
  auto inner = tj::jit([](const Tensor& x) { return tj::exp(x); });
  auto f = tj::jit([&](const Tensor& a, const Tensor& b) { return std::make_tuple(inner(a) + b, a - b, b); });
  const Tensor a = Tensor::randn({3}, 1), b = Tensor::randn({3}, 2);
  const auto [s, d, same] = f(a, b);
  expect_close(tj::exp(a) + b, s, "sum");
  expect_close(a - b, d, "difference");
  expect_close(b, same, "identity result");
  EXPECT_EQ(inner.stats().compiles, 0);  // inlined into f's trace
  auto g = tj::jit([](const Tensor& a, const Tensor& b) { return std::make_pair(a * b, a + b); });
  expect_close(a * b, g(a, b).first, "pair");
}

TEST(Jit, WrongInputsRaiseErrorsNamingShapes) {
  auto f = tj::jit([](const Tensor& a, const Tensor& b) { return tj::matmul(a, b); });
  try {
    f(Tensor::randn({2, 3}, 1), Tensor::randn({4, 5}, 2));
    FAIL() << "no error";
  } catch (const tj::Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul: inner dimensions differ (3 vs 4) (operands: f32[2,3], f32[4,5])"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(f.stats().cached, 0u);  // a failed trace is not cached
  EXPECT_THROW(f(Tensor(), Tensor::randn({2}, 1)), tj::Error);
  EXPECT_THROW(f(Tensor::randn({2}, 1), tj::cast(Tensor::randn({2}, 1), tj::DType::i32)), tj::Error);
  EXPECT_THROW(tj::jit([](const Tensor& x) { return x; }, tj::JitOptions{.backend = "xbyak"}), tj::Error);
}

TEST(Jit, EscapedTracedTensorsAreErrors) {
  Tensor leaked;
  auto f = tj::jit([&](const Tensor& x) {
    leaked = x * 2.0;
    return leaked;
  });
  f(Tensor::randn({2}, 1));
  EXPECT_TRUE(leaked.is_traced());
  EXPECT_THROW(leaked + 1.0, tj::Error);
  EXPECT_THROW(leaked.item(), tj::Error);
}

TEST(Tensor, FromBlobWrapsWithoutCopying) {
  std::vector<float> data = {1, 2, 3, 4, 5, 6};
  const Tensor t = Tensor::from_blob(data.data(), {2, 3});
  EXPECT_EQ(t.array().data<float>(), data.data());
  const Tensor strided = Tensor::from_blob(data.data(), {3}, tj::DType::f32, {2});
  EXPECT_EQ(tj::testing::values_of((strided * 1.0).array()), (std::vector<double>{1, 3, 5}));
  EXPECT_THROW(Tensor::from_blob(nullptr, {2}), tj::Error);
  EXPECT_THROW(Tensor::from_blob(reinterpret_cast<char*>(data.data()) + 1, {2}), tj::Error);
  EXPECT_THROW(Tensor::from_blob(data.data(), {2, 3}, tj::DType::f32, {1}), tj::Error);
  EXPECT_NO_THROW(Tensor::from_blob(nullptr, {0, 3}));
}

TEST(Tensor, EagerOpsComputeAtOnce) {
  const Tensor x = Tensor::full({2, 2}, 3.0);
  EXPECT_FALSE(x.is_traced());
  EXPECT_EQ((x * 2.0).array().data<float>()[3], 6.0f);
  EXPECT_EQ((1.0 - x).array().data<float>()[0], -2.0f);
  EXPECT_EQ((x > 2.0).dtype(), tj::DType::boolean);
  EXPECT_EQ(x.sum().item(), 12.0);
  EXPECT_TRUE(static_cast<bool>(x.sum() > 11.0));
  EXPECT_THROW(x.item(), tj::Error);
  EXPECT_THROW(x + Tensor::full({3}, 1.0), tj::Error);
  EXPECT_THROW(x.data<double>(), tj::Error);
}

TEST(Jit, UsesTheApplicationsParallelFor) {
  std::atomic<int> calls = 0;
  tj::set_parallel_for([&](int64_t count, int64_t, const tj::RangeBody& body) {
    ++calls;
    body(0, count);
  });
  auto f = tj::jit([](const Tensor& x) { return tj::softmax(x, -1); });
  const Tensor x = Tensor::randn({512, 512}, 3);  // above the grain: work under it runs inline
  const Tensor y = f(x);
  tj::set_parallel_for({});
  EXPECT_GT(calls.load(), 0);
  expect_close(tj::softmax(x, -1), y, "softmax under the application's parallel_for");
}

TEST(Jit, ExplainReportsEveryKernel) {
  const Tensor q = Tensor::randn({2, 8, 16}, 1), k = Tensor::randn({2, 8, 16}, 2);
  auto f = tj::jit([](const Tensor& q, const Tensor& k) {
    return tj::matmul(tj::softmax(tj::matmul(q, k.transpose(-2, -1)) * 0.25, -1), k);
  });
  const std::string report = tj::explain(f, q, k);
  EXPECT_NE(report.find("tensorjit explain: @traced, 3 kernels"), std::string::npos) << report;
  EXPECT_NE(report.find("kernel 1 (reduce): fuses"), std::string::npos) << report;
  EXPECT_NE(report.find("not fused with kernel 0: matmul"), std::string::npos) << report;
  EXPECT_NE(report.find("machine limits at "), std::string::npos) << report;
  EXPECT_NE(report.find("  threads: "), std::string::npos) << report;
  EXPECT_NE(report.find("% of fma"), std::string::npos) << report;    // the matmuls, against the FMA peak
  EXPECT_NE(report.find("% of triad"), std::string::npos) << report;  // softmax, against memory
  for (const char* phase : {"lower ", "emit IR ", "optimize ", "machine code "}) EXPECT_NE(report.find(phase), std::string::npos) << phase;
  // Sums of products that cancel keep their terms' rounding: the error is
  // bounded relative to the result's scale (8 float32 epsilons), not per element.
  const std::string error = "max error against the interpreter: ";
  const size_t at = report.find(error);
  ASSERT_NE(at, std::string::npos) << report;
  EXPECT_LT(std::stod(report.substr(at + error.size())), 8 * 1.2e-7) << report;

  const std::string json = tj::explain_json(f, q, k);
  EXPECT_EQ(json.front(), '{') << json;
  for (const char* key : {"\"kernels\": [", "\"compile_ms\": {\"lower\"", "\"run_ms\"", "\"limit\": \"fma\"", "\"max_error\""})
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
}
