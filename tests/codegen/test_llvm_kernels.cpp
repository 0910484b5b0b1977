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
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tensorjit/tensorjit.h"
#include "tests/support/arrays.h"

using tj::Tensor;

namespace {

constexpr int64_t kMaxUlps = 2;

int64_t ordered(float f) {
  const int32_t bits = std::bit_cast<int32_t>(f);
  return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : bits;
}

// Distance in float32 ulps; NaN matches NaN and -0 matches +0.
int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  if (a == b) return 0;
  return std::llabs(ordered(a) - ordered(b));
}

Tensor special_values(const tj::Shape& shape, uint64_t seed) {
  Tensor t = Tensor::randn(shape, seed) * 3.0;
  const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -1e-40f, 88.8f, -104.0f, 1e30f, -1e30f, 0.5f, 3.5f};
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i += 3) p[i] = specials[(i / 3) % std::size(specials)];
  return t;
}

using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs fn on both backends and compares; requires every kernel to be native
// code. With `sums_of_products`, an element may differ by 8 float32 epsilons
// of the largest result instead: a dot product that cancels to near zero
// keeps the rounding of its terms, whose size is the result's scale.
void expect_llvm_matches(const Fn& fn, const std::vector<Tensor>& inputs, const std::string& what, bool sums_of_products = false,
                         int64_t max_ulps = kMaxUlps) {
  auto reference = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "interp"});
  auto native = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "llvm"});
  const std::vector<Tensor> expected = reference(inputs), got = native(inputs);
  const std::string report = native.explain(inputs);
  EXPECT_EQ(report.find("code: interp"), std::string::npos) << what << " was not generated:\n" << report;
  ASSERT_EQ(expected.size(), got.size());
  for (size_t r = 0; r < expected.size(); ++r) {
    ASSERT_EQ(expected[r].shape(), got[r].shape()) << what;
    const std::vector<double> e = tj::testing::values_of(expected[r].array()), g = tj::testing::values_of(got[r].array());
    double scale = 0;
    for (double v : e)
      if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < e.size(); ++i) {
      if (sums_of_products && std::fabs(e[i] - g[i]) <= 8 * FLT_EPSILON * scale) continue;
      const int64_t d = ulps(static_cast<float>(e[i]), static_cast<float>(g[i]));
      ASSERT_LE(d, max_ulps) << what << " result " << r << " element " << i << ": expected " << e[i] << ", got " << g[i];
    }
  }
}

// ctest runs this suite again with TJ_ISA=avx2 and TJ_ISA=avx512 (see
// tests/CMakeLists.txt); the AVX-512 run skips on a CPU without it.
class LlvmKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* isa = std::getenv("TJ_ISA");
    __builtin_cpu_init();
    if (isa && std::string_view(isa) == "avx512" && !__builtin_cpu_supports("avx512f"))
      GTEST_SKIP() << "TJ_ISA=avx512, but this CPU has no AVX-512 (its code is checked as assembly by LlvmIsa)";
  }
};

// Softmax: exp(x - max) and the row's sum each within 1 ulp of the
// reference's (measured), the quotient rounded once more: up to 3 ulps.
constexpr int64_t kSoftmaxUlps = 4;

const std::vector<tj::Shape> kShapes = {{0}, {1}, {7}, {8}, {9}, {15}, {17}, {31}, {3, 5}, {4, 33}, {2, 0, 3}, {2, 3, 19}, {1000}};

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
  for (const tj::Shape& shape : std::vector<tj::Shape>{{1, 1}, {3, 7}, {5, 8}, {4, 17}, {2, 3, 33}, {64, 100}, {0, 5}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    const Tensor x = special_values(shape, 6), clean = Tensor::randn(shape, 7);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].max({-1}), in[0].min({-1}, true)}; }, {x}, "max, min" + at);
    // Sums with NaN and Inf, but not with +-1e30 in one row: cancelling them
    // exposes the summation order (the reference compensates every step, the
    // kernels only across vector lanes), which no float32 library fixes.
    Tensor y = x.contiguous();
    for (int64_t i = 0; i < y.numel(); ++i)
      if (std::fabs(y.data<float>()[i]) == 1e30f) y.data<float>()[i] = 7.0f;
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({-1}, true)}; }, {y}, "sum" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].mean({-1}, true)}; }, {clean}, "mean" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {clean}, "softmax" + at);
    const int64_t n = shape.back();
    expect_llvm_matches([&](const auto& in) { return std::vector{tj::layer_norm(in[0], in[1], in[2])}; },
                        {clean, Tensor::randn({n}, 8), Tensor::randn({n}, 9)}, "layer_norm" + at);
  }
  // Reductions over a leading axis: the domain is permuted, loads become strided.
  expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({0}, true), in[0].max({0}, true)}; },
                      {special_values({33, 5}, 10)}, "column reductions");
  expect_llvm_matches([](const auto& in) { return std::vector{tj::exp(in[0]), tj::exp(in[0]).sum({1})}; },
                      {Tensor::randn({6, 300}, 11)}, "exp and its row sums, written once");
}

