// The `tensorjit` command-line program (design §8):
//   tensorjit check PROG.tj [--print]
//   tensorjit opt   PROG.tj [--passes=a,b,...] [--no-fuse]
//   tensorjit run PROG.tj [--func NAME] [--input NAME=FILE.npy ...] [--random SEED]
//                 [--out DIR] [--backend auto|llvm|xbyak|interp] [--threads N]
//                 [--no-fuse] [--bench N] [--explain[=json|=short]]
// Exit codes: 0 success, 1 an error in the program or its inputs, 2 bad usage.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "codegen/executor.h"
#include "codegen/report.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "ir/verifier.h"
#include "runtime/parallel.h"
#include "passes/pipeline.h"
#include "runtime/npy.h"
#include "runtime/random.h"
#include "tools/format_array.h"

namespace tj {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage:
  tensorjit check PROG.tj [--print]
  tensorjit opt   PROG.tj [--passes=a,b,...] [--no-fuse]
  tensorjit run   PROG.tj [--func NAME] [--input NAME=FILE.npy ...] [--random SEED]
                  [--out DIR] [--backend auto|llvm|xbyak|interp] [--threads N]
                  [--no-fuse] [--bench N] [--explain[=json|=short]]
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string command;
  std::string program_path;
  std::optional<std::string> func;
  std::map<std::string, std::string> inputs;  // name -> .npy path
  std::optional<uint64_t> random_seed;
  std::optional<std::string> out_dir;
  int bench_runs = 0;  // --bench N
  std::string explain;  // "", "text", "json" or "short" (json and short print only the report)
  std::optional<int> threads;  // --threads N; absent: TJ_NUM_THREADS or every core
  std::string backend = "auto";
  bool print = false;
  bool fuse = true;
  std::optional<std::vector<std::string>> passes;  // --passes=...; absent: the default pipeline
};

// Which backends exist in this build; the others say so clearly.
struct BackendEntry {
  std::string_view name;
  std::string_view unavailable_reason;  // empty: available
};
constexpr BackendEntry kBackends[] = {
    {"interp", ""},
    {"auto", ""},  // the best available backend: llvm until xbyak lands
    {"llvm", ""},
    {"xbyak", "the xbyak backend is not built yet"},
};

uint64_t parse_number(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const unsigned long long v = std::stoull(text, &used);
    if (used == text.size() && text[0] != '-') return v;
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("{} expects a non-negative integer, got '{}'", flag, text));
}

Options parse_args(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") throw UsageError("");
  Options o;
  o.command = args[0];
  if (o.command != "check" && o.command != "run" && o.command != "opt")
    throw UsageError(fmt::format("unknown command '{}'", o.command));
  auto value_of = [&](size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", args[i]));
    return args[++i];
  };
  // Which command takes which option; the rest are run's.
  const std::map<std::string, std::set<std::string>> options_of = {
      {"check", {"--print"}}, {"opt", {"--passes", "--no-fuse"}}};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::string flag = a.substr(0, a.find('='));
    if (a.starts_with("--") && o.command != "run" && !options_of.at(o.command).contains(flag))
      throw UsageError(fmt::format("{} is not an option of '{}'", flag, o.command));
    if (a == "--print") o.print = true;
    else if (a.starts_with("--passes=")) {
      std::vector<std::string> names;
      std::string list = a.substr(9);
      for (size_t start = 0; start < list.size();) {
        const size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start) names.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
      o.passes = names;
    }
    else if (a == "--no-fuse") o.fuse = false;
    else if (a == "--func") o.func = value_of(i);
    else if (a == "--input") {
      const std::string& spec = value_of(i);
      const size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw UsageError(fmt::format("--input expects NAME=FILE.npy, got '{}'", spec));
      std::string name = spec.substr(0, eq);
      if (name[0] == '%' || name[0] == '@') name.erase(0, 1);
      o.inputs[name] = spec.substr(eq + 1);
    } else if (a == "--random") o.random_seed = parse_number(a, value_of(i));
    else if (a == "--out") o.out_dir = value_of(i);
    else if (a == "--backend") o.backend = value_of(i);
    else if (a == "--threads") o.threads = static_cast<int>(std::min<uint64_t>(parse_number(a, value_of(i)), 1024));
    else if (a == "--bench") o.bench_runs = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(parse_number(a, value_of(i)), 100000)));
    else if (a == "--explain") o.explain = "text";
    else if (a == "--explain=json" || a == "--explain=short") o.explain = a.substr(10);
    else if (a.starts_with("-")) throw UsageError(fmt::format("unknown option '{}'", a));
    else if (o.program_path.empty()) o.program_path = a;
    else throw UsageError(fmt::format("unexpected argument '{}'", a));
  }
  if (o.program_path.empty()) throw UsageError("missing PROG.tj");
  return o;
}

