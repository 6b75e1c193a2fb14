#!/usr/bin/env python3
"""Independent PyTorch reference of the OLMo-style model and trainer of docs/method.md (#model, #training).

Written from the method (docs/method.md) alone (not from the project's TypeScript), so that it can check the WebGPU engine and
trainer. Runs under Debian's python3-torch 1.13 (CPU) and numpy; no other packages.

    /usr/bin/python3 tests/reference/olmo.py init|losses|grads|train|bench ...

See tests/reference/README.md for the commands and the file formats.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NORM_EPS = 1e-5
ROPE_THETA = 10000.0
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-5
WARMUP_START = 0.1  # warmup starts at 0.1·LR
COSINE_FLOOR = 0.1  # cosine ends at 0.1·LR


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""


# ---------------------------------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class Config:
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    seq_len: int
    mlp_ratio: int = 1

    def __post_init__(self):
        for k in ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "mlp_ratio"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise UsageError(f"config: {k} must be a positive integer, got {v!r}")
        if self.d_model % self.n_heads:
            raise UsageError(f"config: d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise UsageError(f"config: head dim {self.head_dim} must be even for RoPE rotate-half")
        if (self.mlp_ratio * self.d_model) % 2:
            raise UsageError("config: mlp_ratio·d_model must be even (SwiGLU splits ff_proj's output in halves)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        """Output width of ff_proj (mlp_ratio·d); SwiGLU's hidden width is half of it."""
        return self.mlp_ratio * self.d_model

    @property
    def ff_hidden(self) -> int:
        return self.ff_dim // 2

    def with_seq_len(self, seq_len: int) -> "Config":
        return Config(**{**asdict(self), "seq_len": seq_len})

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        """Every parameter, in checkpoint order, with its shape (out×in for Linear weights)."""
        d = self.d_model
        shapes = {"transformer.wte.weight": (self.vocab_size, d)}
        for layer in range(self.n_layers):
            p = f"transformer.blocks.{layer}."
            shapes[p + "att_proj.weight"] = (3 * d, d)
            shapes[p + "attn_out.weight"] = (d, d)
            shapes[p + "ff_proj.weight"] = (self.ff_dim, d)
            shapes[p + "ff_out.weight"] = (d, self.ff_hidden)
        return shapes

    def n_params(self) -> int:
        return sum(a * b for a, b in self.param_shapes().values())


CONFIG_KEYS = ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "mlp_ratio")


def config_from_dict(obj: dict) -> Config:
    missing = [k for k in CONFIG_KEYS[:5] if k not in obj]
    if missing:
        raise UsageError(f"config: missing {', '.join(missing)} (needs {', '.join(CONFIG_KEYS)})")
    return Config(**{k: obj[k] for k in CONFIG_KEYS if k in obj})


def load_config(path: str) -> Config:
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"config {path}: cannot read JSON ({e})") from e
    if not isinstance(obj, dict):
        raise UsageError(f"config {path}: expected a JSON object with {', '.join(CONFIG_KEYS)}")
    return config_from_dict(obj)


# The docs/method.md#presets presets (V = 50304, T = 1024).
PRESETS = {
    "14M": Config(256, 4, 4, 50304, 1024),
    "37M": Config(512, 8, 8, 50304, 1024),
    "78M": Config(768, 12, 12, 50304, 1024),
    "144M": Config(1024, 16, 16, 50304, 1024),
    "285M": Config(1536, 16, 16, 50304, 1024),
    "472M": Config(2048, 16, 16, 50304, 1024),
}


# ---------------------------------------------------------------------------------------------------------------
# Model


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """RMSNorm without affine weights: x / sqrt(mean(x²) + eps)."""
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + NORM_EPS)


def rope_cos_sin(seq_len: int, head_dim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, hd] of OLMo's rotate-half RoPE, computed in float64 and cast to dtype."""
    inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    pos = torch.arange(seq_len, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [..., T, hd]; cos, sin [T, hd]."""
    return x * cos + rotate_half(x) * sin


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k, v [B, H, T, hd] → [B, H, T, hd]; softmax(q·kᵀ/√hd) with future positions masked."""
    t, hd = q.shape[-2], q.shape[-1]
    scores = matmul_t(q, k) / math.sqrt(hd)
    future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=q.device), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    return matmul_t(torch.softmax(scores, dim=-1), v.transpose(-2, -1))


