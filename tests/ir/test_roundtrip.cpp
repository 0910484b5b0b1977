// Printer and parser round-trip: the canonical corpus (tests/ir/roundtrip.tj,
// every op and every attribute form) prints exactly as written, and
// parse(print(p)) prints identically for it and for every example program.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const std::filesystem::path kSource = TJ_SOURCE_DIR;

TEST(RoundTrip, CorpusPrintsAsWritten) {
  const std::string text = read_file(kSource / "tests/ir/roundtrip.tj");
  const tj::Program program = tj::parse_program(text, "roundtrip.tj");
  tj::verify(program);
  EXPECT_EQ(tj::print_program(program), text);
}

TEST(RoundTrip, CorpusCoversEveryOp) {
  const tj::Program program = tj::parse_program(read_file(kSource / "tests/ir/roundtrip.tj"), "roundtrip.tj");
  std::set<tj::Op> seen;
  for (const tj::Function& f : program.functions)
    for (const auto& node : f.nodes()) seen.insert(node->op);
  for (const tj::OpInfo& info : tj::all_ops()) EXPECT_TRUE(seen.contains(info.op)) << "no round-trip case for " << info.name;
}

TEST(RoundTrip, ExamplesAreStable) {
  for (const auto& entry : std::filesystem::directory_iterator(kSource / "examples/ir")) {
    SCOPED_TRACE(entry.path().string());
    const tj::Program first = tj::parse_program(read_file(entry.path()), entry.path().string());
    const std::string printed = tj::print_program(first);
    const tj::Program second = tj::parse_program(printed, "printed");
    EXPECT_EQ(tj::print_program(second), printed);
  }
}

TEST(RoundTrip, NonCanonicalInputBecomesCanonical) {
  // Attributes in any order, omitted result types, comments, odd spacing.
  const std::string text =
      "# leading comment\n"
      "func   @f( %x :f32[2,3] )->f32[2]{\n"
      "  %s = sum %x {keepdim=false, axes=[1]}   # trailing comment\n"
      "  %t=exp %s\n"
      "  return %t }\n";
  const std::string expected =
      "func @f(%x: f32[2,3]) -> f32[2] {\n"
      "  %s = sum %x {axes=[1], keepdim=false} : f32[2]\n"
      "  %t = exp %s : f32[2]\n"
      "  return %t\n"
      "}\n";
  EXPECT_EQ(tj::print_program(tj::parse_program(text)), expected);
}

TEST(RoundTrip, ByteOrderMarkAndUnderflowingLiteralsAreAccepted) {
  const tj::Program p = tj::parse_program("\xEF\xBB\xBF" "func @f() -> f32[] {\n  %c = const 1e-400 : f32[]\n  return %c\n}\n");
  EXPECT_EQ(p.functions[0].nodes()[0]->constant.f, 0.0);  // rounds to 0, as Python and NumPy read it
}

TEST(RoundTrip, FloatLiteralsKeepTheirValue) {
  for (const char* literal : {"0.1", "3.4028234663852886e+38", "1e-45", "-2.5", "1e+20", "123456789"}) {
    SCOPED_TRACE(literal);
    const std::string text = std::string("func @f() -> f64[] {\n  %c = const ") + literal + " : f64[]\n  return %c\n}\n";
    const tj::Program p = tj::parse_program(text);
    const double value = p.functions[0].nodes()[0]->constant.f;
    const tj::Program again = tj::parse_program(tj::print_program(p));
    EXPECT_EQ(again.functions[0].nodes()[0]->constant.f, value);
  }
}

}  // namespace
