// Fused group -> loop kernel: index maps through views, steps in SSA order,
// reductions moved to the inner loop, contiguous dims merged.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "codegen/loop_kernel.h"
#include "codegen/target.h"
#include "ir/infer.h"

namespace tj {

namespace {

// What the code generators support so far: float32 arithmetic (bool
// compare results and conditions included). Other kernels run on the
// interpreter; `explain` says which and why.
const std::set<Op> kSupportedOps = {
    Op::neg, Op::abs, Op::relu, Op::exp, Op::log, Op::tanh, Op::sigmoid, Op::sqrt, Op::rsqrt, Op::erf,
    Op::reciprocal, Op::pow, Op::add, Op::sub, Op::mul, Op::div, Op::maximum, Op::minimum, Op::eq, Op::ne, Op::lt,
    Op::le, Op::gt, Op::ge, Op::select, Op::sum, Op::mean, Op::max, Op::min, Op::matmul,
};

// A matmul kernel keeps its block of output rows as double sums in its
// per-thread scratch (6 x 8192 x 8 bytes at most).
constexpr int64_t kMaxMatmulColumns = 1 << 13;
// Rows per block. With B packed, 6: the register tile is 6 rows by 4
// vectors of B's columns (AVX2: 2), 24 float accumulators beside B's
// vectors and A's broadcast (AVX2: 12 + 2 + 1 of its 16 registers; chosen
// when the sums were double, the MLP at one thread ~15% faster than with
// 4). A batched B shares its loads over 4 rows, which must divide the rows
// of each batch.
constexpr int kPackedMatmulRowBlock = 6;
constexpr int kMatmulRowBlock = 4;

bool supported_types(Op op, const std::vector<DType>& operands, DType result) {
  const DType value = op == Op::select ? operands[1] : operands[0];
  if ((op == Op::eq || op == Op::ne) && value == DType::boolean) return true;  // comparing masks
  if (value != DType::f32) return false;
  if (op == Op::select && operands[0] != DType::boolean) return false;
  return result == DType::f32 || result == DType::boolean;
}

bool supported_types(const Node* n) {
  std::vector<DType> operands;
  for (const Node* input : n->inputs) operands.push_back(input->type.dtype);
  return supported_types(n->op, operands, n->type.dtype);
}

bool is_matrix_vector_product(const TensorType& result, const TensorType& a, const TensorType& b) {
  return result.rank() < 2 || a.rank() < 2 || b.rank() < 2;
}

Shape pad_to(const Shape& shape, size_t rank) {
  Shape out(rank - shape.size(), 1);
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

struct View {
  Shape shape;
  Strides strides;
  int64_t offset;
};

bool contiguous(const View& v) {
  int64_t expected = 1;
  for (size_t i = v.shape.size(); i-- > 0;) {
    if (v.shape[i] != 1 && v.strides[i] != expected) return false;
    expected *= v.shape[i];
  }
  return true;
}

// Applies one view op to a layout; false when it cannot be an index map.
bool apply_view(const Node* view, View& v) {
  switch (view->op) {
    case Op::transpose: {
      const std::vector<int64_t>& perm = *find_ints(view->attrs, "perm");
      View out{Shape(perm.size()), Strides(perm.size()), v.offset};
      for (size_t i = 0; i < perm.size(); ++i) {
        const int axis = *normalize_axis(perm[i], static_cast<int>(perm.size()));
        out.shape[i] = v.shape[axis];
        out.strides[i] = v.strides[axis];
      }
      v = out;
      return true;
    }
    case Op::broadcast: {
      const Shape& target = view->type.shape;
      View out{target, Strides(target.size(), 0), v.offset};
      const size_t lead = target.size() - v.shape.size();
      for (size_t i = 0; i < v.shape.size(); ++i) out.strides[lead + i] = v.shape[i] == 1 ? 0 : v.strides[i];
      v = out;
      return true;
    }
    case Op::slice: {
      const std::vector<int64_t>& starts = *find_ints(view->attrs, "starts");
      const std::vector<int64_t>& ends = *find_ints(view->attrs, "ends");
      const std::vector<int64_t>* steps = find_ints(view->attrs, "steps");
      for (size_t i = 0; i < v.shape.size(); ++i) {
        const int64_t step = steps ? (*steps)[i] : 1;
        const SliceDim dim = normalize_slice(starts[i], ends[i], step, v.shape[i]);
        if (dim.length > 0) v.offset += dim.start * v.strides[i];
        v.shape[i] = dim.length;
        v.strides[i] *= step;
      }
      return true;
    }
    case Op::reshape:
      if (!contiguous(v)) return false;
      v.shape = view->type.shape;
      v.strides = contiguous_strides(v.shape);
      return true;
    default:
      return false;
  }
}

class Lowering {
 public:
  Lowering(const Kernel& kernel, const std::vector<BufferLayout>& layouts) : kernel_(kernel), layouts_(layouts) {}

  std::optional<LoopKernel> run(std::string* why) {
    try {
      return lower();
    } catch (const std::string& reason) {
      if (why) *why = reason;
      return std::nullopt;
    }
  }

 private:
  [[noreturn]] static void unsupported(std::string reason) { throw reason; }

  LoopKernel lower() {
    if (kernel_.kind == KernelKind::copy) unsupported("copy kernels run on the interpreter");
    std::vector<int> reduced;
    bool has_reduce = false;
    for (const Node* n : kernel_.nodes) {
      if (!kSupportedOps.contains(n->op)) unsupported(fmt::format("op {} is not generated yet", op_name(n->op)));
      if (!supported_types(n)) unsupported(fmt::format("%{} computes in {}: only f32 is generated yet", n->name, type_to_string(n->inputs[0]->type)));
      if (is_reduce(n->op) && !has_reduce) {
        has_reduce = true;
        domain_ = n->inputs[0]->type.shape;
        reduced = reduction_axes(n->attrs, n->inputs[0]->type.rank());
      }
    }
    if (has_reduce && reduced.empty()) unsupported("a reduction over no axes");
    for (const Node* n : kernel_.nodes)
      if (n->op == Op::matmul) {
        if (is_matrix_vector_product(n->type, n->inputs[0]->type, n->inputs[1]->type)) unsupported("a matrix-vector product (1-D operand)");
        domain_ = n->type.shape;
      }
    if (reduced.empty() && kernel_.kind != KernelKind::matmul) {
      for (const Node* n : kernel_.nodes) domain_ = *broadcast_shapes(domain_, n->type.shape);
    }
    if (domain_.empty()) domain_ = {1};
    const int rank = static_cast<int>(domain_.size());
    // Rows first, reduced (inner) dims last; an elementwise kernel's inner dim is its last.
    std::vector<bool> is_reduced(rank, false);
    for (int axis : reduced) is_reduced[axis] = true;
    for (int d = 0; d < rank; ++d)
      if (!is_reduced[d]) perm_.push_back(d);
    for (int d = 0; d < rank; ++d)
      if (is_reduced[d]) perm_.push_back(d);
    reduced_set_ = std::set<int>(reduced.begin(), reduced.end());
    out_.inner_dims = reduced.empty() ? 1 : static_cast<int>(reduced.size());
    for (int d : perm_) out_.domain.push_back(domain_[d]);

    for (const Node* n : kernel_.nodes) lower_node(n);
    for (size_t i = 0; i < kernel_.outputs.size(); ++i) add_store(kernel_.outputs[i], static_cast<int>(kernel_.inputs.size() + i));
    out_.arguments = static_cast<int>(kernel_.inputs.size() + kernel_.outputs.size());
    merge_dims();
    if (out_.inner_dims > 1) unsupported("a reduction over dims that do not merge into one contiguous run");
    for (const Step& step : out_.steps) {
      if (step.kind != StepKind::matmul) continue;
      const Strides& b = out_.loads[out_.steps[step.args[1]].load].strides;
      if (std::all_of(b.begin(), b.end() - 1, [](int64_t s) { return s == 0; })) {
        out_.row_block = kPackedMatmulRowBlock;
        out_.packed_b_step = static_cast<int>(&step - out_.steps.data());
        out_.panel = host_isa().f32_lanes;
      } else if (out_.domain.size() >= 2 && out_.domain[out_.domain.size() - 2] % kMatmulRowBlock == 0) {
        // B changes with the batch, not within it: blocks of rows that never
        // straddle two batches still share each load of B.
        out_.row_block = kMatmulRowBlock;
      }
    }
    return out_;
  }

  // The domain-ordered strides of a value of `shape` laid out with `strides`.
  Strides to_domain(Shape shape, Strides strides, const std::string& what) {
    const size_t rank = domain_.size();
    if (shape.size() > rank) unsupported(fmt::format("{} has a higher rank than the kernel's domain", what));
    strides.insert(strides.begin(), rank - shape.size(), 0);
    shape = pad_to(shape, rank);
    Strides out;
    for (int d : perm_) {
      if (shape[d] == domain_[d]) out.push_back(strides[d]);
      else if (shape[d] == 1) out.push_back(0);
      else unsupported(fmt::format("{} of shape {} is not aligned with the domain {}", what, shape_to_string(shape), shape_to_string(domain_)));
    }
    return out;
  }

  // The kernel argument holding `source` and the layout in which `operand`
  // (source seen through views) reads it.
  std::pair<size_t, View> layout_through_views(const Node* operand, Node* source) {
    const size_t buffer = std::find(kernel_.inputs.begin(), kernel_.inputs.end(), source) - kernel_.inputs.begin();
    View v{source->type.shape, layouts_.at(buffer).strides, layouts_.at(buffer).offset};
    std::vector<const Node*> chain;
    for (const Node* x = operand; x != source; x = x->inputs[0]) chain.push_back(x);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
      if (!apply_view(*it, v)) unsupported(fmt::format("view %{} of a strided value is not an index map", (*it)->name));
    return {buffer, v};
  }

  int add_step(Step step) {
    out_.steps.push_back(std::move(step));
    return static_cast<int>(out_.steps.size()) - 1;
  }

  int operand_step(Node* operand) {
    Node* source = view_source(operand);
    if (auto it = step_of_.find(source); it != step_of_.end()) return it->second;  // in-kernel: a relabeling view
    if (source->op == Op::constant && source->constant.symbol.empty()) {
      Step c{StepKind::constant};
      c.constant = is_float(source->type.dtype) ? source->constant.f : static_cast<double>(source->constant.i);
      c.dtype = source->type.dtype;
      c.row_level = true;
      return add_step(c);
    }
    const auto [buffer, v] = layout_through_views(operand, source);
    IndexMap map{static_cast<int>(buffer), source->type.dtype, v.offset, to_domain(v.shape, v.strides, "%" + operand->name)};
    for (size_t i = 0; i < out_.loads.size(); ++i)
      if (out_.loads[i].buffer == map.buffer && out_.loads[i].offset == map.offset && out_.loads[i].strides == map.strides)
        return load_steps_.at(i);
    out_.loads.push_back(map);
    Step load{StepKind::load};
    load.load = static_cast<int>(out_.loads.size()) - 1;
    load.dtype = source->type.dtype;
    load.row_level = is_row_level(map.strides);
    load_steps_.push_back(add_step(load));
    return load_steps_.back();
  }

  bool is_row_level(const Strides& strides) const {
    for (size_t d = strides.size() - out_.inner_dims; d < strides.size(); ++d)
      if (strides[d] != 0) return false;
    return !reduced_set_.empty();  // an elementwise kernel has no row-level loads
  }

  // A and B of a matmul as index maps over the output domain plus a stride
  // along k: batch dims broadcast (stride 0 where the operand has 1), A does
  // not move along the output's columns, B not along its rows.
  int matmul_operand(const Node* n, int which) {
    Node* operand = n->inputs[which];
    Node* source = view_source(operand);
    if (step_of_.contains(source) || (source->op == Op::constant && source->constant.symbol.empty()))
      unsupported("a matmul operand computed in its own kernel or a splat");
    auto [buffer, v] = layout_through_views(operand, source);
    const size_t r = v.shape.size();
    if (get_bool(n->attrs, which == 0 ? "transpose_a" : "transpose_b", false)) {
      std::swap(v.shape[r - 2], v.shape[r - 1]);
      std::swap(v.strides[r - 2], v.strides[r - 1]);
    }
    // Rows of A are the output's rows, columns of B its columns; the other dim is k.
    const int64_t k_stride = which == 0 ? v.strides[r - 1] : v.strides[r - 2];
    Shape shape(v.shape.begin(), v.shape.end() - 2);
    Strides strides(v.strides.begin(), v.strides.end() - 2);
    shape.push_back(which == 0 ? v.shape[r - 2] : 1);
    strides.push_back(which == 0 ? v.strides[r - 2] : 0);
    shape.push_back(which == 0 ? 1 : v.shape[r - 1]);
    strides.push_back(which == 0 ? 0 : v.strides[r - 1]);
    IndexMap map{static_cast<int>(buffer), source->type.dtype, v.offset, to_domain(shape, strides, "%" + operand->name), k_stride};
    out_.loads.push_back(map);
    Step load{StepKind::load};
    load.load = static_cast<int>(out_.loads.size()) - 1;
    load.dtype = source->type.dtype;
    return add_step(load);
  }

  void lower_node(const Node* n) {
    if (n->op == Op::matmul) {
      Step step{StepKind::matmul};
      step.op = Op::matmul;
      step.dtype = n->type.dtype;
      step.args = {matmul_operand(n, 0), matmul_operand(n, 1)};
      const Shape& a = n->inputs[0]->type.shape;
      step.k_extent = get_bool(n->attrs, "transpose_a", false) ? a[a.size() - 2] : a.back();
      if (n->type.shape.back() > kMaxMatmulColumns)
        unsupported(fmt::format("a matmul with more than {} columns (its block of rows of double sums is bounded)", kMaxMatmulColumns));
      step_of_[n] = add_step(step);
      return;
    }
    Step step{is_reduce(n->op) ? StepKind::reduce : StepKind::compute};
    step.op = n->op;
    step.dtype = n->type.dtype;
    step.attrs = n->attrs;
    step.row_level = true;
    for (Node* operand : n->inputs) {
      const int arg = operand_step(operand);
      step.args.push_back(arg);
      const Step& a = out_.steps[arg];
      step.row_level = step.row_level && a.row_level;
      if (step.kind == StepKind::reduce) step.pass = std::max(step.pass, pass_after(arg));
    }
    if (step.kind == StepKind::reduce) {
      step.row_level = true;
      out_.passes = std::max(out_.passes, step.pass + 2);
    }
    if (reduced_set_.empty()) step.row_level = false;
    step_of_[n] = add_step(step);
  }

  // The first pass in which the value of `step` is available (memoized:
  // shared subexpressions would make the walk exponential).
  int pass_after(int step) {
    if (auto it = pass_after_.find(step); it != pass_after_.end()) return it->second;
    const Step& s = out_.steps[step];
    int pass = s.kind == StepKind::reduce ? s.pass + 1 : 0;
    for (int arg : s.args) pass = std::max(pass, pass_after(arg));
    return pass_after_[step] = pass;
  }

  void add_store(const Node* out, int buffer) {
    const int step = step_of_.at(out);
    const Strides strides = to_domain(out->type.shape, contiguous_strides(out->type.shape), "output %" + out->name);
    const bool row_level = out_.steps[step].row_level;
    for (size_t d = 0; d < strides.size(); ++d) {
      const bool inner = d >= strides.size() - out_.inner_dims;
      if (strides[d] == 0 && out_.domain[d] != 1 && !(inner && row_level))
        unsupported(fmt::format("output %{} of shape {} would be written more than once", out->name, shape_to_string(out->type.shape)));
      if (inner && row_level && strides[d] != 0 && out_.domain[d] != 1)
        unsupported(fmt::format("output %{} is one value per row written across the row", out->name));
    }
    out_.stores.push_back({step, IndexMap{buffer, out->type.dtype, 0, strides}});
  }

  // Merges adjacent dims (both rows or both inner) that every index map
  // walks contiguously, so that loops run long.
  void merge_dims() {
    std::vector<IndexMap*> maps;
    for (IndexMap& m : out_.loads) maps.push_back(&m);
    for (LoopKernel::Store& s : out_.stores) maps.push_back(&s.map);
    const auto mergeable = [&](size_t d) {
      const size_t rows = out_.domain.size() - out_.inner_dims;
      if ((d < rows) != (d + 1 < rows)) return false;
      return std::all_of(maps.begin(), maps.end(), [&](const IndexMap* m) { return m->strides[d] == m->strides[d + 1] * out_.domain[d + 1]; });
    };
    for (size_t d = out_.domain.size() - 1; d-- > 0;) {
      if (!mergeable(d)) continue;
      const bool inner = d >= out_.domain.size() - out_.inner_dims;
      out_.domain[d] *= out_.domain[d + 1];
      out_.domain.erase(out_.domain.begin() + d + 1);
      for (IndexMap* m : maps) m->strides.erase(m->strides.begin() + d);
      if (inner) --out_.inner_dims;
    }
  }

  const Kernel& kernel_;
  const std::vector<BufferLayout>& layouts_;
  Shape domain_;
  std::vector<int> perm_;
  std::set<int> reduced_set_;
  std::map<const Node*, int> step_of_;
  std::vector<int> load_steps_;
  std::map<int, int> pass_after_;
  LoopKernel out_;
};

}  // namespace

int64_t LoopKernel::rows() const { return numel(Shape(domain.begin(), domain.end() - inner_dims)); }
int64_t LoopKernel::inner() const { return numel(Shape(domain.end() - inner_dims, domain.end())); }

std::optional<LoopKernel> lower_kernel(const Kernel& kernel, const std::vector<BufferLayout>& layouts, std::string* why) {
  return Lowering(kernel, layouts).run(why);
}

bool generates_op(Op op, const std::vector<TensorType>& operands, const TensorType& result) {
  std::vector<DType> dtypes;
  for (const TensorType& t : operands) dtypes.push_back(t.dtype);
  if (!kSupportedOps.contains(op) || !supported_types(op, dtypes, result.dtype)) return false;
  return op != Op::matmul || (!is_matrix_vector_product(result, operands[0], operands[1]) && result.shape.back() <= kMaxMatmulColumns);
}

std::string print_loop_kernel(const LoopKernel& k) {
  std::string text = fmt::format("loop domain {} (inner dims {}), {} pass{}\n", shape_to_string(k.domain), k.inner_dims, k.passes,
                                 k.passes == 1 ? "" : "es");
  for (size_t i = 0; i < k.steps.size(); ++i) {
    const Step& s = k.steps[i];
    std::string what;
    if (s.kind == StepKind::load) {
      const IndexMap& m = k.loads[s.load];
      what = fmt::format("load arg{} +{} strides {}", m.buffer, m.offset, shape_to_string(m.strides));
    } else if (s.kind == StepKind::constant) {
      what = fmt::format("const {}", s.constant);
    } else {
      what = fmt::format("{} {}", op_name(s.op), fmt::join(s.args, " "));
      if (s.kind == StepKind::reduce) what += fmt::format(" (pass {})", s.pass);
    }
    text += fmt::format("  s{} = {} : {}{}\n", i, what, dtype_name(s.dtype), s.row_level ? " per row" : "");
  }
  for (const LoopKernel::Store& st : k.stores)
    text += fmt::format("  store s{} -> arg{} strides {}\n", st.step, st.map.buffer, shape_to_string(st.map.strides));
  return text;
}

}  // namespace tj
