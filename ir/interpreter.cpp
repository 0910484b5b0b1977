// The reference semantics of every op; see interpreter.h for the numerics.
// Elementwise ops are in interpret_elementwise.cpp; here shape ops make
// views, reductions and matmul accumulate wide, and a table dispatches by
// type rule.
#include "ir/interpreter.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <unordered_map>
#include <utility>

#include "ir/error.h"
#include "ir/infer.h"
#include "ir/interpret_elementwise.h"
#include "ir/interpreter_common.h"

namespace tj {

namespace {

using interp::broadcast_strides;
using interp::eval_elementwise;
using interp::for_each_element;
using interp::kGrain;
using interp::wrap_add;
using interp::wrap_mul;

// ---- shape ops: views where possible -------------------------------------

Array eval_reshape(const Node& node, std::span<const Array> in, const ParallelFor&) {
  const Array source = in[0].contiguous();
  return source.with_layout(node.type.shape, contiguous_strides(node.type.shape), source.offset());
}

Array eval_transpose(const Node& node, std::span<const Array> in, const ParallelFor&) {
  const std::vector<int64_t>& perm = *find_ints(node.attrs, "perm");
  const int rank = in[0].rank();
  Shape shape(rank);
  Strides strides(rank);
  for (int i = 0; i < rank; ++i) {
    const int axis = *normalize_axis(perm[i], rank);
    shape[i] = in[0].shape()[axis];
    strides[i] = in[0].strides()[axis];
  }
  return in[0].with_layout(shape, strides, in[0].offset());
}

Array eval_broadcast(const Node& node, std::span<const Array> in, const ParallelFor&) {
  return in[0].with_layout(node.type.shape, broadcast_strides(in[0], node.type.shape), in[0].offset());
}

Array eval_slice(const Node& node, std::span<const Array> in, const ParallelFor&) {
  const std::vector<int64_t>& starts = *find_ints(node.attrs, "starts");
  const std::vector<int64_t>& ends = *find_ints(node.attrs, "ends");
  const std::vector<int64_t>* steps = find_ints(node.attrs, "steps");
  const Array& a = in[0];
  Shape shape(a.rank());
  Strides strides(a.rank());
  int64_t offset = a.offset();
  for (int i = 0; i < a.rank(); ++i) {
    const int64_t step = steps ? (*steps)[i] : 1;
    const SliceDim dim = normalize_slice(starts[i], ends[i], step, a.shape()[i]);
    shape[i] = dim.length;
    strides[i] = a.strides()[i] * step;
    if (dim.length > 0) offset += dim.start * a.strides()[i];
  }
  return a.with_layout(shape, strides, offset);
}

void copy_into(const Array& src, const Array& dst) {
  const int64_t size = dtype_size(src.dtype());
  for_each_element(src.shape(), {src.strides(), dst.strides()}, {src.offset(), dst.offset()},
                   [&](int64_t, const std::vector<int64_t>& off) {
                     std::memcpy(dst.mutable_at(off[1]), src.at(off[0]), size);
                   });
}

Array eval_concat(const Node& node, std::span<const Array> in, const ParallelFor&) {
  Array out = Array::zeros(node.type.dtype, node.type.shape);
  const int axis = *normalize_axis(get_int(node.attrs, "axis"), out.rank());
  int64_t start = 0;
  for (const Array& part : in) {
    copy_into(part, out.with_layout(part.shape(), out.strides(), start * out.strides()[axis]));
    start += part.shape()[axis];
  }
  return out;
}

// ---- reductions -----------------------------------------------------------

template <typename Acc>
struct Accumulator {
  Op op;
  Acc value;
  Acc compensation{0};  // Neumaier's running error of a float sum
  int64_t count = 0;

