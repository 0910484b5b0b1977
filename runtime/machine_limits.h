// This machine's limits, measured in the process the first time explain
// asks (about a tenth of a second) at the current thread count: a
// STREAM-like triad (a = b + s c), a read-only sum, and a register-resident
// loop of float FMAs as wide as the kernels' vectors. Kernels' achieved
// rates are reported against them.
#pragma once

#include <cstdint>
#include <memory>

namespace tj {

struct MachineLimits {
  int threads = 0;
  double triad_bytes_per_s = 0;
  double read_bytes_per_s = 0;
  double fma_flops_per_s = 0;
};

const MachineLimits& machine_limits();

// The loops behind the limits, split across the pool as kernels are
// (bench/ times the same ones with Google Benchmark).
// n floats set to `value`, in the memory tensors get (ir/aligned_memory.h:
// huge pages for large arrays), so that the limits and the kernels they
// measure stream through the same kind of pages.
using StreamArray = std::unique_ptr<float[], void (*)(void*)>;
StreamArray stream_array(int64_t n, float value);

namespace limit_loops {
void triad(float* a, const float* b, const float* c, int64_t n);  // a = b + 3 c
float read(const float* b, const float* c, int64_t n);            // sum of b + c
// 12 FMAs of `lanes` floats (8: AVX2, 16: AVX-512) per trip on one thread;
// the result keeps them alive.
float fma_chains(int64_t trips, int lanes);
double fma_chains_flops(int64_t trips, int lanes);
}  // namespace limit_loops

}  // namespace tj
