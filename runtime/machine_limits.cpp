// Measures the limits of machine_limits.h: each the best of three runs.
#include "runtime/machine_limits.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "codegen/target.h"
#include "ir/aligned_memory.h"
#include "ir/error.h"
#include "runtime/parallel.h"

namespace tj {

namespace {

constexpr int64_t kStreamFloats = int64_t{1} << 23;  // 32 MiB per array, three arrays: beyond the caches
constexpr int64_t kFmaTrips = int64_t{1} << 18;

template <typename Body>
double best_rate(double units, Body body) {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    body();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > 0) best = std::max(best, units / seconds);
  }
  return best;
}

MachineLimits measure(int threads) {
  MachineLimits limits{.threads = threads};
  const StreamArray a = stream_array(kStreamFloats, 0.0f), b = stream_array(kStreamFloats, 1.0f), c = stream_array(kStreamFloats, 2.0f);
  limits.triad_bytes_per_s = best_rate(kStreamFloats * 12.0, [&] { limit_loops::triad(a.get(), b.get(), c.get(), kStreamFloats); });
  float sum = 0;
  limits.read_bytes_per_s = best_rate(kStreamFloats * 8.0, [&] { sum += limit_loops::read(b.get(), c.get(), kStreamFloats); });
  std::vector<float> sinks(threads);
  const int lanes = host_isa().f32_lanes;
  limits.fma_flops_per_s = best_rate(limit_loops::fma_chains_flops(kFmaTrips, lanes) * threads, [&] {
    parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) sinks[t] = limit_loops::fma_chains(kFmaTrips, lanes);
    });
  });
  volatile float keep = a[7] + sum + sinks[0];  // the loops' results are used
  (void)keep;
  return limits;
}

}  // namespace

StreamArray stream_array(int64_t n, float value) {
  StreamArray array(static_cast<float*>(allocate_aligned(static_cast<size_t>(n) * sizeof(float))), std::free);
  if (!array) fail("cannot allocate {} floats for the machine limits", n);
  std::fill(array.get(), array.get() + n, value);
  return array;
}

namespace limit_loops {

// `a` is written with streaming stores from its first 32-byte boundary, as
// short kernels (bias_relu) write large outputs: through the cache, each
// line of `a` would be read before it is written, a third more traffic, and
// the limit would sit below what such a kernel reaches. Kernels that store
// through the cache (long math, row kernels) pay that read and are held to
// this limit all the same.
void triad(float* a, const float* b, const float* c, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i < end && reinterpret_cast<uintptr_t>(a + i) % 32 != 0; ++i) a[i] = b[i] + 3.0f * c[i];
    const __m256 three = _mm256_set1_ps(3.0f);
    for (; i + 8 <= end; i += 8)
      _mm256_stream_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(b + i), _mm256_mul_ps(three, _mm256_loadu_ps(c + i))));
    for (; i < end; ++i) a[i] = b[i] + 3.0f * c[i];
    _mm_sfence();
  });
}

float read(const float* b, const float* c, int64_t n) {
  constexpr int64_t kChunk = 1 << 20;
  std::vector<float> partial((n + kChunk - 1) / kChunk + 1, 0.0f);
  parallel_for(n, kChunk, [&](int64_t begin, int64_t end) {
    float s[16] = {};  // independent partial sums, so that the loop vectorizes
    for (int64_t i = begin; i + 16 <= end; i += 16)
      for (int k = 0; k < 16; ++k) s[k] += b[i + k] + c[i + k];
    for (int k = 1; k < 16; ++k) s[0] += s[k];
    partial[begin / kChunk] = s[0];
  });
  float total = 0;
  for (float p : partial) total += p;
  return total;
}

// Twelve independent chains cover the FMA latency on both FMA pipes, in
// vectors as wide as the kernels' (codegen/target.h): a 512-bit FMA does
// twice a 256-bit one's work on cores with 512-bit pipes (Zen 5), and as
// much in two halves on others, so the AVX2 loop would halve this limit
// where AVX-512 kernels run at full width.
__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t trips) {
  __m256 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int64_t t = 0; t < trips; ++t) {
#pragma GCC unroll 12  // the accumulators must stay in registers
    for (int k = 0; k < 12; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  for (int k = 1; k < 12; ++k) acc[0] = _mm256_add_ps(acc[0], acc[k]);
  return _mm256_cvtss_f32(acc[0]);
}

__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t trips) {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t t = 0; t < trips; ++t) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  for (int k = 1; k < 12; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  return _mm512_cvtss_f32(acc[0]);
}

float fma_chains(int64_t trips, int lanes) { return lanes == 16 ? fma_chains_avx512(trips) : fma_chains_avx2(trips); }

double fma_chains_flops(int64_t trips, int lanes) { return static_cast<double>(trips) * 12 * lanes * 2; }

}  // namespace limit_loops

const MachineLimits& machine_limits() {
  static std::mutex mutex;
  static std::map<int, MachineLimits> by_threads;
  std::lock_guard lock(mutex);
  const int threads = num_threads();
  auto it = by_threads.find(threads);
  if (it == by_threads.end()) it = by_threads.emplace(threads, measure(threads)).first;
  return it->second;
}

}  // namespace tj