# Matrix products. Debian's torch links the reference (netlib) BLAS, ~2 GFLOP/s; its bundled oneDNN runs float32
# products 10–40× faster. "onednn" routes every float32 product a·bᵀ (forward and backward) through
# torch._C._nn.mkldnn_linear; float64 always uses torch's own matmul (BLAS). Both compute the same math.
MATMUL = {"kind": "blas"}


def set_matmul(kind: str, dtype: torch.dtype) -> str:
    """kind: auto (onednn for float32 when torch has it, else blas), blas, onednn. Returns the kind in use."""
    if kind == "auto":
        kind = "onednn" if dtype == torch.float32 and torch.backends.mkldnn.is_available() else "blas"
    if kind == "onednn" and not torch.backends.mkldnn.is_available():
        raise UsageError("--matmul onednn: this torch has no oneDNN (mkldnn); use --matmul blas")
    MATMUL["kind"] = kind
    return kind


def _onednn_mm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [M, K] @ b [N, K]ᵀ in float32 through oneDNN."""
    return torch._C._nn.mkldnn_linear(a.contiguous().to_mkldnn(), b.contiguous()).to_dense()


def _onednn_bmm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.dim() == 2:
        return _onednn_mm_t(a, b)
    lead = a.shape[:-2]
    a3, b3 = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    out = torch.stack([_onednn_mm_t(a3[i], b3[i]) for i in range(a3.shape[0])])
    return out.view(*lead, a.shape[-2], b.shape[-2])


class _OneDnnMatmulT(torch.autograd.Function):
    """y = a·bᵀ (batched over leading dims); backward ∂a = g·b, ∂b = gᵀ·a, also through oneDNN."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _onednn_bmm_t(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _onednn_bmm_t(g, b.transpose(-2, -1))
        if ctx.needs_input_grad[1]:
            gb = _onednn_bmm_t(g.transpose(-2, -1), a.transpose(-2, -1))
        return ga, gb


def matmul_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [..., M, K] · b [..., N, K]ᵀ → [..., M, N] (same leading dims)."""
    if MATMUL["kind"] == "onednn" and a.dtype == torch.float32:
        return _OneDnnMatmulT.apply(a, b)
    return torch.matmul(a, b.transpose(-2, -1))


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [..., in] · w [out, in]ᵀ (torch Linear without bias)."""
    if MATMUL["kind"] == "onednn" and x.dtype == torch.float32:
        y = _OneDnnMatmulT.apply(x.reshape(-1, x.shape[-1]), w)
        return y.view(*x.shape[:-1], w.shape[0])
    return F.linear(x, w)


