// parallel_for: chunks cover the range exactly once, grains are respected,
// exceptions reach the caller, nesting runs inline, the thread count is a
// runtime setting, and an application's own parallel_for replaces the pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ir/error.h"
#include "runtime/parallel.h"

TEST(Parallel, CoversTheRangeOnce) {
  tj::set_num_threads(4);
  for (int64_t count : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
    tj::parallel_for(count, 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << count << " " << i;
  }
  tj::set_num_threads(0);
}

TEST(Parallel, BackToBackCallsAndCallsAfterSleepRunEveryChunkOnce) {
  // The pool's waits spin, then sleep (runtime/parallel.cpp): calls back to
  // back find its threads spinning, calls after a pause find them asleep,
  // and neither may lose a chunk or a wake-up (which would hang).
  tj::set_num_threads(2);
  std::atomic<int64_t> covered = 0;
  // Pauses of 0 to 100 us land on both sides of the 50 us spin, and on it.
  std::mt19937 rng(5);
  for (int call = 0; call < 4000; ++call) {
    if (call % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
    tj::parallel_for(2, 1, [&](int64_t begin, int64_t end) { covered += end - begin; });
  }
  EXPECT_EQ(covered.load(), 8000);
  tj::set_num_threads(0);
}

TEST(Parallel, SmallWorkRunsInlineOnTheCaller) {
  tj::set_num_threads(4);
  std::set<std::thread::id> threads;
  tj::parallel_for(100, 1000, [&](int64_t, int64_t) { threads.insert(std::this_thread::get_id()); });
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
  tj::set_num_threads(0);
}

TEST(Parallel, UsesSeveralThreadsAndRethrows) {
  tj::set_num_threads(3);
  EXPECT_EQ(tj::num_threads(), 3);
  std::mutex m;
  std::condition_variable arrived;
  std::set<std::thread::id> threads;
  tj::parallel_for(3000, 1, [&](int64_t, int64_t) {
    // Each chunk holds its thread until three threads have a chunk, so a
    // worker that woke first cannot take the chunk of one still waking (a
    // 5 ms sleep instead failed under a loaded ctest -j2). A pool that runs
    // the chunks on fewer threads fails after the timeout instead of hanging.
    std::unique_lock lock(m);
    threads.insert(std::this_thread::get_id());
    arrived.notify_all();
    arrived.wait_for(lock, std::chrono::seconds(10), [&] { return threads.size() >= 3; });
  });
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_THROW(tj::parallel_for(3000, 1, [](int64_t begin, int64_t) {
                 if (begin > 0) throw std::runtime_error("chunk failed");
               }),
               std::runtime_error);
  tj::set_num_threads(0);
}

TEST(Parallel, BadThreadCountsAreErrors) {
  // A typo in TJ_NUM_THREADS or an absurd count is an error that names the
  // setting (100000 threads used to hang the process while spawning).
  EXPECT_THROW(tj::set_num_threads(-1), tj::Error);
  EXPECT_THROW(tj::set_num_threads(tj::kMaxThreads + 1), tj::Error);
  const char* original = std::getenv("TJ_NUM_THREADS");
  const std::string saved = original ? original : "";
  for (const char* bad : {"abc", "-3", "4x", "100000", ""}) {
    setenv("TJ_NUM_THREADS", bad, 1);
    try {
      tj::set_num_threads(0);
      ADD_FAILURE() << "TJ_NUM_THREADS='" << bad << "' was accepted";
    } catch (const tj::Error& e) {
      EXPECT_NE(std::string(e.what()).find("TJ_NUM_THREADS=" + std::string(bad) + " is not a thread count"), std::string::npos) << e.what();
    }
  }
  setenv("TJ_NUM_THREADS", "3", 1);
  tj::set_num_threads(0);
  EXPECT_EQ(tj::num_threads(), 3);
  if (original) setenv("TJ_NUM_THREADS", saved.c_str(), 1);
  else unsetenv("TJ_NUM_THREADS");
  tj::set_num_threads(0);
}

TEST(Parallel, NestedCallsRunInline) {
  tj::set_num_threads(2);
  std::atomic<int64_t> total = 0;
  tj::parallel_for(4, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      tj::parallel_for(100, 1, [&](int64_t b, int64_t e) { total += e - b; });
  });
  EXPECT_EQ(total.load(), 400);
  tj::set_num_threads(0);
}

TEST(Parallel, ApplicationCanInstallItsOwn) {
  std::atomic<int> calls = 0;
  tj::set_parallel_for([&](int64_t count, int64_t, const tj::RangeBody& body) {
    ++calls;
    body(0, count);
  });
  int64_t covered = 0;
  tj::parallel_for(10, 1, [&](int64_t begin, int64_t end) { covered += end - begin; });
  tj::set_parallel_for({});
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(covered, 10);
}
