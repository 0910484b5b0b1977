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
shows up as an unexpected pass. The harness (running the tool, inputs,
tolerances) is numpy_harness.py; the op cases are op_cases.py and
structural_op_cases.py.
"""

import functools
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from numpy_harness import (
    ALL_DTYPES, CLI, EXACT, EXAMPLE_TOLERANCE, FLOATS, REPO, Tolerance, assert_results, function_text, quiet,
    random_input, rng_for, round32, run_tool, show, widen,
)
from op_cases import (
    Case, stmt,
)
from structural_op_cases import (
    CASES, CASES_BY_ID, OPS, OP_CASE_BUILDERS,
)


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