class Block(nn.Module):
    def __init__(self, cfg: Config, device=None):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.att_proj = nn.Linear(d, 3 * d, bias=False, device=device)
        self.attn_out = nn.Linear(d, d, bias=False, device=device)
        self.ff_proj = nn.Linear(d, cfg.ff_dim, bias=False, device=device)
        self.ff_out = nn.Linear(cfg.ff_hidden, d, bias=False, device=device)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        nh, hd = self.cfg.n_heads, self.cfg.head_dim
        q, k, v = linear(rms_norm(x), self.att_proj.weight).split(d, dim=-1)
        q, k, v = (z.view(b, t, nh, hd).transpose(1, 2) for z in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        h = x + linear(y, self.attn_out.weight)
        u = linear(rms_norm(h), self.ff_proj.weight)
        xs, gate = u.split(self.cfg.ff_hidden, dim=-1)
        return h + linear(F.silu(gate) * xs, self.ff_out.weight)


class OLMo(nn.Module):
    """Parameter names are exactly the checkpoint names (transformer.wte.weight, transformer.blocks.{l}.…)."""

    def __init__(self, cfg: Config, device=None):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg.vocab_size, cfg.d_model, device=device),
                "blocks": nn.ModuleList([Block(cfg, device=device) for _ in range(cfg.n_layers)]),
            }
        )
        self._rope: dict = {}

    def rope(self, t: int, dtype: torch.dtype):
        key = (t, dtype)
        if key not in self._rope:
            self._rope[key] = rope_cos_sin(t, self.cfg.head_dim, dtype)
        return self._rope[key]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] int64 → logits [B, T, V]."""
        wte = self.transformer["wte"].weight
        x = F.embedding(tokens, wte)
        cos, sin = self.rope(tokens.shape[1], x.dtype)
        for block in self.transformer["blocks"]:
            x = block(x, cos, sin)
        return linear(rms_norm(x), wte)

    def token_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-token cross-entropy [B, T−1]: position s predicts token s+1 (full vocabulary in the softmax)."""
        logits = self(tokens)[:, :-1]
        targets = tokens[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").view(
            targets.shape
        )

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy over all predicted tokens of the batch."""
        return self.token_losses(tokens).mean()

    def named_weights(self) -> dict[str, torch.Tensor]:
        return dict(self.named_parameters())


def init_std(cfg: Config, name: str) -> float:
    """Mitchell init σ (docs/method.md#model)."""
    d = cfg.d_model
    if name == "transformer.wte.weight" or name.endswith(".att_proj.weight") or name.endswith(".ff_proj.weight"):
        return 1.0 / math.sqrt(d)
    layer = int(name.split(".")[2])
    if name.endswith(".attn_out.weight"):
        return 1.0 / math.sqrt(2 * d * (layer + 1))
    if name.endswith(".ff_out.weight"):
        return 1.0 / math.sqrt(2 * cfg.ff_hidden * (layer + 1))
    raise ValueError(f"no init rule for {name}")


def init_model(cfg: Config, seed: int) -> OLMo:
    """A float32 model, each parameter drawn in checkpoint order from torch's RNG seeded with `seed`:
    truncated normal at ±3σ (torch.nn.init.trunc_normal_)."""
    torch.manual_seed(seed)
    model = OLMo(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = init_std(cfg, name)
            nn.init.trunc_normal_(p, mean=0.0, std=s, a=-3 * s, b=3 * s)
    return model


# ---------------------------------------------------------------------------------------------------------------
# safetensors (minimal, json + numpy)

_ST_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}
_NP_TO_ST = {np.dtype(v).newbyteorder("<") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in _ST_DTYPES.items()}


def read_safetensors(path: str, float32: bool = False) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor (numpy, native byte order) and the "__metadata__" dict.
    BF16 is always widened to float32; with float32=True, F16 and F64 are converted to float32 too."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise UsageError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise UsageError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: header is not JSON ({e})") from e
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        dt, shape, (a, b) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if not 0 <= a <= b <= len(data):
            raise UsageError(f"{path}: tensor {name} has offsets [{a}, {b}) outside the data ({len(data)} bytes)")
        count = int(np.prod(shape, dtype=np.int64))
        if dt == "BF16":
            if b - a != 2 * count:
                raise UsageError(f"{path}: tensor {name}: {b - a} bytes for {count} BF16 values")
            u = np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).reshape(shape)
        elif dt in _ST_DTYPES:
            npd = np.dtype(_ST_DTYPES[dt])
            if b - a != npd.itemsize * count:
                raise UsageError(f"{path}: tensor {name}: {b - a} bytes for {count} {dt} values")
            arr = np.frombuffer(data[a:b], dtype=npd).reshape(shape).astype(npd.newbyteorder("="))
            if float32 and dt in ("F16", "F64"):
                arr = arr.astype(np.float32)
        else:
            raise UsageError(f"{path}: tensor {name} has unsupported dtype {dt}")
        out[name] = arr
    return out, dict(meta)


