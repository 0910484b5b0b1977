"""Fused against eager, from Python, in one process and one run.

    PYTHONPATH=build/python python3 bench/compare.py [--threads N] [--quick] [--out bench/results]

Runs the workloads of bench/ through PyTorch eager (from primitives),
PyTorch's native fused ops where they exist (softmax, layer_norm, gelu),
NumPy, tensorjit eager (the ops called one by one on tensorjit tensors:
compiled one-op kernels, ops under 16,384 elements on the interpreter),
tensorjit op by op (jit with fuse=False: one kernel per op, with the memory
plan) and tensorjit jit, all on the same thread count. Writes compare.md (a table),
compare.json and compare.png (speedups over PyTorch eager) to --out.
Times are medians; every tensorjit result is checked against PyTorch.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import tensorjit as tj

K = 0.7978845608028654  # sqrt(2/pi), GELU's tanh form


def gelu_tj(x):
    return 0.5 * x * (1.0 + tj.tanh(K * (x + 0.044715 * x * x * x)))


def gelu_torch(x):
    return 0.5 * x * (1.0 + torch.tanh(K * (x + 0.044715 * x * x * x)))


def gelu_np(x):
    return 0.5 * x * (1.0 + np.tanh(K * (x + 0.044715 * x * x * x)))


def softmax_prims(lib):
    exp = {"tj": tj.exp, "torch": torch.exp, "np": np.exp}[lib]

    def softmax(x):
        e = exp(x - x.max(-1, keepdims=True)) if lib != "torch" else exp(x - x.amax(-1, keepdim=True))
        return e / (e.sum(-1, keepdims=True) if lib != "torch" else e.sum(-1, keepdim=True))

    return softmax


def layernorm_prims(lib):
    rsqrt = {"tj": tj.rsqrt, "torch": torch.rsqrt, "np": lambda v: 1.0 / np.sqrt(v)}[lib]
    kw = {"keepdim": True} if lib == "torch" else {"keepdims": True}

    def layernorm(x, g, b):
        mu = x.mean(-1, **kw)
        c = x - mu
        return c * rsqrt((c * c).mean(-1, **kw) + 1e-5) * g + b

    return layernorm


def small_chain(x):
    x = x * 1.5; x = x + 0.5; x = x * 0.9; x = x - 0.1; x = x * 1.1
    x = x + 0.2; x = x * 0.8; x = x - 0.3; x = x * 1.2; x = x + 0.4
    return x


def workloads(quick):
    """name -> (description, input shapes, {contender: fn}), shapes as in bench/ (smaller with --quick)."""
    scale = 4 if quick else 1
    sm = softmax_prims
    ln = layernorm_prims
    attn_scale = 1.0 / 8.0
    relu_np = lambda v: np.maximum(v, 0)
    return {
        "gelu": ("GELU tanh form from primitives", [(4096 // scale, 4096)], {
            "torch eager": gelu_torch, "torch fused": lambda x: F.gelu(x, approximate="tanh"),
            "numpy": gelu_np, "tensorjit": gelu_tj}),
        "bias_relu": ("relu(x + b) * s", [(8192 // scale, 1024), (1024,), ()], {
            "torch eager": lambda x, b, s: torch.relu(x + b) * s, "numpy": lambda x, b, s: relu_np(x + b) * s,
            "tensorjit": lambda x, b, s: tj.relu(x + b) * s}),
        "softmax": ("softmax from primitives", [(4096 // scale, 1024)], {
            "torch eager": sm("torch"), "torch fused": lambda x: torch.softmax(x, -1), "numpy": sm("np"),
            "tensorjit": sm("tj")}),
        "layernorm": ("layer norm from primitives", [(8192 // scale, 768), (768,), (768,)], {
            "torch eager": ln("torch"), "torch fused": lambda x, g, b: F.layer_norm(x, (768,), g, b, 1e-5),
            "numpy": ln("np"), "tensorjit": ln("tj")}),
        "mlp": ("[256,1024] @ [1024,4096] + b -> GELU -> @ [4096,1024] + b",
                [(256 // scale, 1024), (1024, 4096), (4096,), (4096, 1024), (1024,)], {
            "torch eager": lambda x, w1, b1, w2, b2: gelu_torch(x @ w1 + b1) @ w2 + b2,
            "torch fused": lambda x, w1, b1, w2, b2: F.gelu(x @ w1 + b1, approximate="tanh") @ w2 + b2,
            "numpy": lambda x, w1, b1, w2, b2: gelu_np(x @ w1 + b1) @ w2 + b2,
            "tensorjit": lambda x, w1, b1, w2, b2: gelu_tj(x @ w1 + b1) @ w2 + b2}),
        "attention": ("softmax(q @ k^T * s) @ v", [(8 // scale, 12, 128, 64)] * 3, {
            "torch eager": lambda q, k, v: sm("torch")(q @ k.transpose(-1, -2) * attn_scale) @ v,
            "torch fused": lambda q, k, v: torch.softmax(q @ k.transpose(-1, -2) * attn_scale, -1) @ v,
            "numpy": lambda q, k, v: sm("np")(q @ k.swapaxes(-1, -2) * attn_scale) @ v,
            "tensorjit": lambda q, k, v: sm("tj")(q @ k.swapaxes(-1, -2) * attn_scale) @ v}),
        "sum": ("full sum of 2^24 floats", [(1 << 24 >> (2 if quick else 0),)], {
            "torch eager": lambda x: x.sum(), "numpy": lambda x: x.sum(), "tensorjit": lambda x: x.sum()}),
        "small_chain": ("10 elementwise ops on 1,024 floats (call overhead)", [(1024,)], {
            "torch eager": small_chain, "numpy": small_chain, "tensorjit": small_chain}),
    }


def per_call_seconds(fn, args, budget):
    """Median seconds per call: calls batched so that each timed batch lasts about a tenth of the budget."""
    start = time.perf_counter()
    fn(*args)
    once = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(budget / 10 / once))
    samples = []
    deadline = time.perf_counter() + budget
    while len(samples) < 3 or (time.perf_counter() < deadline and len(samples) < 15):
        start = time.perf_counter()
        for _ in range(batch):
            fn(*args)
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def as_numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def run(args):
    torch.set_num_threads(args.threads)
    tj.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for name, (description, shapes, contenders) in workloads(args.quick).items():
        arrays = [rng.standard_normal(s).astype(np.float32) if s else np.full((), 0.5, np.float32) for s in shapes]
        if name in ("mlp",):  # keep activations in GELU's interesting range
            arrays = [a / np.sqrt(a.shape[0]) if a.ndim == 2 and i > 0 else a for i, a in enumerate(arrays)]
        tensors = [torch.from_numpy(a) for a in arrays]
        row = {"workload": name, "program": description, "shapes": [list(s) for s in shapes], "ms": {}}
        reference = None
        for contender, fn in contenders.items():
            if contender.startswith("torch"):
                call, inputs = fn, tensors
            elif contender == "numpy":
                call, inputs = fn, arrays
            else:
                call, inputs = tj.jit(fn), arrays
                eager_inputs = [tj.tensor(a) for a in arrays]  # tensorjit tensors: their methods and operators are ours
                row["ms"]["tensorjit eager"] = per_call_seconds(fn, eager_inputs, args.budget) * 1e3
                unfused = tj.jit(fn, fuse=False)
                row["ms"]["tensorjit op by op"] = per_call_seconds(unfused, inputs, args.budget) * 1e3
                for mode in ("tensorjit eager", "tensorjit op by op"):
                    print(f"{name:12} {mode:20} {row['ms'][mode]:10.4f} ms", flush=True)
                compile_start = time.perf_counter()
                out = as_numpy(call(*inputs))
                row["first_call_ms"] = (time.perf_counter() - compile_start) * 1e3
                row["max_abs_error"] = float(np.max(np.abs(out.astype(np.float64) - reference))) if out.size else 0.0
                row["max_abs_reference"] = float(np.max(np.abs(reference))) if reference.size else 0.0
            if contender == "torch eager":
                reference = as_numpy(fn(*tensors)).astype(np.float64)
            row["ms"][contender] = per_call_seconds(call, inputs, args.budget) * 1e3
            print(f"{name:12} {contender:20} {row['ms'][contender]:10.4f} ms", flush=True)
        rows.append(row)
    return rows


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, numpy {np.__version__}"


CONTENDERS = ["torch eager", "torch fused", "numpy", "tensorjit eager", "tensorjit op by op", "tensorjit"]


def markdown(rows, meta):
    unit = lambda row, ms: f"{ms * 1e3:.1f} µs" if row["workload"] == "small_chain" else f"{ms:.2f} ms"
    lines = [f"Measured {meta['when']} on {meta['machine']}; {meta['threads']} threads for every contender"
             f"{' (--quick: smaller shapes)' if meta['quick'] else ''}. Median time per call;"
             " speedup = PyTorch eager time / tensorjit time. tensorjit eager: the ops called one by one"
             " (compiled one-op kernels; ops under 16,384 elements, small_chain's, on the interpreter);"
             " op by op: jit without fusion (the same kernels, with the memory plan).", "",
             "| workload | " + " | ".join(CONTENDERS) + " | speedup vs torch eager | vs best other | max abs error |",
             "|---|" + "---:|" * (len(CONTENDERS) + 3)]
    for row in rows:
        ms = row["ms"]
        cells = [unit(row, ms[c]) if c in ms else "—" for c in CONTENDERS]
        best_other = min(v for c, v in ms.items() if not c.startswith("tensorjit"))
        lines.append(f"| {row['workload']} | " + " | ".join(cells) +
                     f" | {ms['torch eager'] / ms['tensorjit']:.2f}x | {best_other / ms['tensorjit']:.2f}x"
                     f" | {row['max_abs_error']:.2g} (of {row['max_abs_reference']:.2g}) |")
    return "\n".join(lines) + "\n"


def chart(rows, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [c for c in CONTENDERS if c != "torch eager"]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(others)
    for i, contender in enumerate(others):
        xs, ys = [], []
        for j, row in enumerate(rows):
            if contender in row["ms"]:
                xs.append(j + (i - (len(others) - 1) / 2) * width)
                ys.append(row["ms"]["torch eager"] / row["ms"][contender])
        ax.bar(xs, ys, width, label=contender)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [r["workload"] for r in rows])
    ax.set_ylabel("speedup over PyTorch eager (log)")
    ax.set_title(f"tensorjit vs eager, {meta['threads']} threads — {meta['machine'].split(',')[0]}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per contender (at least 3 samples)")
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke test")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    rows = run(args)
    meta = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "threads": args.threads, "quick": args.quick}
    os.makedirs(args.out, exist_ok=True)
    table = markdown(rows, meta)
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    chart(rows, meta, os.path.join(args.out, "compare.png"))
    print()
    print(table)


if __name__ == "__main__":
    main()
