// Type rules, one function per TypeRule of ops.def, chosen through a table.
#include "ir/infer.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/error.h"

namespace tj {

namespace {

struct Context {
  Op op;
  std::span<const TensorType> inputs;
  const Attrs& attrs;

  std::string operands() const {
    constexpr size_t kShown = 8;  // a concat of thousands of operands keeps its message short
    std::vector<std::string> parts;
    for (size_t i = 0; i < inputs.size() && i < kShown; ++i) parts.push_back(type_to_string(inputs[i]));
    if (inputs.size() > kShown) parts.push_back(fmt::format("... {} operands in all", inputs.size()));
    return fmt::format("{}", fmt::join(parts, ", "));
  }
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("{}: {} (operands: {})", op_name(op), fmt::format(format, std::forward<Args>(args)...),
         operands());
  }
  const TensorType& in(size_t i) const { return inputs[i]; }
};

void require_dtype(const Context& c, size_t i, bool ok, std::string_view wanted) {
  if (!ok) c.error("operand {} has dtype {}, expected {}", i, dtype_name(c.in(i).dtype), wanted);
}

void require_same_dtypes(const Context& c) {
  for (size_t i = 1; i < c.inputs.size(); ++i)
    if (c.in(i).dtype != c.in(0).dtype)
      c.error("operand dtypes differ ({} vs {}); insert a cast", dtype_name(c.in(0).dtype),
              dtype_name(c.in(i).dtype));
}

Shape broadcast_all(const Context& c, size_t first) {
  Shape out = c.in(first).shape;
  for (size_t i = first + 1; i < c.inputs.size(); ++i) {
    std::optional<Shape> b = broadcast_shapes(out, c.in(i).shape);
    if (!b) c.error("shapes cannot be broadcast together");
    out = *b;
  }
  return out;
}

TensorType unary_numeric(const Context& c) {
  require_dtype(c, 0, c.in(0).dtype != DType::boolean, "a number type");
  return c.in(0);
}

TensorType unary_float(const Context& c) {
  require_dtype(c, 0, is_float(c.in(0).dtype), "f32 or f64");
  return c.in(0);
}

TensorType binary_numeric(const Context& c) {
  require_same_dtypes(c);
  require_dtype(c, 0, c.in(0).dtype != DType::boolean, "a number type");
  return {c.in(0).dtype, broadcast_all(c, 0)};
}

TensorType binary_float(const Context& c) {
  require_same_dtypes(c);
  require_dtype(c, 0, is_float(c.in(0).dtype), "f32 or f64");
  return {c.in(0).dtype, broadcast_all(c, 0)};
}

TensorType compare(const Context& c) {
  require_same_dtypes(c);
  return {DType::boolean, broadcast_all(c, 0)};
}

TensorType select(const Context& c) {
  require_dtype(c, 0, c.in(0).dtype == DType::boolean, "bool (the condition)");
  if (c.in(1).dtype != c.in(2).dtype)
    c.error("the two branches have different dtypes ({} vs {})", dtype_name(c.in(1).dtype),
            dtype_name(c.in(2).dtype));
  return {c.in(1).dtype, broadcast_all(c, 0)};
}

TensorType cast(const Context& c) { return {get_dtype(c.attrs, "to"), c.in(0).shape}; }

TensorType declared_only(const Context& c) { c.error("has a declared type, nothing to infer"); }

TensorType reshape(const Context& c) {
  const std::vector<int64_t>& target = *find_ints(c.attrs, "shape");
  if (target.size() > static_cast<size_t>(kMaxRank))
    c.error("shape={} has more than {} dims", shape_to_string(target), kMaxRank);
  const int64_t count = numel(c.in(0).shape);
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (inferred >= 0) c.error("shape={} has more than one -1", shape_to_string(target));
      inferred = static_cast<int>(i);
    } else if (target[i] < 0 || target[i] > kMaxElements) {
      c.error("shape={} has an invalid dim {}", shape_to_string(target), target[i]);
    } else if (target[i] != 0 && known > kMaxElements / target[i]) {
      c.error("shape={} has too many elements", shape_to_string(target));
    } else {
      known *= target[i];
    }
  }
  Shape out = target;
  if (inferred >= 0) {
    if (known == 0)
      c.error("shape={}: the -1 dim is ambiguous when the other dims hold 0 elements",
              shape_to_string(target));
    if (count % known != 0)
      c.error("shape={} cannot hold {} elements", shape_to_string(target), count);
    out[inferred] = count / known;
  } else if (known != count) {
    c.error("shape={} holds {} elements, the operand holds {}", shape_to_string(target), known,
            count);
  }
  return {c.in(0).dtype, out};
}

