// The interpreter's elementwise ops; see interpret_elementwise.h. This file
// is built with -O3 and no FP contraction (CMakeLists.txt), so that the f32
// row loops vectorize with the same IEEE operations as the scalar code.
#include "ir/interpret_elementwise.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "ir/error.h"
#include "ir/interpreter_common.h"
#include "ir/op.h"

namespace tj::interp {

namespace {

using FloatFn = double (*)(double, double, double);
using IntFn = int64_t (*)(int64_t, int64_t, int64_t);

double nan_max(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b); }
double nan_min(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b); }

struct ScalarKernel {
  Op op;
  FloatFn on_float;  // operands and result as double
  IntFn on_int;      // operands and result as int64 (nullptr: float-only op)
};

// One entry per elementwise op, select and cast included (cast's function is
// the identity: the conversion happens in the store).
constexpr ScalarKernel kScalarKernels[] = {
    {Op::neg, [](double a, double, double) { return -a; }, [](int64_t a, int64_t, int64_t) { return wrap_neg(a); }},
    {Op::abs, [](double a, double, double) { return std::fabs(a); },
     [](int64_t a, int64_t, int64_t) { return a < 0 ? wrap_neg(a) : a; }},
    // relu as torch.relu: x unless x < 0, so NaN stays NaN and -0 stays -0
    {Op::relu, [](double a, double, double) { return a < 0 ? 0.0 : a; },
     [](int64_t a, int64_t, int64_t) { return a > 0 ? a : int64_t{0}; }},
    {Op::exp, [](double a, double, double) { return std::exp(a); }, nullptr},
    {Op::log, [](double a, double, double) { return std::log(a); }, nullptr},
    {Op::tanh, [](double a, double, double) { return std::tanh(a); }, nullptr},
    {Op::sigmoid, [](double a, double, double) { return 1.0 / (1.0 + std::exp(-a)); }, nullptr},
    {Op::sqrt, [](double a, double, double) { return std::sqrt(a); }, nullptr},
    {Op::rsqrt, [](double a, double, double) { return 1.0 / std::sqrt(a); }, nullptr},
    {Op::erf, [](double a, double, double) { return std::erf(a); }, nullptr},
    {Op::reciprocal, [](double a, double, double) { return 1.0 / a; }, nullptr},
    {Op::add, [](double a, double b, double) { return a + b; }, [](int64_t a, int64_t b, int64_t) { return wrap_add(a, b); }},
    {Op::sub, [](double a, double b, double) { return a - b; },
     [](int64_t a, int64_t b, int64_t) { return wrap_add(a, wrap_neg(b)); }},
    {Op::mul, [](double a, double b, double) { return a * b; }, [](int64_t a, int64_t b, int64_t) { return wrap_mul(a, b); }},
    {Op::maximum, [](double a, double b, double) { return nan_max(a, b); },
     [](int64_t a, int64_t b, int64_t) { return a > b ? a : b; }},
    {Op::minimum, [](double a, double b, double) { return nan_min(a, b); },
     [](int64_t a, int64_t b, int64_t) { return a < b ? a : b; }},
    {Op::div, [](double a, double b, double) { return a / b; }, nullptr},
    {Op::pow, [](double a, double b, double) { return std::pow(a, b); }, nullptr},
    {Op::eq, [](double a, double b, double) { return double(a == b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a == b); }},
    {Op::ne, [](double a, double b, double) { return double(a != b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a != b); }},
    {Op::lt, [](double a, double b, double) { return double(a < b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a < b); }},
    {Op::le, [](double a, double b, double) { return double(a <= b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a <= b); }},
    {Op::gt, [](double a, double b, double) { return double(a > b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a > b); }},
    {Op::ge, [](double a, double b, double) { return double(a >= b); }, [](int64_t a, int64_t b, int64_t) { return int64_t(a >= b); }},
    // select's condition arrives as a number: 0 or 1
    {Op::select, [](double c, double a, double b) { return c != 0 ? a : b; },
     [](int64_t c, int64_t a, int64_t b) { return c != 0 ? a : b; }},
    // cast: the conversion happens in read/write (see array.h)
    {Op::cast, [](double a, double, double) { return a; }, [](int64_t a, int64_t, int64_t) { return a; }},
};

const ScalarKernel& scalar_kernel(Op op) {
  for (const ScalarKernel& k : kScalarKernels)
    if (k.op == op) return k;
  fail("interpreter: no scalar kernel for {}", op_name(op));
}

// ---- runs of f32 operands: the common case, with the kernel inlined -------

// One run of an elementwise op whose operands are all f32: their first
// elements and strides along the run (an absent operand is nullptr and
// reads zeros), and the dense output.
struct F32Run {
  const float* in[3];
  int64_t stride[3];
  std::byte* out;
  int64_t length;
};
using F32RunFn = void (*)(const F32Run&);

// The per-element path's arithmetic exactly (the kernel in double, rounded
// once as write_double rounds: to f32, or to a bool where nonzero and NaN
// are true), without a dtype switch and a call per element. The loop reads
// every operand at unit stride, so that it vectorizes (each lane does the
// same IEEE operations as the scalar code): strided operands are gathered
// into a block first, and a broadcast one is filled into its block once.
constexpr int64_t kF32Block = 256;
constexpr float kZeroBlock[kF32Block] = {};