def write_safetensors(path: str, tensors: dict, metadata: dict | None = None) -> None:
    """Write tensors (numpy arrays or torch tensors) in the given order; metadata values become strings.
    The header is padded with spaces to a multiple of 8 bytes; written to a temporary name, then renamed."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        arr = np.asarray(t)
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        key = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
        if key not in _NP_TO_ST:
            raise UsageError(f"safetensors: cannot write {name} of dtype {arr.dtype}")
        blob = arr.astype(key, copy=False).tobytes()
        header[name] = {"dtype": _NP_TO_ST[key], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def model_state(model: OLMo, np_dtype=np.float32) -> dict[str, np.ndarray]:
    return {n: p.detach().cpu().numpy().astype(np_dtype) for n, p in model.named_parameters()}


def load_checkpoint(model: OLMo, path: str) -> dict[str, str]:
    """Copy a safetensors checkpoint into model (cast to the model's dtype); names and shapes must match."""
    tensors, meta = read_safetensors(path)
    params = dict(model.named_parameters())
    missing = [n for n in params if n not in tensors]
    extra = [n for n in tensors if n not in params]
    if missing or extra:
        raise UsageError(
            f"{path}: tensor names do not match the config (missing: {missing[:4]}{'…' if len(missing) > 4 else ''};"
            f" unexpected: {extra[:4]}{'…' if len(extra) > 4 else ''}); is it the right --config?"
        )
    with torch.no_grad():
        for n, p in params.items():
            a = tensors[n]
            if tuple(a.shape) != tuple(p.shape):
                raise UsageError(f"{path}: {n} has shape {list(a.shape)}, the config needs {list(p.shape)}")
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float64)).to(p.dtype))
    return meta


# ---------------------------------------------------------------------------------------------------------------
# Tokens


def load_sequences(path: str, cfg: Config) -> np.ndarray:
    """The .npy token file chunked as OLMo does: sequence k = tokens[k·T, (k+1)·T), tail dropped → [n, T]."""
    try:
        tok = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read a .npy token array ({e})") from e
    if tok.ndim != 1:
        raise UsageError(f"{path}: tokens must be a 1-D array, got shape {tok.shape}")
    if tok.dtype.kind not in "iu":
        raise UsageError(f"{path}: tokens must be integers (uint16/uint32/int32/int64), got {tok.dtype}")
    t = cfg.seq_len
    n = tok.shape[0] // t
    if n == 0:
        raise UsageError(f"{path}: {tok.shape[0]} tokens is less than one sequence of seq_len {t}")
    return tok[: n * t].reshape(n, t)


def to_batch(seqs: np.ndarray, vocab: int) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(seqs, dtype=np.int64))
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise UsageError(f"token ids must be in [0, {vocab}), got [{int(x.min())}, {int(x.max())}]")
    return x


# ---------------------------------------------------------------------------------------------------------------
# Gradients, schedule, training


def accumulate_gradient(model: OLMo, seqs: np.ndarray, microbatch: int) -> float:
    """Add to .grad the gradient of the mean token loss over all of `seqs`, computed in microbatches of
    `microbatch` sequences, each microbatch's mean loss scaled by its share of the sequences (every sequence
    has T−1 predictions, so this is the global mean). Returns that mean loss (float64 sum of the parts)."""
    n = seqs.shape[0]
    total = 0.0
    for i in range(0, n, microbatch):
        chunk = seqs[i : i + microbatch]
        loss = model.loss(to_batch(chunk, model.cfg.vocab_size))
        (loss * (chunk.shape[0] / n)).backward()
        total += loss.item() * chunk.shape[0] / n
    return total


