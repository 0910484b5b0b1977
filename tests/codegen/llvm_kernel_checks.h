// What the LLVM kernel tests share: comparing a function on the llvm
// backend with the reference interpreter in float32 ulps, inputs with the
// special values (NaN, +-Inf, -0, denormals, overflow thresholds), a look
// into the optimized IR, and the LlvmKernels fixture, which ctest runs again with TJ_ISA=avx2 and avx512.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "tensorjit/tensorjit.h"
#include "tests/support/arrays.h"

namespace tj::llvm_kernel_checks {

using tj::Tensor;

inline constexpr int64_t kMaxUlps = 2;

inline int64_t ordered(float f) {
  const int32_t bits = std::bit_cast<int32_t>(f);
  return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : bits;
}

// Distance in float32 ulps; NaN matches NaN and -0 matches +0.
inline int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  if (a == b) return 0;
  return std::llabs(ordered(a) - ordered(b));
}

inline Tensor special_values(const tj::Shape& shape, uint64_t seed) {
  Tensor t = Tensor::randn(shape, seed) * 3.0;
  const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -1e-40f, 88.8f, -104.0f, 1e30f, -1e30f, 0.5f, 3.5f, 87.5f, -95.0f};
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i += 3) p[i] = specials[(i / 3) % std::size(specials)];
  return t;
}

using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// How far an element may differ besides its ulps: `epsilons` float32
// epsilons of the largest value of any result. A sum that cancels to near
// zero keeps the rounding of its terms, whose size is the results' scale
// (a caller may return the terms too, to set it).
struct AtScale {
  double epsilons = 0;
};
inline constexpr AtScale kInUlpsOnly{};
// Sums in double, a product or a last step in float (softmax, layer norm, GELU's 1 + tanh).
inline constexpr AtScale kSumsOfProducts{8};
// Matmuls sum each block of 256 k in float (emit_matmul.cpp): ~16 epsilons
// of a block's terms in practice, 13 seen where all are positive.
inline constexpr AtScale kMatmulSums{32};

// Runs fn on both backends and compares; requires every kernel to be native
// code; elements within max_ulps, or at_scale.
// Returns the native run's explain report. With fuse false, every op is a kernel.
inline std::string expect_llvm_matches(const Fn& fn, const std::vector<Tensor>& inputs, const std::string& what, AtScale at_scale = kInUlpsOnly,
                                       int64_t max_ulps = kMaxUlps, bool fuse = true) {
  auto reference = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "interp"});
  auto native = tj::jit(std::function<std::vector<Tensor>(std::vector<Tensor>)>(fn), tj::JitOptions{.backend = "llvm", .fuse = fuse});
  const std::vector<Tensor> expected = reference(inputs), got = native(inputs);
  const std::string report = native.explain(inputs);
  EXPECT_EQ(report.find("code: interp"), std::string::npos) << what << " was not generated:\n" << report;
  EXPECT_EQ(expected.size(), got.size());
  double scale = 0;
  for (const Tensor& result : expected)
    for (double v : tj::testing::values_of(result.array()))
      if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  for (size_t r = 0; r < std::min(expected.size(), got.size()); ++r) {
    EXPECT_EQ(expected[r].shape(), got[r].shape()) << what;
    if (expected[r].shape() != got[r].shape()) return report;
    const std::vector<double> e = tj::testing::values_of(expected[r].array()), g = tj::testing::values_of(got[r].array());
    for (size_t i = 0; i < e.size(); ++i) {
      if (std::fabs(e[i] - g[i]) <= at_scale.epsilons * FLT_EPSILON * scale) continue;
      const int64_t d = ulps(static_cast<float>(e[i]), static_cast<float>(g[i]));
      EXPECT_LE(d, max_ulps) << what << " result " << r << " element " << i << ": expected " << e[i] << ", got " << g[i];
      if (d > max_ulps) return report;
    }
  }
  return report;
}

// Whether the optimized IR of fn's kernels (TJ_DUMP=opt into a fresh
// directory) contains `text`, such as a block's label: that a test's
// inputs reach the code path it is meant for.
inline bool optimized_ir_contains(const Fn& fn, const std::vector<Tensor>& inputs, const std::string& text) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tj_ir_" + std::to_string(getpid()));
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
    found |= std::string(std::istreambuf_iterator<char>(in), {}).find(text) != std::string::npos;
  }
  std::filesystem::remove_all(dir);
  return found;
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
inline constexpr int64_t kSoftmaxUlps = 4;

}  // namespace tj::llvm_kernel_checks

using LlvmKernels = tj::llvm_kernel_checks::LlvmKernels;
