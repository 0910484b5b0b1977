"""Differential tests of `tensorjit run` (the reference interpreter) against NumPy and PyTorch.

What this file checks, each through the command-line tool (path in $TJ_CLI) with
inputs written as .npy files by NumPy and results read back from --out. The
reference interpreter (`--backend interp`) is checked everywhere; the default
backend (`auto`: the optimized, fused program run kernel by kernel) on the
example programs and on functions with several copied-out results:

1. Every program of examples/ir/*.tj (softmax of design §3 included) on random
   normal inputs, and on the same inputs scaled by 100 (exp overflows there
   without the max subtraction), against a per-example NumPy float64 reference.
   A new example fails until it has an entry in EXAMPLE_REFERENCES.
2. Every op listed in ir/ops.def, on tiny generated programs: broadcasting,
   0-size dims, scalars, tails of 17 and 33 elements, non-contiguous views,
   NaN, +-Inf, -0.0 and float32 denormals mixed into random values, every
   dtype the op allows, cast between all dtype pairs, integer wrap-around,
   reductions, slicing, concat, reshape, matmul in all its torch.matmul
   forms. A new op fails until it has cases in OP_CASE_BUILDERS. Where
   PyTorch is importable, the same cases are also checked against torch.
3. The .npy round trip for all five dtypes, 0-d and 0-size arrays, and
   Fortran-order input files.

Known disagreements are marked xfail(strict=True) with the reason, so a fix
shows up as an unexpected pass.
"""

import functools
import math
import os
import re
import subprocess
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("TJ_CLI") or str(REPO / "build" / "bin" / "tensorjit")

DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}
FLOATS = ("f32", "f64")
NUMBERS = ("f32", "f64", "i32", "i64")
ALL_DTYPES = tuple(DTYPES)


# ---- running the tool ------------------------------------------------------


def dtype_name(dtype) -> str:
    return next(name for name, t in DTYPES.items() if np.dtype(t) == np.dtype(dtype))


def shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def type_text(array: np.ndarray) -> str:
    return dtype_name(array.dtype) + shape_text(array.shape)


def function_text(name: str, params: dict, stmts: list, results: dict) -> str:
    """A `func` in the IR text form; params and results map value names to arrays (for their types)."""
    signature = ", ".join(f"%{n}: {type_text(a)}" for n, a in params.items())
    result_types = [type_text(a) for a in results.values()]
    returns = result_types[0] if len(result_types) == 1 else "(" + ", ".join(result_types) + ")"
    body = "".join(f"  {s}\n" for s in stmts)
    values = ", ".join("%" + n for n in results)
    return f"func @{name}({signature}) -> {returns} {{\n{body}  return {values}\n}}\n"


