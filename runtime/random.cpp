// SplitMix64 stream plus Box-Muller for normal samples.
#include "runtime/random.h"

#include <cmath>

namespace tj {

namespace {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};

}  // namespace

Array random_array(const TensorType& type, uint64_t seed) {
  Array out = Array::zeros(type.dtype, type.shape);
  SplitMix64 rng{seed};
  const int64_t n = out.numel();
  const int64_t size = dtype_size(type.dtype);
  std::byte* p = out.mutable_at(0);
  for (int64_t i = 0; i < n; ++i) {
    if (is_float(type.dtype)) write_double(p + i * size, type.dtype, rng.normal());
    else if (type.dtype == DType::boolean) write_int(p + i * size, type.dtype, static_cast<int64_t>(rng.next() >> 63));
    else write_int(p + i * size, type.dtype, static_cast<int64_t>(rng.next() % 21) - 10);
  }
  return out;
}

}  // namespace tj
