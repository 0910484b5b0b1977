"""A small MLP inference (linear -> GELU -> linear) with @tensorjit.jit.

    PYTHONPATH=build/python python3 examples/python/mlp.py

Prints torch eager, tensorjit eager (the ops called one by one, each its
compiled kernel), tensorjit op by op (jit without fusion) and tensorjit
jitted times, and checks that they agree.
"""
import numpy as np
import torch

import tensorjit as tj
from _timing import median_ms, report

torch.set_num_threads(tj.get_num_threads())  # the same threads for both

BATCH, HIDDEN, FF = 64, 512, 2048
rng = np.random.default_rng(0)
w1 = (rng.standard_normal((HIDDEN, FF)) / np.sqrt(HIDDEN)).astype(np.float32)
b1 = rng.standard_normal(FF).astype(np.float32)
w2 = (rng.standard_normal((FF, HIDDEN)) / np.sqrt(FF)).astype(np.float32)
b2 = rng.standard_normal(HIDDEN).astype(np.float32)


def mlp(x):
    return tj.gelu(x @ w1 + b1, approximate="tanh") @ w2 + b2


def mlp_torch(x, w1=torch.from_numpy(w1), b1=torch.from_numpy(b1), w2=torch.from_numpy(w2), b2=torch.from_numpy(b2)):
    return torch.nn.functional.gelu(x @ w1 + b1, approximate="tanh") @ w2 + b2


jitted = tj.jit(mlp)
unfused = tj.jit(mlp, fuse=False)
x = rng.standard_normal((BATCH, HIDDEN)).astype(np.float32)
xt = torch.from_numpy(x)
x_tj = tj.tensor(x)  # ops on a tensorjit tensor run eagerly in tensorjit

expected = mlp_torch(xt).numpy()
for name, out in [("jit", jitted(x)), ("jit, torch in/out", jitted(xt).numpy()), ("unfused", unfused(x)),
                  ("eager", mlp(x_tj).numpy())]:
    err = np.max(np.abs(out - expected))
    assert err < 1e-3, f"{name}: max abs error {err}"

print(f"MLP [{BATCH},{HIDDEN}] -> {FF} -> {HIDDEN}, {tj.get_num_threads()} threads")
report([
    ("torch eager", median_ms(mlp_torch, xt)),
    ("tensorjit eager", median_ms(mlp, x_tj)),
    ("tensorjit, op by op", median_ms(unfused, x)),
    ("tensorjit jit (fused)", median_ms(jitted, x)),
])
print(f"  compile: {jitted.stats()['compile_ms']:.1f} ms (trace and passes; kernels compile at their first run)")
