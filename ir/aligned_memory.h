// Memory for tensor data: blocks aligned to 64 bytes (a cache line, and
// every vector width), released with std::free. Blocks of 2 MiB or more are
// aligned to 2 MiB and advised as transparent huge pages (the kernel may
// decline): a kernel streaming through them then crosses a page every 2 MiB
// instead of every 4 KiB, so it misses the TLB less and the hardware
// prefetchers, which stop at page boundaries, keep running.
#pragma once

#include <cstddef>

namespace tj {

void* allocate_aligned(size_t bytes);  // nullptr when out of memory

}  // namespace tj