TEST_F(LlvmKernels, LargeOutputsWithStreamingStores) {
  // Outputs of 8 MiB or more are written with non-temporal stores where the
  // kernel's first address is aligned; an application's parallel_for that
  // splits at odd elements makes every chunk but the first unaligned, so
  // both ways of storing run, and both must give the interpreter's values.
  const Tensor flat = special_values({(int64_t{1} << 21) + 5}, 20), rows = Tensor::randn({2049, 1024}, 21);
  const auto elementwise = [](const auto& in) { return std::vector{tj::exp(in[0]) * 2.0 + 1.0}; };
  const auto softmax = [](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; };
  expect_llvm_matches(elementwise, {flat}, "a large elementwise kernel");
  expect_llvm_matches(softmax, {rows}, "a large softmax", false, kSoftmaxUlps);
  tj::set_parallel_for([](int64_t count, int64_t, const tj::RangeBody& body) {
    for (int64_t begin = 0; begin < count; begin += 1000003) body(begin, std::min(count, begin + 1000003));
  });
  expect_llvm_matches(elementwise, {flat}, "a large elementwise kernel in chunks at odd elements");
  expect_llvm_matches(softmax, {rows}, "a large softmax in chunks", false, kSoftmaxUlps);
  tj::set_parallel_for({});
  // Rows of an odd length (not whole vectors) store through the cache.
  expect_llvm_matches([](const auto& in) { return std::vector{tj::relu(in[0] + in[1])}; },
                      {Tensor::randn({2049, 1025}, 22), Tensor::randn({1025}, 23)}, "a large kernel of odd rows");
}

TEST_F(LlvmKernels, LongRowsReadAsTwoStreams) {
  // Reductions over rows of 2^14 elements or more take their two vectors
  // per trip from the row's two halves; the rest of the row (an odd number
  // of vectors, then a tail) follows.
  for (const tj::Shape& shape : std::vector<tj::Shape>{{3, 16384}, {2, 16384 + 8 * 3 + 5}, {(int64_t{1} << 20) + 7}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    const Tensor x = special_values(shape, 30), clean = Tensor::randn(shape, 31);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].max({-1}), in[0].min({-1}, true)}; }, {x}, "max, min" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({-1}), in[0].mean({-1})}; }, {clean}, "sum, mean" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {clean}, "softmax" + at);
  }
}

// Whether fn's kernels include a software-pipelined loop: its optimized IR
// (TJ_DUMP=opt into a fresh directory) has the pipeline's blocks.
bool pipelined(const Fn& fn, const std::vector<Tensor>& inputs) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tj_pipelined_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  setenv("TJ_DUMP", "opt", 1);
  setenv("TJ_DUMP_DIR", dir.c_str(), 1);
  tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "llvm"})(inputs);
  unsetenv("TJ_DUMP");
  unsetenv("TJ_DUMP_DIR");
  bool found = false;
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(file.path());
    found |= std::string(std::istreambuf_iterator<char>(in), {}).find("pipeline.header:") != std::string::npos;
  }
  std::filesystem::remove_all(dir);
  return found;
}

