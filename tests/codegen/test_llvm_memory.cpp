// The LLVM backend's kernels and memory, against the reference
// interpreter: outputs large enough for streaming stores (aligned and
// not, and those stored through the cache all the same),
// kernels that write only their range of rows, temporaries off the caller's stack, no page
// faults in steady state, and no mapping writable and executable at once.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "codegen/executor.h"
#include "codegen/llvm/emit.h"
#include "ir/parser.h"
#include "ir/schedule.h"
#include "passes/pipeline.h"
#include "runtime/kernel_scratch.h"
#include "tests/codegen/llvm_kernel_checks.h"
#include "tests/support/arrays.h"

using tj::Tensor;
using namespace tj::llvm_kernel_checks;

TEST_F(LlvmKernels, LargeOutputsWithStreamingStores) {
  // Outputs of 8 MiB or more from short one-pass bodies are written with
  // non-temporal stores where the kernel's first address is aligned; an
  // application's parallel_for that splits at odd elements makes every
  // chunk but the first unaligned, so both ways of storing run, and both
  // must give the interpreter's values. Long math (exp) and row kernels
  // (softmax) store through the cache, in whole chunks or odd ones.
  const Tensor flat = special_values({(int64_t{1} << 21) + 5}, 20), rows = Tensor::randn({2049, 1024}, 21), bias = Tensor::randn({1024}, 24);
  const auto bias_relu = [](const auto& in) { return std::vector{tj::relu(in[0] + in[1]) * 0.5}; };
  const auto elementwise = [](const auto& in) { return std::vector{tj::exp(in[0]) * 2.0 + 1.0}; };
  const auto softmax = [](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; };
  const auto check_all = [&](const std::string& how) {
    expect_llvm_matches(bias_relu, {rows, bias}, "a large short-body kernel" + how);
    expect_llvm_matches(bias_relu, {flat, flat}, "a large short-body kernel over elements" + how);
    expect_llvm_matches(elementwise, {flat}, "a large elementwise exp" + how);
    expect_llvm_matches(softmax, {rows}, "a large softmax" + how, kInUlpsOnly, kSoftmaxUlps);
  };
  check_all("");
  tj::set_parallel_for([](int64_t count, int64_t, const tj::RangeBody& body) {
    for (int64_t begin = 0; begin < count; begin += 1000003) body(begin, std::min(count, begin + 1000003));
  });
  check_all(" in chunks at odd elements");
  tj::set_parallel_for({});
  // Rows of an odd length (not whole vectors) store through the cache.
  expect_llvm_matches([](const auto& in) { return std::vector{tj::relu(in[0] + in[1])}; },
                      {Tensor::randn({2049, 1025}, 22), Tensor::randn({1025}, 23)}, "a large kernel of odd rows");
}

TEST_F(LlvmKernels, LongRowsReadAsSeveralStreams) {
  // Reductions over rows of 2^14 elements or more take their four vectors
  // per trip from the row's four quarters; the rest of the row (up to three
  // vectors, then a tail) follows: none, masked, and whole vectors (2 at 8
  // lanes, 3 at 16: less than a trip).
  for (const tj::Shape& shape : std::vector<tj::Shape>{{3, 16384}, {2, 16384 + 8 * 3 + 5}, {2, 16384 + 48}, {(int64_t{1} << 20) + 7}}) {
    const std::string at = " on " + tj::shape_to_string(shape);
    const Tensor x = special_values(shape, 30), clean = Tensor::randn(shape, 31);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].max({-1}), in[0].min({-1}, true)}; }, {x}, "max, min" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{in[0].sum({-1}), in[0].mean({-1})}; }, {clean}, "sum, mean" + at);
    expect_llvm_matches([](const auto& in) { return std::vector{tj::softmax(in[0], -1)}; }, {clean}, "softmax" + at);
  }
}

