"""A softmax-attention block, softmax(q @ k^T * scale) @ v, with @tensorjit.jit.

    PYTHONPATH=build/python python3 examples/python/attention.py

Prints torch eager, tensorjit eager (one kernel per op) and tensorjit jitted
times on torch tensors (results come back as torch tensors, no copies).
"""
import torch

import tensorjit as tj
from _timing import median_ms, report

torch.set_num_threads(tj.get_num_threads())  # the same threads for both

BATCH, HEADS, SEQ, DIM = 2, 8, 128, 64


def attention(q, k, v):
    scores = q @ k.swapaxes(-1, -2) * (1.0 / DIM ** 0.5)
    return tj.softmax(scores, axis=-1) @ v


def attention_torch(q, k, v):
    return torch.softmax(q @ k.transpose(-1, -2) * (1.0 / DIM ** 0.5), dim=-1) @ v


torch.manual_seed(0)
q, k, v = (torch.randn(BATCH, HEADS, SEQ, DIM) for _ in range(3))
jitted = tj.jit(attention)
unfused = tj.jit(attention, fuse=False)

out = jitted(q, k, v)
assert isinstance(out, torch.Tensor)
err = (out - attention_torch(q, k, v)).abs().max().item()
assert err < 1e-4, f"max abs error {err}"

print(f"attention [{BATCH},{HEADS},{SEQ},{DIM}], {tj.get_num_threads()} threads")
report([
    ("torch eager", median_ms(attention_torch, q, k, v)),
    ("tensorjit, op by op", median_ms(unfused, q, k, v)),
    ("tensorjit jit (fused)", median_ms(jitted, q, k, v)),
])
print(tj.explain(jitted, q, k, v))