template <size_t kKernel, typename Out>
void f32_run(const F32Run& r) {
  constexpr FloatFn fn = kScalarKernels[kKernel].on_float;
  float gathered[3][kF32Block];
  for (int k = 0; k < 3; ++k)
    if (r.in[k] && r.stride[k] == 0) std::fill_n(gathered[k], std::min(kF32Block, r.length), r.in[k][0]);
  for (int64_t start = 0; start < r.length; start += kF32Block) {
    const int64_t count = std::min(kF32Block, r.length - start);
    const float* in[3];
    for (int k = 0; k < 3; ++k) {
      in[k] = !r.in[k] ? kZeroBlock : r.stride[k] == 1 ? r.in[k] + start : gathered[k];
      if (r.in[k] && r.stride[k] != 0 && r.stride[k] != 1)
        for (int64_t i = 0; i < count; ++i) gathered[k][i] = r.in[k][(start + i) * r.stride[k]];
    }
    std::byte* out = r.out + start * sizeof(Out);
    for (int64_t i = 0; i < count; ++i) {
      const double v = fn(in[0][i], in[1][i], in[2][i]);
      Out result;
      if constexpr (std::is_same_v<Out, uint8_t>) result = v != 0;
      else result = static_cast<Out>(v);
      std::memcpy(out + i * sizeof(Out), &result, sizeof(Out));
    }
  }
}

// The run function of kernel kKernel with results of type Out, or nullptr
// where the op never has them (f32 compares and non-bool casts fall to the
// per-element path; select's condition is never f32): only these are compiled.
// An op's type rule at compile time, from ops.def (op_info's table is not constexpr).
constexpr TypeRule type_rule(Op op) {
  switch (op) {
#define OP(id, name, arity, op_class, rule, ...) \
  case Op::id:                                    \
    return TypeRule::rule;
#include "ir/ops.def"
#undef OP
  }
  return TypeRule::unary_numeric;
}

template <size_t kKernel, typename Out>
constexpr F32RunFn f32_run_if_used() {
  constexpr TypeRule rule = type_rule(kScalarKernels[kKernel].op);
  constexpr bool used = std::is_same_v<Out, uint8_t> ? rule == TypeRule::compare || rule == TypeRule::cast
                                                     : rule != TypeRule::compare && rule != TypeRule::select;
  if constexpr (used) return &f32_run<kKernel, Out>;
  else return nullptr;
}

template <typename Out, size_t... kKernel>
constexpr std::array<F32RunFn, sizeof...(kKernel)> f32_runs(std::index_sequence<kKernel...>) {
  return {f32_run_if_used<kKernel, Out>()...};
}
constexpr auto kF32Runs = f32_runs<float>(std::make_index_sequence<std::size(kScalarKernels)>());
constexpr auto kF32ToBoolRuns = f32_runs<uint8_t>(std::make_index_sequence<std::size(kScalarKernels)>());

// The run function for `kernel` on these operands, or nullptr (another dtype: per element).
F32RunFn f32_run_for(const ScalarKernel& kernel, std::span<const Array> in, DType out) {
  const bool all_f32 = std::all_of(in.begin(), in.end(), [](const Array& a) { return a.dtype() == DType::f32; });
  if (!all_f32) return nullptr;
  const size_t index = static_cast<size_t>(&kernel - kScalarKernels);
  if (out == DType::f32) return kF32Runs[index];
  if (out == DType::boolean) return kF32ToBoolRuns[index];
  return nullptr;
}

}  // namespace

Array eval_elementwise(const Node& node, std::span<const Array> in, const ParallelFor& parallel) {
  const ScalarKernel& kernel = scalar_kernel(node.op);
  Array out = Array::zeros(node.type.dtype, node.type.shape);
  // The dtype the op computes in: the value operands' dtype (select's
  // condition is operand 0 and always read as a number).
  const DType compute = in[node.op == Op::select ? 1 : 0].dtype();
  const bool as_float = is_float(compute) && kernel.on_float;
  std::vector<Strides> strides;
  std::vector<int64_t> offsets;
  strides.reserve(in.size());
  offsets.reserve(in.size());
  for (const Array& a : in) {
    strides.push_back(broadcast_strides(a, node.type.shape));
    offsets.push_back(a.offset());
  }
  const DType out_dtype = node.type.dtype;
  const int64_t out_size = dtype_size(out_dtype);
  std::byte* dst = out.mutable_at(0);
  auto element = [&](int64_t n, const std::vector<int64_t>& off) {
    if (as_float) {
      double v[3] = {0, 0, 0};
      for (size_t k = 0; k < in.size(); ++k) v[k] = read_double(in[k].at(off[k]), in[k].dtype());
      write_double(dst + n * out_size, out_dtype, kernel.on_float(v[0], v[1], v[2]));
    } else {
      int64_t v[3] = {0, 0, 0};
      for (size_t k = 0; k < in.size(); ++k) v[k] = read_int(in[k].at(off[k]), in[k].dtype());
      write_int(dst + n * out_size, out_dtype, kernel.on_int(v[0], v[1], v[2]));
    }
  };
  const F32RunFn f32_run_fn = f32_run_for(kernel, in, out_dtype);
  auto call_f32_run = [&](int64_t n, const std::vector<int64_t>& off, int64_t length) {
    F32Run run{{nullptr, nullptr, nullptr}, {0, 0, 0}, dst + n * out_size, length};
    for (size_t k = 0; k < in.size(); ++k) {
      run.in[k] = reinterpret_cast<const float*>(in[k].at(off[k]));
      run.stride[k] = strides[k].empty() ? 0 : strides[k].back();
    }
    f32_run_fn(run);
  };
  parallel(out.numel(), kGrain, [&](int64_t begin, int64_t end) {
    if (f32_run_fn) for_each_run(node.type.shape, strides, offsets, call_f32_run, begin, end);
    else for_each_element(node.type.shape, strides, offsets, element, begin, end);
  });
  return out;
}

}  // namespace tj::interp
