// Threads (design §6): one pool and parallel_for. Work under the grain runs
// inline; the thread count is a runtime setting (set_num_threads or the
// TJ_NUM_THREADS environment variable, default: the cores the process may
// run on, as sched_getaffinity reports them), never baked into code. An
// embedding application may install its own parallel_for, which then runs
// all of tensorjit's parallel work.
#pragma once

#include <cstdint>
#include <functional>

namespace tj {

using RangeBody = std::function<void(int64_t begin, int64_t end)>;
using ParallelForImpl = std::function<void(int64_t count, int64_t grain, const RangeBody& body)>;

// Calls body on chunks that cover [0, count), each of at least `grain` items
// (except the last), possibly at the same time; returns when all are done.
// The first exception a chunk throws is rethrown here.
void parallel_for(int64_t count, int64_t grain, const RangeBody& body);

// 0: the cores this process may run on; at most kMaxThreads, else a tj::Error.
// A TJ_NUM_THREADS that is not such a count is a tj::Error wherever the
// count is read: set_num_threads(0), num_threads(), and parallel work too
// large to run inline (the built-in pool only).
inline constexpr int kMaxThreads = 1024;
void set_num_threads(int threads);
int num_threads();

// Installs the application's parallel_for; an empty function restores the pool.
void set_parallel_for(ParallelForImpl impl);

}  // namespace tj
