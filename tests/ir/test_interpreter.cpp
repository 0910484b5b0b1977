// The reference interpreter against hand-checked values: every op, with
// broadcasting, 0-size dims, scalars, non-contiguous views, NaN, Inf and
// denormals. Float results are compared exactly where IEEE arithmetic fixes
// them (+ - * / sqrt, compares, shape ops) and to 1 ulp of float32 (rel
// 1.2e-7) for transcendental functions, whose reference is computed in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/error.h"
#include "tests/support/arrays.h"

using namespace tj;
using namespace tj::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kF32Ulp = 1.2e-7;
const double kDenormal = std::ldexp(1.0, -140);  // a float32 denormal

void expect_values(const Array& a, const TensorType& type, const std::vector<double>& expected, double rel = 0) {
  ASSERT_EQ(type_to_string(a.type()), type_to_string(type));
  const std::vector<double> got = values_of(a);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "element " << i);
    if (std::isnan(expected[i])) EXPECT_TRUE(std::isnan(got[i])) << got[i];
    else if (rel == 0 || std::isinf(expected[i])) EXPECT_EQ(got[i], expected[i]);
    else EXPECT_NEAR(got[i], expected[i], rel * std::fabs(expected[i]));
  }
}

// A one-op program over f32 parameters of the given shapes.
std::string unary_program(const std::string& op, const std::string& type) {
  return "func @f(%x: " + type + ") -> " + type + " {\n  %y = " + op + " %x\n  return %y\n}\n";
}

float as_f32(double v) { return static_cast<float>(v); }

}  // namespace