def run_tool(program: Path, func: str, inputs: dict, workdir: Path, backend: str = "interp") -> list:
    """Runs `tensorjit run PROGRAM --func FUNC --backend BACKEND` with each input bound from a .npy
    file; returns the results."""
    if not Path(CLI).is_file():
        pytest.fail(f"tensorjit binary not found at {CLI}; set TJ_CLI to the built tools/tensorjit")
    out_dir = workdir / "out"
    command = [CLI, "run", str(program), "--func", func, "--backend", backend, "--out", str(out_dir)]
    for name, array in inputs.items():
        path = workdir / f"input_{name}.npy"
        np.save(path, array)
        command += ["--input", f"{name}={path}"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(
            f"tensorjit failed (exit {proc.returncode}): {' '.join(command)}\n"
            f"program:\n{program.read_text()}\nstderr:\n{proc.stderr}"
        )
    files = sorted(out_dir.glob("out*.npy"), key=lambda p: int(p.stem[3:]))
    return [np.load(p) for p in files]


# ---- comparing results -----------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """A float result matches when |got - want| <= atol + rtol * |want|; NaN matches NaN,
    infinities must be equal, and with signed_zeros the sign of a zero must match too.
    Integer and bool results always match exactly."""

    name: str
    rtol: float = 0.0
    atol: float = 0.0
    signed_zeros: bool = True


# + - * / sqrt reciprocal, compares, select, cast and shape ops are exact: the
# interpreter computes f32 in double and rounds once, and double has more than
# 2*24+2 bits, so the double rounding is innocuous and the result is the
# correctly rounded float32 one, i.e. NumPy's.
EXACT = Tolerance("exact")
# maximum/minimum/relu and max/min reductions pick one of two equal zeros; which
# one is not specified (NumPy and torch differ), so only the zero sign is free.
EXACT_ANY_ZERO = Tolerance("exact up to the sign of zero", signed_zeros=False)
# exp log tanh sigmoid rsqrt erf pow: the interpreter is within an ulp or two of
# the float64 reference rounded to float32 (1 ulp = 1.2e-7 relative), so 1e-6
# leaves ~8 ulp; below the normal range float32 spacing is the absolute 2^-149,
# so atol is one denormal step. In f64 both sides are libm-quality (<= a few
# ulp = 2.2e-16 each), 1e-14 leaves a margin of ~40 ulp.
TRANSCENDENTAL = {
    "f32": Tolerance("rtol 1e-6, atol 2^-149", 1e-6, 2.0**-149),
    "f64": Tolerance("rtol 1e-14", 1e-14, 5e-324),
}
# Sums, means and matmul accumulate in a wider type in a different order than
# NumPy's pairwise sums: the float32 result is within ~1 ulp of the float64
# reference; 1e-5 leaves room for the reference's own order. In f64 the
# interpreter accumulates in long double and NumPy in double (~n ulp apart for
# n <= 33 terms). The sign of a zero sum depends on the accumulator's start value.
ACCUMULATED = {
    "f32": Tolerance("rtol 1e-5", 1e-5, 0.0, signed_zeros=False),
    "f64": Tolerance("rtol 1e-12", 1e-12, 0.0, signed_zeros=False),
}
# Whole example programs against float64 references (see EXAMPLE_REFERENCES):
# a few f32 roundings in a row stay within ~5 ulp (6e-7), 1e-5 leaves a wide
# margin. Below the normal float32 range (1.2e-38; most of softmax(100 x) is
# there) the spacing is the absolute 2^-149 and exp's rounding there is one
# such step, so atol is 4 steps (5.6e-45): tight enough that every value
# above the denormal range is still checked relatively.
EXAMPLE_TOLERANCE = Tolerance("rtol 1e-5, atol 2^-147", 1e-5, 2.0**-147, signed_zeros=False)


def show(array: np.ndarray) -> str:
    text = np.array2string(np.asarray(array), threshold=64, edgeitems=3, precision=9, max_line_width=110)
    return f"{type_text(np.asarray(array))} {text}"


def mismatches(got: np.ndarray, want: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Boolean mask of the elements of `got` that do not match `want`."""
    if want.dtype.kind != "f":
        return got != want
    g, w = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (g == w) | (np.isnan(g) & np.isnan(w))
        ok |= np.isfinite(g) & np.isfinite(w) & (np.abs(g - w) <= tol.atol + tol.rtol * np.abs(w))
    if tol.signed_zeros:
        ok &= ~((g == 0) & (w == 0) & (np.signbit(g) != np.signbit(w)))
    return ~ok


def assert_results(got: list, want: list, tol: Tolerance, context: Callable[[], str]) -> None:
    """Compares the tool's results with the references; a failure shows context() (program, inputs)."""

    def fail(problem: str):
        raise AssertionError(f"{context()}\n{problem}")

    if len(got) != len(want):
        fail(f"expected {len(want)} results, got {len(got)}")
    for i, (g, w) in enumerate(zip(got, want)):
        both = f"result {i}: expected {show(w)}\ngot {show(g)}"
        if (g.dtype, g.shape) != (w.dtype, w.shape):
            fail(f"{both}\nwrong type: {type_text(g)} instead of {type_text(w)}")
        bad = mismatches(g, w, tol)
        if bad.any():
            first = "\n".join(
                f"  at {tuple(int(k) for k in idx)}: expected {w[tuple(idx)]!r}, got {g[tuple(idx)]!r}"
                for idx in np.argwhere(bad)[:10]
            )
            fail(f"{both}\n{int(bad.sum())} of {bad.size} elements differ (tolerance: {tol.name}); first:\n{first}")


# ---- inputs ----------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)
# NaN, infinities, signed zeros, float32 denormals, the float32 maximum, and a few plain numbers.
FLOAT_SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-40, -1e-40, F32_MAX, -1.0, 0.5, 2.5]
# Unary functions also see the edges of exp/tanh/sigmoid/erf (overflow, underflow, saturation).
UNARY_SPECIALS = FLOAT_SPECIALS + [88.5, 89.0, -87.0, -104.0, 20.0, -20.0, 1e30, -1e30, 1e-30, 3.0, -3.0]
INT_SPECIALS = {
    "i32": [0, 1, -1, 7, 46341, 2**31 - 1, -(2**31), -(2**31) + 1],
    "i64": [0, 1, -1, 7, 3037000500, 2**63 - 1, -(2**63), -(2**63) + 1],
}
TIES = [-1.0, 0.0, 0.5, 1.0, 2.0]  # values drawn often, so that compares see equal operands


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def random_input(shape, dtype: str, rng: np.random.Generator, specials: bool = True) -> np.ndarray:
    """Random values of `dtype`: floats standard normal, ints in [-10, 10], bools fair; with
    `specials`, about 15% of the elements are special values and (floats) 20% are small ties."""
    shape = tuple(shape)
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype in FLOATS:
        x = rng.standard_normal(shape)
        if specials:
            x = np.where(rng.random(shape) < 0.2, rng.choice(TIES, shape), x)
            x = np.where(rng.random(shape) < 0.15, rng.choice(FLOAT_SPECIALS, shape), x)
        return x.astype(DTYPES[dtype])
    x = rng.integers(-10, 11, shape, dtype=np.int64)
    if specials:
        x = np.where(rng.random(shape) < 0.15, rng.choice(np.array(INT_SPECIALS[dtype]), shape), x)
    return x.astype(DTYPES[dtype])


