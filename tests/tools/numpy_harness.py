"""The harness of test_against_numpy.py: running `tensorjit run` on generated
programs and .npy inputs, random inputs with special values, and comparing
results under named tolerances."""

import math
import os
import subprocess
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
