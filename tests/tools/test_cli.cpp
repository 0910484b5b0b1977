// Tests the `tensorjit` command-line program (design §8) by running the built
// binary: exit codes, located error messages, .npy inputs and outputs.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "ir/shape.h"
#include "runtime/npy.h"

namespace {

namespace fs = std::filesystem;

const fs::path kExamples = fs::path(TJ_SOURCE_DIR) / "examples/ir";
const std::string kStats = (kExamples / "stats.tj").string();

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

std::string shell_quoted(std::string_view arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

// A .npy file (format 1.0) with the given header fields and raw data bytes.
std::string npy_bytes(std::string_view descr, std::string_view shape, std::string_view data) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  const size_t unpadded = 6 + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + std::string(data);
}

class Cli : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tensorjit_cli_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs the CLI with `args`, capturing its exit code, stdout and stderr.
  Outcome run(const std::vector<std::string>& args) const {
    std::string command = shell_quoted(TJ_CLI_PATH);
    for (const std::string& a : args) command += " " + shell_quoted(a);
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    command += " >" + shell_quoted(out.string()) + " 2>" + shell_quoted(err.string());
    const int status = std::system(command.c_str());
    const int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return {exit_code, read_file(out), read_file(err)};
  }

  std::string write(const std::string& name, std::string_view content) const {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  fs::path dir_;
};

struct BadProgram {
  const char* text;
  int line;
  int column;
};

const BadProgram kBadPrograms[] = {
    {"", 1, 1},
    {"\x01\x02\xff", 1, 1},
    {"func (%x: f32[]) -> f32[] {\n  return %x\n}\n", 1, 6},
    {"func @f(%x: f16[2]) -> f16[2] {\n  return %x\n}\n", 1, 13},
    {"func @f(%x: f32[99999999999999999999]) -> f32[] {\n  return %x\n}\n", 1, 17},
    {"func @f(%x: f32[]) -> f32[] {\n  %y = neg %z\n  return %y\n}\n", 2, 12},
    {"func @f(%x: f32[]) -> f32[] {\n  %y = frobnicate %x\n  return %y\n}\n", 2, 8},
    {"func @f(%x: f32[2]) -> f32[] {\n  %y = sum %x {axes=[0], axes=[0]}\n  return %y\n}\n", 2, 26},
    {"func @f(%a: f32[2,3], %b: f32[4,5]) -> f32[] {\n  %y = matmul %a, %b\n  return %y\n}\n", 2, 8},
    {"func @f(%x: f32[2,3]) -> f32[2,3] {\n  %y = neg %x : f32[3,2]\n  return %y\n}\n", 2, 17},
    {"func @f(%x: f32[2,3]) -> f32[2,3] {\n  return %x, %x\n}\n", 2, 3},
    {"func @f() -> i32[] {\n  %c = const 1.5 : i32[]\n  return %c\n}\n", 2, 14},
    {"func @f(%a: f32[3]) -> f32[3] {\n  %y = neg %a\n}\n", 3, 1},
    {"func @f(%a: f32[3]) -> f32[3] {\n  %y = add %a,", 2, 15},
};

TEST_F(Cli, CheckReportsMalformedProgramsAtTheirLocation) {
  int index = 0;
  for (const BadProgram& bad : kBadPrograms) {
    const std::string path = write(fmt::format("bad{}.tj", index++), bad.text);
    SCOPED_TRACE(bad.text);
    const Outcome r = run({"check", path});
    EXPECT_GE(r.exit_code, 1);
    EXPECT_LE(r.exit_code, 127);
    const std::string location = fmt::format("{}:{}:{}: error:", path, bad.line, bad.column);
    EXPECT_NE(r.err.find(location), std::string::npos) << r.err << "\ndoes not contain " << location;
  }
}

TEST_F(Cli, CheckReportsAMissingFile) {
  const std::string path = (dir_ / "nosuch.tj").string();
  const Outcome r = run({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(path + ": cannot open file"), std::string::npos) << r.err;
}

TEST_F(Cli, CheckAcceptsEveryExample) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".tj") continue;
    ++count;
    const Outcome r = run({"check", entry.path().string()});
    EXPECT_EQ(r.exit_code, 0) << entry.path() << ":\n" << r.err;
    EXPECT_NE(r.out.find(": ok ("), std::string::npos) << r.out;
  }
  EXPECT_GE(count, 5);
}