namespace {

// fn's outputs on inputs, computed by its LLVM kernels on a fresh thread
// with a 48 KiB stack, every chunk on that thread; compiled on this thread
// first (LLVM itself needs a deep stack). Expects the values of a call on
// this thread.
void expect_same_on_small_stack(const Fn& fn, const std::vector<Tensor>& inputs, const std::string& what) {
  auto f = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "llvm"});
  std::vector<std::vector<double>> expected;
  for (const Tensor& out : f(inputs)) expected.push_back(tj::testing::values_of(out.array()));
  const int threads = tj::num_threads();
  tj::set_num_threads(1);
  struct Call {
    decltype(f)* jitted;
    const std::vector<Tensor>* inputs;
    std::vector<std::vector<double>> got;
  } call{&f, &inputs, {}};
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 48 << 10);
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attributes, [](void* p) -> void* {
    auto* c = static_cast<Call*>(p);
    for (const Tensor& out : (*c->jitted)(*c->inputs)) c->got.push_back(tj::testing::values_of(out.array()));
    return nullptr;
  }, &call), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  tj::set_num_threads(threads);
  EXPECT_EQ(call.got, expected) << what << " on a thread with a 48 KiB stack";
}

}  // namespace

TEST_F(LlvmKernels, LargeTemporariesOffTheCallersStack) {
  // A kernel's buffers take at most 16 KiB of the stack in all; the rest
  // live in per-thread scratch memory (runtime/kernel_scratch.h), so an
  // application thread with a small stack can call them. A batched matmul
  // with rows of 8192: a row's double sums are 64 KiB (blocks of rows, up
  // to 384 KiB; the kernel crashed here before). Column reductions: 16 KiB
  // of accumulators per reduction for a chunk of outputs, and each pass's
  // row values (a batch variance's mean); three reductions took 72 KiB.
  // Softmax over rows of 4096, two rows in flight: two cached rows of 16 KiB.
  expect_same_on_small_stack([](const auto& in) { return std::vector{tj::matmul(in[0], in[1]) * 0.5}; },
                             {Tensor::randn({2, 9, 32}, 60), Tensor::randn({2, 32, 8192}, 61)}, "a matmul with rows of 8192");
  const Tensor x = Tensor::randn({4096, 1024}, 62);
  expect_same_on_small_stack([](const auto& in) { return std::vector{in[0].sum({0}), in[0].mean({0}), in[0].max({0})}; }, {x},
                             "sum, mean and max over the columns");
  expect_same_on_small_stack([](const auto& in) {
    const Tensor centred = in[0] - in[0].mean({0}, true);
    return std::vector{(centred * centred).mean({0})};
  }, {x}, "a batch variance");
  expect_same_on_small_stack([](const auto& in) { return std::vector{tj::softmax(in[0] * 2.0, -1)}; }, {Tensor::randn({64, 4096}, 63)},
                             "softmax over rows of 4096");
}

