// The interpreter's f32 path (runs of the innermost dim in blocks, the
// scalar kernel inlined) against its per-element path: every elementwise op
// on f32 operands must give bit for bit (a NaN for a NaN) what the same op
// gives on the same values held as f64, rounded to f32 (both compute in
// double and round once), over NaN, ±Inf, ±0, denormals and overflowing
// values; dense, broadcast, transposed, reversed and strided operands; rows
// shorter and longer than a block; serially and in chunks that start and end
// inside rows and blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "ir/interpreter.h"
#include "ir/op.h"
#include "tests/support/arrays.h"

using namespace tj;
using namespace tj::testing;

namespace {

constexpr Op kAllOps[] = {
#define OP(id, ...) Op::id,
#include "ir/ops.def"
#undef OP
};

// Values every op meets: the specials, the edges of exp's and pow's ranges, and random ones.
std::vector<double> test_values(size_t count, uint32_t seed) {
  const double inf = std::numeric_limits<float>::infinity();
  std::vector<double> values = {NAN, inf, -inf, 0.0, -0.0, 1e-40, -1.4e-45, 1, -1, 0.5, 2, 88.7, -104, 3.4e38, -3.4e38, 1e-30};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  while (values.size() < count) values.push_back(normal(rng));
  std::shuffle(values.begin(), values.end(), rng);
  for (double& v : values) v = static_cast<float>(v);  // the f64 operands hold the f32 values exactly
  return values;
}

// The same values as one dense array per dtype, viewed with the same layout.
struct Operand {
  Array f32, f64;
};
Operand operand(const Shape& base, const std::vector<double>& values, const Shape& shape, const Strides& strides,
                int64_t offset) {
  return {make_array(DType::f32, base, values).with_layout(shape, strides, offset),
          make_array(DType::f64, base, values).with_layout(shape, strides, offset)};
}

// Chunks of `size` indices, whatever the grain: runs start and end inside
// rows (and, with 300, inside the f32 path's blocks of 256).
ParallelFor in_chunks_of(int64_t size) {
  return [size](int64_t count, int64_t, const std::function<void(int64_t, int64_t)>& body) {
    for (int64_t begin = 0; begin < count; begin += size) body(begin, std::min(count, begin + size));
  };
}
const std::vector<ParallelFor> kSplits = {ParallelFor{}, in_chunks_of(7), in_chunks_of(300)};

Node op_node(Op op, DType dtype, const Shape& shape) {
  Node node;
  node.op = op;
  node.name = "y";
  node.type = {dtype, shape};
  return node;
}

// The f64 path's result rounded as the f32 path rounds it.
std::vector<double> as_float_results(const Array& a) {
  std::vector<double> out = values_of(a);
  if (a.dtype() == DType::f64)
    for (double& v : out) v = static_cast<float>(v);
  return out;
}

void expect_same_bits(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << ": " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << "element " << i;
    }
  }
}

void expect_f32_path_matches(Op op, DType out_dtype, const std::vector<Operand>& operands, const Shape& shape) {
  std::vector<Array> f32s, f64s;
  for (const Operand& o : operands) f32s.push_back(o.f32), f64s.push_back(o.f64);
  const bool to_bool = out_dtype == DType::boolean;
  const Array want = evaluate_op(op_node(op, to_bool ? DType::boolean : DType::f64, shape), f64s, {});
  for (const ParallelFor& parallel : kSplits) {
    const Array got = evaluate_op(op_node(op, out_dtype, shape), f32s, parallel);
    ASSERT_EQ(got.dtype(), out_dtype);
    expect_same_bits(values_of(got), as_float_results(want));
  }
}

