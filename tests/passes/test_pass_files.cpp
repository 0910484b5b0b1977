// Text-in, text-out pass tests: every tests/passes/**/*.tj names its passes
// (`# PASSES: a,b` or `# PASSES: pipeline`) and the CHECK lines that the
// printed result must satisfy (tests/support/filecheck.h). The verifier
// runs after every pass. Each file, and each example program, also runs
// with and without its passes on the interpreter, which must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codegen/executor.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "passes/fusion_rules.h"
#include "passes/pipeline.h"
#include "runtime/random.h"
#include "tests/support/arrays.h"
#include "tests/support/filecheck.h"

namespace fs = std::filesystem;

namespace {

const fs::path kSource = TJ_SOURCE_DIR;

std::string read_file(const fs::path& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<std::string> passes_of(const std::string& text) {
  const size_t at = text.find("# PASSES:");
  if (at == std::string::npos) return tj::pipeline_passes({});
  std::string list = text.substr(at + 9, text.find('\n', at) - at - 9);
  list.erase(std::remove(list.begin(), list.end(), ' '), list.end());
  if (list == "pipeline") return tj::pipeline_passes({});
  if (list == "pipeline-no-fuse") return tj::pipeline_passes({.fuse = false});
  std::vector<std::string> names;
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

std::vector<fs::path> tj_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().extension() == ".tj") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Equal values, NaN equal to NaN and -0 equal to +0 (x + 0 -> x may flip a zero's sign).
void expect_same_values(const tj::Array& expected, const tj::Array& got, const std::string& what) {
  ASSERT_EQ(tj::type_to_string(expected.type()), tj::type_to_string(got.type())) << what;
  const std::vector<double> e = tj::testing::values_of(expected), g = tj::testing::values_of(got);
  for (size_t i = 0; i < e.size(); ++i)
    if (!(e[i] == g[i] || (std::isnan(e[i]) && std::isnan(g[i])))) {
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", expected " << e[i];
      return;
    }
}

// Runs every function of `text` as written and after `passes`, on the same random inputs.
void expect_passes_preserve_results(const std::string& text, const std::vector<std::string>& passes, const std::string& name) {
  tj::Program reference = tj::parse_program(text, name);
  tj::Program optimized = tj::parse_program(text, name);
  uint64_t seed = 1;
  for (const tj::Function& f : reference.functions)
    for (const auto& node : f.nodes())
      if (node->op == tj::Op::constant && !node->constant.symbol.empty() && !reference.constant_data.contains(node->constant.symbol))
        reference.constant_data[node->constant.symbol] = tj::random_array(node->type, seed++);
  optimized.constant_data = reference.constant_data;
  tj::run_passes(optimized, passes, {.verify_each = true});
  for (const tj::Function& f : reference.functions) {
    std::vector<tj::Array> inputs;
    for (const tj::Node* p : f.params()) inputs.push_back(tj::random_array(p->type, seed++));
    const std::vector<tj::Array> expected = tj::interpret(reference, f, inputs);
    const std::vector<tj::Array> got =
        tj::Executable(optimized, *optimized.find_function(f.name()), tj::Backend::interp).run(inputs);
    ASSERT_EQ(expected.size(), got.size());
    for (size_t i = 0; i < expected.size(); ++i)
      expect_same_values(expected[i], got[i], name + " @" + f.name() + " result " + std::to_string(i));
  }
}

class PassFile : public ::testing::TestWithParam<fs::path> {};

TEST_P(PassFile, MatchesChecks) {
  const std::string text = read_file(GetParam());
  tj::Program program = tj::parse_program(text, GetParam().string());
  tj::run_passes(program, passes_of(text), {.verify_each = true});
  const std::string output = tj::print_optimized(program);
  const std::string failure = tj::testing::filecheck(output, text);
  EXPECT_TRUE(failure.empty()) << GetParam().string() << ":" << failure << "\nfull output:\n" << output;
  // The printed program is valid IR text that reads back to the same text.
  const std::string printed = tj::print_program(program);
  EXPECT_EQ(tj::print_program(tj::parse_program(printed, "printed")), printed);
}

TEST_P(PassFile, PreservesResults) {
  const std::string text = read_file(GetParam());
  expect_passes_preserve_results(text, passes_of(text), GetParam().string());
}

INSTANTIATE_TEST_SUITE_P(Passes, PassFile, ::testing::ValuesIn(tj_files(kSource / "tests/passes")),
                         [](const auto& info) {
                           std::string name = fs::relative(info.param, kSource / "tests/passes").replace_extension().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(Pipeline, ExamplesGiveTheSameResultsFusedAndUnfused) {
  for (const fs::path& path : tj_files(kSource / "examples/ir")) {
    SCOPED_TRACE(path.string());
    const std::string text = read_file(path);
    expect_passes_preserve_results(text, tj::pipeline_passes({}), path.string());
    expect_passes_preserve_results(text, tj::pipeline_passes({.fuse = false}), path.string());
  }
}

TEST(Pipeline, UnknownPassIsAnError) {
  tj::Program p = tj::parse_program("func @f(%x: f32[2]) -> f32[2] {\n  return %x\n}\n");
  try {
    tj::run_passes(p, {"cse", "fusion-magic"});
    FAIL() << "no error";
  } catch (const tj::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown pass 'fusion-magic'"), std::string::npos) << e.what();
  }
}

TEST(Pipeline, PrintAfterAndTimePasses) {
  const std::string text = "func @f(%x: f32[4]) -> f32[4] {\n  %a = exp %x\n  %b = neg %a\n  return %b\n}\n";
  setenv("TJ_PRINT_AFTER", "fusion", 1);
  setenv("TJ_TIME_PASSES", "1", 1);
  tj::Program p = tj::parse_program(text);
  ::testing::internal::CaptureStderr();
  tj::run_pipeline(p);
  const std::string log = ::testing::internal::GetCapturedStderr();
  unsetenv("TJ_PRINT_AFTER");
  unsetenv("TJ_TIME_PASSES");
  // Printed only after the fusion pass that changed something.
  EXPECT_NE(log.find("# after fuse-elementwise @f\nfunc @f"), std::string::npos) << log;
  EXPECT_EQ(log.find("# after fuse-reduce"), std::string::npos) << log;
  EXPECT_EQ(log.find("# after canonicalize"), std::string::npos) << log;
  for (const tj::PassInfo& pass : tj::all_passes()) {
    if (pass.name == "dce" || pass.name == "cse" || pass.name == "simplify") continue;
    EXPECT_NE(log.find("# pass " + std::string(pass.name)), std::string::npos) << pass.name << "\n" << log;
  }
}

TEST(Pipeline, VerifierRejectsAnIllegalKernel) {
  tj::Program p = tj::parse_program(
      "func @f(%a: f32[4,4], %b: f32[4,4]) -> f32[4,4] {\n  %x = matmul %a, %b\n  %y = matmul %x, %b\n  return %y\n}\n");
  for (const auto& node : p.functions[0].nodes()) node->kernel = 0;  // two matmuls in one kernel
  try {
    tj::verify_kernels(p.functions[0]);
    FAIL() << "no error";
  } catch (const tj::Error& e) {
    EXPECT_NE(std::string(e.what()).find("two matmuls"), std::string::npos) << e.what();
  }
}

}  // namespace