TEST_F(LlvmKernels, SteadyStateCallsMakeNoPageFaults) {
  // Results and arenas come from the program's pool: once warm, calls of one
  // signature touch only memory that is already mapped.
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer quarantines freed blocks, so each call's small allocations land on new pages (12 faults in 10 calls)";
#endif
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

TEST_F(LlvmKernels, ReductionsWriteOnlyTheirRangeOfOutputs) {
  // Called on outputs [begin, end), a kernel writes those results and
  // nothing around them: row reductions take four rows per loop
  // (emit_rows.cpp), then the rows left over; column reductions a vector
  // of outputs, masked at the end (emit_columns.cpp). Through tj::jit a
  // last chunk's overrun would land past the output buffer unseen, so here
  // the kernel is called directly, between guards.
  struct Case {
    int64_t rows, columns, axis;
  };
  for (const Case& c : {Case{7, 1030, 1}, Case{1030, 37, 0}}) {
    const int64_t outputs = c.axis == 1 ? c.rows : c.columns;
    tj::Program program = tj::parse_program(fmt::format("func @f(%x: f32[{},{}]) -> f32[{}] {{\n  %s = sum %x {{axes=[{}]}} : f32[{}]\n  return %s\n}}\n",
                                                        c.rows, c.columns, outputs, c.axis, outputs));
    tj::run_pipeline(program);
    const std::vector<tj::Kernel> kernels = tj::list_kernels(program.functions[0]);
    ASSERT_EQ(kernels.size(), 1u);
    std::string why;
    const std::optional<tj::LoopKernel> loop = tj::lower_kernel(kernels[0], {{tj::contiguous_strides({c.rows, c.columns}), 0}}, &why);
    ASSERT_TRUE(loop.has_value()) << why;
    const auto code = tj::llvm_backend::compile_loop_kernel(*loop);
    tj::reserve_kernel_scratch(code->scratch_bytes());
    const Tensor x = Tensor::randn({c.rows, c.columns}, 40);
    std::vector<double> sums(outputs, 0.0);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t i = 0; i < c.columns; ++i) sums[c.axis == 1 ? r : i] += x.data<float>()[r * c.columns + i];
    constexpr float kGuard = -12345.0f;
    const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, outputs}, {0, 1}, {1, 4}, {2, outputs}, {3, outputs - 1}, {outputs - 2, outputs - 1}, {4, 4}, {5, 22}};
    for (const auto& [begin, end] : ranges) {
      if (end > outputs) continue;
      std::vector<float> out(outputs + 2, kGuard);  // out[0] and out[outputs + 1] guard the output
      void* args[] = {const_cast<float*>(x.data<float>()), out.data() + 1};
      code->function()(args, begin, end);
      const std::string what = fmt::format("sums over axis {} of [{}, {}], outputs [{}, {})", c.axis, c.rows, c.columns, begin, end);
      for (int64_t r = -1; r <= outputs; ++r) {
        const float got = out[r + 1];
        // Both sums are in double (the row kernel's compensated), rounded once to float: 1 ulp apart at most (~1e-16 of
        // the terms' magnitudes apart before rounding, where a column's terms of +-4 cancel).
        if (r >= begin && r < end) EXPECT_NEAR(got, sums[r], FLT_EPSILON * std::fabs(sums[r]) + 1e-9) << what << ": output " << r;
        else EXPECT_EQ(got, kGuard) << what << ": output " << r << " written";
      }
    }
  }
}