// Every elementwise op on f32 operands except select (its condition is a bool, so it runs per element).
struct Case {
  Op op;
  int arity;
  DType out;
};
std::vector<Case> f32_cases() {
  std::vector<Case> cases;
  for (Op op : kAllOps) {
    const OpInfo& info = op_info(op);
    if (info.op_class != OpClass::elementwise || op == Op::select) continue;
    if (info.rule == TypeRule::cast) {
      cases.push_back({op, 1, DType::f32});
      cases.push_back({op, 1, DType::boolean});
    } else {
      cases.push_back({op, info.arity, info.rule == TypeRule::compare ? DType::boolean : DType::f32});
    }
  }
  return cases;
}

TEST(InterpreterF32Runs, EveryOpMatchesThePerElementPath) {
  const std::vector<Case> cases = f32_cases();
  ASSERT_GE(cases.size(), 24u);  // a floor, so that a broken filter cannot empty the test
  const Shape shape = {5, 37};
  // Layouts: dense; broadcast along rows and columns; transposed; every
  // other element from an offset; a rank-0 scalar.
  const std::vector<Operand> firsts = {
      operand({5, 37}, test_values(185, 1), shape, {37, 1}, 0),
      operand({37, 5}, test_values(185, 2), shape, {1, 5}, 0),
      operand({5, 75}, test_values(375, 3), shape, {75, 2}, 1),
  };
  const std::vector<Operand> seconds = {
      operand({5, 37}, test_values(185, 4), shape, {37, 1}, 0),
      operand({37}, test_values(37, 5), shape, {0, 1}, 0),
      operand({5}, test_values(5, 6), shape, {1, 0}, 0),
      operand({1}, {-0.0}, shape, {0, 0}, 0),
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(op_name(c.op)) + " -> " + std::string(dtype_name(c.out)));
    for (size_t i = 0; i < firsts.size(); ++i) {
      SCOPED_TRACE("first operand layout " + std::to_string(i));
      if (c.arity == 1) expect_f32_path_matches(c.op, c.out, {firsts[i]}, shape);
      for (size_t j = 0; c.arity == 2 && j < seconds.size(); ++j) {
        SCOPED_TRACE("second operand layout " + std::to_string(j));
        expect_f32_path_matches(c.op, c.out, {firsts[i], seconds[j]}, shape);
        expect_f32_path_matches(c.op, c.out, {seconds[j], firsts[i]}, shape);
      }
    }
  }
}

// Both paths walk operands with the same odometer, so the layouts are
// checked once more: a - b for every pair of layouts, against offsets
// computed from the index here.
void expect_sub_reads_every_pair(const Shape& shape, const std::vector<Operand>& layouts) {
  auto element = [&shape](const Array& a, int64_t n) {
    int64_t offset = a.offset();
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      offset += (n % shape[d]) * a.strides()[d];
      n /= shape[d];
    }
    return read_double(a.at(offset), a.dtype());
  };
  for (size_t x = 0; x < layouts.size(); ++x)
    for (size_t y = 0; y < layouts.size(); ++y) {
      SCOPED_TRACE("layouts " + std::to_string(x) + ", " + std::to_string(y));
      const Array& a = layouts[x].f32;
      const Array& b = layouts[y].f32;
      std::vector<double> want;
      for (int64_t n = 0; n < numel(shape); ++n) want.push_back(static_cast<float>(element(a, n) - element(b, n)));
      for (const ParallelFor& parallel : kSplits)
        expect_same_bits(values_of(evaluate_op(op_node(Op::sub, DType::f32, shape), std::vector<Array>{a, b}, parallel)), want);
    }
}

TEST(InterpreterF32Runs, ReadsEveryLayoutAtItsStrides) {
  // Dense; transposed; every other element from an offset; broadcast along
  // rows and along columns; rows reversed (inner stride -1, offset at the row's end).
  expect_sub_reads_every_pair(
      {5, 37}, {operand({5, 37}, test_values(185, 7), {5, 37}, {37, 1}, 0),
                operand({37, 5}, test_values(185, 8), {5, 37}, {1, 5}, 0),
                operand({5, 75}, test_values(375, 9), {5, 37}, {75, 2}, 1),
                operand({37}, test_values(37, 10), {5, 37}, {0, 1}, 0),
                operand({5}, test_values(5, 11), {5, 37}, {1, 0}, 0),
                operand({5, 37}, test_values(185, 12), {5, 37}, {37, -1}, 36)});
}