def learning_rate(step: int, lr: float, warmup: int, schedule: str, total_steps: int, decay_steps: int = 0) -> float:
    """lr used by the update that produces step `step` (1-based).

    warmup (step ≤ W): 0.1·LR + 0.9·LR·min(step, W)/W.
    trapezoidal: LR after warmup; with decay_steps D > 0, linear from LR at step S−D to 0 at step S
        (lr = LR·(S − step)/D for step > S − D), S = total_steps.
    cosine: after warmup, 0.1·LR + 0.9·LR·(1 + cos(π·(step − W)/(S − W)))/2: LR at W, 0.1·LR at S.
    """
    if warmup > 0 and step <= warmup:
        return WARMUP_START * lr + (1 - WARMUP_START) * lr * min(step, warmup) / warmup
    if schedule == "trapezoidal":
        if decay_steps > 0 and step > total_steps - decay_steps:
            return lr * max(total_steps - step, 0) / decay_steps
        return lr
    if schedule == "cosine":
        span = total_steps - warmup
        if span <= 0:
            return COSINE_FLOOR * lr
        frac = min(max(step - warmup, 0), span) / span
        return COSINE_FLOOR * lr + (1 - COSINE_FLOOR) * lr * (1 + math.cos(math.pi * frac)) / 2
    raise UsageError(f"unknown schedule {schedule!r} (trapezoidal or cosine)")


def make_optimizer(model: OLMo, lr: float, weight_decay: float, foreach: bool = False) -> torch.optim.AdamW:
    """AdamW β (0.9, 0.95), eps 1e-5; decoupled weight decay on the Linear weights only (not wte).
    foreach: torch's multi-tensor implementation (same math, fewer kernel launches)."""
    decay = [p for n, p in model.named_parameters() if n != "transformer.wte.weight"]
    no_decay = [model.transformer["wte"].weight]
    return torch.optim.AdamW(
        [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}],
        lr=lr,
        betas=ADAM_BETAS,
        eps=ADAM_EPS,
        weight_decay=weight_decay,
        foreach=foreach,
    )


def grad_norm(params) -> float:
    return float(torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in params if p.grad is not None]), 2))


def train_step(model, opt, seqs: np.ndarray, microbatch: int, lr: float, clip: float) -> tuple[float, float]:
    """One optimizer step on the global batch `seqs`. Returns (loss before the update, pre-clip grad norm)."""
    opt.zero_grad(set_to_none=True)
    loss = accumulate_gradient(model, seqs, microbatch)
    params = list(model.parameters())
    if clip and clip > 0:
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    else:
        norm = grad_norm(params)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    return loss, norm


def optimizer_state(model: OLMo, opt, np_dtype) -> dict[str, np.ndarray]:
    """{name}.exp_avg and {name}.exp_avg_sq for every parameter, in checkpoint order."""
    out = {}
    for n, p in model.named_parameters():
        st = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            v = st.get(k)
            out[f"{n}.{k}"] = (v if v is not None else torch.zeros_like(p)).detach().numpy().astype(np_dtype)
    return out


def load_optimizer_state(model: OLMo, opt, path: str) -> int:
    """Load exp_avg/exp_avg_sq written by optimizer_state; returns the step stored in its metadata."""
    tensors, meta = read_safetensors(path)
    step = int(meta.get("step", "0"))
    for n, p in model.named_parameters():
        st = {}
        for k in ("exp_avg", "exp_avg_sq"):
            key = f"{n}.{k}"
            if key not in tensors:
                raise UsageError(f"{path}: missing {key}; is it an optimizer file of this model?")
            if tuple(tensors[key].shape) != tuple(p.shape):
                raise UsageError(f"{path}: {key} has shape {list(tensors[key].shape)}, expected {list(p.shape)}")
            st[k] = torch.from_numpy(np.asarray(tensors[key], dtype=np.float64)).to(p.dtype)
        st["step"] = torch.tensor(float(step))
        opt.state[p] = st
    return step


def save_training_state(out_dir: str, model, opt, step: int, lr: float, np_dtype, args_meta: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    meta = {"step": step, **args_meta}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), model_state(model, np_dtype), meta)
    opt_meta = {
        "step": step,
        "lr": repr(lr),
        "betas": json.dumps(list(ADAM_BETAS)),
        "eps": repr(ADAM_EPS),
        "weight_decay": repr(opt.param_groups[1]["weight_decay"]),
        "layout": "{param}.exp_avg, {param}.exp_avg_sq (torch.optim.AdamW state); wte has weight_decay 0",
    }
    write_safetensors(os.path.join(out_dir, "optimizer.safetensors"), optimizer_state(model, opt, np_dtype), opt_meta)


# ---------------------------------------------------------------------------------------------------------------
# CLI


