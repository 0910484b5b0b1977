"""The op cases of test_against_numpy.py that move or combine values: shape
ops, reductions, matmul, constants and parameters; and the registry of every
op's case builder (OP_CASE_BUILDERS, CASES)."""

import functools
import re
from typing import Callable, Optional

import numpy as np

from numpy_harness import (
    ACCUMULATED, ALL_DTYPES, DTYPES, EXACT, EXACT_ANY_ZERO, FLOATS, NUMBERS, REPO, quiet, random_input,
    rng_for, shape_text, type_text,
)
from op_cases import (
    Case, ELEMENTWISE, broadcast_view_stmts, cast_cases, elementwise_cases, relu_zero_sign_cases, stmt,
    torch_function, view_stmts, viewed,
)


# -- shape ops: exact copies of values, for every dtype

RESHAPES = [([2, 3, 4], [4, -1]), ([2, 3, 4], [-1]), ([17], [17, 1]), ([], [1, 1]), ([1, 1], []),
            ([0, 3], [3, 0]), ([0, 3], [-1, 3])]
TRANSPOSES = [([2, 3, 4], [2, 0, 1]), ([2, 3, 4], [-1, 0, 1]), ([33], [0]), ([], []), ([0, 3], [1, 0])]
BROADCASTS = [([3, 1], [2, 3, 4]), ([], [2, 3]), ([4], [3, 4]), ([1], [0]), ([0, 3], [2, 0, 3]), ([17], [17])]
# (shape, starts, ends, steps or None): Python slicing, including out-of-range and negative bounds.
SLICES = [
    ([10], [-1], [-11], [-1]), ([10], [-1], [-100], [-1]), ([10], [2], [100], [3]), ([10], [8], [2], [-2]),
    ([10], [-100], [100], None), ([10], [5], [2], [1]), ([10], [100], [-100], [-3]), ([17], [1], [16], [4]),
    ([10], [2**63 - 1], [-(2**63)], [-1]), ([10], [-(2**63)], [2**63 - 1], [4]), ([4, 5], [3, -1], [-5, 0], [-1, -2]),
    ([6, 10], [-1, 0], [-7, 1], [-1, 1]), ([0, 3], [0, 1], [0, 3], [1, 1]),
]
CONCATS = [([[2, 3], [4, 3], [1, 3]], 0), ([[2, 3], [2, 0], [2, 5]], 1), ([[17], [33], [0]], 0),
           ([[2, 3, 4], [2, 1, 4], [2, 2, 4]], -2), ([[3, 4]], 1), ([[0, 3], [0, 3], [0, 3]], 0)]


def shape_case(op: str, dtype: str, label: str, shapes: list, attrs: dict, reference: Callable,
               torch_ref: Optional[Callable], view: Optional[Callable] = None) -> Case:
    """`view`, if given, applies to the first operand."""
    rng = rng_for(f"{op}-{dtype}-{label}")
    inputs = [random_input(s, dtype, rng) for s in shapes]
    stmts, first, numpy_first = viewed(view, "x0", inputs[0])
    return Case(
        id=f"{op}-{dtype}-{label}",
        op=op,
        inputs=inputs,
        stmts=stmts + [stmt(op, [first] + [f"x{i}" for i in range(1, len(inputs))], attrs)],
        expected=[np.array(reference(numpy_first, *inputs[1:]))],
        tol=EXACT,
        torch_ref=torch_ref,
    )


def reshape_cases() -> list:
    cases = []
    for dtype in ALL_DTYPES:
        for shape, target in RESHAPES:
            cases.append(shape_case("reshape", dtype, f"{shape_text(shape)}to{shape_text(target)}", [shape],
                                    {"shape": target}, lambda x, t=target: x.reshape(t),
                                    lambda torch, xs, t=target: xs[0].reshape(t)))
        cases.append(shape_case("reshape", dtype, "view", [[5, 4]], {"shape": [-1]}, lambda x: x.reshape(-1), None,
                                view=view_stmts))
        cases.append(shape_case("reshape", dtype, "broadcast-view", [[3, 1]], {"shape": [4, -1]},
                                lambda x: x.reshape(4, -1), None, view=broadcast_view_stmts))
    return cases


