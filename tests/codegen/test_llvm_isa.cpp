// Both ISAs' code for every kernel of the example programs. The host runs
// one ISA (the differential tests run TJ_ISA=avx2, and AVX-512 where the CPU
// has it); here each kernel is also compiled for the other one, to
// assembly: 16-lane AVX-512 code must use zmm registers and mask registers
// for its tails, 8-lane AVX2 code neither.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "codegen/llvm/emit.h"
#include "ir/parser.h"
#include "ir/schedule.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"

namespace {

namespace fs = std::filesystem;

// Every kernel of every example program, lowered for contiguous inputs.
std::vector<std::pair<std::string, tj::LoopKernel>> example_kernels() {
  std::vector<std::pair<std::string, tj::LoopKernel>> out;
  for (const char* dir : {"examples/ir", "examples/demo"}) {
    for (const auto& entry : fs::directory_iterator(fs::path(TJ_SOURCE_DIR) / dir)) {
      if (entry.path().extension() != ".tj") continue;
      std::ifstream file(entry.path());
      std::stringstream text;
      text << file.rdbuf();
      tj::Program program = tj::parse_program(text.str(), entry.path().string());
      tj::verify(program);
      tj::run_pipeline(program);
      for (const tj::Function& f : program.functions) {
        const std::vector<tj::Kernel> kernels = tj::list_kernels(f);
        for (size_t k = 0; k < kernels.size(); ++k) {
          std::vector<tj::BufferLayout> layouts;
          for (const tj::Node* input : kernels[k].inputs) {
            if (input->op == tj::Op::constant && input->constant.symbol.empty()) layouts.emplace_back();  // an immediate
            else layouts.push_back({tj::contiguous_strides(input->type.shape), 0});
          }
          std::string why;
          if (std::optional<tj::LoopKernel> loop = tj::lower_kernel(kernels[k], layouts, &why))
            out.emplace_back(fmt::format("{}/{} @{} kernel {}", dir, entry.path().filename().string(), f.name(), k), *loop);
        }
      }
    }
  }
  return out;
}

}  // namespace

TEST(LlvmIsa, EveryExampleKernelAssemblesForAvx2AndAvx512) {
  const auto kernels = example_kernels();
  ASSERT_GE(kernels.size(), 10u);
  const std::regex zmm("%zmm[0-9]+"), mask("\\{%k[1-7]\\}");
  int with_tails = 0, masked = 0;
  for (const auto& [name, loop] : kernels) {
    const std::string avx512 = tj::llvm_backend::assemble_loop_kernel(loop, tj::Isa{"avx512", 16});
    const std::string avx2 = tj::llvm_backend::assemble_loop_kernel(loop, tj::Isa{"avx2", 8});
    EXPECT_TRUE(std::regex_search(avx512, zmm)) << name << ": no 16-lane registers in\n" << avx512;
    EXPECT_FALSE(std::regex_search(avx2, zmm)) << name << ": AVX-512 registers in the AVX2 code";
    EXPECT_NE(avx2.find("%ymm"), std::string::npos) << name;
    // Rows of whole vectors have no tail (the examples' rows mostly are);
    // flat ranges, split across threads anywhere, always may.
    if (tj::llvm_backend::ranges_over_elements(loop) || loop.inner() % 16 != 0) {
      ++with_tails;
      masked += std::regex_search(avx512, mask) ? 1 : 0;
    }
  }
  EXPECT_GE(with_tails, 1);
  EXPECT_EQ(masked, with_tails) << "AVX-512 tails use mask registers";
}

TEST(LlvmIsa, LargeOutputsStreamPastTheCaches) {
  // The demo's large outputs (16 MiB or more) leave the caches: bias_relu's
  // with non-temporal stores, fenced before the kernel returns. GELU's
  // values come out of long math (tanh) in the storing loop, and softmax's
  // and layer norm's at the end of each row's passes: they store through
  // the cache (emitter.h), asking for their lines ahead with PREFETCHW. The
  // small examples of examples/ir stay in the cache.
  int streaming = 0;
  for (const auto& [name, loop] : example_kernels()) {
    const bool large = loop.rows() * loop.inner() * 4 >= (int64_t{16} << 20) && loop.packed_b_step < 0;
    for (const tj::Isa& isa : {tj::Isa{"avx512", 16}, tj::Isa{"avx2", 8}}) {
      const std::string code = tj::llvm_backend::assemble_loop_kernel(loop, isa);
      const bool streams = std::regex_search(code, std::regex("vmovnt(ps|pd|dq)"));
      if (std::regex_search(name, std::regex("^examples/demo/bias_relu"))) {
        EXPECT_TRUE(large && streams) << name << " (" << isa.name << ") should stream its output";
        EXPECT_NE(code.find("sfence"), std::string::npos) << name;
      }
      if (std::regex_search(name, std::regex("^examples/demo/(gelu|softmax|layernorm)"))) {
        EXPECT_TRUE(large && !streams) << name << " (" << isa.name << ") should store through the cache";
        EXPECT_EQ(code.find("sfence"), std::string::npos) << name << " (" << isa.name << ") streams nothing: no fence";
        EXPECT_NE(code.find("prefetchw"), std::string::npos) << name << " (" << isa.name << ") should ask for its output lines ahead";
      }
      if (!large) {
        EXPECT_FALSE(streams) << name << " is small, yet streams its output";
        EXPECT_EQ(code.find("prefetchw"), std::string::npos) << name << " is small, yet prefetches its output";
      }
      streaming += streams;
    }
  }
  EXPECT_GE(streaming, 2);
}
