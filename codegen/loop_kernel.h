// The loop-level kernel description that the code generators consume
// (design §5). A kernel iterates a domain (a shape). Its last `inner_dims`
// dims are the inner loop (reduced dims in a row kernel, the last dim of an
// elementwise kernel); the others are rows, split across threads. Values are
// steps in SSA order, each computed once per row (row level) or once per
// element (element level). Buffers are read and written through index maps:
// an element offset plus one stride per domain dim, 0 where a value is
// broadcast. Reductions are steps that fold an element-level value over the
// inner loop into a row-level value; a row kernel makes one pass over a row
// per level of dependent reductions (softmax: max, then sum, then outputs).
// A matmul kernel iterates the matmul's output: rows are its batch and row
// dims, the inner loop its columns, and its epilogue is elementwise steps.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/op.h"
#include "ir/schedule.h"
#include "ir/shape.h"

namespace tj {

struct IndexMap {
  int buffer;       // index into the kernel's argument array
  DType dtype;
  int64_t offset;   // elements from the argument's pointer (the executor passes a view's first element)
  Strides strides;  // per domain dim, in elements
  int64_t k_stride = 0;  // matmul operands: the stride along the contracted dim
};

// A matmul step is the dot product, at each output element, of a row of A
// and a column of B (two loads with a k_stride) over k_extent elements.
enum class StepKind { load, constant, compute, reduce, matmul };

struct Step {
  explicit Step(StepKind k) : kind(k) {}
  StepKind kind;
  Op op = Op::constant;        // compute/reduce: the op
  std::vector<int> args;       // compute/reduce: earlier steps
  int load = -1;               // load: index into LoopKernel::loads
  double constant = 0;         // constant: the value
  DType dtype = DType::f32;    // the step's value type
  bool row_level = false;      // computed once per row
  int pass = 0;                // reduce: which pass over the row computes it (0-based)
  int64_t k_extent = 0;        // matmul: the length of the contracted dim (args: the two loads)
  Attrs attrs;                 // compute: e.g. cast's `to`
};

struct LoopKernel {
  Shape domain;
  int inner_dims = 1;
  std::vector<IndexMap> loads;
  std::vector<Step> steps;
  struct Store {
    int step;
    IndexMap map;
  };
  std::vector<Store> stores;
  int passes = 1;              // passes over each row (reductions' passes + the final one)
  int row_block = 1;           // rows computed together: a matmul whose B is the same for every
                               // row shares each load of B across them; [begin, end) counts blocks
  int packed_b_step = -1;      // a matmul whose B the runtime packs into panels of `panel` columns:
  int panel = 0;               // panel p holds B[k][p*panel .. p*panel+panel) for every k, zero-padded,
                               // passed as the argument after the outputs
  int arguments = 0;           // buffers: the kernel's inputs, then its outputs

  int64_t rows() const;        // product of the row dims
  int64_t inner() const;       // product of the inner dims (1 after merging, if contiguous)
};

// The layout of a materialized buffer the kernel reads: element strides, and
// an offset from the argument's pointer (0 from the executor, which passes
// each view's first element, so that slices at every offset share a kernel).
struct BufferLayout {
  Strides strides;
  int64_t offset = 0;
  bool operator==(const BufferLayout&) const = default;
};

// Builds the loop description of an elementwise or reduce kernel whose
// inputs (kernel.inputs, in order) have `layouts`; nullopt with a reason in
// `why` when the kernel is outside what codegen supports yet.
std::optional<LoopKernel> lower_kernel(const Kernel& kernel, const std::vector<BufferLayout>& layouts, std::string* why);

// Whether codegen makes code for `op` on operands and a result of these
// types at all (lower_kernel may still decline a kernel for its layouts).
bool generates_op(Op op, const std::vector<TensorType>& operands, const TensorType& result);

std::string print_loop_kernel(const LoopKernel& kernel);

}  // namespace tj