def specials_of(dtype: str, values=FLOAT_SPECIALS) -> np.ndarray:
    if dtype == "bool":
        return np.array([False, True])
    return np.array(values if dtype in FLOATS else INT_SPECIALS[dtype]).astype(DTYPES[dtype])


def quiet(fn: Callable, *args):
    """Calls a NumPy reference with its warnings about NaN, overflow and empty means silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


# ---- 1. example programs -----------------------------------------------------


def round32(x) -> np.ndarray:
    """A float64 value rounded to float32 and kept as float64: one f32-typed IR statement."""
    return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def widen(*arrays) -> list:
    return [a.astype(np.float64) for a in arrays]


# The examples other than softmax are chains of statements whose float32
# rounding matters where they cancel (x - mean, sums of products), so their
# references compute each statement in float64 and round it to float32 as the
# IR types say. Softmax has no such cancellation (x - max is exact where exp
# does not underflow) and is compared with the plain float64 result.


def ref_softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return [(e / e.sum(axis=1, keepdims=True)).astype(np.float32)]


def ref_layer_norm(x, gamma, beta):
    x, gamma, beta = widen(x, gamma, beta)
    mu = round32(x.mean(axis=-1, keepdims=True))
    xc = round32(x - mu)
    var = round32(round32(xc * xc).mean(axis=-1, keepdims=True))
    r = round32(1.0 / np.sqrt(round32(var + round32(1e-5))))
    return [round32(round32(round32(xc * r) * gamma) + beta).astype(np.float32)]


def ref_attention(q, k, v):
    q, k, v = widen(q, k, v)
    z = round32(round32(q @ np.swapaxes(k, -1, -2)) * round32(0.25))
    e = round32(np.exp(round32(z - z.max(axis=-1, keepdims=True))))
    p = round32(e / round32(e.sum(axis=-1, keepdims=True)))
    return [round32(p @ v).astype(np.float32)]


def ref_mlp(x, w1, b1, w2, b2):
    x, w1, b1, w2, b2 = widen(x, w1, b1, w2, b2)
    h = round32(round32(x @ w1) + b1)
    h3 = round32(round32(h * h) * h)
    t1 = round32(h + round32(h3 * round32(0.044715)))
    t4 = round32(round32(np.tanh(round32(t1 * round32(0.7978845608028654)))) + 1.0)
    g = round32(round32(h * 0.5) * t4)
    return [round32(round32(g @ w2) + b2).astype(np.float32)]


def ref_stats(x):
    x = x.astype(np.float64)
    y = round32(np.exp(x))
    s = round32(y.sum(axis=1))
    count = (x > 0).sum(axis=1).astype(np.int64)
    both = np.concatenate([x[0:6:1, 0:10:2], x[-1:-7:-1, 0:1:1]], axis=1)
    return [y.astype(np.float32), s.astype(np.float32), count, both.astype(np.float32)]


# file name -> function name -> reference taking the inputs in parameter order.
EXAMPLE_REFERENCES = {
    "softmax.tj": {"softmax": ref_softmax},
    "layernorm.tj": {"layer_norm": ref_layer_norm},
    "attention.tj": {"attention": ref_attention},
    "mlp.tj": {"main": ref_mlp},
    "stats.tj": {"main": ref_stats},
}

FUNC_RE = re.compile(r"^\s*func\s+@(\w+)\s*\(([^)]*)\)", re.MULTILINE)
PARAM_RE = re.compile(r"%(\w+)\s*:\s*(\w+)\[([^\]]*)\]")


def example_functions() -> list:
    """(path, function name, [(param name, dtype, shape)]) for every function of examples/ir/*.tj."""
    found = []
    for path in sorted((REPO / "examples" / "ir").glob("*.tj")):
        for func in FUNC_RE.finditer(path.read_text()):
            params = [
                (name, dtype, tuple(int(d) for d in dims.split(",") if d.strip()))
                for name, dtype, dims in PARAM_RE.findall(func.group(2))
            ]
            found.append((path, func.group(1), params))
    return found


EXAMPLES = example_functions()


def test_softmax_example_is_design_section_3():
    found = {(path.name, func): params for path, func, params in EXAMPLES}
    assert found.get(("softmax.tj", "softmax")) == [("x", "f32", (4096, 1024))], (
        f"examples/ir/softmax.tj must hold @softmax(%x: f32[4096,1024]) of design §3; found {found}"
    )


BACKENDS = ("interp", "auto")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1, 100], ids=["normal", "normal_x100"])
@pytest.mark.parametrize("path,func,params", EXAMPLES, ids=[f"{p.name}:{f}" for p, f, _ in EXAMPLES])
def test_example_program(path, func, params, scale, backend):
    reference = EXAMPLE_REFERENCES.get(path.name, {}).get(func)
    assert reference, f"examples/ir/{path.name} @{func} has no NumPy reference: add one to EXAMPLE_REFERENCES"
    rng = rng_for(f"{path.name}:{func}")
    inputs = {}
    for name, dtype, shape in params:
        x = random_input(shape, dtype, rng, specials=False)
        inputs[name] = (x * scale).astype(x.dtype) if dtype in FLOATS else x
    want = quiet(reference, *inputs.values())
    with tempfile.TemporaryDirectory() as tmp:
        got = run_tool(path, func, inputs, Path(tmp), backend)

    def context():
        inputs_text = "\n".join(f"%{n} = {show(a)}" for n, a in inputs.items())
        return f"examples/ir/{path.name} @{func} (--backend {backend}), inputs scaled by {scale}:\n{inputs_text}"

    assert_results(got, want, example_tolerance(want), context)


def example_tolerance(want) -> Tolerance:
    """EXAMPLE_TOLERANCE, plus an absolute term for results that are sums of
    products (matmul, attention): an element that cancels to near zero carries
    the rounding error of its terms, a few ulps of their magnitude, which is
    bounded by the result's own scale. 1e-6 x max|result| covers ~8 ulps of it
    and stays far below any real error in the values that do not cancel."""
    finite = [np.abs(np.asarray(w, np.float64)[np.isfinite(w)]) for w in want if np.asarray(w).dtype.kind == "f"]
    scale = max((float(f.max()) for f in finite if f.size), default=0.0)
    atol = max(EXAMPLE_TOLERANCE.atol, 1e-6 * scale)
    return Tolerance(f"rtol 1e-5, atol max(2^-147, 1e-6 x max|result| = {atol:.3g})", EXAMPLE_TOLERANCE.rtol, atol,
                     signed_zeros=False)


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


def test_max_min_over_empty_axis_are_rejected():
    """NumPy raises for max/min over a 0-size axis (no identity); the tool must refuse too, with a message."""
    x = np.zeros((0, 3), np.float32)
    for op in ("max", "min"):
        text = function_text(op, {"x": x}, [stmt(op, ["x"], {"axes": [0]})], {"y": np.zeros(3, np.float32)})
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "empty.tj").write_text(text)
            np.save(Path(tmp) / "x.npy", x)
            command = [CLI, "run", f"{tmp}/empty.tj", "--func", op, "--input", f"x={tmp}/x.npy"]
            proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 1 and "size 0" in proc.stderr, (
            f"{op} over an empty axis: expected exit 1 and an error naming the 0-size axis, "
            f"got exit {proc.returncode}\nprogram:\n{text}stderr:\n{proc.stderr}"
        )


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


def case_params(cases: list) -> list:
    """pytest parameters (case ids), known disagreements marked xfail(strict=True)."""
    params = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        params.append(pytest.param(case.id, id=case.id, marks=marks))
    return params


def test_ops_def_is_parsed():
    op_lines = re.findall(r"^OP\(", (REPO / "ir" / "ops.def").read_text(), re.MULTILINE)
    assert len(OPS) == len(op_lines) and "matmul" in OPS, f"{len(op_lines)} OP( lines in ir/ops.def, parsed {OPS}"
    assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("op", OPS)
def test_op_has_cases(op):
    assert op in OP_CASE_BUILDERS, f"op '{op}' of ir/ops.def has no cases: add a builder to OP_CASE_BUILDERS"


def run_program(text: str, func: str, inputs: dict, backend: str = "interp") -> list:
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / f"{func}.tj"
        program.write_text(text)
        return run_tool(program, func, inputs, Path(tmp), backend)


@functools.lru_cache(maxsize=None)
def batch_results(op: str) -> Optional[dict]:
    """Runs all cases of `op` as one function (values renamed %c<i>_...) with all their results, one
    process instead of one per case; None if the tool rejects the batch (each case then runs alone)."""
    cases = [case for case in CASES if case.op == op]
    stmts, params, results = [], {}, {}
    for i, case in enumerate(cases):
        rename = functools.partial(re.sub, r"%(\w+)", rf"%c{i}_\1")
        stmts += [rename(s) for s in case.stmts]
        params.update({f"c{i}_{name}": array for name, array in case.params.items()})
        results.update({f"c{i}_{name}": array for name, array in zip(case.results, case.expected)})
    try:
        got = run_program(function_text(op, params, stmts, results), op, params)
    except AssertionError:
        return None
    split, start = {}, 0
    for case in cases:
        split[case.id] = got[start:start + len(case.expected)]
        start += len(case.expected)
    return split


def tool_results(case: Case) -> list:
    batch = batch_results(case.op)
    return batch[case.id] if batch is not None else run_program(case.program, case.op, case.params)


@pytest.mark.parametrize("case_id", case_params(CASES))
def test_op_against_numpy(case_id):
    case = CASES_BY_ID[case_id]
    assert_results(tool_results(case), case.expected, case.tol, case.context)


@pytest.mark.parametrize("case_id", case_params([case for case in CASES if case.torch_ref]))
def test_op_against_torch(case_id):
    """The same cases against PyTorch's op, computed in float64 for float operands and rounded
    to the operands' dtype (this compares meanings, not torch's float32 approximations)."""
    torch = pytest.importorskip("torch")
    case = CASES_BY_ID[case_id]
    tensors = [torch.from_numpy(x.astype(np.float64) if x.dtype.kind == "f" else x.copy()) for x in case.inputs]
    want = case.torch_ref(torch, tensors).numpy()
    if want.dtype.kind == "f" and case.expected[0].dtype.kind == "f":
        want = quiet(want.astype, case.expected[0].dtype)
    assert_results(tool_results(case), [np.asarray(want)], case.tol, lambda: case.context() + "\n(reference: torch)")


# Functions whose results no op of their own computes (parameters, splats, views) so
# that they are copied out: each result must keep its own value on every backend.
X23 = np.arange(6, dtype=np.float32).reshape(2, 3)
COPIED_RESULTS = {  # name: (params, statements, results with their expected values)
    "params-swapped": ({"a": X23[0], "b": X23[1, :2]}, [], {"b": X23[1, :2], "a": X23[0]}),
    "two-splats": ({}, ["%a = const 2.5 : f32[2,3]", "%b = const -0.0 : f32[]"],
                   {"a": np.full((2, 3), 2.5, np.float32), "b": np.array(-0.0, np.float32)}),
    "reshape-and-transpose": ({"x": X23}, [stmt("reshape", ["x"], {"shape": [3, 2]}, result="r"),
                                           stmt("transpose", ["x"], {"perm": [1, 0]}, result="t")],
                              {"r": X23.reshape(3, 2), "t": X23.T}),
}
@pytest.mark.parametrize("backend", ["interp", "auto"])
@pytest.mark.parametrize("name", COPIED_RESULTS)
def test_copied_out_results_stay_apart(name, backend):
    params, stmts, results = COPIED_RESULTS[name]
    text = function_text("f", params, stmts, results)
    got = run_program(text, "f", params, backend)
    inputs = "\n".join(f"%{n} = {show(a)}" for n, a in params.items())
    context = f"--backend {backend}\nprogram:\n{text}inputs:\n{inputs}"
    assert_results(got, list(results.values()), EXACT, lambda: context)


# ---- 3. .npy round trip ----------------------------------------------------------


def npy_header(path: Path) -> dict:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(f)
    return {"shape": shape, "fortran_order": fortran_order, "dtype": dtype}


ROUND_TRIP_SHAPES = [("0-d", []), ("0-size", [0, 3]), ("empty-tail", [3, 0, 2]), ("2-d", [2, 3]), ("tail", [33])]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("layout", [label for label, _ in ROUND_TRIP_SHAPES] + ["fortran-2d", "fortran-3d"])
def test_npy_round_trip(dtype, layout):
    """An identity function reads each .npy file and writes it back: same dtype, shape and bits, C order."""
    shapes = dict(ROUND_TRIP_SHAPES, **{"fortran-2d": [3, 4], "fortran-3d": [2, 3, 4]})
    x = random_input(shapes[layout], dtype, rng_for(f"npy-{dtype}-{layout}"))
    if layout.startswith("fortran"):
        x = np.asfortranarray(x)
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "identity.tj"
        program.write_text(function_text("identity", {"x": x}, [], {"x": x}))
        got = run_tool(program, "identity", {"x": x}, Path(tmp))
        written_order = npy_header(Path(tmp) / "input_x.npy")["fortran_order"]
        header = npy_header(Path(tmp) / "out" / "out0.npy")
    assert written_order == layout.startswith("fortran"), "the test must feed the layout it names"
    context = f"identity of {show(x)} ({layout}, fortran_order={written_order})"
    assert not header["fortran_order"] and header["dtype"].byteorder in "<|=", f"{context}: output header {header}"
    assert_results(got, [x], EXACT, lambda: context)
    assert got[0].tobytes() == np.ascontiguousarray(x).tobytes(), f"{context}: bits differ, got {show(got[0])}"