Program load_program(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file || std::filesystem::is_directory(path)) fail("{}: cannot open file", path);
  std::ostringstream text;
  text << file.rdbuf();
  Program program = parse_program(text.str(), path);
  verify(program);
  return program;
}

const Function& select_function(const Program& program, const Options& o) {
  if (o.func) {
    if (const Function* f = program.find_function(*o.func)) return *f;
    fail("{}: no function @{}", o.program_path, *o.func);
  }
  if (const Function* f = program.find_function("main")) return *f;
  return program.functions.front();
}

// An input array for a parameter or tensor constant of `type`, from --input or --random.
Array bind_input(const Options& o, const std::string& name, const TensorType& type, uint64_t stream,
                 std::string_view what) {
  auto it = o.inputs.find(name);
  if (it != o.inputs.end()) {
    Array a = load_npy(it->second);
    if (a.type() != type)
      fail("{}: {} %{} is {}, but {} holds {}", o.program_path, what, name, type_to_string(type), it->second,
           type_to_string(a.type()));
    return a;
  }
  if (!o.random_seed)
    fail("{}: no value for {} '{}' of type {}: pass --input {}=FILE.npy or --random SEED", o.program_path, what,
         name, type_to_string(type), name);
  return random_array(type, *o.random_seed * 1000003 + stream);
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

// The median time of `runs` calls, after a first one (which compiles).
double median_ms(const Executable& program, const std::vector<Array>& inputs, int runs) {
  program.run(inputs);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    program.run(inputs);
    times.push_back(ms_since(start));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// --bench N: the program eagerly (one kernel per op) and fused, both on
// the chosen compiled backend, N timed calls each after a first one.
void bench(const Program& source, const std::string& function, const std::vector<Array>& inputs, const Options& o) {
  const Backend backend = parse_backend(o.backend == "interp" ? "interp" : o.backend);
  double eager_ms = 0, fused_ms = 0, compile_ms = 0;
  for (const bool fuse : {false, true}) {
    Program program = parse_program(print_program(source), "bench");
    program.constant_data = source.constant_data;
    const auto start = Clock::now();
    run_pipeline(program, PipelineOptions{.fuse = fuse});
    const double passes_ms = ms_since(start);
    const Executable executable(program, *program.find_function(function), backend);
    (fuse ? fused_ms : eager_ms) = median_ms(executable, inputs, o.bench_runs);
    if (fuse) compile_ms = passes_ms + executable.compile_ms();  // kernels compile at the first call
  }
  fmt::print("eager: {:.3f} ms\nfused: {:.3f} ms\nspeedup: {:.2f}\n", eager_ms, fused_ms, eager_ms / fused_ms);
  fmt::print("compile: {:.3f} ms\n", compile_ms);
}

int run(const Options& o) {
  for (const BackendEntry& b : kBackends)
    if (b.name == o.backend && !b.unavailable_reason.empty())
      fail("--backend {}: {}; use --backend interp", o.backend, b.unavailable_reason);
  if (std::none_of(std::begin(kBackends), std::end(kBackends), [&](const BackendEntry& b) { return b.name == o.backend; }))
    throw UsageError(fmt::format("unknown backend '{}' (auto, llvm, xbyak, interp)", o.backend));

  Program program = load_program(o.program_path);
  const Function& f = select_function(program, o);
  std::set<std::string> known;
  std::vector<Array> inputs;
  uint64_t stream = 0;
  for (const Node* p : f.params()) {
    inputs.push_back(bind_input(o, p->name, p->type, stream++, "parameter"));
    known.insert(p->name);
  }
  for (const auto& node : f.nodes()) {
    const std::string& symbol = node->constant.symbol;
    if (node->op != Op::constant || symbol.empty() || program.constant_data.contains(symbol)) continue;
    program.constant_data[symbol] = bind_input(o, symbol, node->type, stream++, "constant");
    known.insert(symbol);
  }
  for (const auto& [name, path] : o.inputs)
    if (!known.contains(name)) fail("--input {}: @{} has no parameter or tensor constant named '{}'", name, f.name(), name);

  // interp is the reference: the program as written. auto and llvm run the
  // optimized, fused program kernel by kernel, as machine code where codegen
  // supports the kernel.
  std::vector<Array> results;
  if (o.bench_runs > 0) bench(program, f.name(), inputs, o);
  if (o.backend == "interp") {
    results = interpret(program, f, inputs);
  } else {
    std::optional<Program> reference;  // the program as written, for explain's error check
    if (!o.explain.empty()) {
      reference = parse_program(print_program(program), "reference");
      reference->constant_data = program.constant_data;
    }
    const auto passes_start = Clock::now();
    run_pipeline(program, PipelineOptions{.fuse = o.fuse});
    const double passes_ms = ms_since(passes_start);
    const Function& optimized = *program.find_function(f.name());
    const Executable executable(program, optimized, parse_backend(o.backend));
    results = executable.run(inputs);
    if (!o.explain.empty()) {
      std::vector<std::string> types;
      for (const Array& a : inputs) types.push_back(type_to_string(a.type()));
      const Report report = make_report(ReportRequest{.reference = *reference, .reference_function = *reference->find_function(f.name()),
                                                      .optimized = optimized, .executable = executable, .inputs = inputs,
                                                      .inputs_text = fmt::format("{}", fmt::join(types, ", ")), .backend = o.backend,
                                                      .passes_ms = passes_ms});
      if (o.explain != "text") {
        fmt::print("{}", o.explain == "json" ? report_json(report) : report_summary(report));
        return 0;
      }
      fmt::print("{}", report_text(report));
    }
  }
  if (o.out_dir) std::filesystem::create_directories(*o.out_dir);
  for (size_t i = 0; i < results.size(); ++i) {
    fmt::print("out{}: {} =\n{}\n", i, type_to_string(results[i].type()), format_array(results[i]));
    if (o.out_dir) {
      const std::string path = fmt::format("{}/out{}.npy", *o.out_dir, i);
      save_npy(path, results[i]);
      fmt::print("wrote {}\n", path);
    }
  }
  return 0;
}

int check(const Options& o) {
  const Program program = load_program(o.program_path);
  if (o.print) {
    fmt::print("{}", print_program(program));
    return 0;
  }
  size_t statements = 0;
  for (const Function& f : program.functions) statements += f.nodes().size() - f.params().size();
  fmt::print("{}: ok ({} function{}, {} statements)\n", o.program_path, program.functions.size(),
             program.functions.size() == 1 ? "" : "s", statements);
  return 0;
}

int opt(const Options& o) {
  Program program = load_program(o.program_path);
  const PipelineOptions options{.fuse = o.fuse};
  run_passes(program, o.passes ? *o.passes : pipeline_passes(options), options);
  fmt::print("{}", print_optimized(program));
  return 0;
}

int main_checked(int argc, char** argv) {
  try {
    const Options o = parse_args(argc, argv);
    if (o.threads) set_num_threads(*o.threads);
    if (o.command == "opt") return opt(o);
    return o.command == "run" ? run(o) : check(o);
  } catch (const UsageError& e) {
    if (*e.what()) fmt::print(stderr, "tensorjit: {}\n", e.what());
    fmt::print(stderr, "{}", kUsage);
    return kExitUsage;
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return kExitError;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "tensorjit: out of memory\n");
    return kExitError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tensorjit: {}\n", e.what());
    return kExitError;
  }
}

}  // namespace
}  // namespace tj

int main(int argc, char** argv) { return tj::main_checked(argc, argv); }
