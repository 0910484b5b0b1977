// Eager ops run as compiled one-op kernels (frontend/eager.h): the same
// values as the reference interpreter for every op kind, over 0-size dims,
// broadcasts, tails, non-contiguous operands, NaN and Inf; one compile per
// op, attributes and signature (not per scalar value); small ops stay on the
// interpreter; a result never shares an operand's storage; dropped results
// are the next ops' buffers; bad operands are errors naming the op; many
// threads at once.
#include <gtest/gtest.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <functional>
#include <sys/resource.h>
#include <thread>

#include <fmt/format.h>

#include "tensorjit/tensorjit.h"
#include "tests/support/arrays.h"

using tj::Tensor;

namespace {

// Sets the eager compile threshold for one scope.
class CompileMin {
 public:
  explicit CompileMin(int64_t elements) : saved_(tj::eager_compile_min_elements()) { tj::set_eager_compile_min_elements(elements); }
  ~CompileMin() { tj::set_eager_compile_min_elements(saved_); }

 private:
  int64_t saved_;
};

constexpr int64_t kNeverCompile = INT64_MAX;

// The eager compile cache's lookups so far.
int64_t lookups() {
  const tj::JitStats s = tj::eager_stats();
  return s.hits + s.misses;
}

// An op run both ways: compiled, and on the interpreter. Ops that codegen
// does not make (casts, concat, dtypes other than f32) run the interpreter
// both times: `compiled` says which to expect.
enum class Expect { compiled, interpreted };
template <typename Fn>
std::pair<Tensor, Tensor> compiled_and_interpreted(Fn op, Expect expect = Expect::compiled) {
  Tensor compiled, interpreted;
  {
    CompileMin always(0);
    const int64_t before = lookups();
    compiled = op();
    if (expect == Expect::compiled) EXPECT_GT(lookups(), before) << "no compiled kernel ran";
    else EXPECT_EQ(lookups(), before) << "a kernel was compiled for an op that codegen does not make";
  }
  {
    CompileMin never(kNeverCompile);
    interpreted = op();
  }
  return {compiled, interpreted};
}

// Tolerances. The interpreter computes each element in double and rounds
// once; compiled math is within 4 float32 ulps of the correctly rounded
// result (codegen's vector math), so elementwise results may differ by 5
// ulps of the expected value (at least one denormal step). Sums, means and
// matmuls add in another order (matmuls in float per block of 256 k): their
// error bound scales with the sum of the terms' magnitudes, which `scale`
// (the same op on |operands|) gives; 32 float32 epsilons of it, as the
// kernel tests allow matmuls. max and min are exact.
void expect_same(const Tensor& interpreted, const Tensor& compiled, const std::string& what, const Tensor& scale = {}) {
  ASSERT_EQ(interpreted.shape(), compiled.shape()) << what;
  ASSERT_EQ(interpreted.dtype(), compiled.dtype()) << what;
  const std::vector<double> e = tj::testing::values_of(interpreted.array()), g = tj::testing::values_of(compiled.array());
  const std::vector<double> s = scale.defined() ? tj::testing::values_of(scale.array()) : std::vector<double>{};
  for (size_t i = 0; i < e.size(); ++i) {
    if (std::isnan(e[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i << ": " << g[i] << " where NaN was expected";
      continue;
    }
    if (std::isinf(e[i]) || std::isinf(g[i])) {
      EXPECT_EQ(e[i], g[i]) << what << " element " << i;
      continue;
    }
    const double tolerance = s.empty() ? 5 * std::max(std::fabs(e[i]) * FLT_EPSILON / 2, double{FLT_TRUE_MIN})
                                       : 32 * FLT_EPSILON * s[i];
    ASSERT_NEAR(g[i], e[i], tolerance) << what << " element " << i;
  }
}

// Random values with NaN, ±Inf and ±0 among them.
Tensor random_with_specials(const tj::Shape& shape, uint64_t seed) {
  Tensor t = Tensor::randn(shape, seed);
  float* v = t.data<float>();
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
  for (int64_t i = 0; i < t.numel(); i += 7) v[i] = specials[(i / 7 + seed) % 5];
  return t;
}

// Shapes with 0-size dims, a tail of every length to 17, and whole vectors.
std::vector<tj::Shape> shapes() {
  std::vector<tj::Shape> all = {{0}, {3, 0}, {0, 5}, {1}, {16}, {64}, {3, 48}, {2, 3, 33}};
  for (int64_t tail = 1; tail <= 17; tail += 4) all.push_back({5, 16 + tail});
  return all;
}

}  // namespace

TEST(EagerOps, ElementwiseOpsMatchTheInterpreter) {
  using Unary = Tensor (*)(const Tensor&);
  const std::vector<std::pair<std::string, Unary>> unary = {
      {"neg", tj::neg},   {"abs", tj::abs},   {"relu", tj::relu}, {"exp", tj::exp},         {"log", tj::log},
      {"tanh", tj::tanh}, {"sigmoid", tj::sigmoid}, {"sqrt", tj::sqrt}, {"rsqrt", tj::rsqrt}, {"erf", tj::erf},
      {"reciprocal", tj::reciprocal}};
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<std::string, Binary>> binary = {
      {"add", tj::add}, {"sub", tj::sub}, {"mul", tj::mul}, {"div", tj::div}, {"maximum", tj::maximum}, {"minimum", tj::minimum}};
  uint64_t seed = 1;
  for (const tj::Shape& shape : shapes()) {
    const Tensor x = random_with_specials(shape, seed++), y = random_with_specials(shape, seed++);
    const std::string in = " on " + x.to_string();
    for (const auto& [name, fn] : unary) {
      const auto [compiled, interpreted] = compiled_and_interpreted([&] { return fn(x); });
      expect_same(interpreted, compiled, name + in);
    }
    for (const auto& [name, fn] : binary) {
      const auto [compiled, interpreted] = compiled_and_interpreted([&] { return fn(x, y); });
      expect_same(interpreted, compiled, name + in);
    }
    const Tensor positive = tj::abs(x) + 0.5;
    const auto [compiled, interpreted] = compiled_and_interpreted([&] { return tj::pow(positive, y); });
    expect_same(interpreted, compiled, "pow" + in);
    const auto [compiled_where, interpreted_where] = compiled_and_interpreted([&] { return tj::where(x > y, x, y * 2.0); });
    expect_same(interpreted_where, compiled_where, "where(x > y)" + in);
    const Tensor mask = x <= y;
    const auto [compiled_cast, interpreted_cast] = compiled_and_interpreted([&] { return tj::cast(mask, tj::DType::i32); }, Expect::interpreted);
    expect_same(interpreted_cast, compiled_cast, "cast(x <= y)" + in);
  }
}

TEST(EagerOps, BroadcastsAndNonContiguousOperandsMatchTheInterpreter) {
  const Tensor x = random_with_specials({6, 37}, 11), row = Tensor::randn({37}, 12), column = Tensor::randn({6, 1}, 13);
  const Tensor transposed = random_with_specials({37, 6}, 14).T();           // strides [1, 6]
  const Tensor strided = random_with_specials({12, 37}, 15).slice(0, 0, 12, 2);  // every other row
  struct Case {
    std::string what;
    std::function<Tensor()> op;
    Tensor scale;  // two ops in a row: the second's terms set the scale of the first's error
  };
  const std::vector<Case> cases = {
      {"x + row", [&] { return x + row; }, {}},
      {"x * column", [&] { return x * column; }, {}},
      {"row - column", [&] { return row - column; }, {}},
      {"tanh(transposed)", [&] { return tj::tanh(transposed); }, {}},
      {"transposed / strided", [&] { return transposed / strided; }, {}},
      {"exp(strided) + x", [&] { return tj::exp(strided) + x; }, tj::exp(strided) + tj::abs(x)},
      {"x * 0.5 (a scalar operand)", [&] { return x * 0.5; }, {}},
  };
  for (const Case& c : cases) {
    const auto [compiled, interpreted] = compiled_and_interpreted(c.op);
    expect_same(interpreted, compiled, c.what, c.scale);
  }
}

TEST(EagerOps, ReductionsMatmulsAndConcatMatchTheInterpreter) {
  uint64_t seed = 21;
  for (const tj::Shape& shape : {tj::Shape{3, 0}, tj::Shape{1, 1}, tj::Shape{7, 33}, tj::Shape{4, 5, 1030}}) {
    const Tensor x = Tensor::randn(shape, seed++), magnitude = tj::abs(x), special = random_with_specials(shape, seed++);
    for (int64_t axis = 0; axis < x.rank(); ++axis) {
      const std::string on = fmt::format(" over axis {} of {}", axis, x.to_string());
      const auto [sum, sum_reference] = compiled_and_interpreted([&] { return x.sum({axis}); });
      expect_same(sum_reference, sum, "sum" + on, magnitude.sum({axis}));
      const auto [mean, mean_reference] = compiled_and_interpreted([&] { return x.mean({axis}, true); });
      expect_same(mean_reference, mean, "mean" + on, magnitude.mean({axis}, true));
      if (x.numel() == 0) continue;  // max and min of nothing: errors of type inference, before either path
      const auto [max, max_reference] = compiled_and_interpreted([&] { return special.max({axis}); });
      expect_same(max_reference, max, "max with NaN and Inf" + on);
      const auto [min, min_reference] = compiled_and_interpreted([&] { return special.min({axis}, true); });
      expect_same(min_reference, min, "min with NaN and Inf" + on);
    }
    const auto [total, total_reference] = compiled_and_interpreted([&] { return x.sum(); });
    expect_same(total_reference, total, "sum of all of " + x.to_string(), magnitude.sum());
    const auto [joined, joined_reference] = compiled_and_interpreted([&] { return tj::concat({x, x}, -1); }, Expect::interpreted);
    expect_same(joined_reference, joined, "concat of " + x.to_string());
  }
  for (const auto& [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {5, 0, 3}, {17, 300, 19}, {64, 64, 40}}) {
    const Tensor a = Tensor::randn({m, k}, seed++), b = Tensor::randn({k, n}, seed++), bt = Tensor::randn({n, k}, seed++);
    const std::string shapes = fmt::format(" of [{},{}] and [{},{}]", m, k, k, n);
    const auto [product, reference] = compiled_and_interpreted([&] { return tj::matmul(a, b); });
    expect_same(reference, product, "matmul" + shapes, tj::matmul(tj::abs(a), tj::abs(b)));
    const auto [product_t, reference_t] = compiled_and_interpreted([&] { return tj::matmul(a, bt.T()); });
    expect_same(reference_t, product_t, "matmul with B transposed" + shapes, tj::matmul(tj::abs(a), tj::abs(bt).T()));
  }
}

TEST(EagerOps, CompositesMatchTheInterpreter) {
  const Tensor x = Tensor::randn({33, 70}, 31), gamma = Tensor::randn({70}, 32), beta = Tensor::randn({70}, 33);
  // GELU's 1 + tanh(..) cancels where x < 0: tanh's error is one of |x|.
  const auto [gelu, gelu_reference] = compiled_and_interpreted([&] { return tj::gelu(x, true); });
  expect_same(gelu_reference, gelu, "gelu", tj::abs(x));
  // Softmax and layer norm divide by sums: their relative error is the sum's.
  const auto [softmax, softmax_reference] = compiled_and_interpreted([&] { return tj::softmax(x, -1); });
  expect_same(softmax_reference, softmax, "softmax", softmax_reference);
  const auto [norm, norm_reference] = compiled_and_interpreted([&] { return tj::layer_norm(x, gamma, beta); });
  expect_same(norm_reference, norm, "layer_norm", tj::abs(norm_reference) + 1.0);
}

TEST(EagerOps, CompileOncePerOpAndSignatureNotPerScalarValue) {
  CompileMin always(0);
  const Tensor x = Tensor::randn({40, 50}, 41);
  const int64_t before = tj::eager_stats().compiles, hits_before = tj::eager_stats().hits;
  const Tensor a = x * 2.0;  // a scalar operand is an input of the kernel, not a constant in it
  const Tensor b = x * 3.0;
  EXPECT_EQ(tj::eager_stats().compiles, before + 1);
  EXPECT_EQ(tj::testing::values_of(b.array())[7], static_cast<double>(x.data<float>()[7] * 3.0f));
  const Tensor c = x.T() * 2.0;  // new strides: a new signature
  const Tensor d = x.reshape({50, 40}) * 2.0;  // new shape
  EXPECT_EQ(tj::eager_stats().compiles, before + 3);
  const Tensor e = x.sum({0});
  const Tensor f = x.sum({1});  // new attributes: another op
  EXPECT_EQ(tj::eager_stats().compiles, before + 5);
  EXPECT_EQ(tj::eager_stats().hits, hits_before + 1);
}

TEST(EagerOps, SmallOpsRunTheInterpreter) {
  CompileMin threshold(1000);
  const int64_t before = tj::eager_stats().compiles;
  const Tensor small = Tensor::randn({999}, 51), large = Tensor::randn({1000}, 52);
  EXPECT_NO_THROW(tj::exp(small) + small.sum());
  EXPECT_EQ(tj::eager_stats().compiles, before);
  const Tensor views = large.reshape({10, 100}).T().slice(0, 0, 50);  // views never compile
  EXPECT_EQ(tj::eager_stats().compiles, before);
  EXPECT_NO_THROW(tj::exp(large));
  EXPECT_NO_THROW(small.sum() + large);  // counts the largest operand
  EXPECT_EQ(tj::eager_stats().compiles, before + 2);
  EXPECT_THROW(tj::set_eager_compile_min_elements(-1), tj::Error);
}

TEST(EagerOps, ResultsNeverShareAnOperandsStorage) {
  CompileMin always(0);
  Tensor x = Tensor::randn({8, 9}, 61);
  for (const Tensor& y : {tj::cast(x, tj::DType::f32), x + 0.0, x * 1.0, tj::concat({x}, 0), tj::maximum(x, x)}) {
    ASSERT_NE(y.array().storage(), x.array().storage());
    const float kept = y.array().data<float>()[0];
    x.data<float>()[0] = kept + 1;
    EXPECT_EQ(y.array().data<float>()[0], kept);
  }
}

TEST(EagerOps, BadOperandsAreErrorsNamingTheOp) {
  CompileMin always(0);
  const Tensor x = Tensor::randn({2, 3}, 71);
  try {
    (void)(x + Tensor::randn({4}, 72));
    FAIL() << "no error";
  } catch (const tj::Error& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2,3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tj::matmul(x, x), tj::Error);
  EXPECT_THROW(x.sum({2}), tj::Error);
}

TEST(EagerOps, ManyThreadsAtOnce) {
  CompileMin always(0);
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &failures] {
      for (int round = 0; round < 20; ++round) {
        // The same shapes in every thread: they compile each signature once, together.
        const Tensor x = Tensor::full({3 + round % 3, 17 + round % 2}, t + 1.0);
        const Tensor y = tj::relu(x * 2.0 - 1.0).sum({1});
        const double expected = (2.0 * (t + 1) - 1) * (17 + round % 2);
        for (double v : tj::testing::values_of(y.array()))
          if (v != expected) failures[t] = fmt::format("thread {} round {}: {} instead of {}", t, round, v, expected);
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::string& failure : failures) EXPECT_EQ(failure, "");
}

TEST(EagerOps, ConcreteOpsInsideATrace) {
  CompileMin always(0);
  const Tensor w = Tensor::randn({20, 30}, 81);
  // w * 2 runs eagerly (compiled, in a trace of its own) while f is traced; f captures its result.
  auto f = tj::jit([&](const Tensor& x) { return x + w * 2.0; });
  const Tensor x = Tensor::randn({20, 30}, 82);
  const int64_t before = lookups();
  const std::vector<double> got = tj::testing::values_of(f(x).array());
  EXPECT_EQ(lookups(), before + 1);
  for (int i : {0, 299, 599}) EXPECT_FLOAT_EQ(got[i], x.data<float>()[i] + 2.0f * w.data<float>()[i]);
}

TEST(EagerOps, OtherDtypesRunTheInterpreter) {
  // Codegen makes f32 code only: a compile would only run the interpreter
  // inside the program and copy its result.
  for (tj::DType dtype : {tj::DType::f64, tj::DType::i32, tj::DType::i64}) {
    const Tensor a = tj::cast(Tensor::randn({9, 35}, 83) * 100.0, dtype), b = tj::cast(Tensor::randn({35}, 84) * 100.0, dtype);
    const auto [sums, sums_reference] = compiled_and_interpreted([&] { return (a * b - a).sum({1}); }, Expect::interpreted);
    expect_same(sums_reference, sums, "sums of products on " + a.to_string());
  }
}

TEST(EagerOps, DroppedResultsAreTheNextOpsBuffers) {
  // Eager results come from one pool: an op's output reuses a result of the
  // same size that any op dropped, so a loop of eager ops faults no pages.
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer quarantines freed blocks, so small allocations land on new pages";
#endif
  CompileMin always(0);
  const Tensor odd = Tensor::randn({517, 1031}, 90);  // a size no other test uses
  const void* dropped = nullptr;
  {
    const Tensor t = tj::tanh(odd);
    dropped = t.array().data<float>();
  }
  EXPECT_EQ(tj::exp(odd).array().data<float>(), dropped) << "exp's result is not in the buffer of tanh's dropped result";
  const Tensor x = Tensor::randn({512, 1024}, 91);  // 2 MiB per result: a new one would fault 512 pages
  auto step = [&] { return (tj::tanh(x) * 2.0 + x).sum({1}).data<float>()[3] + tj::exp(x).data<float>()[5]; };
  for (int i = 0; i < 3; ++i) step();
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  double checksum = 0;
  for (int i = 0; i < 10; ++i) checksum += step();
  getrusage(RUSAGE_SELF, &after);
  EXPECT_TRUE(std::isfinite(checksum));
  EXPECT_EQ(after.ru_minflt - before.ru_minflt, 0) << "minor page faults in 10 rounds of eager ops";
}
