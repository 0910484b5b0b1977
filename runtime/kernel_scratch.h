// Scratch memory for compiled kernels, one buffer per thread: a kernel's
// large temporaries (a block of matmul rows' sums, rows cached between
// passes: up to ~0.5 MiB) live here rather than on the stack of whichever
// thread calls it, which in an embedding application may be small.
#pragma once

#include <cstdint>

namespace tj {

// Makes the calling thread's buffer at least `bytes` long; throws tj::Error
// when memory runs out. The executor calls it before each kernel call, so
// that the kernel's own request below never needs to allocate.
void reserve_kernel_scratch(int64_t bytes);

}  // namespace tj

// The calling thread's buffer, 64-byte aligned, at least `bytes` long
// (grown if it must be; null if that fails: it never throws, as kernels,
// which call it once at their entry, cannot unwind). Valid until the
// thread's next request; freed when the thread exits. C linkage: the JIT
// resolves kernels' calls to it by name.
extern "C" void* tj_kernel_scratch(int64_t bytes) noexcept;
