// The buffer pool: a dropped buffer is the next acquire of its size; a full
// pool makes room by freeing the buffers released longest ago, so that it
// keeps serving the sizes in use now; buffers outliving their pool are freed.
#include <gtest/gtest.h>

#include "runtime/buffer_pool.h"

namespace {

TEST(BufferPool, ReusesExactSizesAndDropsTheOldestWhenFull) {
  auto pool = tj::BufferPool::create(3 * 1024);
  void* first = nullptr;
  {
    std::shared_ptr<void> a = pool->acquire(1024), b = pool->acquire(1024), c = pool->acquire(1000);  // 1000 rounds to 1024
    first = a.get();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.get()) % 64, 0u);
  }  // c, b, a released in that order: a is the newest
  EXPECT_EQ(pool->cached_bytes(), 3 * 1024);
  void* larger = nullptr;
  {
    std::shared_ptr<void> big = pool->acquire(2048);  // not cached: a new block
    larger = big.get();
  }  // the pool is full: the two oldest 1 KiB blocks make room for it
  EXPECT_EQ(pool->cached_bytes(), 3 * 1024);
  std::shared_ptr<void> big_again = pool->acquire(2048);
  EXPECT_EQ(big_again.get(), larger);
  EXPECT_EQ(pool->cached_bytes(), 1024);
  std::shared_ptr<void> small = pool->acquire(1024);  // exact sizes: 1000 bytes took a 1024-byte block
  EXPECT_EQ(small.get(), first) << "the newest 1 KiB block (released last) should have stayed";
  EXPECT_EQ(pool->cached_bytes(), 0);
}

TEST(BufferPool, LargerThanTheCapIsFreedAndBuffersOutliveThePool) {
  auto pool = tj::BufferPool::create(1024);
  { std::shared_ptr<void> huge = pool->acquire(4096); }
  EXPECT_EQ(pool->cached_bytes(), 0);
  std::shared_ptr<void> kept = pool->acquire(512);
  pool.reset();  // the buffer frees itself when released (checked by ASan and LeakSanitizer)
  kept.reset();
}

}  // namespace
