#!/usr/bin/env python3
"""Self-checks of tests/reference/ablations.py. Run: /usr/bin/python3 tests/reference/test_ablations.py
Exits non-zero when any check fails (the test_* functions also run under pytest)."""

from __future__ import annotations

import math
import os
import sys
import traceback

import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ablations  # noqa: E402

TINY = ablations.NanoConfig(d_model=8, n_layers=2, n_heads=2, vocab_size=13, seq_len=5)
torch.set_num_threads(1)


def test_nanogpt_names_shapes_and_init():
    model = ablations.init_nanogpt(TINY, 0)
    names = [n for n, _ in model.named_parameters()]
    assert names[:6] == [
        "transformer.wte.weight",
        "transformer.wpe.weight",
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.c_proj.weight",
        "transformer.h.0.mlp.c_fc.weight",
        "transformer.h.0.mlp.c_proj.weight",
    ], names
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes["transformer.wpe.weight"] == (5, 8) and shapes["transformer.h.1.mlp.c_fc.weight"] == (32, 8)
    big = ablations.init_nanogpt(ablations.NanoConfig(64, 4, 4, 300, 64), 1)
    for n, p in big.named_parameters():
        want = 0.02 / math.sqrt(8) if n.endswith("c_proj.weight") else 0.02
        assert abs(float(p.std()) / want - 1) < 0.1, (n, float(p.std()))


def test_nanogpt_gradcheck_and_causality():
    model = ablations.init_nanogpt(TINY, 3).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(20)  # beyond GPT-2's 0.02, so every path matters
    tokens = torch.from_numpy(np.random.default_rng(2).integers(0, 13, size=(2, 5)))
    params = list(model.parameters())
    # Central differences of the float64 loss on every coordinate.
    model.zero_grad()
    model.loss(tokens).backward()
    for p in params:
        flat, grad = p.data.view(-1), p.grad.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 7)):
            saved = float(flat[i])
            with torch.no_grad():
                flat[i] = saved + 1e-6
                plus = float(model.loss(tokens))
                flat[i] = saved - 1e-6
                minus = float(model.loss(tokens))
                flat[i] = saved
            numeric = (plus - minus) / 2e-6
            assert abs(numeric - float(grad[i])) < 1e-6 * max(1.0, float(grad.abs().max())), (numeric, float(grad[i]))
    # Changing a later token leaves earlier logits alone.
    a = model(tokens)
    b = tokens.clone()
    b[:, 3] = (b[:, 3] + 1) % 13
    assert torch.allclose(a[:, :3], model(b)[:, :3])


def test_newton_schulz_and_muon_blocks():
    u = torch.randn(6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    o = ablations.newton_schulz5(u)
    assert torch.allclose(ablations.newton_schulz5(u.T), o.T)
    s = torch.linalg.svdvals(o)
    assert float(s.min()) > 0.5 and float(s.max()) < 1.3, s
    # The fused attention weight: each q/k/v block orthogonalised alone, scaled by √max(rows, cols).
    d = 4
    p = torch.zeros(3 * d, d, dtype=torch.float64, requires_grad=True)
    p.grad = torch.randn(3 * d, d, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    muon = ablations.Muon([{"params": [p], "names": ["transformer.h.0.attn.c_attn.weight"]}], lr=1.0, momentum=0.0)
    muon.step()
    for k in range(3):
        block = p.grad[k * d : (k + 1) * d]
        assert torch.allclose(p.data[k * d : (k + 1) * d], -math.sqrt(d) * ablations.newton_schulz5(block))


def test_ademamix_schedule_and_cautious_mask():
    assert ablations.ademamix_schedule(10, 8.0, 0.9, 0.9999, 0) == (8.0, 0.9999)
    alpha, beta3 = ablations.ademamix_schedule(1, 8.0, 0.9, 0.9999, 100)
    assert abs(alpha - 0.08) < 1e-15 and 0.9 < beta3 < 0.9999
    assert ablations.ademamix_schedule(100, 8.0, 0.9, 0.9999, 100) == (8.0, 0.9999)
    # Cautious on one step from zero moments: m·g > 0 everywhere (mask mean 1), so it is AdamW's first step
    # with eps added to √v rather than to √(v/bc2).
    p = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    opt = ablations.CautiousAdamW([{"params": [p], "weight_decay": 0.1}], lr=0.01)
    opt.step()
    g = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    m, v = 0.1 * g, 0.05 * g * g
    want = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (1 - 0.001)
    want -= 0.01 * math.sqrt(0.05) / 0.1 * m / (v.sqrt() + 1e-5)
    assert torch.allclose(p.data, want), (p.data, want)


def main() -> int:
    failed = 0
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok   {name}")
            except Exception:
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
