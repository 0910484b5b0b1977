// Type and shape inference: result types of every type rule, and errors that
// name the op and the operand types.
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/infer.h"

using tj::Attrs;
using tj::DType;
using tj::Op;
using tj::TensorType;

namespace {

TensorType t(DType dtype, tj::Shape shape) { return {dtype, std::move(shape)}; }
TensorType f32(tj::Shape shape) { return t(DType::f32, std::move(shape)); }

TensorType infer(Op op, std::vector<TensorType> in, Attrs attrs = {}) { return tj::infer_type(op, in, attrs); }

std::string error_of(Op op, std::vector<TensorType> in, Attrs attrs = {}) {
  try {
    tj::infer_type(op, in, attrs);
  } catch (const tj::Error& e) {
    return e.what();
  }
  return "no error";
}

using Ints = std::vector<int64_t>;

}  // namespace

TEST(Infer, Elementwise) {
  EXPECT_EQ(infer(Op::add, {f32({3, 1}), f32({4})}), f32({3, 4}));
  EXPECT_EQ(infer(Op::exp, {t(DType::f64, {2})}), t(DType::f64, {2}));
  EXPECT_EQ(infer(Op::neg, {t(DType::i32, {2})}), t(DType::i32, {2}));
  EXPECT_EQ(infer(Op::lt, {f32({2, 1}), f32({5})}), t(DType::boolean, {2, 5}));
  EXPECT_EQ(infer(Op::select, {t(DType::boolean, {4, 1}), f32({1, 3}), f32({})}), f32({4, 3}));
  EXPECT_EQ(infer(Op::cast, {f32({2})}, {{"to", DType::i64}}), t(DType::i64, {2}));
  EXPECT_EQ(infer(Op::add, {f32({0, 3}), f32({1, 3})}), f32({0, 3}));
}

TEST(Infer, ElementwiseErrorsNameOpAndShapes) {
  EXPECT_EQ(error_of(Op::add, {f32({4, 3}), f32({5})}),
            "add: shapes cannot be broadcast together (operands: f32[4,3], f32[5])");
  EXPECT_EQ(error_of(Op::mul, {f32({2}), t(DType::i32, {2})}),
            "mul: operand dtypes differ (f32 vs i32); insert a cast (operands: f32[2], i32[2])");
  EXPECT_EQ(error_of(Op::exp, {t(DType::i32, {2})}), "exp: operand 0 has dtype i32, expected f32 or f64 (operands: i32[2])");
  EXPECT_EQ(error_of(Op::div, {t(DType::i64, {}), t(DType::i64, {})}),
            "div: operand 0 has dtype i64, expected f32 or f64 (operands: i64[], i64[])");
  EXPECT_EQ(error_of(Op::add, {f32({2})}), "add: expects 2 operands, got 1");
  EXPECT_EQ(error_of(Op::select, {f32({2}), f32({2}), f32({2})}),
            "select: operand 0 has dtype f32, expected bool (the condition) (operands: f32[2], f32[2], f32[2])");
  EXPECT_EQ(error_of(Op::cast, {f32({2})}), "cast: missing attribute 'to'");
  EXPECT_EQ(error_of(Op::cast, {f32({2})}, {{"to", int64_t{3}}}), "cast: attribute 'to' must be dtype, got integer");
}

TEST(Infer, Reshape) {
  EXPECT_EQ(infer(Op::reshape, {f32({2, 3, 4})}, {{"shape", Ints{-1, 4}}}), f32({6, 4}));
  EXPECT_EQ(infer(Op::reshape, {f32({0, 3})}, {{"shape", Ints{3, 0}}}), f32({3, 0}));
  EXPECT_EQ(infer(Op::reshape, {f32({1})}, {{"shape", Ints{}}}), f32({}));
  EXPECT_NE(error_of(Op::reshape, {f32({2, 3})}, {{"shape", Ints{4, 2}}}).find("holds 8 elements, the operand holds 6"), std::string::npos);
  EXPECT_NE(error_of(Op::reshape, {f32({2, 3})}, {{"shape", Ints{-1, -1}}}).find("more than one -1"), std::string::npos);
  EXPECT_NE(error_of(Op::reshape, {f32({0, 3})}, {{"shape", Ints{0, -1}}}).find("ambiguous"), std::string::npos);
  EXPECT_NE(error_of(Op::reshape, {f32({2, 3})}, {{"shape", Ints{-2, -3}}}).find("invalid dim"), std::string::npos);
}