TEST(InterpreterF32Runs, ReadsRank3AndRank1Layouts) {
  // Rank 3: dense; dims permuted; a broadcast middle dim; the last dim reversed.
  expect_sub_reads_every_pair(
      {3, 4, 37}, {operand({3, 4, 37}, test_values(444, 13), {3, 4, 37}, {148, 37, 1}, 0),
                   operand({37, 3, 4}, test_values(444, 14), {3, 4, 37}, {4, 1, 12}, 0),
                   operand({3, 37}, test_values(111, 15), {3, 4, 37}, {37, 0, 1}, 0),
                   operand({3, 4, 37}, test_values(444, 16), {3, 4, 37}, {148, 37, -1}, 36)});
  // Rank 1: dense; strided from an offset; reversed; broadcast.
  expect_sub_reads_every_pair(
      {37}, {operand({37}, test_values(37, 17), {37}, {1}, 0), operand({80}, test_values(80, 18), {37}, {2}, 3),
             operand({37}, test_values(37, 19), {37}, {-1}, 36), operand({1}, {1.5}, {37}, {0}, 0)});
}

TEST(InterpreterF32Runs, ReadsRowsLongerThanABlock) {
  // Rows of 600: the f32 path works in blocks of 256, gathering strided
  // operands and filling broadcast ones; dense, every third element from an
  // offset, broadcast along rows and along columns, reversed.
  expect_sub_reads_every_pair(
      {2, 600}, {operand({2, 600}, test_values(1200, 20), {2, 600}, {600, 1}, 0),
                 operand({2, 1801}, test_values(3602, 21), {2, 600}, {1801, 3}, 2),
                 operand({600}, test_values(600, 22), {2, 600}, {0, 1}, 0),
                 operand({2}, test_values(2, 23), {2, 600}, {1, 0}, 0),
                 operand({2, 600}, test_values(1200, 24), {2, 600}, {600, -1}, 599)});
  // A unary op (its absent operands read zeros), a compare and a cast to
  // bool (one-byte results), each over dense, strided and reversed rows.
  const Shape shape = {2, 600};
  const std::vector<Operand> rows = {operand({2, 600}, test_values(1200, 25), shape, {600, 1}, 0),
                                     operand({2, 1801}, test_values(3602, 26), shape, {1801, 3}, 2),
                                     operand({2, 600}, test_values(1200, 27), shape, {600, -1}, 599)};
  const Operand column = operand({2}, test_values(2, 28), shape, {1, 0}, 0);
  for (const Operand& row : rows) {
    expect_f32_path_matches(Op::exp, DType::f32, {row}, shape);
    expect_f32_path_matches(Op::cast, DType::boolean, {row}, shape);
    expect_f32_path_matches(Op::lt, DType::boolean, {row, column}, shape);
    expect_f32_path_matches(Op::lt, DType::boolean, {column, row}, shape);
  }
}

TEST(InterpreterF32Runs, ScalarsAndZeroSizeShapes) {
  const Operand scalar = operand({}, {-2.5}, {}, {}, 0);
  expect_f32_path_matches(Op::exp, DType::f32, {scalar}, {});
  expect_f32_path_matches(Op::sub, DType::f32, {scalar, scalar}, {});
  const Operand empty = operand({3, 0}, {}, {3, 0}, {0, 1}, 0);
  const Array got = evaluate_op(op_node(Op::add, DType::f32, {3, 0}), std::vector<Array>{empty.f32, empty.f32}, {});
  EXPECT_EQ(got.numel(), 0);
}

}  // namespace