TensorType transpose(const Context& c) {
  const std::vector<int64_t>& perm = *find_ints(c.attrs, "perm");
  const int rank = c.in(0).rank();
  if (static_cast<int>(perm.size()) != rank)
    c.error("perm={} has {} entries for a rank-{} operand", shape_to_string(perm), perm.size(),
            rank);
  std::vector<bool> seen(rank, false);
  Shape out(rank);
  for (int i = 0; i < rank; ++i) {
    std::optional<int> axis = normalize_axis(perm[i], rank);
    if (!axis || seen[*axis]) c.error("perm={} is not a permutation of 0..{}", shape_to_string(perm), rank - 1);
    seen[*axis] = true;
    out[i] = c.in(0).shape[*axis];
  }
  return {c.in(0).dtype, out};
}

TensorType broadcast(const Context& c) {
  const std::vector<int64_t>& target = *find_ints(c.attrs, "shape");
  if (!checked_numel(target)) c.error("shape={} is not a valid shape", shape_to_string(target));
  const Shape& in = c.in(0).shape;
  if (in.size() > target.size())
    c.error("cannot broadcast to shape={} of lower rank", shape_to_string(target));
  const size_t lead = target.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != 1 && in[i] != target[lead + i])
      c.error("cannot broadcast to shape={}: dim {} is {}, not 1 or {}", shape_to_string(target),
              i, in[i], target[lead + i]);
  return {c.in(0).dtype, target};
}

TensorType slice(const Context& c) {
  const int rank = c.in(0).rank();
  const std::vector<int64_t>& starts = *find_ints(c.attrs, "starts");
  const std::vector<int64_t>& ends = *find_ints(c.attrs, "ends");
  const std::vector<int64_t>* steps = find_ints(c.attrs, "steps");
  auto check_len = [&](const std::vector<int64_t>& v, std::string_view what) {
    if (static_cast<int>(v.size()) != rank)
      c.error("{}={} has {} entries for a rank-{} operand", what, shape_to_string(v), v.size(), rank);
  };
  check_len(starts, "starts");
  check_len(ends, "ends");
  if (steps) check_len(*steps, "steps");
  Shape out(rank);
  for (int i = 0; i < rank; ++i) {
    const int64_t step = steps ? (*steps)[i] : 1;
    if (step == 0 || step > kMaxElements || step < -kMaxElements)
      c.error("steps={} has an invalid step {} on axis {}", shape_to_string(*steps), step, i);
    out[i] = normalize_slice(starts[i], ends[i], step, c.in(0).shape[i]).length;
  }
  return {c.in(0).dtype, out};
}

TensorType concat(const Context& c) {
  require_same_dtypes(c);
  const int rank = c.in(0).rank();
  std::optional<int> axis = normalize_axis(get_int(c.attrs, "axis"), rank);
  if (!axis) c.error("axis={} is out of range for rank {}", get_int(c.attrs, "axis"), rank);
  Shape out = c.in(0).shape;
  for (size_t i = 1; i < c.inputs.size(); ++i) {
    const Shape& s = c.in(i).shape;
    if (static_cast<int>(s.size()) != rank) c.error("operand {} has rank {}, expected {}", i, s.size(), rank);
    for (int d = 0; d < rank; ++d)
      if (d != *axis && s[d] != out[d])
        c.error("operand {} has dim {} = {}, expected {} (only axis {} may differ)", i, d, s[d],
                out[d], *axis);
    if (s[*axis] > kMaxElements - out[*axis]) c.error("the result would have more than 2^48 elements along axis {}", *axis);
    out[*axis] += s[*axis];
  }
  return {c.in(0).dtype, out};
}

