// Constant folding and algebraic simplification, as a rule table.
// Needs: a verified function. Guarantees: the same values, bit for bit,
// except that `x + 0 -> x` may turn a +0 result into -0 (as torch.compile
// and XLA do); every rule below is exact in IEEE arithmetic otherwise, which
// is why rules such as `x * 0 -> 0` (wrong for Inf and NaN) are absent.
#include <cmath>

#include "ir/interpreter.h"
#include "ir/schedule.h"
#include "passes/passes.h"
#include "passes/rewrite.h"

namespace tj {

namespace {

bool is_splat(const Node* x, double value) {
  const std::optional<double> v = Rewriter::splat_value(x);
  return v && *v == value;
}

bool is_power_of_two(double v) {
  int exponent = 0;
  return std::isfinite(v) && v != 0 && std::fabs(std::frexp(v, &exponent)) == 0.5;
}

// An elementwise statement whose operands are all splats becomes a splat:
// the interpreter computes it once, on scalars, exactly as it would per element.
Node* fold_constants(Rewriter& r, Node* n) {
  if (!is_elementwise(n->op)) return nullptr;
  std::vector<Array> operands;
  for (const Node* input : n->inputs) {
    const std::optional<double> v = Rewriter::splat_value(input);
    if (!v) return nullptr;
    Array scalar = Array::zeros(input->type.dtype, {});
    if (is_float(input->type.dtype)) write_double(scalar.mutable_at(0), input->type.dtype, *v);
    else write_int(scalar.mutable_at(0), input->type.dtype, static_cast<int64_t>(*v));
    operands.push_back(scalar);
  }
  Node scalar_node = *n;
  scalar_node.type.shape = {};
  const Array result = evaluate_op(scalar_node, operands, {});
  const double value = is_float(n->type.dtype) ? read_double(result.at(0), n->type.dtype)
                                                : static_cast<double>(read_int(result.at(0), n->type.dtype));
  return r.splat(n->type, value);
}

// max/min over a splat is the splat's value (the type rule rules out empty axes).
Node* fold_extremum_of_splat(Rewriter& r, Node* n) {
  const std::optional<double> v = Rewriter::splat_value(n->inputs[0]);
  return v ? r.splat(n->type, *v) : nullptr;
}

Node* operand_if(bool condition, Rewriter& r, Node* x) { return condition ? r.as_result(x) : nullptr; }

const RewriteRule kRules[] = {
    {std::nullopt, fold_constants, "op(splat, ...) -> splat: constant folding"},
    {Op::max, fold_extremum_of_splat, "max(splat c) -> c"},
    {Op::min, fold_extremum_of_splat, "min(splat c) -> c"},
    {Op::add, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[1], 0), r, n->inputs[0]); }, "x + 0 -> x"},
    {Op::add, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[0], 0), r, n->inputs[1]); }, "0 + x -> x"},
    {Op::sub, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[1], 0), r, n->inputs[0]); }, "x - 0 -> x"},
    {Op::mul, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[1], 1), r, n->inputs[0]); }, "x * 1 -> x"},
    {Op::mul, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[0], 1), r, n->inputs[1]); }, "1 * x -> x"},
    {Op::div, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[1], 1), r, n->inputs[0]); }, "x / 1 -> x"},
    {Op::div,
     [](Rewriter& r, Node* n) -> Node* {
       const std::optional<double> c = Rewriter::splat_value(n->inputs[1]);
       if (!c || !is_power_of_two(*c) || *c == 1) return nullptr;
       return r.make(Op::mul, {n->inputs[0], r.splat(n->inputs[1]->type, 1 / *c)});
     },
     "x / c -> x * (1/c) when c is a power of two (exact)"},
    {Op::pow, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[1], 1), r, n->inputs[0]); }, "pow(x, 1) -> x"},
    {Op::pow,
     [](Rewriter& r, Node* n) -> Node* {
       if (!is_splat(n->inputs[1], 2) || !r.as_result(n->inputs[0])) return nullptr;
       Node* x = r.as_result(n->inputs[0]);
       return r.make(Op::mul, {x, x});
     },
     "pow(x, 2) -> x * x"},
    {Op::neg, [](Rewriter&, Node* n) { return n->inputs[0]->op == Op::neg ? n->inputs[0]->inputs[0] : nullptr; }, "-(-x) -> x"},
    {Op::abs,
     [](Rewriter& r, Node* n) {
       const Op inner = n->inputs[0]->op;
       return inner == Op::neg || inner == Op::abs ? r.make(Op::abs, {n->inputs[0]->inputs[0]}) : nullptr;
     },
     "abs(-x) -> abs(x), abs(abs(x)) -> abs(x)"},
    {Op::relu, [](Rewriter&, Node* n) { return n->inputs[0]->op == Op::relu ? n->inputs[0] : nullptr; }, "relu(relu(x)) -> relu(x)"},
    {Op::maximum, [](Rewriter&, Node* n) { return n->inputs[0] == n->inputs[1] ? n->inputs[0] : nullptr; }, "maximum(x, x) -> x"},
    {Op::minimum, [](Rewriter&, Node* n) { return n->inputs[0] == n->inputs[1] ? n->inputs[0] : nullptr; }, "minimum(x, x) -> x"},
    {Op::select, [](Rewriter& r, Node* n) { return operand_if(n->inputs[1] == n->inputs[2], r, n->inputs[1]); }, "select(c, x, x) -> x"},
    {Op::select, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[0], 1), r, n->inputs[1]); }, "select(true, a, b) -> a"},
    {Op::select, [](Rewriter& r, Node* n) { return operand_if(is_splat(n->inputs[0], 0), r, n->inputs[2]); }, "select(false, a, b) -> b"},
    {Op::cast, [](Rewriter&, Node* n) { return n->inputs[0]->type == n->type ? n->inputs[0] : nullptr; }, "cast(x) to x's dtype -> x"},
};

}  // namespace

bool simplify(Function& f) { return apply_rules(f, kRules); }

}  // namespace tj