TEST(Interpreter, UnaryFloatOps) {
  const std::vector<double> x = {-2, -0.5, 0, 1, kInf, -kInf, kNaN, kDenormal};
  struct Case {
    const char* op;
    double (*reference)(double);
  };
  const Case cases[] = {
      {"neg", [](double v) { return -v; }},
      {"abs", [](double v) { return std::fabs(v); }},
      {"relu", [](double v) { return v < 0 ? 0.0 : v; }},
      {"exp", [](double v) { return std::exp(v); }},
      {"log", [](double v) { return std::log(v); }},
      {"tanh", [](double v) { return std::tanh(v); }},
      {"sigmoid", [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"sqrt", [](double v) { return std::sqrt(v); }},
      {"rsqrt", [](double v) { return 1 / std::sqrt(v); }},
      {"erf", [](double v) { return std::erf(v); }},
      {"reciprocal", [](double v) { return 1 / v; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    std::vector<double> expected;
    for (double v : x) expected.push_back(as_f32(c.reference(as_f32(v))));
    expect_values(run1(unary_program(c.op, "f32[8]"), {f32({8}, x)}), {DType::f32, {8}}, expected, kF32Ulp);
  }
}

TEST(Interpreter, HandCheckedTranscendentals) {
  expect_values(run1(unary_program("exp", "f32[3]"), {f32({3}, {1, -104, 89})}), {DType::f32, {3}},
                {2.7182817, 0 /* underflows to 0 */, kInf /* overflows */}, kF32Ulp);
  expect_values(run1(unary_program("log", "f32[4]"), {f32({4}, {-1, 0, kDenormal, 1})}), {DType::f32, {4}},
                {kNaN, -kInf, -97.04061, 0}, kF32Ulp);
  expect_values(run1(unary_program("sigmoid", "f32[3]"), {f32({3}, {-200, 0, 200})}), {DType::f32, {3}}, {0, 0.5, 1});
  expect_values(run1(unary_program("erf", "f32[2]"), {f32({2}, {0.5, -3})}), {DType::f32, {2}}, {0.5204999, -0.9999779},
                kF32Ulp);
}

TEST(Interpreter, DenormalsAreKept) {
  // 2^-140 * 2 stays denormal; flush-to-zero would give 0.
  const std::string text = "func @f(%x: f32[1]) -> f32[1] {\n  %y = add %x, %x\n  return %y\n}\n";
  expect_values(run1(text, {f32({1}, {kDenormal})}), {DType::f32, {1}}, {2 * kDenormal});
}

TEST(Interpreter, BinaryOpsBroadcast) {
  const std::string head = "func @f(%a: f32[2,1], %b: f32[3]) -> f32[2,3] {\n  %y = ";
  const std::string tail = " %a, %b\n  return %y\n}\n";
  const Array a = f32({2, 1}, {1, -2}), b = f32({3}, {10, 0.5, kNaN});
  expect_values(run1(head + "add" + tail, {a, b}), {DType::f32, {2, 3}}, {11, 1.5, kNaN, 8, -1.5, kNaN});
  expect_values(run1(head + "sub" + tail, {a, b}), {DType::f32, {2, 3}}, {-9, 0.5, kNaN, -12, -2.5, kNaN});
  expect_values(run1(head + "mul" + tail, {a, b}), {DType::f32, {2, 3}}, {10, 0.5, kNaN, -20, -1, kNaN});
  expect_values(run1(head + "div" + tail, {a, b}), {DType::f32, {2, 3}}, {0.1f, 2, kNaN, -0.2f, -4, kNaN});
  expect_values(run1(head + "maximum" + tail, {a, b}), {DType::f32, {2, 3}}, {10, 1, kNaN, 10, 0.5, kNaN});
  expect_values(run1(head + "minimum" + tail, {a, b}), {DType::f32, {2, 3}}, {1, 0.5, kNaN, -2, -2, kNaN});
  expect_values(run1(head + "pow" + tail, {a, b}), {DType::f32, {2, 3}}, {1, 1, 1 /* pow(1, NaN) is 1, as in C and NumPy */, 1024, kNaN, kNaN});
}

TEST(Interpreter, DivisionSpecialValues) {
  const std::string text = "func @f(%a: f32[4], %b: f32[4]) -> f32[4] {\n  %y = div %a, %b\n  return %y\n}\n";
  expect_values(run1(text, {f32({4}, {1, -1, 0, kInf}), f32({4}, {0, 0, 0, kInf})}), {DType::f32, {4}},
                {kInf, -kInf, kNaN, kNaN});
}

TEST(Interpreter, Comparisons) {
  const Array a = f32({4}, {1, 2, kNaN, -kInf}), b = f32({4}, {1, 3, kNaN, -kInf});
  const struct {
    const char* op;
    std::vector<double> expected;
  } cases[] = {
      {"eq", {1, 0, 0, 1}}, {"ne", {0, 1, 1, 0}}, {"lt", {0, 1, 0, 0}},
      {"le", {1, 1, 0, 1}}, {"gt", {0, 0, 0, 0}}, {"ge", {1, 0, 0, 1}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.op);
    const std::string text = std::string("func @f(%a: f32[4], %b: f32[4]) -> bool[4] {\n  %y = ") + c.op +
                             " %a, %b\n  return %y\n}\n";
    expect_values(run1(text, {a, b}), {DType::boolean, {4}}, c.expected);
  }
}

TEST(Interpreter, SelectBroadcastsAllThree) {
  const std::string text =
      "func @f(%c: bool[2,1], %a: f32[3], %b: f32[]) -> f32[2,3] {\n  %y = select %c, %a, %b\n  return %y\n}\n";
  expect_values(run1(text, {make_array(DType::boolean, {2, 1}, {1, 0}), f32({3}, {1, 2, 3}), f32({}, {-1})}),
                {DType::f32, {2, 3}}, {1, 2, 3, -1, -1, -1});
}

TEST(Interpreter, Casts) {
  auto cast = [](DType from, DType to, const std::vector<double>& in) {
    const std::string text = "func @f(%x: " + std::string(dtype_name(from)) + "[" + std::to_string(in.size()) + "]) -> " +
                             std::string(dtype_name(to)) + "[" + std::to_string(in.size()) + "] {\n  %y = cast %x {to=" +
                             std::string(dtype_name(to)) + "}\n  return %y\n}\n";
    return values_of(run1(text, {make_array(from, {static_cast<int64_t>(in.size())}, in)}));
  };
  const double i32_min = std::numeric_limits<int32_t>::min();
  // Truncation toward zero; NaN, Inf and out-of-range give the minimum, as on x86.
  EXPECT_EQ(cast(DType::f32, DType::i32, {2.7, -2.7, 1e10, kInf}),
            (std::vector<double>{2, -2, i32_min, i32_min}));
  EXPECT_EQ(cast(DType::f32, DType::i32, {kNaN})[0], i32_min);
  EXPECT_EQ(cast(DType::f64, DType::boolean, {0, -0.0, 0.1, kNaN}), (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(cast(DType::i64, DType::i32, {4294967297.0, -1}), (std::vector<double>{1, -1}));  // wraps
  EXPECT_EQ(cast(DType::i32, DType::f32, {16777217, -3}), (std::vector<double>{16777216, -3}));  // rounds to nearest even
  EXPECT_EQ(cast(DType::boolean, DType::f64, {1, 0}), (std::vector<double>{1, 0}));
  EXPECT_EQ(cast(DType::f64, DType::f32, {1e300, kDenormal})[0], kInf);
}

TEST(Interpreter, IntegerArithmeticWraps) {
  const std::string text =
      "func @f(%a: i32[3], %b: i32[3]) -> (i32[3], i32[3], i32[3], i32[3]) {\n"
      "  %s = add %a, %b\n  %p = mul %a, %b\n  %n = neg %a\n  %m = abs %a\n  return %s, %p, %n, %m\n}\n";
  const double max = 2147483647, min = -2147483648.0;
  const std::vector<Array> r = run_text(text, {make_array(DType::i32, {3}, {max, min, -5}), make_array(DType::i32, {3}, {1, -1, 3})});
  EXPECT_EQ(values_of(r[0]), (std::vector<double>{min, max, -2}));
  EXPECT_EQ(values_of(r[1]), (std::vector<double>{max, min, -15}));
  EXPECT_EQ(values_of(r[2]), (std::vector<double>{-max, min, 5}));
  EXPECT_EQ(values_of(r[3]), (std::vector<double>{max, min, 5}));
}

TEST(Interpreter, Constants) {
  const std::string text =
      "func @f() -> (f32[2,2], i32[3], bool[], f32[]) {\n"
      "  %a = const 0.1 : f32[2,2]\n  %b = const -7 : i32[3]\n  %c = const true : bool[]\n  %d = const -inf : f32[]\n"
      "  return %a, %b, %c, %d\n}\n";
  const std::vector<Array> r = run_text(text, {});
  expect_values(r[0], {DType::f32, {2, 2}}, {0.1f, 0.1f, 0.1f, 0.1f});
  expect_values(r[1], {DType::i32, {3}}, {-7, -7, -7});
  expect_values(r[2], {DType::boolean, {}}, {1});
  expect_values(r[3], {DType::f32, {}}, {-kInf});
}

TEST(Interpreter, TensorConstantsNeedData) {
  Program p = parse_program("func @f() -> f32[2] {\n  %w = const @w0 : f32[2]\n  return %w\n}\n");
  EXPECT_THROW(interpret(p, p.functions[0], {}), Error);
  p.constant_data["w0"] = f32({3}, {1, 2, 3});
  EXPECT_THROW(interpret(p, p.functions[0], {}), Error);
  p.constant_data["w0"] = f32({2}, {4, 5});
  expect_values(interpret(p, p.functions[0], {})[0], {DType::f32, {2}}, {4, 5});
}

TEST(Interpreter, ShapeOps) {
  const Array x = f32({2, 3}, {0, 1, 2, 3, 4, 5});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[3,2] {\n  %y = reshape %x {shape=[3,-1]}\n  return %y\n}\n", {x}),
                {DType::f32, {3, 2}}, {0, 1, 2, 3, 4, 5});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[3,2] {\n  %y = transpose %x {perm=[1,0]}\n  return %y\n}\n", {x}),
                {DType::f32, {3, 2}}, {0, 3, 1, 4, 2, 5});
  // reshape of a transposed (non-contiguous) value reads in logical order
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[6] {\n  %t = transpose %x {perm=[1,0]}\n"
                     "  %y = reshape %t {shape=[6]}\n  return %y\n}\n", {x}),
                {DType::f32, {6}}, {0, 3, 1, 4, 2, 5});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[2,2,3] {\n  %y = broadcast %x {shape=[2,2,3]}\n  return %y\n}\n", {x}),
                {DType::f32, {2, 2, 3}}, {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[2,2] {\n  %y = slice %x {starts=[-1,-1], ends=[-3,-4], steps=[-1,-2]}\n"
                     "  return %y\n}\n", {x}),
                {DType::f32, {2, 2}}, {5, 3, 2, 0});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[2,7] {\n  %t = slice %x {starts=[0,0], ends=[2,1]}\n"
                     "  %y = concat %x, %t, %x {axis=1}\n  return %y\n}\n", {x}),
                {DType::f32, {2, 7}}, {0, 1, 2, 0, 0, 1, 2, 3, 4, 5, 3, 3, 4, 5});
}

TEST(Interpreter, ZeroSizeDims) {
  const Array empty = f32({0, 3}, {});
  expect_values(run1("func @f(%x: f32[0,3]) -> f32[0,3] {\n  %y = exp %x\n  return %y\n}\n", {empty}), {DType::f32, {0, 3}}, {});
  expect_values(run1("func @f(%x: f32[0,3]) -> f32[3] {\n  %y = sum %x {axes=[0]}\n  return %y\n}\n", {empty}),
                {DType::f32, {3}}, {0, 0, 0});
  expect_values(run1("func @f(%x: f32[0,3]) -> f32[3] {\n  %y = mean %x {axes=[0]}\n  return %y\n}\n", {empty}),
                {DType::f32, {3}}, {kNaN, kNaN, kNaN});
  expect_values(run1("func @f(%x: f32[0,3]) -> f32[0] {\n  %y = max %x {axes=[1]}\n  return %y\n}\n", {empty}),
                {DType::f32, {0}}, {});
  expect_values(run1("func @f(%x: f32[0,3], %w: f32[3,2]) -> f32[0,2] {\n  %y = matmul %x, %w\n  return %y\n}\n",
                     {empty, f32({3, 2}, {1, 2, 3, 4, 5, 6})}),
                {DType::f32, {0, 2}}, {});
  // k = 0: the empty sum is 0
  expect_values(run1("func @f(%x: f32[2,0], %w: f32[0,2]) -> f32[2,2] {\n  %y = matmul %x, %w\n  return %y\n}\n",
                     {f32({2, 0}, {}), f32({0, 2}, {})}),
                {DType::f32, {2, 2}}, {0, 0, 0, 0});
}

TEST(Interpreter, Reductions) {
  const Array x = f32({2, 3}, {1, kNaN, 3, -kInf, -kInf, 5});
  const std::string head = "func @f(%x: f32[2,3]) -> f32[2] {\n  %y = ";
  const std::string tail = " %x {axes=[1]}\n  return %y\n}\n";
  expect_values(run1(head + "sum" + tail, {x}), {DType::f32, {2}}, {kNaN, -kInf});
  expect_values(run1(head + "max" + tail, {x}), {DType::f32, {2}}, {kNaN, 5});
  expect_values(run1(head + "min" + tail, {x}), {DType::f32, {2}}, {kNaN, -kInf});
  expect_values(run1(head + "mean" + tail, {f32({2, 3}, {1, 2, 4, -1, -1, -1})}), {DType::f32, {2}}, {7.0 / 3, -1}, kF32Ulp);
  // all -inf: max is -inf, not the lowest finite float
  expect_values(run1(head + "max" + tail, {f32({2, 3}, {-kInf, -kInf, -kInf, 0, 0, 0})}), {DType::f32, {2}}, {-kInf, 0});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[1,3] {\n  %y = sum %x {axes=[0], keepdim=true}\n  return %y\n}\n",
                     {f32({2, 3}, {1, 2, 3, 4, 5, 6})}),
                {DType::f32, {1, 3}}, {5, 7, 9});
  expect_values(run1("func @f(%x: i32[4]) -> i64[] {\n  %y = sum %x\n  return %y\n}\n",
                     {make_array(DType::i32, {4}, {2147483647, 2147483647, 1, -5})}),
                {DType::i64, {}}, {4294967290});
  expect_values(run1("func @f(%x: bool[4]) -> i64[] {\n  %y = sum %x\n  return %y\n}\n",
                     {make_array(DType::boolean, {4}, {1, 0, 1, 1})}),
                {DType::i64, {}}, {3});
}

