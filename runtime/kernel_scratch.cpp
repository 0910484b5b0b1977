// Per-thread scratch memory for compiled kernels (kernel_scratch.h).
#include "runtime/kernel_scratch.h"

#include <cstdlib>
#include <memory>

#include "ir/error.h"

namespace {

struct Scratch {
  std::unique_ptr<void, decltype(&std::free)> memory{nullptr, &std::free};
  int64_t bytes = 0;
};

thread_local Scratch scratch;

}  // namespace

extern "C" void* tj_kernel_scratch(int64_t bytes) noexcept {
  if (bytes > scratch.bytes) {
    const int64_t rounded = (bytes + 4095) / 4096 * 4096;
    scratch.memory.reset(std::aligned_alloc(64, static_cast<size_t>(rounded)));
    scratch.bytes = scratch.memory ? rounded : 0;
  }
  return scratch.memory.get();
}

namespace tj {

void reserve_kernel_scratch(int64_t bytes) {
  if (bytes > 0 && !tj_kernel_scratch(bytes)) fail("kernel scratch: cannot allocate {} bytes for this thread", bytes);
}

}  // namespace tj