  explicit Accumulator(Op o) : op(o), value(initial(o)) {}
  static Acc initial(Op o) {
    // Floats start from -inf/+inf so that a row of -inf has max -inf.
    constexpr bool has_inf = std::numeric_limits<Acc>::has_infinity;
    if (o == Op::max) return has_inf ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
    if (o == Op::min) return has_inf ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max();
    return Acc{0};
  }
  void add(Acc v) {
    ++count;
    if constexpr (std::is_floating_point_v<Acc>) {
      if (std::isnan(value)) return;  // NaN propagates through max/min (and sums keep it anyway)
      if ((op == Op::max || op == Op::min) && std::isnan(v)) { value = v; return; }
    }
    if (op == Op::max) value = v > value ? v : value;
    else if (op == Op::min) value = v < value ? v : value;
    else if constexpr (std::is_floating_point_v<Acc>) add_compensated(v);
    else value = wrap_add(value, v);
  }
  void add_compensated(Acc v) {
    const Acc sum = value + v;
    if (std::isfinite(sum)) compensation += std::fabs(value) >= std::fabs(v) ? (value - sum) + v : (v - sum) + value;
    value = sum;
  }
  Acc total() const { return std::isfinite(value) ? value + compensation : value; }
  Acc result() const {
    if (op == Op::mean) return count == 0 ? std::numeric_limits<Acc>::quiet_NaN() : total() / static_cast<Acc>(count);
    return op == Op::sum ? total() : value;
  }
};

template <typename Acc>
void reduce_into(const Node& node, const Array& x, const std::vector<int>& axes, Array& out, const ParallelFor& parallel) {
  Shape kept_shape, reduced_shape;
  Strides kept_strides, reduced_strides;
  for (int d = 0; d < x.rank(); ++d) {
    const bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    (reduced ? reduced_shape : kept_shape).push_back(x.shape()[d]);
    (reduced ? reduced_strides : kept_strides).push_back(x.strides()[d]);
  }
  const int64_t out_size = dtype_size(out.dtype());
  auto row = [&](int64_t n, const std::vector<int64_t>& base) {
    Accumulator<Acc> acc(node.op);
    for_each_offset(reduced_shape, reduced_strides, base[0], [&](int64_t, int64_t off) {
      if constexpr (std::is_floating_point_v<Acc>) acc.add(read_double(x.at(off), x.dtype()));
      else acc.add(read_int(x.at(off), x.dtype()));
    });
    std::byte* dst = out.mutable_at(0) + n * out_size;
    if constexpr (std::is_floating_point_v<Acc>) write_double(dst, out.dtype(), static_cast<double>(acc.result()));
    else write_int(dst, out.dtype(), acc.result());
  };
  const int64_t row_length = std::max<int64_t>(numel(reduced_shape), 1);
  parallel(numel(kept_shape), std::max<int64_t>(1, kGrain / row_length), [&](int64_t begin, int64_t end) {
    for_each_element(kept_shape, {kept_strides}, {x.offset()}, row, begin, end);
  });
}

Array eval_reduce(const Node& node, std::span<const Array> in, const ParallelFor& parallel) {
  Array out = Array::zeros(node.type.dtype, node.type.shape);
  const std::vector<int> axes = reduction_axes(node.attrs, in[0].rank());
  switch (in[0].dtype()) {
    case DType::f32: reduce_into<double>(node, in[0], axes, out, parallel); break;
    case DType::f64: reduce_into<double>(node, in[0], axes, out, parallel); break;
    default: reduce_into<int64_t>(node, in[0], axes, out, parallel); break;
  }
  return out;
}

// ---- matmul ----------------------------------------------------------------

// Operand values as a dense [rows, cols] matrix in the accumulation type.
template <typename Acc>
std::vector<Acc> dense_matrix(const Array& a, int64_t offset, int64_t rows, int64_t cols, int64_t row_stride,
                              int64_t col_stride) {
  std::vector<Acc> m(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const std::byte* p = a.at(offset + r * row_stride + c * col_stride);
      if constexpr (std::is_floating_point_v<Acc>) m[r * cols + c] = read_double(p, a.dtype());
      else m[r * cols + c] = read_int(p, a.dtype());
    }
  return m;
}

template <typename Acc>
void matmul_into(const Array& a_in, const Array& b_in, Array& out, const ParallelFor& parallel) {
  // Give vectors their matrix form: [k] -> [1,k] on the left, [k,1] on the right.
  Array a = a_in.rank() == 1 ? a_in.with_layout({1, a_in.shape()[0]}, {0, a_in.strides()[0]}, a_in.offset()) : a_in;
  Array b = b_in.rank() == 1 ? b_in.with_layout({b_in.shape()[0], 1}, {b_in.strides()[0], 0}, b_in.offset()) : b_in;
  const int64_t m = a.shape()[a.rank() - 2], k = a.shape()[a.rank() - 1], n = b.shape()[b.rank() - 1];
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = *broadcast_shapes(batch_a, batch_b);
  auto batch_strides = [&](const Array& x) {
    Array head = x.with_layout(Shape(x.shape().begin(), x.shape().end() - 2), Strides(x.strides().begin(), x.strides().end() - 2), 0);
    return broadcast_strides(head, batch);
  };
  const int64_t out_size = dtype_size(out.dtype());
  auto one_matrix = [&](int64_t index, const std::vector<int64_t>& off) {
    const auto A = dense_matrix<Acc>(a, off[0], m, k, a.strides()[a.rank() - 2], a.strides()[a.rank() - 1]);
    const auto B = dense_matrix<Acc>(b, off[1], k, n, b.strides()[b.rank() - 2], b.strides()[b.rank() - 1]);
    std::vector<Acc> C(static_cast<size_t>(m * n), Acc{0});
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) {
        const Acc aip = A[i * k + p];
        for (int64_t j = 0; j < n; ++j) {
          if constexpr (std::is_floating_point_v<Acc>) C[i * n + j] += aip * B[p * n + j];
          else C[i * n + j] = wrap_add(C[i * n + j], wrap_mul(aip, B[p * n + j]));
        }
      }
    std::byte* dst = out.mutable_at(0) + index * m * n * out_size;
    for (int64_t e = 0; e < m * n; ++e) {
      if constexpr (std::is_floating_point_v<Acc>) write_double(dst + e * out_size, out.dtype(), static_cast<double>(C[e]));
      else write_int(dst + e * out_size, out.dtype(), C[e]);
    }
  };
  const int64_t matrix_work = std::max<int64_t>(m * n * k, 1);
  parallel(numel(batch), std::max<int64_t>(1, kGrain / matrix_work), [&](int64_t begin, int64_t end) {
    for_each_element(batch, {batch_strides(a), batch_strides(b)}, {a.offset(), b.offset()}, one_matrix, begin, end);
  });
}

// The operand with its last two dims swapped when `flag` is set (a view).
Array matmul_operand(const Node& node, const Array& a, std::string_view flag) {
  if (!get_bool(node.attrs, flag, false)) return a;
  Shape shape = a.shape();
  Strides strides = a.strides();
  std::swap(shape[a.rank() - 2], shape[a.rank() - 1]);
  std::swap(strides[a.rank() - 2], strides[a.rank() - 1]);
  return a.with_layout(shape, strides, a.offset());
}

Array eval_matmul(const Node& node, std::span<const Array> in, const ParallelFor& parallel) {
  Array out = Array::zeros(node.type.dtype, node.type.shape);
  const Array a = matmul_operand(node, in[0], "transpose_a"), b = matmul_operand(node, in[1], "transpose_b");
  switch (a.dtype()) {
    case DType::f32: matmul_into<double>(a, b, out, parallel); break;
    case DType::f64: matmul_into<double>(a, b, out, parallel); break;
    default: matmul_into<int64_t>(a, b, out, parallel); break;
  }
  return out;
}

// ---- dispatch by type rule -------------------------------------------------

using EvalFn = Array (*)(const Node&, std::span<const Array>, const ParallelFor&);

Array eval_leaf(const Node& node, std::span<const Array>, const ParallelFor&) {
  fail("interpreter: %{} is a leaf and is not evaluated", node.name);
}

constexpr EvalFn kEvalByRule[] = {
    eval_elementwise, eval_elementwise, eval_elementwise, eval_elementwise, eval_elementwise, eval_elementwise,
    eval_elementwise, eval_leaf,        eval_leaf,        eval_reshape,     eval_transpose,   eval_broadcast,
    eval_slice,       eval_concat,      eval_reduce,      eval_reduce,      eval_reduce,      eval_matmul,
};
static_assert(std::size(kEvalByRule) == static_cast<size_t>(TypeRule::matmul) + 1);

Array splat(const Node& node) {
  // One element, stride 0 in every dim: a splat costs nothing however large.
  Array one = Array::zeros(node.type.dtype, {});
  if (is_float(node.type.dtype)) write_double(one.mutable_at(0), node.type.dtype, node.constant.f);
  else write_int(one.mutable_at(0), node.type.dtype, node.constant.i);
  return one.with_layout(node.type.shape, Strides(node.type.shape.size(), 0), 0);
}

}  // namespace

