// The buffer pool: exact-size reuse, a bounded cache that drops the oldest
// first, blocks outliving the pool freed.
#include "runtime/buffer_pool.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "ir/aligned_memory.h"
#include "ir/error.h"

namespace tj {

std::shared_ptr<BufferPool> BufferPool::create(int64_t max_cached_bytes) {
  return std::shared_ptr<BufferPool>(new BufferPool(max_cached_bytes));
}

BufferPool::~BufferPool() {
  for (auto& [bytes, block] : free_) std::free(block.data);
}

std::shared_ptr<void> BufferPool::acquire(int64_t bytes) {
  const int64_t rounded = std::max<int64_t>(64, (bytes + 63) / 64 * 64);
  void* block = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (auto it = free_.find(rounded); it != free_.end()) {
      block = it->second.data;
      cached_ -= rounded;
      free_.erase(it);
    }
  }
  if (!block) block = allocate_aligned(static_cast<size_t>(rounded));
  if (!block) fail("cannot allocate {} bytes", rounded);
  std::weak_ptr<BufferPool> pool = weak_from_this();
  return std::shared_ptr<void>(block, [pool, rounded](void* p) {
    if (auto owner = pool.lock()) owner->release(p, rounded);
    else std::free(p);
  });
}

void BufferPool::release(void* block, int64_t bytes) {
  std::vector<void*> dropped;  // freed after the lock
  {
    std::lock_guard lock(mutex_);
    if (bytes > max_cached_) {
      dropped.push_back(block);
    } else {
      while (cached_ + bytes > max_cached_) {
        auto oldest = std::min_element(free_.begin(), free_.end(),
                                       [](const auto& a, const auto& b) { return a.second.released < b.second.released; });
        dropped.push_back(oldest->second.data);
        cached_ -= oldest->first;
        free_.erase(oldest);
      }
      free_.emplace(bytes, Block{block, ++releases_});
      cached_ += bytes;
    }
  }
  for (void* p : dropped) std::free(p);
}

int64_t BufferPool::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return cached_;
}

}  // namespace tj
