// The op functions and operators: each is one apply() of its op. A number
// on one side of an operator becomes a scalar of the tensor's dtype.
#include "frontend/dispatch.h"
#include "ir/error.h"
#include "tensorjit/ops.h"

namespace tj {

namespace {

Tensor unary(Op op, const Tensor& x) { return apply(op, {x}); }
Tensor binary(Op op, const Tensor& a, const Tensor& b) { return apply(op, {a, b}); }
Tensor number_like(const Tensor& t, double value) {
  if (!t.defined()) fail("an operator was applied to an undefined tensor");
  return Tensor::scalar(value, t.dtype());
}

}  // namespace

Tensor neg(const Tensor& x) { return unary(Op::neg, x); }
Tensor abs(const Tensor& x) { return unary(Op::abs, x); }
Tensor relu(const Tensor& x) { return unary(Op::relu, x); }
Tensor exp(const Tensor& x) { return unary(Op::exp, x); }
Tensor log(const Tensor& x) { return unary(Op::log, x); }
Tensor tanh(const Tensor& x) { return unary(Op::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(Op::sigmoid, x); }
Tensor sqrt(const Tensor& x) { return unary(Op::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(Op::rsqrt, x); }
Tensor erf(const Tensor& x) { return unary(Op::erf, x); }
Tensor reciprocal(const Tensor& x) { return unary(Op::reciprocal, x); }

Tensor add(const Tensor& a, const Tensor& b) { return binary(Op::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(Op::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(Op::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(Op::div, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(Op::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(Op::minimum, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(Op::pow, a, b); }
Tensor pow(const Tensor& a, double exponent) { return binary(Op::pow, a, number_like(a, exponent)); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) { return apply(Op::select, {condition, a, b}); }
Tensor cast(const Tensor& x, DType dtype) { return apply(Op::cast, {x}, {{"to", dtype}}); }
Tensor matmul(const Tensor& a, const Tensor& b) { return binary(Op::matmul, a, b); }
Tensor concat(const std::vector<Tensor>& parts, int64_t axis) { return apply(Op::concat, parts, {{"axis", axis}}); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, number_like(a, b)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, number_like(a, b)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, number_like(a, b)); }
Tensor operator/(const Tensor& a, double b) { return div(a, number_like(a, b)); }
Tensor operator+(double a, const Tensor& b) { return add(number_like(b, a), b); }
Tensor operator-(double a, const Tensor& b) { return sub(number_like(b, a), b); }
Tensor operator*(double a, const Tensor& b) { return mul(number_like(b, a), b); }
Tensor operator/(double a, const Tensor& b) { return div(number_like(b, a), b); }
Tensor operator-(const Tensor& x) { return neg(x); }

Tensor operator==(const Tensor& a, const Tensor& b) { return binary(Op::eq, a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return binary(Op::ne, a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return binary(Op::lt, a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return binary(Op::le, a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return binary(Op::gt, a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return binary(Op::ge, a, b); }
Tensor operator==(const Tensor& a, double b) { return binary(Op::eq, a, number_like(a, b)); }
Tensor operator!=(const Tensor& a, double b) { return binary(Op::ne, a, number_like(a, b)); }
Tensor operator<(const Tensor& a, double b) { return binary(Op::lt, a, number_like(a, b)); }
Tensor operator<=(const Tensor& a, double b) { return binary(Op::le, a, number_like(a, b)); }
Tensor operator>(const Tensor& a, double b) { return binary(Op::gt, a, number_like(a, b)); }
Tensor operator>=(const Tensor& a, double b) { return binary(Op::ge, a, number_like(a, b)); }

}  // namespace tj