DTYPES = {"float32": (torch.float32, np.float32), "float64": (torch.float64, np.float64)}


def setup(args) -> tuple[torch.dtype, type]:
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    dtype, np_dtype = DTYPES[args.dtype]
    args.matmul = set_matmul(args.matmul, dtype)
    return dtype, np_dtype


def open_model(cfg: Config, path: str, dtype: torch.dtype) -> OLMo:
    model = OLMo(cfg).to(dtype)
    load_checkpoint(model, path)
    return model


def select(seqs: np.ndarray, k: int | None, path: str) -> np.ndarray:
    if k is None:
        return seqs
    if k <= 0 or k > seqs.shape[0]:
        raise UsageError(f"--sequences {k}: {path} holds {seqs.shape[0]} sequences")
    return seqs[:k]


def cmd_init(args):
    setup(args)
    cfg = load_config(args.config)
    model = init_model(cfg, args.seed)
    meta = {"config": json.dumps(asdict(cfg)), "seed": args.seed, "init": "mitchell"}
    write_safetensors(args.out, model_state(model, np.float32), meta)


def cmd_losses(args):
    dtype, _ = setup(args)
    cfg = load_config(args.config)
    model = open_model(cfg, args.checkpoint, dtype)
    seqs = select(load_sequences(args.data, cfg), args.sequences, args.data)
    out = np.empty((seqs.shape[0], cfg.seq_len - 1), dtype=np.float64)
    with torch.no_grad():
        for i in range(0, seqs.shape[0], args.batch):
            out[i : i + args.batch] = model.token_losses(to_batch(seqs[i : i + args.batch], cfg.vocab_size)).double().numpy()
    np.save(args.out, out)
    print(json.dumps({"sequences": int(out.shape[0]), "mean_loss": float(out.mean())}))


def cmd_grads(args):
    dtype, np_dtype = setup(args)
    cfg = load_config(args.config)
    model = open_model(cfg, args.checkpoint, dtype)
    seqs = select(load_sequences(args.data, cfg), args.sequences, args.data)
    loss = accumulate_gradient(model, seqs, args.batch or seqs.shape[0])
    grads = {n: p.grad.detach().numpy().astype(np_dtype) for n, p in model.named_parameters()}
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    meta = {"loss": repr(loss), "sequences": seqs.shape[0], "grad_norm": repr(norm), "dtype": args.dtype}
    write_safetensors(args.out, grads, meta)
    print(json.dumps({"loss": loss, "grad_norm": norm, "sequences": int(seqs.shape[0])}))


def parse_save_steps(text: str | None, last: int) -> set[int]:
    if not text:
        return set()
    if text == "pow2":
        return {1 << i for i in range(64) if (1 << i) <= last}
    try:
        return {int(s) for s in text.split(",") if s.strip()}
    except ValueError as e:
        raise UsageError(f"--save-steps {text!r}: expected 'pow2' or comma-separated step numbers") from e


