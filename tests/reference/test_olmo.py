#!/usr/bin/env python3
"""Self-checks of tests/reference/olmo.py. Run: /usr/bin/python3 tests/reference/test_olmo.py [name-filter]
Exits non-zero when any check fails. No pytest needed (the test_* functions also run under pytest)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olmo  # noqa: E402

TINY = olmo.Config(d_model=8, n_layers=2, n_heads=2, vocab_size=13, seq_len=5)
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_model(cfg=TINY, seed=0, dtype=torch.float64) -> olmo.OLMo:
    return olmo.init_model(cfg, seed).to(dtype)


def random_tokens(cfg, n, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, cfg.vocab_size, size=(n, cfg.seq_len))


def rel_err(a, b) -> float:
    """Largest absolute difference over the largest absolute expected value."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ---------------------------------------------------------------------------------------------------------------
# An independent, loop-by-loop numpy forward of docs/method.md#model (one sequence), float64.


def naive_logits(weights: dict, cfg: olmo.Config, toks) -> np.ndarray:
    d, nh, hd, t_len = cfg.d_model, cfg.n_heads, cfg.head_dim, len(toks)
    wte = weights["transformer.wte.weight"]

    def norm(v):
        return v / math.sqrt(float((v * v).mean()) + 1e-5)

    x = np.array([wte[t] for t in toks], dtype=np.float64)
    for layer in range(cfg.n_layers):
        w = {k: weights[f"transformer.blocks.{layer}.{k}.weight"] for k in ("att_proj", "attn_out", "ff_proj", "ff_out")}
        qkv = np.array([w["att_proj"] @ norm(x[t]) for t in range(t_len)])
        q, k, v = qkv[:, :d].copy(), qkv[:, d : 2 * d].copy(), qkv[:, 2 * d :].copy()
        for m in (q, k):
            for t in range(t_len):
                for h in range(nh):
                    for i in range(hd // 2):
                        ang = t * 10000.0 ** (-2.0 * i / hd)
                        a, b = m[t, h * hd + i], m[t, h * hd + i + hd // 2]
                        m[t, h * hd + i] = a * math.cos(ang) - b * math.sin(ang)
                        m[t, h * hd + i + hd // 2] = a * math.sin(ang) + b * math.cos(ang)
        y = np.zeros((t_len, d))
        for h in range(nh):
            sl = slice(h * hd, (h + 1) * hd)
            for t in range(t_len):
                s = np.array([q[t, sl] @ k[j, sl] / math.sqrt(hd) for j in range(t + 1)])
                p = np.exp(s - s.max())
                p /= p.sum()
                y[t, sl] = sum(p[j] * v[j, sl] for j in range(t + 1))
        x = x + np.array([w["attn_out"] @ y[t] for t in range(t_len)])
        for t in range(t_len):
            u = w["ff_proj"] @ norm(x[t])
            a, g = u[: cfg.ff_hidden], u[cfg.ff_hidden :]
            x[t] = x[t] + w["ff_out"] @ (g / (1 + np.exp(-g)) * a)
    return np.array([wte @ norm(x[t]) for t in range(t_len)])


# ---------------------------------------------------------------------------------------------------------------


def test_forward_matches_naive_loops():
    for cfg in (TINY, olmo.Config(d_model=12, n_layers=2, n_heads=3, vocab_size=11, seq_len=6, mlp_ratio=2)):
        model = tiny_model(cfg, seed=3)
        toks = random_tokens(cfg, 2, seed=4)
        with torch.no_grad():
            logits = model(torch.from_numpy(toks)).numpy()
        w = {n: p.detach().numpy() for n, p in model.named_parameters()}
        for b in range(2):
            e = rel_err(logits[b], naive_logits(w, cfg, toks[b]))
            assert e < 1e-12, f"{cfg}: logits differ from the loop implementation by {e:.2e}"
        # token losses = −log softmax at the next token
        with torch.no_grad():
            tl = model.token_losses(torch.from_numpy(toks)).numpy()
        lg = logits[:, :-1]
        lse = np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1)) + lg.max(-1)
        want = lse - np.take_along_axis(lg, toks[:, 1:, None], -1)[..., 0]
        assert rel_err(tl, want) < 1e-12


def test_causal():
    model = tiny_model()
    toks = random_tokens(TINY, 1, seed=5)
    other = toks.copy()
    other[0, -1] = (other[0, -1] + 1) % TINY.vocab_size
    with torch.no_grad():
        a = model(torch.from_numpy(toks))
        b = model(torch.from_numpy(other))
    assert torch.equal(a[0, :-1], b[0, :-1]), "changing the last token changed earlier logits"
    assert not torch.equal(a[0, -1], b[0, -1])


def finite_difference_check(cfg, n_seq, seed, h=1e-6, max_coords=None):
    model = tiny_model(cfg, seed=seed)
    toks = torch.from_numpy(random_tokens(cfg, n_seq, seed=seed + 1))
    model.zero_grad()
    model.loss(toks).backward()
    rng = np.random.default_rng(seed)
    worst = 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.view(-1)
            idx = np.arange(flat.numel())
            if max_coords and flat.numel() > max_coords:
                idx = rng.choice(flat.numel(), max_coords, replace=False)
            fd = np.empty(len(idx))
            for j, i in enumerate(idx):
                old = float(flat[i])
                flat[i] = old + h
                up = float(model.loss(toks))
                flat[i] = old - h
                down = float(model.loss(toks))
                flat[i] = old
                fd[j] = (up - down) / (2 * h)
            an = p.grad.view(-1).numpy()[idx]
            e = float(np.abs(an - fd).max() / max(np.abs(an).max(), 1e-12))
            worst = max(worst, e)
            assert e < 1e-6, f"{name}: autograd vs central differences {e:.2e}"
    return worst


def test_gradients_vs_finite_differences():
    # every coordinate of the tiny config (808 parameters), float64
    w = finite_difference_check(TINY, n_seq=3, seed=0)
    w2 = finite_difference_check(
        olmo.Config(d_model=12, n_layers=2, n_heads=3, vocab_size=11, seq_len=6, mlp_ratio=2), 2, seed=7, max_coords=40
    )
    print(f"    worst relative error {max(w, w2):.1e}")


def test_gradcheck():
    # torch.autograd.gradcheck on a functional view of one weight matrix per kind, with the rest fixed
    model = tiny_model(seed=11)
    toks = torch.from_numpy(random_tokens(TINY, 2, seed=12))
    from torch.nn.utils.stateless import functional_call

    for name in ("transformer.wte.weight", "transformer.blocks.1.att_proj.weight", "transformer.blocks.0.ff_out.weight"):
        w0 = dict(model.named_parameters())[name].detach().clone().requires_grad_(True)
        f = lambda w, name=name: functional_call(model, {name: w}, (toks,), {})  # noqa: E731
        g = lambda w, f=f: torch.nn.functional.cross_entropy(  # noqa: E731
            f(w)[:, :-1].reshape(-1, TINY.vocab_size), toks[:, 1:].reshape(-1)
        )
        assert torch.autograd.gradcheck(g, (w0,), eps=1e-6, atol=1e-7, rtol=1e-5), name


def test_rope_equals_complex_rotation():
    for hd, t_len in ((4, 5), (64, 37), (96, 11)):
        x = torch.randn(2, 3, t_len, hd, dtype=torch.float64, generator=torch.Generator().manual_seed(hd))
        cos, sin = olmo.rope_cos_sin(t_len, hd, torch.float64)
        got = olmo.apply_rope(x, cos, sin)
        half = hd // 2
        z = torch.complex(x[..., :half], x[..., half:])
        freq = torch.tensor([10000.0 ** (-2.0 * i / hd) for i in range(half)], dtype=torch.float64)
        ang = torch.arange(t_len, dtype=torch.float64)[:, None] * freq[None, :]
        r = z * torch.polar(torch.ones_like(ang), ang)
        want = torch.cat((r.real, r.imag), dim=-1)
        assert rel_err(got, want) < 1e-13, f"hd={hd}"
        # position 0 is the identity; rotation preserves the norm of each pair
        assert torch.allclose(got[..., 0, :], x[..., 0, :])


def test_safetensors_round_trip():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.safetensors")
        rng = np.random.default_rng(0)
        tensors = {
            "a": rng.standard_normal((3, 4)).astype(np.float32),
            "b.f64": rng.standard_normal((5,)),
            "c": np.arange(7, dtype=np.int64),
            "d": np.arange(6, dtype=np.uint16).reshape(2, 3),
            "e": rng.standard_normal((2, 2)).astype(np.float16),
            "scalar": np.array(2.5, dtype=np.float32),
            "empty": np.zeros((0, 3), dtype=np.float32),
        }
        olmo.write_safetensors(path, tensors, {"loss": 1.25, "note": "x"})
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert n % 8 == 0
        header = json.loads(raw[8 : 8 + n])
        assert header["a"]["dtype"] == "F32" and header["b.f64"]["dtype"] == "F64" and header["d"]["dtype"] == "U16"
        assert header["__metadata__"] == {"loss": "1.25", "note": "x"}
        back, meta = olmo.read_safetensors(path)
        assert meta == {"loss": "1.25", "note": "x"}
        assert list(back) == list(tensors)
        for k, v in tensors.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v), k
        # BF16: the top 16 bits of float32
        vals = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
        bf = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
        hj = json.dumps({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, len(bf)]}}).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hj)) + hj + bf)
        back, meta = olmo.read_safetensors(path)
        assert back["w"].dtype == np.float32 and np.array_equal(back["w"].ravel(), vals) and meta == {}
        # a model checkpoint round trip is exact
        model = olmo.init_model(TINY, 5)
        olmo.write_safetensors(path, olmo.model_state(model))
        other = olmo.OLMo(TINY)
        olmo.load_checkpoint(other, path)
        for (n1, p1), (n2, p2) in zip(model.named_parameters(), other.named_parameters()):
            assert n1 == n2 and torch.equal(p1, p2)
        # wrong config → a clear error
        try:
            olmo.load_checkpoint(olmo.OLMo(olmo.Config(8, 3, 2, 13, 5)), path)
        except olmo.UsageError as e:
            assert "missing" in str(e)
        else:
            raise AssertionError("loading a 2-layer checkpoint into a 3-layer model did not fail")


