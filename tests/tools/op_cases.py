"""The op cases of test_against_numpy.py (part 2 of its docstring): the Case
record, program text helpers, and the elementwise and cast cases."""

import math
from dataclasses import dataclass
from itertools import product
from typing import Callable, Optional

import numpy as np

from numpy_harness import (
    ALL_DTYPES, DTYPES, EXACT, EXACT_ANY_ZERO, F32_MAX, FLOATS, FLOAT_SPECIALS, NUMBERS, TRANSCENDENTAL,
    Tolerance, UNARY_SPECIALS, function_text, quiet, random_input, rng_for, shape_text, show, specials_of,
)


# ---- 2. every op ---------------------------------------------------------------


@dataclass
class Case:
    """One tiny program: `stmts` over parameters %x0, %x1, ... returning `expected` (one array per result)."""

    id: str
    op: str
    inputs: list
    stmts: list
    expected: list
    tol: Tolerance
    results: tuple = ("y",)
    torch_ref: Optional[Callable] = None  # (torch, [tensors]) -> tensor, where torch has this op's meaning
    xfail: Optional[str] = None

    @property
    def params(self) -> dict:
        return {f"x{i}": a for i, a in enumerate(self.inputs)}

    @property
    def program(self) -> str:
        return function_text(self.op, self.params, self.stmts, dict(zip(self.results, self.expected)))

    def context(self) -> str:
        inputs = "\n".join(f"%{n} = {show(a)}" for n, a in self.params.items())
        return (f"case {self.id}\nprogram (batched with the other {self.op} cases into one function, "
                f"see batch_results):\n{self.program}inputs:\n{inputs}")


def stmt(op: str, operands: list, attrs: Optional[dict] = None, result: str = "y") -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(str(int(e)) for e in v) + "]"
        return str(v)

    text = f"%{result} = {op} " + ", ".join("%" + o for o in operands)
    if attrs:
        text += " {" + ", ".join(f"{k}={value(v)}" for k, v in attrs.items()) + "}"
    return text


def view_stmts(src: str) -> tuple:
    """Statements making a non-contiguous view of 2-D %src (transposed, reversed, every other
    column), its value name, and the same view in NumPy."""
    stmts = [
        stmt("transpose", [src], {"perm": [1, 0]}, result=f"{src}t"),
        stmt("slice", [f"{src}t"], {"starts": [-1, -1], "ends": [-100, -100], "steps": [-1, -2]}, result=f"{src}v"),
    ]
    return stmts, f"{src}v", lambda x: x.T[::-1, ::-2]


def broadcast_view_stmts(src: str) -> tuple:
    """Like view_stmts, for %src of shape [3,1] broadcast (stride 0) to [2,3,4]."""
    stmts = [stmt("broadcast", [src], {"shape": [2, 3, 4]}, result=f"{src}b")]
    return stmts, f"{src}b", lambda x: np.broadcast_to(x, (2, 3, 4))


def viewed(view: Optional[Callable], name: str, x: np.ndarray) -> tuple:
    """(statements, value name, NumPy value) of operand %name, seen through `view` if one is given."""
    if view is None:
        return [], name, x
    stmts, value, numpy_view = view(name)
    return stmts, value, numpy_view(x)


def wide(fn: Callable) -> Callable:
    """A reference computed in float64 and rounded to the float operands' dtype."""

    def reference(*xs):
        out_dtype = xs[-1].dtype
        return np.asarray(fn(*(x.astype(np.float64) for x in xs))).astype(out_dtype)

    return reference


# -- elementwise ops: op -> (operand count, dtypes, NumPy reference, tolerance, torch function name)


def relu_ref(x):
    return np.where((x > 0) | (x != x), x, np.zeros_like(x))


def erf_ref(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x) if x.size else x