TEST_F(LlvmKernels, MatmulsReadNothingPastTheirOperands) {
  // Matmuls whose rows of 19 columns end in a partial vector, and whose
  // tiles of 2 or 4 vectors run past the row: A, B read in place (batched,
  // B per batch; rows in blocks of 4 and one by one) and B packed by the
  // executor (panels of `lanes` columns, zero-padded; cache-blocked), and
  // B transposed (dot products of 4 or 16 columns at a time: 19 leaves 3)
  // each end where an unmapped page begins, so a load past them faults.
  const long page = sysconf(_SC_PAGESIZE);
  struct Case {
    int64_t batches, m;
    bool packed, transposed_b;
  };
  for (const Case& c : {Case{2, 8, false, false}, Case{2, 7, false, false}, Case{0, 20, true, false}, Case{2, 8, false, true}, Case{2, 7, false, true}}) {
    const int64_t k = 13, n = 19, batches = std::max<int64_t>(c.batches, 1);
    const std::string batch = c.batches ? fmt::format("{},", c.batches) : "";
    tj::Program program = tj::parse_program(fmt::format(
        "func @f(%a: f32[{0}{1},{2}], %b: f32[{0}{2},{3}]) -> f32[{0}{1},{3}] {{\n  %y = matmul %a, %b : f32[{0}{1},{3}]\n  return %y\n}}\n",
        batch, c.m, k, n));
    tj::run_pipeline(program);
    const std::vector<tj::Kernel> kernels = tj::list_kernels(program.functions[0]);
    ASSERT_EQ(kernels.size(), 1u);
    const tj::Shape a_shape = c.batches ? tj::Shape{batches, c.m, k} : tj::Shape{c.m, k};
    const tj::Shape b_shape = c.batches ? tj::Shape{batches, k, n} : tj::Shape{k, n};
    // B transposed: stored as [batches, n, k], read as [batches, k, n].
    const tj::Strides b_strides = c.transposed_b ? tj::Strides{n * k, 1, k} : tj::contiguous_strides(b_shape);
    std::string why;
    const std::optional<tj::LoopKernel> loop = tj::lower_kernel(kernels[0], {{tj::contiguous_strides(a_shape), 0}, {b_strides, 0}}, &why);
    ASSERT_TRUE(loop.has_value()) << why;
    ASSERT_EQ(loop->packed_b_step >= 0, c.packed);
    const auto code = tj::llvm_backend::compile_loop_kernel(*loop);
    tj::reserve_kernel_scratch(code->scratch_bytes());
    // Three regions of one page, each followed by a page that is never mapped for reading.
    char* region = static_cast<char*>(mmap(nullptr, 6 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(region, MAP_FAILED);
    for (int guard : {1, 3, 5}) ASSERT_EQ(mprotect(region + guard * page, page, PROT_NONE), 0);
    const Tensor a = Tensor::randn(a_shape, 70), b = Tensor::randn(b_shape, 71);
    float* a_at = reinterpret_cast<float*>(region + page) - a.numel();
    float* b_at = reinterpret_cast<float*>(region + 3 * page) - b.numel();
    std::copy(a.data<float>(), a.data<float>() + a.numel(), a_at);
    for (int64_t t = 0; t < batches; ++t)
      for (int64_t l = 0; l < k; ++l)
        for (int64_t j = 0; j < n; ++j) b_at[t * k * n + (c.transposed_b ? j * k + l : l * n + j)] = b.data<float>()[(t * k + l) * n + j];
    const int64_t lanes = std::max<int64_t>(loop->panel, 1), panels = c.packed ? (n + lanes - 1) / lanes : 0;
    float* packed = reinterpret_cast<float*>(region + 5 * page) - panels * k * lanes;
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t l = 0; l < k; ++l)
        for (int64_t j = 0; j < lanes; ++j) packed[(p * k + l) * lanes + j] = p * lanes + j < n ? b_at[l * n + p * lanes + j] : 0.0f;
    std::vector<float> out(batches * c.m * n);
    void* args[] = {a_at, b_at, out.data(), packed};
    code->function()(args, 0, (batches * c.m + loop->row_block - 1) / loop->row_block);
    for (int64_t t = 0; t < batches; ++t)
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double expected = 0, terms = 0;
          for (int64_t l = 0; l < k; ++l) {
            const double product = double{a.data<float>()[(t * c.m + i) * k + l]} * b.data<float>()[(t * k + l) * n + j];
            expected += product;
            terms += std::fabs(product);
          }
          // k = 13 products summed in float: within 13 epsilons of their magnitudes.
          EXPECT_NEAR(out[(t * c.m + i) * n + j], expected, k * FLT_EPSILON * terms) << "batch " << t << ", row " << i << ", column " << j;
        }
    munmap(region, 6 * page);
  }
}

TEST_F(LlvmKernels, SlicesAtEveryOffsetShareOneKernel) {
  // A kernel's code depends on its operands' strides, not on where in their
  // storage they start: a loop over the rows of a batch (eager ops on each
  // slice, or a jitted function) compiled a kernel per offset before.
  tj::Program program = tj::parse_program(
      "func @f(%x: f32[3,1000], %y: f32[1000]) -> f32[3,1000] {\n  %t = tanh %x : f32[3,1000]\n  %z = add %t, %y : f32[3,1000]\n"
      "  return %z\n}\n");
  tj::run_pipeline(program);
  const tj::Executable executable(program, program.functions[0], tj::Backend::llvm);
  const Tensor batch = Tensor::randn({10, 3, 1000}, 50), bias = Tensor::randn({8, 1000}, 51);
  double compile_ms = 0;
  for (int64_t i = 0; i < 8; ++i) {
    const tj::Array x = batch.slice(0, i, i + 1).reshape({3, 1000}).array(), y = bias.slice(0, i, i + 1).reshape({1000}).array();
    ASSERT_EQ(x.offset(), i * 3000);
    const std::vector<double> got = tj::testing::values_of(executable.run({x, y}).at(0));
    if (i == 0) compile_ms = executable.compile_ms();
    EXPECT_EQ(executable.compile_ms(), compile_ms) << "a kernel compiled again for the slice at offset " << x.offset();
    for (int64_t e : {int64_t{0}, int64_t{1999}, int64_t{2999}})
      EXPECT_NEAR(got[e], std::tanh(x.data<float>()[e]) + y.data<float>()[e % 1000], 4e-7) << "slice " << i << " element " << e;
  }
}
