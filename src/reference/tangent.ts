/**
 * Float64 forward-mode derivatives (tangents, Jacobian-vector products) of the per-token losses along
 * a parameter direction δ: ℓ̇_i = ∇_θ ℓ_i · δ, the first-order prediction Δ̂ℓ_i = g_i·δ of gradient
 * interference (docs/method.md#gradient-interference), from one forward pass carrying tangents. The
 * tangent rules of each op, then the whole model written out layer by layer beside its forward (OLMo
 * and nanoGPT), as `model.ts` writes the backward. The GPU path is `src/model/tangent.ts`.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { headDim, validateConfig } from "../model/config.ts";
import { checkAttentionShape } from "../ops/shapes.ts";
import { attentionForward } from "./attention.ts";
import { embeddingForward } from "./embedding.ts";
import { geluBackward, geluForward } from "./gelu.ts";
import { matmulXWt } from "./matmul.ts";
import type { ReferenceParameters } from "./model.ts";
import { positionForward } from "./position.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeForward } from "./rope.ts";
import { swigluForward } from "./swiglu.ts";
import { add, nextTokenTargets, parameter, sizesOf } from "./transformer_parts.ts";

/**
 * Tangent of causal attention: with P = softmax(S), S = q·kᵀ/√hd (causal), Ṡ = (q̇·kᵀ + q·k̇ᵀ)/√hd,
 * Ṗ = P ∘ (Ṡ − rowsum(P ∘ Ṡ)) and ẏ = Ṗ·v + P·v̇. `qkv`, `tangentQkv` [B·T, 3d] (q, k rotated), → [B·T, d].
 */
export function attentionTangent(
  qkv: ArrayLike<number>,
  tangentQkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  nHeads: number,
): Float64Array {
  const hd = checkAttentionShape(batch, seqLen, dModel, nHeads);
  const scale = 1 / Math.sqrt(hd);
  const stride = 3 * dModel;
  const out = new Float64Array(batch * seqLen * dModel);
  const s = new Float64Array(seqLen);
  const ds = new Float64Array(seqLen);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHeads; h++) {
      for (let t = 0; t < seqLen; t++) {
        const q = (b * seqLen + t) * stride + h * hd;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const k = (b * seqLen + j) * stride + dModel + h * hd;
          let score = 0;
          let tangent = 0;
          for (let c = 0; c < hd; c++) {
            score += qkv[q + c] * qkv[k + c];
            tangent += tangentQkv[q + c] * qkv[k + c] + qkv[q + c] * tangentQkv[k + c];
          }
          s[j] = score * scale;
          ds[j] = tangent * scale;
          max = Math.max(max, s[j]);
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += Math.exp(s[j] - max);
        let meanDs = 0; // rowsum(P ∘ Ṡ)
        for (let j = 0; j <= t; j++) meanDs += (Math.exp(s[j] - max) / sum) * ds[j];
        const y = (b * seqLen + t) * dModel + h * hd;
        for (let j = 0; j <= t; j++) {
          const p = Math.exp(s[j] - max) / sum;
          const dp = p * (ds[j] - meanDs);
          const v = (b * seqLen + j) * stride + 2 * dModel + h * hd;
          for (let c = 0; c < hd; c++) out[y + c] += dp * qkv[v + c] + p * tangentQkv[v + c];
        }
      }
    }
  }
  return out;
}

function sigmoid(g: number): number {
  return g >= 0 ? 1 / (1 + Math.exp(-g)) : Math.exp(g) / (1 + Math.exp(g));
}

/** Tangent of SwiGLU (`u = [x | gate]` [rows, width]): ẏ = silu(gate)·ẋ + silu'(gate)·ġate·x, [rows, width/2]. */
export function swigluTangent(
  u: ArrayLike<number>,
  tangentU: ArrayLike<number>,
  rows: number,
  width: number,
): Float64Array {
  const half = width / 2;
  const out = new Float64Array(rows * half);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < half; c++) {
      const x = u[r * width + c];
      const gate = u[r * width + half + c];
      const sg = sigmoid(gate);
      const silu = gate * sg;
      const siluPrime = sg * (1 + gate * (1 - sg));
      out[r * half + c] = silu * tangentU[r * width + c] + siluPrime * tangentU[r * width + half + c] * x;
    }
  }
  return out;
}

/**
 * Tangent of each row's token loss: ℓ̇_r = Σ_v softmax(z_r)_v ż_rv − ż_r[target_r] (0 where the target
 * is negative). `logits`, `tangentLogits` [rows, vocab].
 */
export function crossEntropyTangent(
  logits: ArrayLike<number>,
  tangentLogits: ArrayLike<number>,
  targets: ArrayLike<number>,
  rows: number,
  vocab: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (targets[r] < 0) continue;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[r * vocab + v]);
    let sum = 0;
    let weighted = 0;
    for (let v = 0; v < vocab; v++) {
      const e = Math.exp(logits[r * vocab + v] - max);
      sum += e;
      weighted += e * tangentLogits[r * vocab + v];
    }
    out[r] = weighted / sum - tangentLogits[r * vocab + targets[r]];
  }
  return out;
}