TEST_F(LlvmKernels, PipelinedLongChains) {
  // Kernels that only compute and store, with long math (tanh, GELU, exp's
  // cold branch), run software-pipelined in up to 4 stages
  // (codegen/llvm/pipeline.h): the first trips fill the pipeline and the last
  // drain it, with each stage's vector clamped into the range. So: 0 to 7
  // whole vectors at 8 lanes and 0 to 6 at 16, tails, strided, reversed and
  // broadcast inputs (along rows and along the inner dim), two outputs (one
  // boolean), a boolean input, two cold branches in different stages, a row
  // kernel's last pass and a matmul's epilogue.
  const auto gelu = [](const Tensor& x) { return x * 0.5 * (tj::tanh((x + x * x * x * 0.044715) * 0.7978845608) + 1.0); };
  // 1 + tanh(u) cancels for negative u: tanh's last-ulp differences near -1
  // are absolute errors of ~6e-8, so GELU compares at the results' scale
  // (clean inputs), tanh alone in ulps (special values too).
  constexpr bool kAtScale = true;
  ASSERT_TRUE(pipelined([&](const auto& in) { return std::vector{gelu(in[0])}; }, {Tensor::randn({100}, 40)}))
      << "GELU's kernel is not software-pipelined: the cases below would test the plain loop only";
  for (int64_t n : {0, 1, 8, 15, 16, 24, 31, 32, 40, 48, 49, 56, 63, 64, 80, 95, 97, 112, 1000}) {
    const std::string at = " on " + std::to_string(n);
    expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0])}; }, {special_values({3, n}, 40)}, "tanh" + at);
    // exp's scaling branches to its slow path for lanes that overflow, are
    // denormal or NaN: the pipeline keeps that branch in one stage.
    expect_llvm_matches([&](const auto& in) { return std::vector{tj::exp(in[0]), tj::sigmoid(in[0])}; }, {special_values({2, n}, 47)},
                        "exp, sigmoid" + at);
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0])}; }, {Tensor::randn({n}, 41) * 3.0}, "gelu" + at, kAtScale);
  }
  // Rows of 203 (25 whole vectors and 3 at 8 lanes): short rows get fewer stages, or none.
  const Tensor base = Tensor::randn({41, 203}, 42) * 3.0, tall = Tensor::randn({203, 41}, 52) * 3.0;
  for (const Tensor& x : {tall.T(), base.slice({0, 1}, {41, 203}, {2, 3}), base.slice({40, 0}, {-42, 203}, {-1, 1})})
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0])}; }, {x}, "gelu of strided " + x.to_string(), kAtScale);
  expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0] + in[1])}; }, {base, Tensor::randn({203}, 43)},
                      "gelu of a broadcast sum", kAtScale);
  expect_llvm_matches([&](const auto& in) { return std::vector{gelu(in[0] + in[1])}; }, {base, Tensor::randn({41, 1}, 50)},
                      "gelu of a sum broadcast along the inner dim", kAtScale);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0]), gelu(in[0])}; }, {base}, "tanh and gelu, two outputs",
                      kAtScale);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::where(tj::tanh(in[0]) > 0.5, in[0], in[0] * 0.0), tj::tanh(in[0]) > 0.5}; },
                      {base}, "a boolean output");
  const auto boolean_input = [&](const auto& in) { return std::vector{tj::where(in[1], gelu(in[0]), tj::tanh(in[0]))}; };
  EXPECT_TRUE(pipelined(boolean_input, {base, base > 0.7}));
  expect_llvm_matches(boolean_input, {base, base > 0.7}, "a boolean input", kAtScale);
  // exp's and sigmoid's exp each branch to their slow path; sigmoid's comes
  // after tanh, so the two cold branches fall in different stages of one
  // kernel. tanh within 2 ulps moves sigmoid (slope <= 1/4, values >= 0.26)
  // by at most 2 of its ulps, sigmoid adds its own 2; the sum of two
  // positive terms is as accurate as the worse, plus its own rounding.
  const auto two_branches = [](const auto& in) { return std::vector{tj::exp(in[0]) + tj::sigmoid(tj::tanh(in[0]))}; };
  constexpr int64_t kComposedUlps = 5;
  ASSERT_TRUE(pipelined(two_branches, {base}));
  for (int64_t n : {3, 64, 200, 333, 1000})
    expect_llvm_matches(two_branches, {special_values({2, n}, 51)}, "exp + sigmoid of tanh: two cold branches, on " + std::to_string(n), false,
                        kComposedUlps);
  expect_llvm_matches([&](const auto& in) { return std::vector{tj::tanh(in[0] - in[0].mean({-1}, true))}; }, {base},
                      "tanh after a row mean");
  // Softmax's exp(x - max) into the row cache runs pipelined: rows of wide
  // range (exp underflows to denormals and zero, the slow path, in some
  // vectors and not others), and rows with -Inf, +Inf and NaN.
  for (int64_t n : {5, 8, 29, 64, 300}) {
    const std::string at = " on rows of " + std::to_string(n);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {Tensor::randn({7, n}, 48) * 40.0},
                        "softmax of wide range" + at, false, kSoftmaxUlps);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {special_values({7, n}, 49)},
                        "softmax of special values" + at, false, kSoftmaxUlps);
  }
  for (const auto& [a, b] : std::vector<std::pair<tj::Shape, tj::Shape>>{{{5, 20}, {20, 37}}, {{100, 300}, {300, 260}}})
    expect_llvm_matches([&](const auto& in) { return std::vector{gelu(tj::matmul(in[0], in[1]) + in[2])}; },
                        {Tensor::randn(a, 44), Tensor::randn(b, 45), Tensor::randn({b[1]}, 46)},
                        "gelu epilogue of " + tj::shape_to_string(a) + " @ " + tj::shape_to_string(b), kAtScale);
}