TEST(Interpreter, SumAccumulatesWide) {
  // 2^24 + 1 + 1 + ... : float32 accumulation would lose every +1.
  std::vector<double> v(1001, 1.0);
  v[0] = 16777216;
  expect_values(run1("func @f(%x: f32[1001]) -> f32[] {\n  %y = sum %x\n  return %y\n}\n", {f32({1001}, v)}),
                {DType::f32, {}}, {16778216});
}

TEST(Interpreter, Matmul) {
  const Array a = f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = f32({3, 2}, {7, 8, 9, 10, 11, 12});
  expect_values(run1("func @f(%a: f32[2,3], %b: f32[3,2]) -> f32[2,2] {\n  %y = matmul %a, %b\n  return %y\n}\n", {a, b}),
                {DType::f32, {2, 2}}, {58, 64, 139, 154});
  const Array v = f32({3}, {1, 0, -1});
  expect_values(run1("func @f(%a: f32[2,3], %v: f32[3]) -> f32[2] {\n  %y = matmul %a, %v\n  return %y\n}\n", {a, v}),
                {DType::f32, {2}}, {-2, -2});
  expect_values(run1("func @f(%v: f32[3], %b: f32[3,2]) -> f32[2] {\n  %y = matmul %v, %b\n  return %y\n}\n", {v, b}),
                {DType::f32, {2}}, {-4, -4});
  expect_values(run1("func @f(%v: f32[3]) -> f32[] {\n  %y = matmul %v, %v\n  return %y\n}\n", {v}), {DType::f32, {}}, {2});
  // batch broadcast: [2,1,2,3] @ [3,3,2] -> [2,3,2,2]; batch b picks a scaled copy of b
  std::vector<double> bb;
  for (int s = 1; s <= 3; ++s)
    for (double e : {7, 8, 9, 10, 11, 12}) bb.push_back(e * s);
  std::vector<double> aa = {1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0};
  const Array r = run1("func @f(%a: f32[2,1,2,3], %b: f32[3,3,2]) -> f32[2,3,2,2] {\n  %y = matmul %a, %b\n  return %y\n}\n",
                       {f32({2, 1, 2, 3}, aa), f32({3, 3, 2}, bb)});
  std::vector<double> expected;
  for (int s = 1; s <= 3; ++s)
    for (double e : {58, 64, 139, 154}) expected.push_back(e * s);
  expected.resize(24, 0);
  expect_values(r, {DType::f32, {2, 3, 2, 2}}, expected);
  // transposed (non-contiguous) operand
  expect_values(run1("func @f(%a: f32[2,3], %c: f32[2,3]) -> f32[2,2] {\n  %t = transpose %c {perm=[1,0]}\n"
                     "  %y = matmul %a, %t\n  return %y\n}\n", {a, a}),
                {DType::f32, {2, 2}}, {14, 32, 32, 77});
  expect_values(run1("func @f(%a: i32[2,2], %b: i32[2,2]) -> i32[2,2] {\n  %y = matmul %a, %b\n  return %y\n}\n",
                     {make_array(DType::i32, {2, 2}, {1, 2, 3, 4}), make_array(DType::i32, {2, 2}, {5, 6, 7, 8})}),
                {DType::i32, {2, 2}}, {19, 22, 43, 50});
}

