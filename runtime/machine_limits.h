// This machine's limits, measured in the process the first time explain
// asks (about a tenth of a second) at the current thread count: a
// STREAM-like triad (a = b + s c), a read-only sum, and a register-resident
// loop of float FMAs. Kernels' achieved rates are reported against them.
#pragma once

namespace tj {

struct MachineLimits {
  int threads = 0;
  double triad_bytes_per_s = 0;
  double read_bytes_per_s = 0;
  double fma_flops_per_s = 0;
};

const MachineLimits& machine_limits();

}  // namespace tj