TEST_F(LlvmKernels, LargeTemporariesOffTheCallersStack) {
  // A batched matmul with rows of 8192: a row's double sums are 64 KiB
  // (blocks of rows, up to 384 KiB), more than this thread's 48 KiB stack
  // (on which the kernel crashed before). Kernels keep such
  // buffers in per-thread scratch memory (runtime/kernel_scratch.h), so an
  // application thread with a small stack can call them. Compiled on this
  // thread first (LLVM itself needs a deep stack), then called on the small one.
  const auto fn = [](const auto& in) { return std::vector{tj::matmul(in[0], in[1]) * 0.5}; };
  const std::vector<Tensor> inputs = {Tensor::randn({2, 9, 32}, 60), Tensor::randn({2, 32, 8192}, 61)};
  auto f = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "llvm"});
  const std::vector<double> expected = tj::testing::values_of(f(inputs)[0].array());
  const int threads = tj::num_threads();
  tj::set_num_threads(1);  // every chunk on the calling thread
  using Jitted = decltype(f);
  struct Call {
    Jitted* jitted;
    const std::vector<Tensor>* inputs;
    std::vector<double> got;
  } call{&f, &inputs, {}};
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 48 << 10);
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attributes, [](void* p) -> void* {
    auto* c = static_cast<Call*>(p);
    c->got = tj::testing::values_of((*c->jitted)(*c->inputs)[0].array());
    return nullptr;
  }, &call), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  tj::set_num_threads(threads);
  EXPECT_EQ(call.got, expected) << "the same kernel on a thread with a 48 KiB stack";
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
  };
  for (const Case& c : cases) {
    const std::string at = tj::shape_to_string(c.a) + " @ " + tj::shape_to_string(c.b) + (c.transpose_b ? "^T" : "");
    const int64_t n = c.transpose_b ? c.b[c.b.size() - 2] : c.b.back();
    const bool t = c.transpose_b;
    expect_llvm_matches([t](const auto& in) { return std::vector{tj::matmul(in[0], t ? in[1].T() : in[1])}; },
                        {Tensor::randn(c.a, 1), Tensor::randn(c.b, 2)}, "matmul " + at, true);
    expect_llvm_matches([t](const auto& in) { return std::vector{tj::relu(tj::matmul(in[0], t ? in[1].T() : in[1]) + in[2]) * 0.5}; },
                        {Tensor::randn(c.a, 1), Tensor::randn(c.b, 2), Tensor::randn({n}, 3)}, "matmul + bias, relu " + at, true);
  }
  // Batched B transposed (attention's q @ k^T): dot products along k, with
  // k tails (19 = 2 x 8 + 3) and a scaled epilogue; NaN and Inf in q.
  for (int64_t m : {7, 8})  // rows one by one, and in blocks of 4
    expect_llvm_matches([](const auto& in) { return std::vector{tj::matmul(in[0], in[1].transpose(-1, -2)) * 0.125}; },
                        {special_values({2, 3, m, 19}, 6), Tensor::randn({2, 3, 5, 19}, 7)}, "batched q @ k^T", true);
  // A transposed (strided) left operand and NaN/Inf in the data.
  expect_llvm_matches([](const auto& in) { return std::vector{tj::matmul(in[0].T(), in[1])}; },
                      {special_values({9, 4}, 4), Tensor::randn({9, 11}, 5)}, "matmul of a transposed operand with specials", true);
}