def test_schedule():
    lr, w, s = 1e-3, 100, 1000
    f = olmo.learning_rate
    for sched in ("trapezoidal", "cosine"):
        assert math.isclose(f(0, lr, w, sched, s), 0.1 * lr)
        assert math.isclose(f(1, lr, w, sched, s), 0.1 * lr + 0.9 * lr / w)
        assert math.isclose(f(50, lr, w, sched, s), 0.55 * lr)
        assert math.isclose(f(w, lr, w, sched, s), lr)
    assert f(w + 1, lr, w, "trapezoidal", s) == lr and f(s, lr, w, "trapezoidal", s) == lr
    assert math.isclose(f(s, lr, w, "cosine", s), 0.1 * lr)
    assert math.isclose(f(w + (s - w) // 2, lr, w, "cosine", s), 0.55 * lr)
    assert math.isclose(f(w + 1, lr, w, "cosine", s), 0.1 * lr + 0.9 * lr * (1 + math.cos(math.pi / (s - w))) / 2)
    # trapezoidal with a decay phase of D steps: LR at S−D, linear to 0 at S
    assert f(s - 200, lr, w, "trapezoidal", s, 200) == lr
    assert math.isclose(f(s - 100, lr, w, "trapezoidal", s, 200), 0.5 * lr)
    assert f(s, lr, w, "trapezoidal", s, 200) == 0.0
    # no warmup
    assert f(1, lr, 0, "trapezoidal", s) == lr


def test_parameter_counts():
    table = {"14M": 14.32, "37M": 37.29, "78M": 77.56, "144M": 143.79, "285M": 284.88, "472M": 472.12}
    non_emb = {"14M": 1.44, "37M": 11.53, "78M": 38.93, "144M": 92.27, "285M": 207.62, "472M": 369.10}
    for name, cfg in olmo.PRESETS.items():
        d, L, V = cfg.d_model, cfg.n_layers, cfg.vocab_size
        model = olmo.OLMo(cfg, device="meta")
        n = sum(p.numel() for p in model.parameters())
        assert n == 5.5 * d * d * L + V * d == cfg.n_params(), name
        assert round(n / 1e6, 2) == table[name], (name, n)
        assert round((n - V * d) / 1e6, 2) == non_emb[name], name
        assert list(dict(model.named_parameters())) == list(cfg.param_shapes())
    assert olmo.PRESETS["14M"].n_params() == 14_319_616


def test_init():
    cfg = olmo.Config(d_model=128, n_layers=3, n_heads=4, vocab_size=700, seq_len=8, mlp_ratio=2)
    a, b, c = olmo.init_model(cfg, 1), olmo.init_model(cfg, 1), olmo.init_model(cfg, 2)
    trunc = 0.986350  # std of a standard normal truncated at ±3
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r), name
        s = olmo.init_std(cfg, name)
        assert float(p.abs().max()) <= 3 * s * (1 + 1e-6), name
        assert abs(float(p.std()) / (s * trunc) - 1) < 0.03, (name, float(p.std()), s)
        assert abs(float(p.mean())) < 0.05 * s, name
    d = cfg.d_model
    assert olmo.init_std(cfg, "transformer.blocks.2.attn_out.weight") == 1 / math.sqrt(2 * d * 3)
    assert olmo.init_std(cfg, "transformer.blocks.2.ff_out.weight") == 1 / math.sqrt(2 * d * 3)  # mlp_ratio 2: hidden d
    assert olmo.init_std(TINY, "transformer.blocks.0.ff_out.weight") == 1 / math.sqrt(2 * 4)


def test_microbatch_accumulation():
    model = tiny_model(seed=2)
    seqs = random_tokens(TINY, 6, seed=3)
    grads = {}
    for mb in (6, 1, 2, 3):
        model.zero_grad(set_to_none=True)
        loss = olmo.accumulate_gradient(model, seqs, mb)
        grads[mb] = (loss, [p.grad.clone() for p in model.parameters()])
    with torch.no_grad():
        full = float(model.loss(torch.from_numpy(seqs)))
    for mb, (loss, g) in grads.items():
        assert abs(loss - full) < 1e-12, mb
        for x, y in zip(g, grads[6][1]):
            assert rel_err(x, y) < 1e-12, mb
    # whole training runs: b=1 vs b=4 in float64 end at the same weights
    ends = []
    for mb in (4, 1):
        m = tiny_model(seed=2)
        opt = olmo.make_optimizer(m, 1e-2, 0.1)
        data = random_tokens(TINY, 12, seed=9)
        losses = [olmo.train_step(m, opt, data[4 * s : 4 * s + 4], mb, 1e-2, 1.0)[0] for s in range(3)]
        ends.append((losses, [p.detach().clone() for p in m.parameters()]))
    assert max(abs(a - b) for a, b in zip(ends[0][0], ends[1][0])) < 1e-12
    for x, y in zip(ends[0][1], ends[1][1]):
        assert rel_err(x, y) < 1e-10


def test_adamw_step_and_clipping():
    # One step from a fresh state, checked against AdamW written out: m̂ = g, v̂ = g², so
    # p ← p·(1 − lr·wd) − lr·g/(|g| + eps), with wd = 0 for wte; g is the clipped gradient.
    model = tiny_model(seed=4)
    seqs = random_tokens(TINY, 2, seed=5)
    p0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad()
    olmo.accumulate_gradient(model, seqs, 2)
    g = {n: p.grad.clone() for n, p in model.named_parameters()}
    norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
    clip = norm / 3  # force clipping
    opt = olmo.make_optimizer(model, 0.05, 0.1)
    lr = 0.02
    loss, reported = olmo.train_step(model, opt, seqs, 2, lr, clip)
    assert abs(reported - norm) < 1e-12 * norm
    coef = clip / (norm + 1e-6)  # torch.nn.utils.clip_grad_norm_
    for n, p in model.named_parameters():
        wd = 0.0 if n == "transformer.wte.weight" else 0.1
        gc = g[n] * coef
        want = p0[n] * (1 - lr * wd) - lr * gc / (gc.abs() + 1e-5)
        assert rel_err(p.detach(), want) < 1e-12, n
    assert [grp["weight_decay"] for grp in opt.param_groups] == [0.0, 0.1]


@contextlib.contextmanager
def matmul_kind(kind):
    saved = olmo.MATMUL["kind"]
    olmo.MATMUL["kind"] = kind
    try:
        yield
    finally:
        olmo.MATMUL["kind"] = saved


def test_onednn_matmul_matches_float64():
    if not torch.backends.mkldnn.is_available():
        print("    skipped: this torch has no oneDNN")
        return
    cfg = olmo.Config(d_model=32, n_layers=2, n_heads=4, vocab_size=50, seq_len=16, mlp_ratio=2)
    toks = torch.from_numpy(random_tokens(cfg, 3, seed=8))
    results = {}
    for kind, dtype in (("blas", torch.float64), ("blas", torch.float32), ("onednn", torch.float32), ("onednn", None)):
        with matmul_kind(kind):
            m = olmo.init_model(cfg, 6).to(dtype or torch.float32)
            tl = m.token_losses(toks)
            tl.mean().backward()
            results[(kind, dtype)] = (tl.detach().double().numpy(), [p.grad.double().numpy() for p in m.parameters()])
    truth = results[("blas", torch.float64)]
    for key in (("blas", torch.float32), ("onednn", torch.float32)):
        assert rel_err(results[key][0], truth[0]) < 1e-5, key
        for g, t in zip(results[key][1], truth[1]):
            assert rel_err(g, t) < 1e-4, key
    # bit-identical run to run
    a, b = results[("onednn", torch.float32)], results[("onednn", None)]
    assert np.array_equal(a[0], b[0]) and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))