TEST(Interpreter, NonContiguousInputs) {
  // A parameter bound to a strided view (every other column of a [2,6] array).
  const Array base = f32({2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const Array view = base.with_layout({2, 3}, {6, 2}, 1);
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[2,3] {\n  %y = neg %x\n  return %y\n}\n", {view}), {DType::f32, {2, 3}},
                {-1, -3, -5, -7, -9, -11});
  expect_values(run1("func @f(%x: f32[2,3]) -> f32[2] {\n  %y = sum %x {axes=[1]}\n  return %y\n}\n", {view}),
                {DType::f32, {2}}, {9, 27});
}

TEST(Interpreter, Softmax) {
  const std::string text =
      "func @softmax(%x: f32[2,3]) -> f32[2,3] {\n"
      "  %m = max %x {axes=[1], keepdim=true}\n  %d = sub %x, %m\n  %e = exp %d\n"
      "  %s = sum %e {axes=[1], keepdim=true}\n  %y = div %e, %s\n  return %y\n}\n";
  // Row 2 is row 1 shifted by 1000: max subtraction keeps it finite.
  const Array r = run1(text, {f32({2, 3}, {1, 2, 3, 1001, 1002, 1003})});
  const double e1 = std::exp(-2.0), e2 = std::exp(-1.0), total = e1 + e2 + 1;
  expect_values(r, {DType::f32, {2, 3}}, {e1 / total, e2 / total, 1 / total, e1 / total, e2 / total, 1 / total}, 2 * kF32Ulp);
}

TEST(Interpreter, InputsMustMatchParameters) {
  const std::string text = unary_program("exp", "f32[2,3]");
  EXPECT_THROW(run1(text, {}), Error);
  try {
    run1(text, {f32({3, 2}, {1, 2, 3, 4, 5, 6})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "@f: input %x must be f32[2,3], got f32[3,2]");
  }
  EXPECT_THROW(run1(text, {make_array(DType::f64, {2, 3}, {})}), Error);
}
