// The instruction set kernels are generated for: AVX-512 when the CPU has
// it, else AVX2; TJ_ISA=avx2 forces AVX2 so that both paths can be tested
// on one machine.
#pragma once

#include <string_view>

namespace tj {

struct Isa {
  std::string_view name;  // "avx512" or "avx2"
  int f32_lanes;          // 16 or 8
};

const Isa& host_isa();

}  // namespace tj