def run_cli(*args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), matmul_kind(olmo.MATMUL["kind"]):  # main() sets the kind: restore it
        rc = olmo.main([str(a) for a in args])
    return rc, out.getvalue()


def test_cli_end_to_end():
    cfg = olmo.Config(d_model=16, n_layers=2, n_heads=2, vocab_size=37, seq_len=8)
    with tempfile.TemporaryDirectory() as d:
        j = lambda *p: os.path.join(d, *p)  # noqa: E731
        with open(j("c.json"), "w") as f:
            json.dump({**cfg.__dict__, "name": "tiny"}, f)
        toks = np.random.default_rng(0).integers(0, cfg.vocab_size, 8 * 14 + 5).astype(np.uint16)
        np.save(j("t.npy"), toks)
        assert run_cli("init", "--config", j("c.json"), "--seed", 3, "--out", j("m.safetensors"))[0] == 0
        w, meta = olmo.read_safetensors(j("m.safetensors"))
        assert all(v.dtype == np.float32 for v in w.values()) and meta["seed"] == "3"
        ref = olmo.init_model(cfg, 3)
        assert all(np.array_equal(w[n], p.detach().numpy()) for n, p in ref.named_parameters())

        for dt in ("float32", "float64"):
            rc, _ = run_cli("losses", "--config", j("c.json"), "--checkpoint", j("m.safetensors"), "--data",
                            j("t.npy"), "--out", j(f"l{dt}.npy"), "--batch", 5, "--dtype", dt)
            assert rc == 0
        l32, l64 = np.load(j("lfloat32.npy")), np.load(j("lfloat64.npy"))
        assert l64.shape == (14, 7) and l64.dtype == np.float64
        assert rel_err(l32, l64) < 1e-5
        # sequence k = tokens[k·T, (k+1)·T): check one directly
        m64 = olmo.open_model(cfg, j("m.safetensors"), torch.float64)
        with torch.no_grad():
            direct = m64.token_losses(torch.from_numpy(toks[3 * 8 : 4 * 8].astype(np.int64))[None])[0].numpy()
        assert rel_err(l64[3], direct) < 1e-14

        rc, _ = run_cli("grads", "--config", j("c.json"), "--checkpoint", j("m.safetensors"), "--data", j("t.npy"),
                        "--sequences", 4, "--out", j("g.safetensors"), "--dtype", "float64", "--batch", 3)
        g, gm = olmo.read_safetensors(j("g.safetensors"))
        assert rc == 0 and all(v.dtype == np.float64 for v in g.values()) and list(g) == list(cfg.param_shapes())
        assert abs(float(gm["loss"]) - l64[:4].mean()) < 1e-12
        m64.zero_grad()
        m64.loss(torch.from_numpy(toks[: 4 * 8].astype(np.int64)).view(4, 8)).backward()
        for n, p in m64.named_parameters():
            assert rel_err(g[n], p.grad.numpy()) < 1e-12, n

        common = ["--config", j("c.json"), "--data", j("t.npy"), "--batch", 4, "--lr", 3e-3, "--warmup", 2,
                  "--schedule", "cosine", "--schedule-steps", 3, "--dtype", "float64"]
        rc, _ = run_cli("train", "--init", j("m.safetensors"), "--steps", 3, "--microbatch", 2, "--out", j("run"),
                        "--save-steps", "pow2", *common)
        assert rc == 0
        log = json.load(open(j("run", "losses.json")))
        assert log["step"] == [1, 2, 3] and len(log["loss"]) == 3 and len(log["grad_norm"]) == 3
        assert abs(log["loss"][0] - l64[:4].mean()) < 1e-12
        assert math.isclose(log["lr"][0], 3e-3 * (0.1 + 0.9 / 2)) and math.isclose(log["lr"][2], 3e-4)
        assert os.path.exists(j("run", "step1", "model.safetensors")) and os.path.exists(j("run", "step2"))
        opt, om = olmo.read_safetensors(j("run", "optimizer.safetensors"))
        assert om["step"] == "3" and "transformer.blocks.1.ff_out.weight.exp_avg_sq" in opt
        # resuming from the step-2 model + optimizer for one step reproduces step 3 exactly
        rc, _ = run_cli("train", "--init", j("run", "step2", "model.safetensors"), "--init-optimizer",
                        j("run", "step2", "optimizer.safetensors"), "--steps", 1, "--microbatch", 4,
                        "--out", j("resume"), *common)
        assert rc == 0
        log2 = json.load(open(j("resume", "losses.json")))
        assert log2["step"] == [3] and abs(log2["loss"][0] - log["loss"][2]) < 1e-12
        assert math.isclose(log2["lr"][0], log["lr"][2])
        a, b = olmo.read_safetensors(j("run", "model.safetensors"))[0], olmo.read_safetensors(j("resume", "model.safetensors"))[0]
        for n in a:
            assert rel_err(a[n], b[n]) < 1e-12, n
        # --first-sequence picks the batch: one step on sequences [8, 12) from the init = step 3's data
        rc, _ = run_cli("train", "--init", j("m.safetensors"), "--steps", 1, "--microbatch", 4, "--out", j("fs"),
                        "--first-sequence", 8, *common)
        assert rc == 0 and abs(json.load(open(j("fs", "losses.json")))["loss"][0] - l64[8:12].mean()) < 1e-12
        # too few sequences → a clear error, exit code 2
        with contextlib.redirect_stderr(io.StringIO()) as err:
            rc, _ = run_cli("train", "--init", j("m.safetensors"), "--steps", 4, "--microbatch", 4, "--out", j("x"),
                            *common)
        assert rc == 2 and "holds 14" in err.getvalue()

        # float32 training through oneDNN and through BLAS agree with float64
        for mm in ("onednn", "blas"):
            rc, _ = run_cli("train", "--init", j("m.safetensors"), "--steps", 3, "--microbatch", 2, "--out", j(mm),
                            *common[:-1], "float32", "--matmul", mm)
            assert rc == 0
            log32 = json.load(open(j(mm, "losses.json")))
            assert max(abs(x - y) for x, y in zip(log32["loss"], log["loss"])) < 1e-5, mm
            assert max(abs(x / y - 1) for x, y in zip(log32["grad_norm"], log["grad_norm"])) < 1e-4, mm

        rc, out = run_cli("bench", "--config", j("c.json"), "--batch", 2, "--steps", 2, "--threads", 1)
        res = json.loads(out)
        assert rc == 0 and res["tokens_per_step"] == 16 and res["tokens_per_s"] > 0 and "flop_formula" in res
        assert res["flops_per_step"] == 6 * cfg.n_params() * 16 + 12 * 2 * 16 * 16 * 8


def main(argv) -> int:
    pattern = argv[1] if len(argv) > 1 else ""
    olmo.MATMUL["kind"] = "blas"
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f) and pattern in n]
    failed = []
    t_all = time.perf_counter()
    for name, fn in tests:
        t0 = time.perf_counter()
        try:
            fn()
        except Exception:  # noqa: BLE001
            failed.append(name)
            print(f"FAIL {name} ({time.perf_counter() - t0:.1f}s)")
            traceback.print_exc()
        else:
            print(f"ok   {name} ({time.perf_counter() - t0:.1f}s)")
    print(f"{len(tests) - len(failed)}/{len(tests)} passed in {time.perf_counter() - t_all:.1f}s")
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