Shape reduced_shape(const Context& c) {
  const std::vector<int> axes = reduction_axes(c.attrs, c.in(0).rank());
  const bool keepdim = get_bool(c.attrs, "keepdim", false);
  Shape out;
  for (int d = 0; d < c.in(0).rank(); ++d) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), d);
    if (!reduced) out.push_back(c.in(0).shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

TensorType reduce_sum(const Context& c) {
  // Like torch.sum: integers and bools accumulate into i64.
  const DType dtype = is_float(c.in(0).dtype) ? c.in(0).dtype : DType::i64;
  return {dtype, reduced_shape(c)};
}

TensorType reduce_mean(const Context& c) {
  require_dtype(c, 0, is_float(c.in(0).dtype), "f32 or f64");
  return {c.in(0).dtype, reduced_shape(c)};
}

TensorType reduce_extremum(const Context& c) {
  Shape out = reduced_shape(c);
  for (int axis : reduction_axes(c.attrs, c.in(0).rank()))
    if (c.in(0).shape[axis] == 0)
      c.error("reduces axis {} of size 0, which has no identity for {}", axis, op_name(c.op));
  return {c.in(0).dtype, out};
}

TensorType matmul(const Context& c) {
  require_same_dtypes(c);
  require_dtype(c, 0, c.in(0).dtype != DType::boolean, "a number type");
  Shape a = c.in(0).shape, b = c.in(1).shape;
  if (a.empty() || b.empty()) c.error("operands must have rank 1 or more");
  for (auto [flag, shape] : {std::pair{"transpose_a", &a}, std::pair{"transpose_b", &b}}) {
    if (!get_bool(c.attrs, flag, false)) continue;
    if (shape->size() < 2) c.error("{}=true needs an operand of rank 2 or more", flag);
    std::swap((*shape)[shape->size() - 2], (*shape)[shape->size() - 1]);
  }
  // torch.matmul: a vector on the left is a row, on the right a column; the
  // added dim is removed from the result.
  const bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  if (a_vector) a.insert(a.begin(), 1);
  if (b_vector) b.push_back(1);
  const int64_t k = a.back(), k2 = b[b.size() - 2];
  if (k != k2) c.error("inner dimensions differ ({} vs {})", k, k2);
  std::optional<Shape> batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!batch) c.error("batch dimensions cannot be broadcast together");
  Shape out = *batch;
  if (!a_vector) out.push_back(a[a.size() - 2]);
  if (!b_vector) out.push_back(b.back());
  return {c.in(0).dtype, out};
}

using RuleFn = TensorType (*)(const Context&);
constexpr RuleFn kRules[] = {
    unary_numeric, unary_float, binary_numeric, binary_float, compare,    select,
    cast,          declared_only, declared_only, reshape,     transpose,  broadcast,
    slice,         concat,      reduce_sum,    reduce_mean,  reduce_extremum, matmul,
};
static_assert(std::size(kRules) == static_cast<size_t>(TypeRule::matmul) + 1);

}  // namespace

void check_attrs(Op op, const Attrs& attrs) {
  const OpInfo& info = op_info(op);
  for (const auto& [name, value] : attrs) {
    auto spec = std::find_if(info.attrs.begin(), info.attrs.end(),
                             [&](const AttrSpec& s) { return s.name == name; });
    if (spec == info.attrs.end()) fail("{}: unknown attribute '{}'", info.name, name);
    if (attr_kind_of(value) != spec->kind)
      fail("{}: attribute '{}' must be {}, got {}", info.name, name, attr_kind_name(spec->kind),
           attr_kind_name(attr_kind_of(value)));
  }
  for (const AttrSpec& spec : info.attrs)
    if (spec.required && !attrs.contains(std::string(spec.name)))
      fail("{}: missing attribute '{}'", info.name, spec.name);
}

std::vector<int> reduction_axes(const Attrs& attrs, int rank) {
  const std::vector<int64_t>* given = find_ints(attrs, "axes");
  std::vector<int> axes;
  if (!given) {
    axes.resize(rank);
    std::iota(axes.begin(), axes.end(), 0);
    return axes;
  }
  for (int64_t a : *given) {
    std::optional<int> axis = normalize_axis(a, rank);
    if (!axis) fail("axes={}: axis {} is out of range for rank {}", shape_to_string(*given), a, rank);
    axes.push_back(*axis);
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    fail("axes={} repeats an axis", shape_to_string(*given));
  return axes;
}

TensorType infer_type(Op op, std::span<const TensorType> inputs, const Attrs& attrs) {
  const OpInfo& info = op_info(op);
  const bool arity_ok = info.arity < 0 ? !inputs.empty() : inputs.size() == static_cast<size_t>(info.arity);
  if (!arity_ok)
    fail("{}: expects {} operand{}, got {}", info.name,
         info.arity < 0 ? "one or more" : std::to_string(info.arity), info.arity == 1 ? "" : "s",
         inputs.size());
  check_attrs(op, attrs);
  const Context context{op, inputs, attrs};
  TensorType result;
  try {
    result = kRules[static_cast<int>(info.rule)](context);
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.starts_with(std::string(info.name) + ":")) throw;
    context.error("{}", message);
  }
  if (!checked_numel(result.shape))
    context.error("result shape {} is too large", shape_to_string(result.shape));
  return result;
}

}  // namespace tj
