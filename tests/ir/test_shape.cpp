// Shapes: broadcasting, element counts with overflow checks, slices with
// Python semantics, axis normalisation.
#include <gtest/gtest.h>

#include "ir/shape.h"

using tj::Shape;

TEST(Shape, Broadcasting) {
  EXPECT_EQ(tj::broadcast_shapes({3, 1}, {1, 4}), (Shape{3, 4}));
  EXPECT_EQ(tj::broadcast_shapes({5}, {2, 5}), (Shape{2, 5}));
  EXPECT_EQ(tj::broadcast_shapes({}, {2, 5}), (Shape{2, 5}));
  EXPECT_EQ(tj::broadcast_shapes({0, 1}, {1, 7}), (Shape{0, 7}));
  EXPECT_EQ(tj::broadcast_shapes({1}, {0}), (Shape{0}));
  EXPECT_FALSE(tj::broadcast_shapes({3}, {4}));
  EXPECT_FALSE(tj::broadcast_shapes({2, 0}, {2, 3}));
}

TEST(Shape, CheckedNumel) {
  EXPECT_EQ(tj::checked_numel({}), 1);
  EXPECT_EQ(tj::checked_numel({4, 0, 5}), 0);
  EXPECT_EQ(tj::checked_numel({1 << 20, 1 << 20}), int64_t{1} << 40);
  EXPECT_FALSE(tj::checked_numel({int64_t{1} << 32, int64_t{1} << 32}));
  EXPECT_FALSE(tj::checked_numel({0, int64_t{1} << 62}));  // a zero dim does not excuse an absurd one
  EXPECT_FALSE(tj::checked_numel({-1, 4}));
  EXPECT_FALSE(tj::checked_numel(Shape(17, 1)));
}

TEST(Shape, ContiguousStrides) {
  EXPECT_EQ(tj::contiguous_strides({2, 3, 4}), (tj::Strides{12, 4, 1}));
  EXPECT_EQ(tj::contiguous_strides({}), tj::Strides{});
}

TEST(Shape, SliceFollowsPython) {
  struct Case {
    int64_t start, end, step, dim, first, length;
  };
  const Case cases[] = {
      {0, 10, 1, 10, 0, 10},   {2, 8, 3, 10, 2, 2},   {-3, 100, 1, 10, 7, 3},  {5, 2, 1, 10, 5, 0},
      {9, -11, -1, 10, 9, 10}, {-1, -4, -2, 3, 2, 2}, {100, 0, -3, 10, 9, 3},  {0, 0, 1, 0, 0, 0},
      {INT64_MIN, INT64_MAX, 1, 5, 0, 5},               {INT64_MAX, INT64_MIN, -1, 5, 4, 5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.start << ":" << c.end << ":" << c.step << " of " << c.dim);
    const tj::SliceDim s = tj::normalize_slice(c.start, c.end, c.step, c.dim);
    EXPECT_EQ(s.length, c.length);
    if (s.length > 0) {
      EXPECT_EQ(s.start, c.first);
    }
  }
}

TEST(Shape, NormalizeAxis) {
  EXPECT_EQ(tj::normalize_axis(-1, 3), 2);
  EXPECT_EQ(tj::normalize_axis(2, 3), 2);
  EXPECT_FALSE(tj::normalize_axis(3, 3));
  EXPECT_FALSE(tj::normalize_axis(-4, 3));
  EXPECT_FALSE(tj::normalize_axis(0, 0));
}