ELEMENTWISE = {
    "neg": (1, NUMBERS, np.negative, EXACT, "neg"),
    "abs": (1, NUMBERS, np.abs, EXACT, "abs"),
    "relu": (1, NUMBERS, relu_ref, EXACT_ANY_ZERO, "relu"),
    "exp": (1, FLOATS, wide(np.exp), TRANSCENDENTAL, "exp"),
    "log": (1, FLOATS, wide(np.log), TRANSCENDENTAL, "log"),
    "tanh": (1, FLOATS, wide(np.tanh), TRANSCENDENTAL, "tanh"),
    "sigmoid": (1, FLOATS, wide(lambda x: 1.0 / (1.0 + np.exp(-x))), TRANSCENDENTAL, "sigmoid"),
    "sqrt": (1, FLOATS, np.sqrt, EXACT, "sqrt"),
    "rsqrt": (1, FLOATS, wide(lambda x: 1.0 / np.sqrt(x)), TRANSCENDENTAL, "rsqrt"),
    "erf": (1, FLOATS, wide(erf_ref), TRANSCENDENTAL, "erf"),
    "reciprocal": (1, FLOATS, lambda x: np.asarray(1 / x, dtype=x.dtype), EXACT, "reciprocal"),
    "add": (2, NUMBERS, np.add, EXACT, "add"),
    "sub": (2, NUMBERS, np.subtract, EXACT, "sub"),
    "mul": (2, NUMBERS, np.multiply, EXACT, "mul"),
    "maximum": (2, NUMBERS, np.maximum, EXACT_ANY_ZERO, "maximum"),
    "minimum": (2, NUMBERS, np.minimum, EXACT_ANY_ZERO, "minimum"),
    "div": (2, FLOATS, np.divide, EXACT, "div"),
    "pow": (2, FLOATS, wide(np.power), TRANSCENDENTAL, "pow"),
    "eq": (2, ALL_DTYPES, np.equal, EXACT, "eq"),
    "ne": (2, ALL_DTYPES, np.not_equal, EXACT, "ne"),
    "lt": (2, ALL_DTYPES, np.less, EXACT, "lt"),
    "le": (2, ALL_DTYPES, np.less_equal, EXACT, "le"),
    "gt": (2, ALL_DTYPES, np.greater, EXACT, "gt"),
    "ge": (2, ALL_DTYPES, np.greater_equal, EXACT, "ge"),
    "select": (3, ALL_DTYPES, np.where, EXACT, "where"),
}

ELEMENTWISE_SHAPES = {
    1: [[[]], [[17]], [[33]], [[0, 3]], [[2, 3, 4]]],
    2: [
        [[17], [17]], [[33], [33]], [[3, 1], [1, 4]], [[5], [2, 5]], [[2, 5], [5]], [[], [4, 3]],
        [[], []], [[0, 3], [1, 3]], [[0, 3], []], [[2, 1, 4], [3, 1]],
    ],
    3: [
        [[17], [17], [17]], [[3, 1], [1, 4], [4]], [[4], [3, 1], []], [[], [2, 3], [3]],
        [[0, 3], [3], [1, 1]], [[2, 1, 4], [3, 1], [2, 3, 1]],
    ],
}


def tolerance_for(tol, dtype: str) -> Tolerance:
    return tol[dtype] if isinstance(tol, dict) else tol


