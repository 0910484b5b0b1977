// Every graph pass, one function each (one file each). A pass rewrites one
// function in place and returns whether it changed anything. The header
// comment of each pass's .cpp file says what it needs and what it
// guarantees; pipeline.h puts them in order.
#pragma once

#include "ir/graph.h"

namespace tj {

// dce.cpp: removes statements whose values no result depends on.
bool eliminate_dead_code(Function& f);

// cse.cpp: merges statements that compute the same op on the same operands
// with the same attributes (and constants with the same type and value).
bool eliminate_common_subexpressions(Function& f);

// simplify.cpp: constant folding and algebraic simplification, a rule table.
bool simplify(Function& f);

// canonicalize.cpp: broadcast and shape canonicalization, a rule table:
// reductions keep their dims, elementwise operands have the result's rank,
// chains of views collapse, identity views disappear.
bool canonicalize(Function& f);

// fold_transpose.cpp: a transpose of the last two dims feeding a matmul
// becomes the matmul's transpose_a/transpose_b flag.
bool fold_transpose(Function& f);

// split_reduce.cpp: a full reduction of a large value becomes a reduction of
// rows (parallel) and a small one.
bool split_reductions(Function& f);

// fuse.cpp: the three fusion passes, all driven by the legality rules of
// fusion_rules.h.
bool fuse_elementwise(Function& f);  // chains and DAGs of elementwise ops and views
bool fuse_reductions(Function& f);   // producers into reductions; row kernels
bool fuse_epilogues(Function& f);    // elementwise consumers of a matmul as its epilogue

// prepack.cpp: marks constant matmul operands for packing at compile time.
bool prepack_weights(Function& f);

// plan_memory.cpp: places every intermediate buffer in one arena so that
// buffers not alive at the same time share memory.
bool plan_memory(Function& f);

}  // namespace tj