def cmd_train(args):
    dtype, np_dtype = setup(args)
    cfg = load_config(args.config)
    if args.batch <= 0 or args.microbatch <= 0:
        raise UsageError("--batch and --microbatch must be positive")
    if args.batch % args.microbatch:
        raise UsageError(f"--batch {args.batch} is not a multiple of --microbatch {args.microbatch}")
    model = open_model(cfg, args.init, dtype)
    opt = make_optimizer(model, args.lr, args.weight_decay)
    start = 0
    if args.init_optimizer:
        start = load_optimizer_state(model, opt, args.init_optimizer)
    if args.start_step is not None:
        start = args.start_step
        for st in opt.state.values():
            st["step"] = torch.tensor(float(start))
    last = start + args.steps
    horizon = args.schedule_steps or last
    seqs = load_sequences(args.data, cfg)
    first = start * args.batch if args.first_sequence is None else args.first_sequence
    need = first + args.steps * args.batch
    if need > seqs.shape[0]:
        raise UsageError(
            f"{args.data}: steps {start + 1}…{last} need sequences up to {need}, the file holds {seqs.shape[0]}"
            f" of {cfg.seq_len} tokens; use fewer --steps or a smaller --batch"
        )
    save_steps = parse_save_steps(args.save_steps, last)
    meta = {"config": json.dumps(asdict(cfg)), "dtype": args.dtype, "matmul": args.matmul}
    log = {"step": [], "loss": [], "grad_norm": [], "lr": [], "seconds": []}
    os.makedirs(args.out, exist_ok=True)
    lr = 0.0
    for step in range(start + 1, last + 1):
        t0 = time.perf_counter()
        lr = learning_rate(step, args.lr, args.warmup, args.schedule, horizon, args.decay_steps)
        at = first + (step - start - 1) * args.batch  # default: sequences [(step−1)·B, step·B)
        batch = seqs[at : at + args.batch]
        loss, norm = train_step(model, opt, batch, args.microbatch, lr, args.clip)
        for k, v in (("step", step), ("loss", loss), ("grad_norm", norm), ("lr", lr)):
            log[k].append(v)
        log["seconds"].append(time.perf_counter() - t0)
        if step in save_steps:
            save_training_state(os.path.join(args.out, f"step{step}"), model, opt, step, lr, np_dtype, meta)
        if args.verbose:
            print(f"step {step} loss {loss:.6f} grad_norm {norm:.4f} lr {lr:.3e}", file=sys.stderr)
    save_training_state(args.out, model, opt, last, lr, np_dtype, meta)
    log["config"] = asdict(cfg)
    log["args"] = {k: v for k, v in vars(args).items() if k != "func"}
    tmp = os.path.join(args.out, f"losses.json.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(log, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "losses.json"))


FLOP_FORMULA = "flops_per_step = 6*n_params*B*T + 12*n_layers*d_model*B*T*T (attention scores and values, full TxT)"


def blas_library() -> str:
    """The BLAS shared library this process loaded (Debian: the reference libblas unless OpenBLAS is installed)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    for path in sorted(paths):
        if "openblas" in path or "mkl" in path or "blis" in path:
            return os.path.realpath(path)
    return os.path.realpath(sorted(paths)[0]) if paths else "none"


def cmd_bench(args):
    dtype, _ = setup(args)
    if args.fast:
        torch.use_deterministic_algorithms(False)
    cfg = load_config(args.config)
    if args.seq:
        cfg = cfg.with_seq_len(args.seq)
    model = init_model(cfg, args.seed).to(dtype)
    opt = make_optimizer(model, 1e-3, 0.1, foreach=args.fast)
    gen = torch.Generator().manual_seed(args.seed)
    b, t = args.batch, cfg.seq_len
    mb = args.microbatch or b
    times = []
    cpu_times = []
    started = time.perf_counter()
    for i in range(args.warmup_steps + args.steps):
        seqs = torch.randint(0, cfg.vocab_size, (b, t), generator=gen).numpy()
        t0 = time.perf_counter()
        c0 = time.process_time()
        train_step(model, opt, seqs, mb, 1e-3, 1.0)
        dt = time.perf_counter() - t0
        if i >= args.warmup_steps:
            times.append(dt)
            cpu_times.append(time.process_time() - c0)
        # A configuration far slower than the others (e.g. oversubscribed threads) need not run long.
        if args.max_seconds and len(times) >= 3 and time.perf_counter() - started > args.max_seconds:
            break
    n_params = cfg.n_params()
    flops = 6 * n_params * b * t + 12 * cfg.n_layers * cfg.d_model * b * t * t
    sec = sum(times) / len(times)
    print(
        json.dumps(
            {
                "config": asdict(cfg),
                "batch": b,
                "microbatch": mb,
                "seq": t,
                "steps": len(times),
                "warmup_steps": args.warmup_steps,
                "threads": torch.get_num_threads(),
                "fast": args.fast,
                "blas": blas_library(),
                "dtype": args.dtype,
                "matmul": args.matmul,
                "torch": torch.__version__,
                "n_params": n_params,
                "tokens_per_step": b * t,
                "seconds_per_step": sec,
                "seconds_per_step_median": float(np.median(times)),
                "cpu_seconds_per_step_median": float(np.median(cpu_times)),
                "tokens_per_s": b * t / sec,
                "flops_per_step": flops,
                "gflops_per_s": flops / sec / 1e9,
                "flop_formula": FLOP_FORMULA,
                "step_seconds": times,
            }
        )
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="olmo.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="compute dtype (default float32)")
        sp.add_argument(
            "--threads", type=int, default=1, help="torch CPU threads (default 1: same bits on any machine; 0: torch's default)"
        )
        sp.add_argument(
            "--matmul",
            choices=("auto", "blas", "onednn"),
            default="auto",
            help="float32 matrix products: oneDNN (fast) or torch's BLAS; auto = onednn for float32",
        )

    sp = sub.add_parser("init", help="mitchell init of a config → safetensors (F32)")
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
    sp.add_argument("--batch", type=int, default=8, help="sequences per forward pass (memory only)")
    sp.add_argument("--sequences", type=int, default=None, help="only the first K sequences")
    common(sp)
    sp.set_defaults(func=cmd_losses)

    sp = sub.add_parser("grads", help="gradient of the mean loss over the first K sequences → safetensors")
    sp.add_argument("--config", required=True)
    sp.add_argument("--checkpoint", required=True)
    sp.add_argument("--data", required=True)
    sp.add_argument("--sequences", type=int, required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--batch", type=int, default=0, help="sequences per backward pass (0: all at once)")
    common(sp)
    sp.set_defaults(func=cmd_grads)

    sp = sub.add_parser("train", help="AdamW training as docs/method.md#training")
    sp.add_argument("--config", required=True)
    sp.add_argument("--init", required=True, help="model checkpoint to start from")
    sp.add_argument("--data", required=True)
    sp.add_argument("--steps", type=int, required=True)
    sp.add_argument("--batch", type=int, required=True, help="global batch B in sequences")
    sp.add_argument("--microbatch", type=int, required=True, help="microbatch b (B must be a multiple)")
    sp.add_argument("--lr", type=float, required=True, help="peak LR")
    sp.add_argument("--warmup", type=int, required=True, help="warmup steps W")
    sp.add_argument("--schedule", choices=("trapezoidal", "cosine"), required=True)
    sp.add_argument("--decay-steps", type=int, default=0, help="trapezoidal: linear decay to 0 over the last D steps")
    sp.add_argument("--schedule-steps", type=int, default=0, help="schedule horizon S (default: the last step)")
    sp.add_argument("--clip", type=float, default=1.0, help="global-norm clip (0: none)")
    sp.add_argument("--weight-decay", type=float, default=0.1)
    sp.add_argument("--init-optimizer", default=None, help="optimizer.safetensors to resume AdamW state from")
    sp.add_argument("--start-step", type=int, default=None, help="step counter before the first step")
    sp.add_argument(
        "--first-sequence",
        type=int,
        default=None,
        help="sequence index of the first step's batch (default start-step·B, so step s uses [(s−1)·B, s·B))",
    )
    sp.add_argument("--save-steps", default=None, help="'pow2' or '1,2,4': also save DIR/step{N}/")
    sp.add_argument("--out", required=True, help="output directory")
    sp.add_argument("--verbose", action="store_true")
    common(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("bench", help="tokens/s of full training steps → JSON on stdout")
    sp.add_argument("--config", required=True)
    sp.add_argument("--batch", type=int, required=True)
    sp.add_argument("--seq", type=int, default=0, help="sequence length (default: the config's seq_len)")
    sp.add_argument("--steps", type=int, required=True)
    sp.add_argument("--warmup-steps", type=int, default=1, help="untimed steps first")
    sp.add_argument("--microbatch", type=int, default=0)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument(
        "--fast", action="store_true", help="no deterministic-algorithms mode, multi-tensor (foreach) AdamW"
    )
    sp.add_argument("--max-seconds", type=float, default=0, help="stop after this long (at least 3 timed steps)")
    common(sp)
    sp.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UsageError as e:
        print(f"olmo.py {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
