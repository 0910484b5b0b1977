// What the reference interpreter's files share (internal to ir/): loops
// over several strided operands at once, the grain of parallel element
// loops, broadcast strides, and int64 arithmetic that wraps as the integer
// dtypes do.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "ir/array.h"

namespace tj::interp {

// Calls fn(n, offsets, length) for the runs of the innermost dim that cover
// the indices [begin, end) of `shape` in C order: a run is `length`
// consecutive indices from n along the last dim, and offsets[k] is the
// element offset of operand k at index n (a rank-0 shape is one run of 1).
template <typename Fn>
void for_each_run(const Shape& shape, const std::vector<Strides>& strides, std::vector<int64_t> offsets, Fn&& fn,
                  int64_t begin = 0, int64_t end = -1) {
  const int rank = static_cast<int>(shape.size());
  const size_t count = strides.size();
  if (end < 0) end = numel(shape);
  if (begin >= end) return;
  if (rank == 0) return fn(begin, offsets, int64_t{1});
  Shape index(rank, 0);
  int64_t remaining = begin;  // unravel begin into an index and offsets
  for (int d = rank - 1; d >= 0; --d) {
    index[d] = remaining % shape[d];
    remaining /= shape[d];
    for (size_t k = 0; k < count; ++k) offsets[k] += index[d] * strides[k][d];
  }
  const int last = rank - 1;
  for (int64_t n = begin; n < end;) {
    const int64_t length = std::min(shape[last] - index[last], end - n);
    fn(n, offsets, length);
    n += length;
    // The run ended its row (or the range, and nothing more is read): back
    // to the row's start, then on to the next row.
    for (size_t k = 0; k < count; ++k) offsets[k] -= index[last] * strides[k][last];
    index[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      for (size_t k = 0; k < count; ++k) offsets[k] += strides[k][d];
      if (++index[d] < shape[d]) break;
      for (size_t k = 0; k < count; ++k) offsets[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
  }
}

// Calls fn(n, offsets) for each index n in [begin, end), as for_each_run.
template <typename Fn>
void for_each_element(const Shape& shape, const std::vector<Strides>& strides, std::vector<int64_t> offsets,
                      Fn&& fn, int64_t begin = 0, int64_t end = -1) {
  std::vector<int64_t> at;
  for_each_run(shape, strides, std::move(offsets), [&](int64_t n, const std::vector<int64_t>& start, int64_t length) {
    at = start;
    for (int64_t i = 0; i < length; ++i) {
      if (i > 0)
        for (size_t k = 0; k < at.size(); ++k) at[k] += strides[k].back();
      fn(n + i, at);
    }
  }, begin, end);
}

// The fewest elements that `parallel` gives one chunk of an element loop.
constexpr int64_t kGrain = 1 << 14;

// Strides that read `a` broadcast to `shape` (right-aligned, stride 0 where stretched).
inline Strides broadcast_strides(const Array& a, const Shape& shape) {
  Strides out(shape.size(), 0);
  const size_t lead = shape.size() - a.shape().size();
  for (size_t i = 0; i < a.shape().size(); ++i)
    out[lead + i] = a.shape()[i] == 1 ? 0 : a.strides()[i];
  return out;
}

inline int64_t wrap_add(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }
inline int64_t wrap_mul(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)); }
inline int64_t wrap_neg(int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); }

}  // namespace tj::interp
