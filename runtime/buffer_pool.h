// A pool of 64-byte-aligned buffers for the arenas and results of compiled
// programs. A buffer released by its last user (a result tensor the caller
// dropped, an arena after a call) goes back to the pool it came from, so
// repeated calls of one signature reuse memory that is already mapped and
// cause no new page faults. When the pool is full, the buffers released
// longest ago make room: the sizes in use change with the workload.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace tj {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> create(int64_t max_cached_bytes = int64_t{1} << 30);
  ~BufferPool();

  // At least `bytes` bytes, not zeroed; throws tj::Error when memory runs out.
  std::shared_ptr<void> acquire(int64_t bytes);

  int64_t cached_bytes() const;

 private:
  explicit BufferPool(int64_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  void release(void* block, int64_t bytes);

  mutable std::mutex mutex_;
  struct Block {
    void* data;
    uint64_t released;  // when, in releases: the oldest go first when the pool is full
  };
  std::multimap<int64_t, Block> free_;  // by size
  uint64_t releases_ = 0;
  int64_t cached_ = 0;
  const int64_t max_cached_;
};

}  // namespace tj