def torch_dtype(torch, dtype: str):
    return getattr(torch, {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64", "bool": "bool"}[dtype])


def torch_function(name: str) -> Callable:
    return lambda torch, xs: getattr(torch, name)(*xs)


def elementwise_case(op: str, dtype: str, label: str, inputs: list, view: Optional[Callable] = None) -> Case:
    _, _, reference, tol, torch_name = ELEMENTWISE[op]
    operands = [viewed(view, f"x{i}", x) for i, x in enumerate(inputs)]
    expected = np.asarray(quiet(reference, *(x for _, _, x in operands)))
    return Case(
        id=f"{op}-{dtype}-{label}",
        op=op,
        inputs=inputs,
        stmts=[s for stmts, _, _ in operands for s in stmts] + [stmt(op, [name for _, name, _ in operands])],
        expected=[expected],
        tol=tolerance_for(tol, dtype),
        torch_ref=None if view else torch_function(torch_name),
    )


def relu_zero_sign_cases() -> list:
    """torch.relu returns x unless x < 0, so relu(-0.0) is -0.0 there."""
    x = np.array([-0.0, 0.0, -1.0, math.nan, 2.0], np.float32)
    return [Case(
        id="relu-f32-zero-sign",
        op="relu",
        inputs=[x],
        stmts=[stmt("relu", ["x0"])],
        expected=[np.array([-0.0, 0.0, 0.0, math.nan, 2.0], np.float32)],
        tol=EXACT,
        torch_ref=torch_function("relu"),
    )]


def operand_dtypes(op: str, dtype: str) -> list:
    arity = ELEMENTWISE[op][0]
    return ["bool", dtype, dtype] if op == "select" else [dtype] * arity


def special_inputs(op: str, dtype: str) -> list:
    """Every special value against every other: a column against a row."""
    arity = ELEMENTWISE[op][0]
    s = specials_of(dtype, UNARY_SPECIALS if arity == 1 else FLOAT_SPECIALS)
    if arity == 1:
        return [s]
    if arity == 2:
        return [s[:, None], s[None, :]]
    return [np.arange(len(s))[:, None] % 2 == 0, s[None, :], s[::-1][:, None]]


def elementwise_cases(op: str) -> list:
    arity, dtypes = ELEMENTWISE[op][:2]
    cases = []
    for dtype in dtypes:
        kinds = operand_dtypes(op, dtype)
        for shapes in ELEMENTWISE_SHAPES[arity]:
            label = "x".join(shape_text(s) for s in shapes)
            rng = rng_for(f"{op}-{dtype}-{label}")
            cases.append(elementwise_case(op, dtype, label, [random_input(s, k, rng) for s, k in zip(shapes, kinds)]))
        cases.append(elementwise_case(op, dtype, "specials", special_inputs(op, dtype)))
        rng = rng_for(f"{op}-{dtype}-view")
        view_inputs = [random_input([5, 4], k, rng) for k in kinds]
        cases.append(elementwise_case(op, dtype, "view", view_inputs, view=view_stmts))
    return cases


# -- cast


CAST_VALUES = {
    "f32": FLOAT_SPECIALS + [
        -0.5, 0.99999994, 1.5, -1.5, 2.7, -2.7, 255.9, 16777217.0, 2147483520.0, 2.0**31, -(2.0**31),
        -2147483904.0, 9.2233715e18, 2.0**63, -(2.0**63), -F32_MAX,
    ],
    "f64": FLOAT_SPECIALS + [
        -2.7, 2147483647.0, 2147483647.9, -2147483648.9, -2147483649.0, 2.0**31, 2.0**63,
        9223372036854774784.0, -(2.0**63), 1e300, -1e300, 1e-310, 0.1, 3.4028235677973366e38,
    ],
    "i32": [0, 1, -1, 7, 2**31 - 1, -(2**31), 16777217, -16777217, 2**24],
    "i64": [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1, 2**53 + 1, 2**60 + 2**36 + 1, 2**32 + 5],
    "bool": [False, True],
}


def cast_reference(x: np.ndarray, to: str) -> np.ndarray:
    """NumPy's astype, with float -> int spelled out as NumPy does it on x86 (cvtt*):
    truncation toward zero, and the type's minimum for NaN, Inf and out-of-range values."""
    if x.dtype.kind == "f" and to in ("i32", "i64"):
        info = np.iinfo(DTYPES[to])
        wide_x = x.astype(np.float64)
        in_range = (wide_x >= info.min) & (wide_x < -float(info.min))
        return np.where(in_range, np.trunc(np.where(in_range, wide_x, 0)), info.min).astype(DTYPES[to])
    if to == "bool":
        return x != 0
    return x.astype(DTYPES[to])


def cast_case(source: str, to: str, label: str, x: np.ndarray, view: Optional[Callable] = None) -> Case:
    stmts, name, numpy_x = viewed(view, "x0", x)
    return Case(
        id=f"cast-{source}-to-{to}-{label}",
        op="cast",
        inputs=[x],
        stmts=stmts + [stmt("cast", [name], {"to": to})],
        expected=[quiet(cast_reference, numpy_x, to)],
        tol=EXACT,
        torch_ref=None if view else lambda torch, xs: xs[0].to(torch_dtype(torch, to)),
    )


def cast_cases() -> list:
    cases = []
    for source, to in product(ALL_DTYPES, ALL_DTYPES):
        values = np.array(CAST_VALUES[source]).astype(DTYPES[source])
        cases.append(cast_case(source, to, "values", values))
        x = random_input([5, 4], source, rng_for(f"cast-{source}-{to}-view"))
        cases.append(cast_case(source, to, "view", x, view=view_stmts))
    return cases
