// Fused against eager (the same code generator, one kernel per op) on the
// workloads of design §7, next to this machine's limits measured in the same
// run: a STREAM-like triad and a read-only sum. Each benchmark reports bytes
// per second for the bytes a fused kernel must move (inputs once, outputs
// once); compare fused/eager and fused/triad within one run, as the machine
// is noisy.
//   build/bench/bench_kernels --benchmark_filter=gelu
#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <vector>

#include "tensorjit/tensorjit.h"

using tj::Tensor;

namespace {

constexpr int64_t kStreamElements = int64_t{1} << 24;  // 64 MiB per float array: far beyond the caches

void set_threads(benchmark::State& state) { tj::set_num_threads(static_cast<int>(state.range(0))); }

// a = b + s * c over float arrays, split across the pool like a kernel.
void triad(benchmark::State& state) {
  set_threads(state);
  std::vector<float> a(kStreamElements), b(kStreamElements, 1.0f), c(kStreamElements, 2.0f);
  for (auto _ : state) {
    tj::parallel_for(kStreamElements, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) a[i] = b[i] + 3.0f * c[i];
    });
    benchmark::DoNotOptimize(a.data());
  }
  state.SetBytesProcessed(state.iterations() * kStreamElements * 12);
}

void read(benchmark::State& state) {
  set_threads(state);
  std::vector<float> b(kStreamElements, 1.0f);
  for (auto _ : state) {
    std::vector<double> partial(64, 0.0);
    tj::parallel_for(kStreamElements, 1 << 20, [&](int64_t begin, int64_t end) {
      float s[16] = {};  // independent partial sums, so that the loop vectorizes
      for (int64_t i = begin; i + 16 <= end; i += 16)
        for (int k = 0; k < 16; ++k) s[k] += b[i + k];
      for (int k = 1; k < 16; ++k) s[0] += s[k];
      partial[begin >> 20] = s[0];
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(state.iterations() * kStreamElements * 4);
}

struct Workload {
  const char* name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<tj::Shape> inputs;
  int64_t output_elements;
  benchmark::TimeUnit unit = benchmark::kMillisecond;
};

// Ten elementwise ops on a small input: what a call costs beyond the math.
Tensor small_chain(Tensor x) {
  const double factors[] = {1.5, 0.5, 0.9, -0.1, 1.1, 0.2, 0.8, -0.3, 1.2, 0.4};
  for (int i = 0; i < 10; ++i) x = i % 2 ? x + factors[i] : x * factors[i];
  return x;
}

Tensor gelu_tanh_from_primitives(const Tensor& x) {
  return 0.5 * x * (1.0 + tj::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"gelu", [](const auto& in) { return gelu_tanh_from_primitives(in[0]); }, {{4096, 4096}}, 4096 * 4096},
      {"bias_relu", [](const auto& in) { return tj::relu(in[0] + in[1]) * in[2]; }, {{4096, 4096}, {4096}, {}}, 4096 * 4096},
      {"softmax", [](const auto& in) { return tj::softmax(in[0], -1); }, {{4096, 1024}}, 4096 * 1024},
      {"layernorm", [](const auto& in) { return tj::layer_norm(in[0], in[1], in[2]); }, {{8192, 768}, {768}, {768}}, 8192 * 768},
      {"sum", [](const auto& in) { return in[0].sum(); }, {{int64_t{1} << 24}}, 1},
      {"small_chain", [](const auto& in) { return small_chain(in[0]); }, {{1024}}, 1024, benchmark::kMicrosecond},
  };
  return all;
}

void run_workload(benchmark::State& state, const Workload& w, bool fuse) {
  set_threads(state);
  std::vector<Tensor> inputs;
  int64_t bytes = w.output_elements * 4;
  for (size_t i = 0; i < w.inputs.size(); ++i) {
    inputs.push_back(Tensor::randn(w.inputs[i], 10 + i));
    bytes += inputs.back().numel() * 4;
  }
  auto f = tj::jit(std::function<Tensor(std::vector<Tensor>)>(w.fn), tj::JitOptions{.backend = "llvm", .fuse = fuse});
  f(inputs);  // trace, compile, warm the pools
  for (auto _ : state) benchmark::DoNotOptimize(f(inputs));
  state.SetBytesProcessed(state.iterations() * bytes);
}

void compile_time(benchmark::State& state) {
  // A fresh jitted GELU per iteration: trace, passes and LLVM compile of one kernel.
  const Tensor x = Tensor::randn({64, 64}, 1);
  for (auto _ : state) {
    auto f = tj::jit([](const Tensor& t) { return gelu_tanh_from_primitives(t); }, tj::JitOptions{.backend = "llvm"});
    benchmark::DoNotOptimize(f(x));
  }
}

void register_all() {
  benchmark::RegisterBenchmark("limit/triad", triad)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limit/read", read)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const Workload& w : workloads())
    for (bool fuse : {false, true})
      benchmark::RegisterBenchmark((std::string(w.name) + (fuse ? "/fused" : "/eager")).c_str(),
                                   [&w, fuse](benchmark::State& s) { run_workload(s, w, fuse); })
          ->Arg(1)->Arg(2)->UseRealTime()->Unit(w.unit);
  benchmark::RegisterBenchmark("compile/gelu_kernel", compile_time)->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