def transpose_cases() -> list:
    cases = []
    for dtype in ALL_DTYPES:
        for shape, perm in TRANSPOSES:
            cases.append(shape_case("transpose", dtype, f"{shape_text(shape)}perm{shape_text(perm)}", [shape],
                                    {"perm": perm}, lambda x, p=perm: np.transpose(x, p),
                                    lambda torch, xs, p=perm: xs[0].permute(tuple(p))))
        cases.append(shape_case("transpose", dtype, "view", [[5, 4]], {"perm": [1, 0]}, lambda x: x.T, None,
                                view=view_stmts))
    return cases


def broadcast_cases() -> list:
    cases = []
    for dtype in ALL_DTYPES:
        for shape, target in BROADCASTS:
            cases.append(shape_case("broadcast", dtype, f"{shape_text(shape)}to{shape_text(target)}", [shape],
                                    {"shape": target}, lambda x, t=target: np.broadcast_to(x, t),
                                    lambda torch, xs, t=target: xs[0].expand(*t)))
    return cases


def slice_cases() -> list:
    """No torch reference: torch has no negative slice steps."""
    cases = []
    for dtype in ALL_DTYPES:
        for shape, starts, ends, steps in SLICES:
            attrs = {"starts": starts, "ends": ends}
            if steps is not None:
                attrs["steps"] = steps
            index = tuple(slice(s, e, st) for s, e, st in zip(starts, ends, steps or [1] * len(shape)))
            label = f"{shape_text(shape)}{shape_text(starts)}:{shape_text(ends)}:{shape_text(steps or [])}"
            cases.append(shape_case("slice", dtype, label, [shape], attrs, lambda x, i=index: x[i], None))
    return cases


def concat_cases() -> list:
    cases = []
    for dtype in ALL_DTYPES:
        for shapes, axis in CONCATS:
            cases.append(shape_case("concat", dtype, "+".join(shape_text(s) for s in shapes) + f"axis{axis}", shapes,
                                    {"axis": axis}, lambda *xs, a=axis: np.concatenate(xs, axis=a),
                                    lambda torch, xs, a=axis: torch.cat(xs, dim=a)))
        cases.append(shape_case("concat", dtype, "view+[4,2]", [[5, 4], [4, 2]], {"axis": 1},
                                lambda *xs: np.concatenate(xs, axis=1), None, view=view_stmts))
    return cases


# -- reductions

# (shape, axes or None for all, keepdim). Reducing an empty axis has no identity
# for max/min (NumPy raises too); those are marked True in the last column.
REDUCTIONS = [
    ([2, 3, 4], None, False, False), ([2, 3, 4], None, True, False), ([2, 3, 4], [1], False, False),
    ([2, 3, 4], [-1], True, False), ([2, 3, 4], [0, 2], False, False), ([2, 3, 4], [], False, False),
    ([17], [0], False, False), ([33, 5], [0], True, False), ([], None, False, False), ([0, 3], [1], False, False),
    ([0, 3], [0], False, True), ([0, 3], None, True, True),
]
REDUCE_DTYPES = {"sum": ALL_DTYPES, "mean": FLOATS, "max": ALL_DTYPES, "min": ALL_DTYPES}
NUMPY_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
TORCH_REDUCE = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}


def reduce_reference(op: str, x: np.ndarray, axes, keepdim: bool) -> np.ndarray:
    """NumPy's reduction; sum and mean of floats in float64, of ints and bools in int64 (as torch.sum)."""
    axis = None if axes is None else tuple(axes)
    if op in ("max", "min"):
        return np.asarray(NUMPY_REDUCE[op](x, axis=axis, keepdims=keepdim))
    out_dtype = x.dtype if x.dtype.kind == "f" else np.int64
    acc = np.float64 if x.dtype.kind == "f" else np.int64
    reduced = quiet(lambda: NUMPY_REDUCE[op](x.astype(acc), axis=axis, keepdims=keepdim))
    return np.asarray(reduced).astype(out_dtype)


