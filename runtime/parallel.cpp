// The built-in thread pool behind parallel_for.
#include "runtime/parallel.h"

#include <algorithm>
#include <charconv>
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

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// TJ_NUM_THREADS, or the hardware's count when unset or 0.
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

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
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
      int64_t remaining;
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
          std::lock_guard done_lock(completion->mutex);
          if (--completion->remaining == 0) completion->done.notify_one();
        });
    }
    wake_.notify_all();
    const bool was_inside = inside_pool_task;
    inside_pool_task = true;
    run_chunk(*completion, 0);
    inside_pool_task = was_inside;
    std::unique_lock lock(completion->mutex);
    completion->done.wait(lock, [&] { return completion->remaining == 0; });
    if (completion->error) std::rethrow_exception(completion->error);
  }

 private:
  void work() {
    inside_pool_task = true;
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::vector<std::thread> workers_;
  std::deque<std::function<void()>> queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
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