TEST_F(LlvmKernels, ReviewRegressions) {
  // A residual added in a matmul's epilogue, 5 rows (a block of 4 repeats its last row).
  expect_llvm_matches([](const auto& in) {
    const Tensor r = tj::matmul(in[0], in[1]);
    const Tensor y = tj::matmul(in[2], in[1]) + r;
    return std::vector{tj::matmul(y, in[3])};
  }, {Tensor::randn({5, 8}, 1), Tensor::randn({8, 16}, 2), Tensor::randn({5, 8}, 3), Tensor::randn({16, 4}, 4)},
     "residual epilogue over a repeated row", true);
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
  // boundaries where results overflow, underflow or turn denormal (side by
  // side, so that vectors mix lanes of exp's fast and slow scaling: the
  // fast one ends at 2^-125 and 2^127).
  constexpr int64_t kCount = 10'000'000;
  std::vector<float> inputs(kCount);
  const uint64_t step = (uint64_t{1} << 32) / (kCount - 32);
  int64_t n = 0;
  for (float special : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1.17549435e-38f, 88.72283f, 88.72284f,
                        -87.33654f, -103.97208f, -103.97209f, -86.3f, -86.7f, 88.37f, 88.38f, 3.4028235e38f, -3.4028235e38f, 3.0f, 3.9f, 0.5f, -0.5f})
    inputs[n++] = special;
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

TEST_F(LlvmKernels, SteadyStateCallsMakeNoPageFaults) {
  // Results and arenas come from the program's pool: once warm, calls of one
  // signature touch only memory that is already mapped.
  auto f = tj::jit([](const Tensor& x) { return tj::softmax(tj::gelu(x, true) * 2.0, -1) + x; }, tj::JitOptions{.backend = "llvm"});
  const Tensor x = Tensor::randn({512, 1024}, 1);  // 2 MiB per buffer: each new one would fault 512 pages
  for (int i = 0; i < 3; ++i) f(x);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  double checksum = 0;
  for (int i = 0; i < 10; ++i) checksum += f(x).data<float>()[7];
  getrusage(RUSAGE_SELF, &after);
  EXPECT_TRUE(std::isfinite(checksum));
  EXPECT_EQ(after.ru_minflt - before.ru_minflt, 0) << "minor page faults in 10 steady-state calls";
}

TEST_F(LlvmKernels, RandomProgramsOnRandomShapes) {
  // Random chains over random shapes: ranks 1-3, dims from 0 to 100 (tails
  // of 1..15 lanes), the second operand broadcast along random dims, the
  // first often a strided view. The chain's ops round exactly as the
  // reference does (+ - * / sqrt maximum minimum select ...), so only its last
  // op, which may be a transcendental one, can differ (by its <= 2 ulps);
  // a reduction over the last axis may follow, on data without NaN.
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
  std::mt19937 rng(2026);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint32_t>(n)); };
  for (int trial = 0; trial < 60; ++trial) {
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
    auto program = [&](const std::vector<Tensor>& in) {
      Tensor v = in[0];
      for (int op : ops)
        v = op < static_cast<int>(exact_unary.size()) ? exact_unary[op](v) : exact_binary[op - exact_unary.size()](v, in[1]);
      v = last[final_op](v);
      if (!reduce || v.shape().empty()) return std::vector{v};
      if (reduction == 0 || v.shape().back() == 0) return std::vector{v.sum({-1}, true)};  // max has no identity
      if (reduction == 1) return std::vector{v.mean({-1})};
      return std::vector{v, v.max({-1}, true)};
    };
    expect_llvm_matches(program, {a, b},
                        fmt::format("trial {}: a {} (strides {}), b {}, ops {}, last {}, {}", trial, tj::shape_to_string(shape),
                                    fmt::join(a.strides(), ","), tj::shape_to_string(other), fmt::join(ops, ","), final_op,
                                    reduce ? fmt::format("reduction {}", reduction) : "no reduction"));
  }
}

TEST_F(LlvmKernels, NoMappingIsWritableAndExecutable) {
  // JIT code is written, then made executable, never both at once: after
  // compiling and running kernels, no mapping of the process is rwx.
  auto f = tj::jit([](const Tensor& x) { return tj::softmax(tj::tanh(x) * 3.0, -1); }, tj::JitOptions{.backend = "llvm"});
  const Tensor x = Tensor::randn({8, 40}, 1);
  EXPECT_NE(f.explain(x).find("code: llvm"), std::string::npos);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int mappings = 0;
  while (std::getline(maps, line)) {
    ++mappings;
    std::istringstream fields(line);
    std::string range, permissions;
    fields >> range >> permissions;
    EXPECT_FALSE(permissions.size() >= 3 && permissions[1] == 'w' && permissions[2] == 'x') << "writable and executable: " << line;
  }
  EXPECT_GT(mappings, 0);
}
