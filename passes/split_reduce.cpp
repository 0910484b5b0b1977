// Splitting full reductions.
// Needs: canonicalize (reductions keep their dims). Guarantees: a sum, mean,
// max or min over every element of a large value becomes a reduction of
// rows (parallel across threads, as row kernels are) followed by a small one:
// x[N] -> reshape [P, N/P] -> reduce axis 1 -> reduce axis 0 -> the
// original shape. The mean of equal-sized row means is the mean; sums are
// compensated in the kernels, so regrouping them does not change results
// beyond the last bit.
#include "ir/infer.h"
#include "passes/passes.h"
#include "passes/rewrite.h"

namespace tj {

namespace {

constexpr int64_t kSplitAbove = int64_t{1} << 18;  // smaller reductions are quick on one thread
constexpr int64_t kMaxParts = 256;
constexpr int64_t kMinPartLength = 4096;

Node* split_full_reduction(Rewriter& r, Node* n) {
  const Node* x = n->inputs[0];
  const int64_t count = numel(x->type.shape);
  if (x->type.rank() == 0 || count < kSplitAbove) return nullptr;
  if (static_cast<int>(reduction_axes(n->attrs, x->type.rank()).size()) != x->type.rank()) return nullptr;
  int64_t parts = kMaxParts;
  while (parts > 1 && (count % parts != 0 || count / parts < kMinPartLength)) parts /= 2;
  if (parts < 2) return nullptr;
  Node* rows = r.make(Op::reshape, {n->inputs[0]}, {{"shape", std::vector<int64_t>{parts, count / parts}}});
  Node* partial = r.make(n->op, {rows}, {{"axes", std::vector<int64_t>{1}}, {"keepdim", true}});
  Node* total = r.make(n->op, {partial}, {{"axes", std::vector<int64_t>{0}}, {"keepdim", true}});
  return r.make(Op::reshape, {total}, {{"shape", n->type.shape}});
}

const RewriteRule kRules[] = {
    {Op::sum, split_full_reduction, "sum(x[N]) -> sum(sum(reshape(x)[P, N/P], axis 1), axis 0)"},
    {Op::mean, split_full_reduction, "mean(x[N]) -> mean(mean(reshape(x)[P, N/P], axis 1), axis 0)"},
    {Op::max, split_full_reduction, "max(x[N]) -> max(max(reshape(x)[P, N/P], axis 1), axis 0)"},
    {Op::min, split_full_reduction, "min(x[N]) -> min(min(reshape(x)[P, N/P], axis 1), axis 0)"},
};

}  // namespace

bool split_reductions(Function& f) { return apply_rules(f, kRules); }

}  // namespace tj