TEST(Infer, TransposeBroadcastSliceConcat) {
  EXPECT_EQ(infer(Op::transpose, {f32({2, 3, 4})}, {{"perm", Ints{2, 0, 1}}}), f32({4, 2, 3}));
  EXPECT_NE(error_of(Op::transpose, {f32({2, 3})}, {{"perm", Ints{0, 0}}}).find("not a permutation"), std::string::npos);
  EXPECT_NE(error_of(Op::transpose, {f32({2, 3})}, {{"perm", Ints{0}}}).find("1 entries for a rank-2"), std::string::npos);
  EXPECT_EQ(infer(Op::broadcast, {f32({3, 1})}, {{"shape", Ints{2, 3, 5}}}), f32({2, 3, 5}));
  EXPECT_NE(error_of(Op::broadcast, {f32({3, 2})}, {{"shape", Ints{3, 5}}}).find("dim 1 is 2, not 1 or 5"), std::string::npos);
  EXPECT_EQ(infer(Op::slice, {f32({10, 4})}, {{"starts", Ints{1, -1}}, {"ends", Ints{9, -5}}, {"steps", Ints{2, -1}}}),
            f32({4, 4}));
  EXPECT_NE(error_of(Op::slice, {f32({10})}, {{"starts", Ints{0}}, {"ends", Ints{5}}, {"steps", Ints{0}}}).find("invalid step 0"),
            std::string::npos);
  EXPECT_EQ(infer(Op::concat, {f32({2, 3}), f32({2, 0}), f32({2, 4})}, {{"axis", int64_t{-1}}}), f32({2, 7}));
  EXPECT_NE(error_of(Op::concat, {f32({2, 3}), f32({3, 3})}, {{"axis", int64_t{1}}}).find("only axis 1 may differ"),
            std::string::npos);
  EXPECT_NE(error_of(Op::concat, {f32({})}, {{"axis", int64_t{0}}}).find("out of range"), std::string::npos);
}

TEST(Infer, Reductions) {
  EXPECT_EQ(infer(Op::sum, {f32({2, 3, 4})}), f32({}));
  EXPECT_EQ(infer(Op::sum, {f32({2, 3, 4})}, {{"axes", Ints{-1, 0}}, {"keepdim", true}}), f32({1, 3, 1}));
  EXPECT_EQ(infer(Op::sum, {t(DType::i32, {5})}), t(DType::i64, {}));
  EXPECT_EQ(infer(Op::sum, {t(DType::boolean, {5, 2})}, {{"axes", Ints{1}}}), t(DType::i64, {5}));
  EXPECT_EQ(infer(Op::max, {t(DType::i32, {5, 2})}, {{"axes", Ints{0}}}), t(DType::i32, {2}));
  EXPECT_EQ(infer(Op::mean, {f32({0, 2})}, {{"axes", Ints{0}}}), f32({2}));
  EXPECT_NE(error_of(Op::max, {f32({0, 2})}, {{"axes", Ints{0}}}).find("axis 0 of size 0"), std::string::npos);
  EXPECT_NE(error_of(Op::mean, {t(DType::i32, {2})}).find("expected f32 or f64"), std::string::npos);
  EXPECT_NE(error_of(Op::sum, {f32({2, 3})}, {{"axes", Ints{1, -1}}}).find("repeats an axis"), std::string::npos);
  EXPECT_NE(error_of(Op::sum, {f32({2, 3})}, {{"axes", Ints{2}}}).find("axis 2 is out of range for rank 2"), std::string::npos);
}

TEST(Infer, Matmul) {
  EXPECT_EQ(infer(Op::matmul, {f32({2, 3}), f32({3, 5})}), f32({2, 5}));
  EXPECT_EQ(infer(Op::matmul, {f32({7, 1, 2, 3}), f32({4, 3, 5})}), f32({7, 4, 2, 5}));
  EXPECT_EQ(infer(Op::matmul, {f32({3}), f32({3, 5})}), f32({5}));
  EXPECT_EQ(infer(Op::matmul, {f32({2, 3}), f32({3})}), f32({2}));
  EXPECT_EQ(infer(Op::matmul, {f32({3}), f32({3})}), f32({}));
  EXPECT_EQ(infer(Op::matmul, {f32({0, 3}), f32({3, 0})}), f32({0, 0}));
  EXPECT_EQ(error_of(Op::matmul, {f32({4, 3}), f32({5, 6})}), "matmul: inner dimensions differ (3 vs 5) (operands: f32[4,3], f32[5,6])");
  EXPECT_NE(error_of(Op::matmul, {f32({2, 2, 3}), f32({3, 3, 5})}).find("batch dimensions"), std::string::npos);
  EXPECT_NE(error_of(Op::matmul, {f32({}), f32({3})}).find("rank 1 or more"), std::string::npos);
  EXPECT_NE(error_of(Op::matmul, {t(DType::boolean, {2, 2}), t(DType::boolean, {2, 2})}).find("expected a number type"),
            std::string::npos);
}

TEST(Infer, ResultsTooLargeAreRejected) {
  const int64_t big = int64_t{1} << 30;
  EXPECT_NE(error_of(Op::matmul, {f32({big, 1}), f32({1, big})}).find("too large"), std::string::npos);
  EXPECT_NE(error_of(Op::broadcast, {f32({1})}, {{"shape", Ints{big, big}}}).find("not a valid shape"), std::string::npos);
}