def torch_reduce(op: str, axes, keepdim: bool) -> Optional[Callable]:
    """torch.sum(x, dim=[]) reduces every dim, NumPy's axis=() none: no torch reference there."""
    if axes == []:
        return None

    def reference(torch, xs):
        dims = tuple(range(xs[0].dim())) if axes is None else tuple(axes)
        return getattr(torch, TORCH_REDUCE[op])(xs[0], dim=dims, keepdim=keepdim)

    return reference


def reduce_case(op: str, dtype: str, label: str, x: np.ndarray, axes, keepdim: bool, view: Optional[Callable] = None,
                xfail: Optional[str] = None) -> Case:
    attrs = {"keepdim": keepdim} if axes is None else {"axes": axes, "keepdim": keepdim}
    stmts, name, numpy_x = viewed(view, "x0", x)
    exact = op in ("max", "min") or dtype not in FLOATS
    return Case(
        id=f"{op}-{dtype}-{label}",
        op=op,
        inputs=[x],
        stmts=stmts + [stmt(op, [name], attrs)],
        expected=[reduce_reference(op, numpy_x, axes, keepdim)],
        tol=EXACT_ANY_ZERO if exact else ACCUMULATED[dtype],
        torch_ref=None if view else torch_reduce(op, axes, keepdim),
        xfail=xfail,
    )


def reduce_cases(op: str) -> list:
    cases = []
    for dtype in REDUCE_DTYPES[op]:
        for shape, axes, keepdim, empty_axis in REDUCTIONS:
            if empty_axis and op in ("max", "min"):
                continue
            label = f"{shape_text(shape)}axes{'all' if axes is None else shape_text(axes)}{'keep' if keepdim else ''}"
            x = random_input(shape, dtype, rng_for(f"{op}-{dtype}-{label}"))
            cases.append(reduce_case(op, dtype, label, x, axes, keepdim))
        rng = rng_for(f"{op}-{dtype}-view")
        cases.append(reduce_case(op, dtype, "view", random_input([5, 4], dtype, rng), [1], False, view=view_stmts))
        cases.append(reduce_case(op, dtype, "broadcast-view", random_input([3, 1], dtype, rng), [0, 2], False,
                                 view=broadcast_view_stmts))
    if op in ("sum", "mean"):
        # Accumulation is wider than the dtype: f32 in double (as the design says).
        cases.append(reduce_case(op, "f32", "wide-accumulator", np.array([3e38, 3e38, -3e38], np.float32), None, False))
        cases.append(reduce_case(op, "f64", "wide-accumulator", np.array([1e308, 1e308, -1e308]), None, False))
    return cases


# -- matmul: torch.matmul semantics (vectors, batch broadcasting), exact for ints (wrapping)

MATMULS = [
    ([3, 4], [4, 5]), ([17, 33], [33, 5]), ([4], [4, 5]), ([3, 4], [4]), ([4], [4]), ([2, 1, 3, 4], [5, 4, 2]),
    ([4], [2, 4, 3]), ([2, 3, 4], [4]), ([3, 0], [0, 4]), ([0, 4], [4, 5]),
]


def matmul_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul spelled out as a broadcast product summed in order (float64 or wrapping int64),
    so that NaN and Inf follow IEEE rules rather than a BLAS library's shortcuts."""
    acc = np.float64 if a.dtype.kind == "f" else np.int64
    a2 = a.astype(acc)[None, :] if a.ndim == 1 else a.astype(acc)
    b2 = b.astype(acc)[:, None] if b.ndim == 1 else b.astype(acc)
    out = quiet(lambda: (a2[..., :, :, None] * b2[..., None, :, :]).sum(axis=-2))  # [..., m, k, n] -> [..., m, n]
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return quiet(np.asarray(out).astype, a.dtype)


def matmul_case(dtype: str, label: str, a: np.ndarray, b: np.ndarray, view: Optional[Callable] = None,
                xfail: Optional[str] = None) -> Case:
    stmts, first, numpy_a = viewed(view, "x0", a)
    return Case(
        id=f"matmul-{dtype}-{label}",
        op="matmul",
        inputs=[a, b],
        stmts=stmts + [stmt("matmul", [first, "x1"])],
        expected=[matmul_reference(numpy_a, b)],
        tol=ACCUMULATED[dtype] if dtype in FLOATS else EXACT,
        torch_ref=None if view else torch_function("matmul"),
        xfail=xfail,
    )


