// The built-in thread pool behind parallel_for.
#include "runtime/parallel.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "ir/error.h"

namespace tj {

namespace {

thread_local bool inside_pool_task = false;  // nested parallel_for runs inline: no deadlock

// The cores this process may run on (taskset, cpusets), else the machine's.
int hardware_threads() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) return std::max(1, CPU_COUNT(&allowed));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// TJ_NUM_THREADS, or the cores this process may run on when unset or 0.
int default_threads() {
  const char* env = std::getenv("TJ_NUM_THREADS");
  if (!env) return hardware_threads();
  const std::string_view text(env);
  int n = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || n < 0 || n > kMaxThreads)
    fail("TJ_NUM_THREADS={} is not a thread count (1 to {}, or 0 for all cores)", text, kMaxThreads);
  return n > 0 ? n : hardware_threads();
}

// A thread waiting for work or for the other chunks spins this long
// before it sleeps: a kernel's chunks start and end within microseconds of
// each other, and the next kernel's follow at once, while a thread put to
// sleep takes long to wake on a VM. An empty parallel_for over 2 threads,
// back to back: median 25-28 us sleeping at once, 1.6-6.6 us spinning
// first; with 200 us of work per chunk, 26-31 against 2.2 us. A pool with
// more threads than cores does not spin: spinners would keep the threads
// they wait for off the cores.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(50);

template <typename Ready>
bool spin_until(bool spinning, Ready ready) {
  if (!spinning) return ready();
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    _mm_pause();
    if (i % 64 != 0) continue;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();  // to the thread it waits for, should the scheduler have put both on one core
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : spinning_(threads <= hardware_threads()) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t count, int64_t grain, const RangeBody& body) {
    const int64_t chunks = std::min<int64_t>(threads(), (count + grain - 1) / grain);
    if (chunks <= 1 || inside_pool_task) {
      body(0, count);
      return;
    }
    const int64_t step = (count + chunks - 1) / chunks;
    // Shared with the tasks, so that a worker finishing the last chunk never
    // touches this frame after the caller has returned.
    struct Completion {
      std::mutex mutex;
      std::condition_variable done;
      std::atomic<int64_t> remaining;
      std::exception_ptr error;
    };
    auto completion = std::make_shared<Completion>();
    completion->remaining = chunks - 1;
    auto run_chunk = [&body, count, step](Completion& c, int64_t begin) {
      try {
        body(begin, std::min(count, begin + step));
      } catch (...) {
        std::lock_guard lock(c.mutex);
        if (!c.error) c.error = std::current_exception();
      }
    };
    {
      std::lock_guard lock(mutex_);
      for (int64_t c = 1; c < chunks; ++c)
        queue_.push_back([completion, run_chunk, begin = c * step] {
          run_chunk(*completion, begin);
          if (completion->remaining.fetch_sub(1) != 1) return;
          std::lock_guard done_lock(completion->mutex);  // the caller checks `remaining` under it before sleeping
          completion->done.notify_one();
        });
      queued_.store(static_cast<int64_t>(queue_.size()));
    }
    wake_.notify_all();
    const bool was_inside = inside_pool_task;
    inside_pool_task = true;
    run_chunk(*completion, 0);
    inside_pool_task = was_inside;
    if (!spin_until(spinning_, [&] { return completion->remaining.load() == 0; })) {
      std::unique_lock lock(completion->mutex);
      completion->done.wait(lock, [&] { return completion->remaining.load() == 0; });
    }
    if (completion->error) std::rethrow_exception(completion->error);
  }

 private:
  void work() {
    inside_pool_task = true;
    for (;;) {
      spin_until(spinning_, [&] { return queued_.load() > 0 || stopping_.load(); });
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_.load() || !queue_.empty(); });
        if (stopping_.load() && queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
        queued_.store(static_cast<int64_t>(queue_.size()));
      }
      task();
    }
  }

  std::vector<std::thread> workers_;
  std::deque<std::function<void()>> queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int64_t> queued_ = 0;  // queue_.size(), read without the lock by spinning workers
  std::atomic<bool> stopping_ = false;
  const bool spinning_;  // waits spin before they sleep (kSpinBeforeSleep)
};

struct Settings {
  std::mutex mutex;
  int threads = 0;  // 0: not chosen yet
  std::shared_ptr<ThreadPool> pool;
  ParallelForImpl custom;
};

Settings& settings() {
  static Settings s;
  return s;
}

}  // namespace

void set_num_threads(int threads) {
  if (threads < 0 || threads > kMaxThreads)
    fail("set_num_threads({}): the thread count must be 1 to {}, or 0 for all cores", threads, kMaxThreads);
  Settings& s = settings();
  std::lock_guard lock(s.mutex);
  s.threads = threads > 0 ? threads : default_threads();
  s.pool.reset();  // rebuilt at the next use; running calls keep the old one alive
}

int num_threads() {
  Settings& s = settings();
  std::lock_guard lock(s.mutex);
  return s.threads > 0 ? s.threads : default_threads();
}

void set_parallel_for(ParallelForImpl impl) {
  Settings& s = settings();
  std::lock_guard lock(s.mutex);
  s.custom = std::move(impl);
}

void parallel_for(int64_t count, int64_t grain, const RangeBody& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (count <= grain) return body(0, count);  // one chunk: no thread to wake
  std::shared_ptr<ThreadPool> pool;
  ParallelForImpl custom;
  {
    Settings& s = settings();
    std::lock_guard lock(s.mutex);
    custom = s.custom;
    if (!custom) {
      if (s.threads == 0) s.threads = default_threads();
      if (!s.pool) s.pool = std::make_shared<ThreadPool>(s.threads);
      pool = s.pool;
    }
  }
  if (custom) return custom(count, grain, body);
  pool->run(count, grain, body);
}

}  // namespace tj
