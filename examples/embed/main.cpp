// Embedding tensorjit: the application hands it its own memory (from_blob,
// no copies) and its own threads (set_parallel_for), jits a small MLP block
// with captured weights, and checks it against eager execution.
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include <tensorjit/tensorjit.h>

namespace {

// The application's own parallel_for: one std::thread per chunk of work.
void app_parallel_for(int64_t count, int64_t grain, const tj::RangeBody& body) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(4, count / std::max<int64_t>(grain, 1)));
  const int64_t step = (count + chunks - 1) / chunks;
  std::vector<std::thread> threads;
  for (int64_t begin = step; begin < count; begin += step)
    threads.emplace_back([&, begin] { body(begin, std::min(count, begin + step)); });
  body(0, std::min(count, step));
  for (std::thread& t : threads) t.join();
}

}  // namespace

int main() {
  tj::set_parallel_for(app_parallel_for);

  constexpr int64_t kBatch = 32, kIn = 64, kHidden = 128;
  std::vector<float> input(kBatch * kIn);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.01f * static_cast<float>(i));
  const tj::Tensor x = tj::Tensor::from_blob(input.data(), {kBatch, kIn});

  const tj::Tensor w1 = tj::Tensor::randn({kHidden, kIn}, 1) * 0.1, b1 = tj::Tensor::zeros({kHidden});
  const tj::Tensor w2 = tj::Tensor::randn({kIn, kHidden}, 2) * 0.1, b2 = tj::Tensor::zeros({kIn});
  auto block = [&](const tj::Tensor& h) { return tj::layer_norm(h + tj::linear(tj::gelu(tj::linear(h, w1, b1)), w2, b2),
                                                               tj::Tensor::full({kIn}, 1.0), tj::Tensor::zeros({kIn})); };
  auto compiled = tj::jit(block);

  try {
    const tj::Tensor eager = block(x);
    const tj::Tensor fused = compiled(x);
    double worst = 0;
    for (int64_t i = 0; i < eager.numel(); ++i)
      worst = std::max(worst, static_cast<double>(std::fabs(eager.data<float>()[i] - fused.data<float>()[i])));
    compiled(x);  // served from the cache
    const tj::JitStats stats = compiled.stats();
    std::printf("embed: %s -> %s, max |eager - jit| = %g, compiles %lld, hits %lld\n", x.to_string().c_str(),
                fused.to_string().c_str(), worst, static_cast<long long>(stats.compiles), static_cast<long long>(stats.hits));
    if (worst > 1e-5 || stats.compiles != 1 || stats.hits != 1) return 1;
    compiled(tj::Tensor::randn({3, 5}, 3));  // a wrong shape: an error, not a crash
  } catch (const tj::Error& e) {
    std::printf("embed: error as expected for a wrong input: %s\nembed: ok\n", e.what());
    return 0;
  }
  return 1;
}
