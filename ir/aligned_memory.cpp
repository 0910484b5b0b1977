// Aligned blocks for tensor data, with huge pages for large ones (see the header).
#include "ir/aligned_memory.h"

#include <sys/mman.h>

#include <cstdlib>

namespace tj {

void* allocate_aligned(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  if (bytes < kHugePage) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* block = std::aligned_alloc(kHugePage, rounded);
  if (block) madvise(block, rounded, MADV_HUGEPAGE);  // advice: failure only means small pages
  return block;
}

}  // namespace tj
