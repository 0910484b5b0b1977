// ISA detection with the TJ_ISA override.
#include "codegen/target.h"

#include <cstdlib>
#include <string>

#include "ir/error.h"

namespace tj {

const Isa& host_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    const bool has_avx512 = __builtin_cpu_supports("avx512f");
    const char* forced = std::getenv("TJ_ISA");
    const std::string want = forced ? forced : "";
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
      fail("tensorjit needs a CPU with AVX2 and FMA");
    if (!want.empty() && want != "avx2" && want != "avx512") fail("TJ_ISA={} is unknown (avx2 or avx512)", want);
    if (want == "avx512" && !has_avx512) fail("TJ_ISA=avx512, but this CPU has no AVX-512");
    if (want == "avx2" || !has_avx512) return Isa{"avx2", 8};
    return Isa{"avx512", 16};
  }();
  return isa;
}

}  // namespace tj