/** `ẋWᵀ + x·δWᵀ`: the tangent of a Linear `xWᵀ` along (ẋ, δW). */
function linearTangent(
  x: Float64Array,
  tangentX: Float64Array,
  w: Float64Array,
  deltaW: Float64Array,
  n: number,
  m: number,
  k: number,
): Float64Array {
  return add(matmulXWt(tangentX, w, n, m, k), matmulXWt(x, deltaW, n, m, k));
}

/**
 * The tangents ℓ̇_i = g_i·δ of the per-token losses of `batch` sequences (row-major `tokens`) at
 * parameters `params` along `delta` (both by parameter name), [batch, seq_len − 1]: one forward
 * carrying (value, tangent) through every layer. OLMo and nanoGPT.
 *
 * @example
 * ```ts
 * import { referenceLossTangent } from "./mod.ts";
 * // const tangents = referenceLossTangent(config, params, delta, tokens, 2);
 * ```
 */
export function referenceLossTangent(
  config: ModelConfig,
  params: ReferenceParameters,
  delta: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
): Float64Array {
  const c = validateConfig(config);
  const { d, T, N, V, eps, theta, hidden, up } = sizesOf(c, batch);
  const olmo = c.arch === "olmo";
  const ids = Uint32Array.from(tokens);
  const wte = parameter(params, "transformer.wte.weight");
  const dWte = parameter(delta, "transformer.wte.weight");
  // x = E[tok] (+ wpe[s]); ẋ = δE[tok] (+ δwpe[s]): the embeddings are linear in their tables.
  let x = embeddingForward(wte, ids, V, d);
  let dx = embeddingForward(dWte, ids, V, d);
  if (!olmo) {
    x = positionForward(x, parameter(params, "transformer.wpe.weight"), batch, T, d);
    dx = positionForward(dx, parameter(delta, "transformer.wpe.weight"), batch, T, d);
  }
  const rope = (qkv: Float64Array) => olmo ? ropeForward(qkv, batch, T, d, headDim(c), theta) : qkv;
  for (let l = 0; l < c.n_layers; l++) {
    const names = olmo
      ? [`blocks.${l}.att_proj`, `blocks.${l}.attn_out`, `blocks.${l}.ff_proj`, `blocks.${l}.ff_out`]
      : [`h.${l}.attn.c_attn`, `h.${l}.attn.c_proj`, `h.${l}.mlp.c_fc`, `h.${l}.mlp.c_proj`];
    const [wQkv, wOut, wUp, wDown] = names.map((n) => parameter(params, `transformer.${n}.weight`));
    const [dQkvW, dOutW, dUpW, dDownW] = names.map((n) => parameter(delta, `transformer.${n}.weight`));
    // Attention branch. RMSNorm's Jacobian is symmetric: its tangent is its backward applied to ẋ.
    const norm1 = rmsnormForward(x, N, d, eps);
    const dNorm1 = rmsnormBackward(dx, x, N, d, eps);
    const qkv = rope(matmulXWt(norm1, wQkv, N, 3 * d, d));
    const dQkv = rope(linearTangent(norm1, dNorm1, wQkv, dQkvW, N, 3 * d, d)); // RoPE is linear
    const attention = attentionForward(qkv, batch, T, d, c.n_heads);
    const dAttention = attentionTangent(qkv, dQkv, batch, T, d, c.n_heads);
    const middle = add(x, matmulXWt(attention, wOut, N, d, d));
    const dMiddle = add(dx, linearTangent(attention, dAttention, wOut, dOutW, N, d, d));
    // MLP branch.
    const width = olmo ? up : hidden;
    const norm2 = rmsnormForward(middle, N, d, eps);
    const dNorm2 = rmsnormBackward(dMiddle, middle, N, d, eps);
    const u = matmulXWt(norm2, wUp, N, width, d);
    const dU = linearTangent(norm2, dNorm2, wUp, dUpW, N, width, d);
    const gated = olmo ? swigluForward(u, N, up) : geluForward(u);
    const dGated = olmo ? swigluTangent(u, dU, N, up) : geluBackward(dU, u); // GELU: elementwise
    x = add(middle, matmulXWt(gated, wDown, N, d, hidden));
    dx = add(dMiddle, linearTangent(gated, dGated, wDown, dDownW, N, d, hidden));
  }
  // The tied head: z = final·Eᵀ, ż = ḟinal·Eᵀ + final·δEᵀ, then the loss's tangent.
  const final = rmsnormForward(x, N, d, eps);
  const dFinal = rmsnormBackward(dx, x, N, d, eps);
  const logits = matmulXWt(final, wte, N, V, d);
  const dLogits = linearTangent(final, dFinal, wte, dWte, N, V, d);
  const rows = crossEntropyTangent(logits, dLogits, nextTokenTargets(tokens, batch, T), N, V);
  const out = new Float64Array(batch * (T - 1));
  for (let b = 0; b < batch; b++) out.set(rows.subarray(b * T, b * T + T - 1), b * (T - 1));
  return out;
}