def matmul_cases() -> list:
    cases = []
    for dtype in NUMBERS:
        for shape_a, shape_b in MATMULS:
            label = f"{shape_text(shape_a)}@{shape_text(shape_b)}"
            rng = rng_for(f"matmul-{dtype}-{label}")
            a, b = random_input(shape_a, dtype, rng), random_input(shape_b, dtype, rng)
            cases.append(matmul_case(dtype, label, a, b))
        rng = rng_for(f"matmul-{dtype}-view")
        cases.append(matmul_case(dtype, "view@[3,2]", random_input([5, 4], dtype, rng),
                                 random_input([3, 2], dtype, rng), view=view_stmts))
    cases.append(matmul_case("f32", "wide-accumulator", np.array([3e38, 3e38, -3e38], np.float32),
                             np.ones(3, np.float32)))
    cases.append(matmul_case("f64", "wide-accumulator", np.array([1e308, 1e308, -1e308]), np.ones(3)))
    return cases


# -- leaves: constants (splats) and parameters

# (literal, dtype, shape): rounding of decimal literals, denormals, infinities, integer extremes.
CONSTANTS = [
    ("2.5", "f32", [2, 3]), ("-0.0", "f32", []), ("1e-40", "f32", [3]), ("inf", "f32", [2]), ("-inf", "f64", [2]),
    ("nan", "f32", []), ("0.1", "f32", []), ("0.1", "f64", []), ("16777217", "f32", []), ("1e-310", "f64", [1]),
    ("7", "f64", [0, 3]), ("-2147483648", "i32", [2, 2]), ("9223372036854775807", "i64", []),
    ("-9223372036854775808", "i64", [3]), ("true", "bool", [2]), ("false", "bool", []),
]


def constant_cases() -> list:
    cases = []
    for literal, dtype, shape in CONSTANTS:
        value = literal == "true" if dtype == "bool" else (float(literal) if dtype in FLOATS else int(literal))
        expected = np.full(shape, value, DTYPES[dtype])
        cases.append(Case(
            id=f"const-{dtype}{shape_text(shape)}-{literal}",
            op="const",
            inputs=[],
            stmts=[f"%y = const {literal} : {type_text(expected)}"],
            expected=[expected],
            tol=EXACT,
        ))
    return cases


def param_cases() -> list:
    """Parameters returned as they are, two of them in swapped order."""
    cases = []
    for dtype in ALL_DTYPES:
        rng = rng_for(f"param-{dtype}")
        a, b = random_input([2, 3], dtype, rng), random_input([], dtype, rng)
        cases.append(Case(id=f"param-{dtype}-swapped", op="param", inputs=[a, b], stmts=[],
                          expected=[b, a], tol=EXACT, results=("x1", "x0")))
        empty = random_input([0, 3], dtype, rng)
        cases.append(Case(id=f"param-{dtype}-[0,3]", op="param", inputs=[empty], stmts=[],
                          expected=[empty], tol=EXACT, results=("x0",)))
    return cases


# ---- the op table: ir/ops.def must be covered ------------------------------------

OP_CASE_BUILDERS = {
    **{op: functools.partial(elementwise_cases, op) for op in ELEMENTWISE if op != "relu"},
    "relu": lambda: elementwise_cases("relu") + relu_zero_sign_cases(),
    "cast": cast_cases,
    "const": constant_cases,
    "param": param_cases,
    "reshape": reshape_cases,
    "transpose": transpose_cases,
    "broadcast": broadcast_cases,
    "slice": slice_cases,
    "concat": concat_cases,
    **{op: functools.partial(reduce_cases, op) for op in REDUCE_DTYPES},
    "matmul": matmul_cases,
}


def ops_from_def() -> list:
    """The text names of the ops in ir/ops.def, from its `OP(id, "name", ...)` lines."""
    text = (REPO / "ir" / "ops.def").read_text()
    return re.findall(r'^OP\(\s*\w+\s*,\s*"([^"]+)"', text, re.MULTILINE)


OPS = ops_from_def()
CASES = [case for op in OPS if op in OP_CASE_BUILDERS for case in OP_CASE_BUILDERS[op]()]
CASES_BY_ID = {case.id: case for case in CASES}