TEST_F(Cli, RunWritesEveryResultAsNpy) {
  const fs::path out = dir_ / "out";
  const Outcome r = run({"run", kStats, "--random", "1", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> types = {"f32[6,10]", "f32[6]", "i64[6]", "f32[6,6]"};
  for (size_t i = 0; i < types.size(); ++i) {
    const fs::path file = out / fmt::format("out{}.npy", i);
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(tj::type_to_string(tj::load_npy(file.string()).type()), types[i]) << file;
  }
  EXPECT_FALSE(fs::exists(out / "out4.npy"));
}

TEST_F(Cli, UsageErrorsExitWithTwo) {
  const std::vector<std::vector<std::string>> usages = {
      {},
      {"frobnicate", kStats},
      {"run", kStats, "--frobnicate"},
      {"run", kStats, "--random", "abc"},
      {"run", kStats, "--input", "x"},
  };
  for (const auto& args : usages) {
    const Outcome r = run(args);
    EXPECT_EQ(r.exit_code, 2) << fmt::format("args: '{}'\n", fmt::join(args, "' '")) << r.err;
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
  }
}

TEST_F(Cli, UnbuiltBackendIsRefused) {
  const Outcome r = run({"run", kStats, "--random", "1", "--backend", "xbyak"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not built yet"), std::string::npos) << r.err;
}

TEST_F(Cli, InterpreterAndLlvmBackendsRun) {
  for (const char* backend : {"interp", "llvm", "auto"}) {
    const Outcome r = run({"run", kStats, "--random", "1", "--backend", backend});
    EXPECT_EQ(r.exit_code, 0) << backend << ": " << r.err;
    EXPECT_NE(r.out.find("out3: f32[6,6]"), std::string::npos) << r.out;
  }
}

TEST_F(Cli, ExplainSaysHowEachKernelRan) {
  const Outcome r = run({"run", (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string(), "--random", "1", "--explain"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("kernel 0 (reduce): fuses %m (max), %d (sub), %e (exp), %s (sum), %y (div)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  code: llvm, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" (3 passes), two rows in flight, software-pipelined\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% of triad"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max error against the interpreter: "), std::string::npos) << r.out;
  const Outcome json = run({"run", (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string(), "--random", "1", "--explain=json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out.front(), '{') << json.out;
  EXPECT_NE(json.out.find("\"function\": \"softmax\""), std::string::npos) << json.out;
  EXPECT_EQ(json.out.find("out0:"), std::string::npos) << "--explain=json prints only the report";
}

TEST_F(Cli, DumpWritesIrAndAssemblyOfEachKernel) {
  const std::string program = (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string();
  const std::string command = "TJ_DUMP=llvm,opt,asm TJ_DUMP_DIR=" + shell_quoted(dir_.string()) + " " +
                              shell_quoted(TJ_CLI_PATH) + " run " + shell_quoted(program) + " --random 1 >/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 3u) << fmt::format("{}", fmt::join(names, " "));
  const std::string assembly = read_file(dir_ / names[2]);  // kernel_N.s sorts last
  EXPECT_TRUE(names[2].ends_with(".s") && names[0].ends_with(".ll") && names[1].ends_with(".opt.ll"));
  // The row max, vectorized: MAXPS on whole vectors, and the unsigned max of
  // their magnitudes' bits beside it (the NaN witness, emitter.h).
  EXPECT_NE(assembly.find("vmaxps"), std::string::npos) << assembly.substr(0, 2000);
  EXPECT_NE(assembly.find("vpmaxud"), std::string::npos) << assembly.substr(0, 2000);
  EXPECT_NE(read_file(dir_ / names[0]).find("define void @kernel_"), std::string::npos);
}

TEST_F(Cli, DumpToAMissingDirectoryIsAnError) {
  // Used to crash: the error unwound past the module after its context was gone.
  const std::string program = (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string();
  const std::string err = (dir_ / "err.txt").string();
  const std::string command = "exec env TJ_DUMP=asm TJ_DUMP_DIR=" + shell_quoted((dir_ / "missing").string()) + " " + shell_quoted(TJ_CLI_PATH) +
                              " run " + shell_quoted(program) + " --random 1 >/dev/null 2>" + shell_quoted(err);
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal";
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(read_file(err).find("TJ_DUMP_DIR: cannot write"), std::string::npos) << read_file(err);
}

TEST_F(Cli, BadSettingsNameThemselves) {
  // Unknown values of TJ_ISA and TJ_NUM_THREADS used to be ignored.
  const std::string program = (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string();
  const std::string err = (dir_ / "err.txt").string();
  for (const auto& [setting, message] : std::vector<std::pair<std::string, std::string>>{
           {"TJ_ISA=avx3", "TJ_ISA=avx3 is unknown"}, {"TJ_NUM_THREADS=two", "TJ_NUM_THREADS=two is not a thread count"}}) {
    const std::string command = "exec env " + setting + " " + shell_quoted(TJ_CLI_PATH) + " run " + shell_quoted(program) +
                                " --random 1 >/dev/null 2>" + shell_quoted(err);
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << setting << ": killed by a signal";
    EXPECT_EQ(WEXITSTATUS(status), 1) << setting;
    EXPECT_NE(read_file(err).find(message), std::string::npos) << read_file(err);
  }
}

TEST_F(Cli, OptPrintsKernelsLast) {
  const Outcome r = run({"opt", (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("# kernels: 1\n")) << r.out;
  const Outcome unknown = run({"opt", (std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir/softmax.tj").string(), "--passes=cse,magic"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unknown pass 'magic'"), std::string::npos) << unknown.err;
}

TEST_F(Cli, RunWithoutInputsNamesTheMissingParameter) {
  const Outcome r = run({"run", kStats});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no value for parameter 'x' of type f32[6,10]"), std::string::npos) << r.err;
}

TEST_F(Cli, InputOfTheRightTypeIsUsed) {
  const std::string npy = write("x.npy", npy_bytes("<f4", "(6, 10)", std::string(6 * 10 * 4, '\0')));
  const Outcome r = run({"run", kStats, "--input", "x=" + npy});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Cli, InputWithWrongShapeOrDtypeNamesBothTypes) {
  const std::string wrong_shape = write("shape.npy", npy_bytes("<f4", "(6, 9)", std::string(6 * 9 * 4, '\0')));
  const std::string wrong_dtype = write("dtype.npy", npy_bytes("<f8", "(6, 10)", std::string(6 * 10 * 8, '\0')));
  for (const auto& [npy, held] : {std::pair{wrong_shape, "f32[6,9]"}, std::pair{wrong_dtype, "f64[6,10]"}}) {
    const Outcome r = run({"run", kStats, "--input", "x=" + npy});
    EXPECT_EQ(r.exit_code, 1) << npy;
    EXPECT_NE(r.err.find("f32[6,10]"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(held), std::string::npos) << r.err;
  }
}

TEST_F(Cli, TruncatedInputIsReported) {
  const std::string npy = write("short.npy", npy_bytes("<f4", "(6, 10)", std::string(100, '\0')));
  const Outcome r = run({"run", kStats, "--input", "x=" + npy});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST_F(Cli, InputForAnUnknownNameIsReported) {
  const std::string npy = write("x.npy", npy_bytes("<f4", "(6, 10)", std::string(6 * 10 * 4, '\0')));
  const Outcome r = run({"run", kStats, "--random", "1", "--input", "nosuch=" + npy});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'nosuch'"), std::string::npos) << r.err;
}

}  // namespace