Array constant_value(const Program& program, const Function& f, const Node& node) {
  if (node.constant.symbol.empty()) return splat(node);
  auto it = program.constant_data.find(node.constant.symbol);
  if (it == program.constant_data.end())
    fail("@{}: no data bound for const @{} of type {}", f.name(), node.constant.symbol, type_to_string(node.type));
  if (it->second.type() != node.type)
    fail("@{}: const @{} is declared {} but its data is {}", f.name(), node.constant.symbol, type_to_string(node.type),
         type_to_string(it->second.type()));
  return it->second;
}

void run_serially(int64_t count, int64_t, const std::function<void(int64_t, int64_t)>& body) { body(0, count); }

Array evaluate_op(const Node& node, std::span<const Array> operands, const ParallelFor& parallel) {
  return kEvalByRule[static_cast<int>(op_info(node.op).rule)](node, operands, parallel ? parallel : ParallelFor(run_serially));
}

std::vector<Array> interpret(const Program& program, const Function& f, const std::vector<Array>& inputs) {
  const std::vector<Node*> params = f.params();
  if (inputs.size() != params.size())
    fail("@{} takes {} input(s), got {}", f.name(), params.size(), inputs.size());
  std::unordered_map<const Node*, Array> values;
  for (size_t i = 0; i < params.size(); ++i) {
    if (inputs[i].type() != params[i]->type)
      fail("@{}: input %{} must be {}, got {}", f.name(), params[i]->name, type_to_string(params[i]->type),
           type_to_string(inputs[i].type()));
    values[params[i]] = inputs[i];
  }
  for (const auto& node : f.nodes()) {
    if (node->op == Op::param) continue;
    if (node->op == Op::constant) {
      values[node.get()] = constant_value(program, f, *node);
      continue;
    }
    std::vector<Array> operands;
    for (const Node* input : node->inputs) operands.push_back(values.at(input));
    values[node.get()] = evaluate_op(*node, operands, {});
  }
  std::vector<Array> results;
  for (const Node* r : f.results()) results.push_back(values.at(r));
  return results;
}

}  // namespace tj
