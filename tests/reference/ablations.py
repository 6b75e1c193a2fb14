#!/usr/bin/env python3
"""Independent PyTorch reference of the authors' ablations (docs/method.md#optimizers): the nanoGPT architecture and the
optimizers Cautious AdamW, AdEMAMix and Muon (v1), beside AdamW, for either architecture.

Written from docs/method.md#optimizers alone (not from the project's TypeScript), so that it can check the WebGPU engine and
trainer. The OLMo model, safetensors I/O, token chunking, schedule and gradient accumulation come from olmo.py
(docs/method.md#model and #training). Runs under Debian's python3-torch 1.13 (CPU) and numpy; no other packages.

    /usr/bin/python3 tests/reference/ablations.py init|losses|train ...

See tests/reference/README.md (section "Ablations") for the commands.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olmo  # noqa: E402
from olmo import UsageError  # noqa: E402

ARCHS = ("olmo", "nanogpt")
OPTIMIZERS = ("adamw", "cautious", "ademamix", "muon")
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-5
NS5 = (3.4445, -4.7750, 2.0315)


# ---------------------------------------------------------------------------------------------------------------
# nanoGPT (docs/method.md#optimizers)


@dataclass(frozen=True)
class NanoConfig:
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    seq_len: int
    mlp_ratio: int = 4
    norm_eps: float = 1e-6

    def __post_init__(self):
        for k in ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise UsageError(f"config: {k} must be a positive integer, got {v!r}")
        if self.mlp_ratio != 4:
            raise UsageError(f"config: nanoGPT's MLP is d → 4d → d; mlp_ratio must be 4 (or absent), got {self.mlp_ratio}")
        if self.d_model % self.n_heads:
            raise UsageError(f"config: d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def load_any_config(path: str):
    """(arch, config): olmo.Config for "olmo" (the default), NanoConfig for "nanogpt"."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"config {path}: cannot read JSON ({e})") from e
    if not isinstance(obj, dict):
        raise UsageError(f"config {path}: expected a JSON object")
    arch = obj.get("arch", "olmo")
    if arch not in ARCHS:
        raise UsageError(f"config {path}: arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if arch == "olmo":
        if "norm_eps" in obj and obj["norm_eps"] != olmo.NORM_EPS:
            raise UsageError("config: olmo.py's OLMo has norm_eps 1e-5 only")
        return arch, olmo.config_from_dict(obj)
    keys = ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "mlp_ratio", "norm_eps")
    missing = [k for k in keys[:5] if k not in obj]
    if missing:
        raise UsageError(f"config {path}: missing {', '.join(missing)}")
    return arch, NanoConfig(**{k: obj[k] for k in keys if k in obj})


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Parameter-free RMSNorm: x / sqrt(mean(x²) + eps), eps 1e-6 unless the config sets norm_eps."""
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


class NanoBlock(nn.Module):
    def __init__(self, cfg: NanoConfig):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d, bias=False), "c_proj": nn.Linear(d, d, bias=False)})
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d, bias=False), "c_proj": nn.Linear(4 * d, d, bias=False)})

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        nh, hd = self.cfg.n_heads, self.cfg.head_dim
        q, k, v = olmo.linear(self.norm(x), self.attn["c_attn"].weight).split(d, dim=-1)
        q, k, v = (z.view(b, t, nh, hd).transpose(1, 2) for z in (q, k, v))
        y = olmo.causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        h = x + olmo.linear(y, self.attn["c_proj"].weight)
        u = F.gelu(olmo.linear(self.norm(h), self.mlp["c_fc"].weight))  # exact (erf) GELU
        return h + olmo.linear(u, self.mlp["c_proj"].weight)


class NanoGPT(nn.Module):
    """Parameter names are the checkpoint names: transformer.wte/wpe.weight, transformer.h.{l}.attn.c_attn…"""

    def __init__(self, cfg: NanoConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg.vocab_size, cfg.d_model),
                "wpe": nn.Embedding(cfg.seq_len, cfg.d_model),
                "h": nn.ModuleList([NanoBlock(cfg) for _ in range(cfg.n_layers)]),
            }
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        wte = self.transformer["wte"].weight
        pos = torch.arange(tokens.shape[1])
        x = F.embedding(tokens, wte) + F.embedding(pos, self.transformer["wpe"].weight)
        for block in self.transformer["h"]:
            x = block(x)
        return olmo.linear(rms_norm(x, self.cfg.norm_eps), wte)

    def token_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = self(tokens)[:, :-1]
        targets = tokens[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").view(
            targets.shape
        )

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token_losses(tokens).mean()


def init_nanogpt(cfg: NanoConfig, seed: int) -> NanoGPT:
    """GPT-2 init in checkpoint order from torch's RNG seeded with `seed`: every tensor N(0, 0.02), both c_proj
    weights N(0, 0.02/√(2L)); not truncated."""
    torch.manual_seed(seed)
    model = NanoGPT(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith("c_proj.weight") else 0.02
            nn.init.normal_(p, mean=0.0, std=std)
    return model


def new_model(arch: str, cfg, seed: int | None = None):
    if arch == "olmo":
        return olmo.init_model(cfg, seed) if seed is not None else olmo.OLMo(cfg)
    return init_nanogpt(cfg, seed) if seed is not None else NanoGPT(cfg)


def is_embedding(name: str) -> bool:
    return name in ("transformer.wte.weight", "transformer.wpe.weight")


def decays(arch: str, name: str) -> bool:
    """OLMo decays its Linear weights only; nanoGPT every ≥2-D tensor, embeddings included."""
    return arch == "nanogpt" or not is_embedding(name)


# ---------------------------------------------------------------------------------------------------------------
# Optimizers (docs/method.md#optimizers). Each param group carries "names" and "weight_decay"; global-norm clipping happens
# before step(), as in train_step.


class CautiousAdamW(torch.optim.Optimizer):
    """m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; mask = 1[m·g > 0] / max(mean(mask), 1e-3);
    p ← p·(1 − lr·wd); p ← p − lr·(√bc2/bc1)·(m·mask)/(√v + eps)."""

    def __init__(self, groups, lr, betas=ADAM_BETAS, eps=ADAM_EPS):
        super().__init__(groups, dict(lr=lr, betas=betas, eps=eps, weight_decay=0.0))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                t, g, m, v = st["step"], p.grad, st["exp_avg"], st["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                mask = (m * g > 0).to(g.dtype)
                mask = mask / mask.mean().clamp(min=1e-3)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                step_size = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
                p.add_(-step_size * (m * mask) / (v.sqrt() + group["eps"]))


def ademamix_schedule(t: int, alpha: float, beta1: float, beta3: float, warmup: int) -> tuple[float, float]:
    """α_t = min(t·α/T, α); β3_t = f⁻¹((1 − t/T)·f(β1) + (t/T)·f(β3)) for t < T, f(β) = ln 0.5/ln β − 1."""
    if warmup <= 0 or t >= warmup:
        return alpha, beta3

    def f(beta):
        return math.log(0.5) / math.log(beta) - 1

    a = t / warmup
    return min(t * alpha / warmup, alpha), 0.5 ** (1 / ((1 - a) * f(beta1) + a * f(beta3) + 1))


class AdEMAMix(torch.optim.Optimizer):
    """m1 (β1), m2 (β3_t), v (β2); p ← p − lr·((m1/bc1 + α_t·m2)/(√(v/bc2) + eps) + wd·p)."""

    def __init__(self, groups, lr, betas=(0.9, 0.999, 0.9999), alpha=8.0, warmup=50000, eps=ADAM_EPS):
        super().__init__(groups, dict(lr=lr, betas=betas, alpha=alpha, warmup=warmup, eps=eps, weight_decay=0.0))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2, b3 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    for k in ("exp_avg_fast", "exp_avg_slow", "exp_avg_sq"):
                        st[k] = torch.zeros_like(p)
                st["step"] += 1
                t, g = st["step"], p.grad
                alpha, beta3 = ademamix_schedule(t, group["alpha"], b1, b3, group["warmup"])
                m1, m2, v = st["exp_avg_fast"], st["exp_avg_slow"], st["exp_avg_sq"]
                m1.mul_(b1).add_(g, alpha=1 - b1)
                m2.mul_(beta3).add_(g, alpha=1 - beta3)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                update = (m1 / (1 - b1**t) + alpha * m2) / ((v / (1 - b2**t)).sqrt() + group["eps"])
                update = update + group["weight_decay"] * p
                p.add_(-group["lr"] * update)


def newton_schulz5(u: torch.Tensor) -> torch.Tensor:
    """X = u/(‖u‖_F + 1e-7), transposed when rows > cols; 5× A = X·Xᵀ, B = b·A + c·A·A, X = a·X + B·X."""
    a, b, c = NS5
    x = u / (u.norm() + 1e-7)
    tall = u.shape[0] > u.shape[1]
    if tall:
        x = x.T
    for _ in range(5):
        A = x @ x.T
        B = b * A + c * A @ A
        x = a * x + B @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """b ← μ·b + g; u = g + μ·b (Nesterov); O = NS5(u), per q/k/v row block for the fused attention weight;
    p ← p − lr·√max(rows, cols)·O (lr here is Muon's: muon_lr_scale·lr(t)); no weight decay."""

    def __init__(self, groups, lr, momentum=0.95):
        super().__init__(groups, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            mu = group["momentum"]
            for p, name in zip(group["params"], group["names"]):
                st = self.state[p]
                if not st:
                    st["momentum_buffer"] = torch.zeros_like(p)
                buf = st["momentum_buffer"]
                buf.mul_(mu).add_(p.grad)
                u = p.grad + mu * buf
                qkv = name.endswith("att_proj.weight") or name.endswith("attn.c_attn.weight")
                first = 0
                for block in u.chunk(3, dim=0) if qkv else (u,):
                    rows = block.shape[0]
                    scale = math.sqrt(max(block.shape))
                    p[first : first + rows].add_(-group["lr"] * scale * newton_schulz5(block))
                    first += rows


def make_optimizers(arch: str, opt: str, model, lr: float, args) -> list:
    """The optimizer(s) of a run: one object, or (Muon, AdamW for the embeddings)."""
    named = list(model.named_parameters())
    wd = args.weight_decay

    def groups(filter_fn=lambda n: True, force_decay=None):
        dec = [(n, p) for n, p in named if filter_fn(n) and (force_decay if force_decay is not None else decays(arch, n))]
        nod = [(n, p) for n, p in named if filter_fn(n) and not (force_decay if force_decay is not None else decays(arch, n))]
        out = []
        for items, w in ((nod, 0.0), (dec, wd)):
            if items:
                out.append({"params": [p for _, p in items], "names": [n for n, _ in items], "weight_decay": w})
        return out

    if opt == "adamw":
        return [torch.optim.AdamW(groups(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)]
    if opt == "cautious":
        return [CautiousAdamW(groups(), lr=lr)]
    if opt == "ademamix":
        return [
            AdEMAMix(
                groups(),
                lr=lr,
                betas=(0.9, 0.999, args.ademamix_beta3),
                alpha=args.ademamix_alpha,
                warmup=args.ademamix_warmup,
            )
        ]
    if opt == "muon":
        muon_named = [(n, p) for n, p in named if not is_embedding(n)]
        muon = Muon([{"params": [p for _, p in muon_named], "names": [n for n, _ in muon_named]}], lr=lr, momentum=args.muon_momentum)
        # The embeddings: AdamW, decayed under Muon with either architecture.
        adam = torch.optim.AdamW(groups(is_embedding, force_decay=True), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
        return [muon, adam]
    raise UsageError(f"unknown optimizer {opt!r}: use {', '.join(OPTIMIZERS)}")


def set_lr(opts: list, opt: str, lr: float, muon_lr_scale: float) -> None:
    for o in opts:
        for g in o.param_groups:
            g["lr"] = muon_lr_scale * lr if isinstance(o, Muon) else lr


def optimizer_state(model, opts: list, np_dtype) -> dict[str, np.ndarray]:
    """{name}.{state} for every parameter and every state tensor its optimizer keeps (step counters left out)."""
    out = {}
    for n, p in model.named_parameters():
        for o in opts:
            st = o.state.get(p)
            if not st:
                continue
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and v.shape == p.shape:
                    out[f"{n}.{k}"] = v.detach().numpy().astype(np_dtype)
    return out


# ---------------------------------------------------------------------------------------------------------------
# CLI


def cmd_init(args):
    olmo.setup(args)
    arch, cfg = load_any_config(args.config)
    model = new_model(arch, cfg, args.seed)
    meta = {"config": json.dumps({"arch": arch, **asdict(cfg)}), "seed": args.seed, "init": "mitchell" if arch == "olmo" else "gpt2"}
    olmo.write_safetensors(args.out, olmo.model_state(model, np.float32), meta)


def open_model(arch, cfg, path, dtype):
    model = new_model(arch, cfg).to(dtype)
    olmo.load_checkpoint(model, path)
    return model


def cmd_losses(args):
    dtype, _ = olmo.setup(args)
    arch, cfg = load_any_config(args.config)
    model = open_model(arch, cfg, args.checkpoint, dtype)
    seqs = olmo.load_sequences(args.data, cfg)
    out = np.empty((seqs.shape[0], cfg.seq_len - 1), dtype=np.float64)
    with torch.no_grad():
        for i in range(0, seqs.shape[0], args.batch):
            out[i : i + args.batch] = model.token_losses(olmo.to_batch(seqs[i : i + args.batch], cfg.vocab_size)).double().numpy()
    np.save(args.out, out)
    print(json.dumps({"sequences": int(out.shape[0]), "mean_loss": float(out.mean())}))


def cmd_train(args):
    dtype, np_dtype = olmo.setup(args)
    arch, cfg = load_any_config(args.config)
    if args.batch <= 0 or args.microbatch <= 0 or args.batch % args.microbatch:
        raise UsageError("--batch and --microbatch must be positive and --batch a multiple of --microbatch")
    if args.ademamix_warmup is None:
        args.ademamix_warmup = min(50000, args.steps)
    model = open_model(arch, cfg, args.init, dtype)
    opts = make_optimizers(arch, args.optimizer, model, args.lr, args)
    seqs = olmo.load_sequences(args.data, cfg)
    if args.steps * args.batch > seqs.shape[0]:
        raise UsageError(f"{args.data}: {args.steps} steps of {args.batch} sequences need {args.steps * args.batch}, it holds {seqs.shape[0]}")
    log = {"step": [], "loss": [], "grad_norm": [], "lr": [], "seconds": []}
    params = list(model.parameters())
    lr = 0.0
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        lr = olmo.learning_rate(step, args.lr, args.warmup, args.schedule, args.steps)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss = olmo.accumulate_gradient(model, seqs[(step - 1) * args.batch : step * args.batch], args.microbatch)
        if args.clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, args.clip))
        else:
            norm = olmo.grad_norm(params)
        set_lr(opts, args.optimizer, lr, args.muon_lr_scale)
        for o in opts:
            o.step()
        for k, v in (("step", step), ("loss", loss), ("grad_norm", norm), ("lr", lr)):
            log[k].append(v)
        log["seconds"].append(time.perf_counter() - t0)
    os.makedirs(args.out, exist_ok=True)
    meta = {"step": args.steps, "arch": arch, "optimizer": args.optimizer, "dtype": args.dtype}
    olmo.write_safetensors(os.path.join(args.out, "model.safetensors"), olmo.model_state(model, np_dtype), meta)
    olmo.write_safetensors(os.path.join(args.out, "optimizer.safetensors"), optimizer_state(model, opts, np_dtype), meta)
    log["config"] = {"arch": arch, **asdict(cfg)}
    log["args"] = {k: v for k, v in vars(args).items() if k != "func"}
    tmp = os.path.join(args.out, f"losses.json.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(log, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "losses.json"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ablations.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--dtype", choices=sorted(olmo.DTYPES), default="float32")
        sp.add_argument("--threads", type=int, default=1)
        sp.add_argument("--matmul", choices=("auto", "blas", "onednn"), default="auto")

    sp = sub.add_parser("init", help="init of a config (mitchell for OLMo, GPT-2 for nanoGPT) → safetensors (F32)")
    sp.add_argument("--config", required=True)
    sp.add_argument("--seed", type=int, required=True)
    sp.add_argument("--out", required=True)
    common(sp)
    sp.set_defaults(func=cmd_init)

    sp = sub.add_parser("losses", help="per-token losses [n_seq, T-1] float64 .npy")
    sp.add_argument("--config", required=True)
    sp.add_argument("--checkpoint", required=True)
    sp.add_argument("--data", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--batch", type=int, default=8)
    common(sp)
    sp.set_defaults(func=cmd_losses)

    sp = sub.add_parser("train", help="training with one of the optimizers (docs/method.md#training, #optimizers); batches in file order")
    sp.add_argument("--config", required=True)
    sp.add_argument("--init", required=True)
    sp.add_argument("--data", required=True)
    sp.add_argument("--steps", type=int, required=True)
    sp.add_argument("--batch", type=int, required=True)
    sp.add_argument("--microbatch", type=int, required=True)
    sp.add_argument("--lr", type=float, required=True)
    sp.add_argument("--warmup", type=int, required=True)
    sp.add_argument("--schedule", choices=("trapezoidal", "cosine"), required=True)
    sp.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    sp.add_argument("--clip", type=float, default=1.0)
    sp.add_argument("--weight-decay", type=float, default=0.1)
    sp.add_argument("--ademamix-alpha", type=float, default=8.0)
    sp.add_argument("--ademamix-beta3", type=float, default=0.9999)
    sp.add_argument("--ademamix-warmup", type=int, default=None, help="default min(50000, steps)")
    sp.add_argument("--muon-lr-scale", type=float, default=0.1)
    sp.add_argument("--muon-momentum", type=float, default=0.95)
    sp.add_argument("--out", required=True)
    common(sp)
    sp.set_defaults(func=cmd_train)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UsageError as e:
        print(f"ablations.py {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
