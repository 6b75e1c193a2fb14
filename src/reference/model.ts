/**
 * The whole transformer of docs/method.md#model in float64 TypeScript, forward and backward, composed from
 * the per-op references. It is the yardstick for the GPU engine's losses and gradients, and small
 * enough to read top to bottom. A config with `arch: "nanogpt"` goes to the nanoGPT reference
 * (`nanogpt.ts`).
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { headDim, mlpHidden } from "../model/config.ts";
import { embeddingBackward, embeddingForward } from "./embedding.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.ts";
import { nanoGptForward, nanoGptGradients } from "./nanogpt.ts";

/** Parameters by OLMo name, row-major (out×in). */
export type ReferenceParameters = Map<string, Float64Array>;

/** Per-token losses and their mean. */
export interface ReferenceLosses {
  /** [batch, seq_len − 1]: the loss of predicting token s+1 at position s. */
  losses: Float64Array;
  /** Mean over all predicted tokens. */
  meanLoss: number;
}

/** Targets of each row: the next token within the sequence, −1 at the last position. */
export function nextTokenTargets(tokens: ArrayLike<number>, batch: number, seqLen: number): Int32Array {
  const targets = new Int32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seqLen; s++) {
      targets[b * seqLen + s] = s < seqLen - 1 ? tokens[b * seqLen + s + 1] : -1;
    }
  }
  return targets;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

function parameter(params: ReferenceParameters, name: string): Float64Array {
  const value = params.get(name);
  if (!value) throw new Error(`reference model: missing parameter ${name}`);
  return value;
}

interface LayerCache {
  input: Float64Array;
  norm1: Float64Array;
  qkv: Float64Array;
  attention: Float64Array;
  middle: Float64Array;
  norm2: Float64Array;
  up: Float64Array;
  gated: Float64Array;
}

/** The sizes the forward and the backward use: width, sequence, rows, vocabulary, MLP widths, eps and θ. */
function sizesOf(config: ModelConfig, batch: number) {
  const d = config.d_model;
  const T = config.seq_len;
  return {
    d,
    T,
    N: batch * T,
    V: config.vocab_size,
    eps: config.norm_eps ?? 1e-5,
    theta: config.rope_theta ?? 10000,
    hidden: mlpHidden(config),
    up: config.mlp_ratio * d,
  };
}

function forwardWithCache(
  config: ModelConfig,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
) {
  const { d, T, N, V, eps, theta, hidden, up } = sizesOf(config, batch);
  const ids = Uint32Array.from(tokens);
  const wte = parameter(params, "transformer.wte.weight");

  let x = embeddingForward(wte, ids, V, d);
  const layers: LayerCache[] = [];
  for (let l = 0; l < config.n_layers; l++) {
    const p = `transformer.blocks.${l}`;
    const input = x;
    const norm1 = rmsnormForward(input, N, d, eps);
    const qkv = ropeForward(
      matmulXWt(norm1, parameter(params, `${p}.att_proj.weight`), N, 3 * d, d),
      batch,
      T,
      d,
      headDim(config),
      theta,
    );
    const attention = attentionForward(qkv, batch, T, d, config.n_heads);
    const middle = add(input, matmulXWt(attention, parameter(params, `${p}.attn_out.weight`), N, d, d));
    const norm2 = rmsnormForward(middle, N, d, eps);
    const upOut = matmulXWt(norm2, parameter(params, `${p}.ff_proj.weight`), N, up, d);
    const gated = swigluForward(upOut, N, up);
    x = add(middle, matmulXWt(gated, parameter(params, `${p}.ff_out.weight`), N, d, hidden));
    layers.push({ input, norm1, qkv, attention, middle, norm2, up: upOut, gated });
  }
  const final = rmsnormForward(x, N, d, eps);
  const logits = matmulXWt(final, wte, N, V, d);
  const targets = nextTokenTargets(tokens, batch, T);
  const rowLosses = crossEntropyForward(logits, targets, N, V);
  const losses = new Float64Array(batch * (T - 1));
  let sum = 0;
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < T - 1; s++) {
      losses[b * (T - 1) + s] = rowLosses[b * T + s];
      sum += rowLosses[b * T + s];
    }
  }
  return { losses, meanLoss: sum / (batch * (T - 1)), layers, x, final, logits, targets, ids };
}

/**
 * Per-token losses of `batch` sequences of `config.seq_len` tokens (row-major `tokens`).
 *
 * @example
 * ```ts
 * import { referenceForward } from "./mod.ts";
 * // const { losses, meanLoss } = referenceForward(config, params, tokens, 2);
 * ```
 */
export function referenceForward(
  config: ModelConfig,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
): ReferenceLosses {
  if (config.arch === "nanogpt") return nanoGptForward(config, params, tokens, batch);
  const { losses, meanLoss } = forwardWithCache(config, params, tokens, batch);
  return { losses, meanLoss };
}

/** Per-token losses, their mean, and the gradient of the mean loss for every parameter. */
export function referenceGradients(
  config: ModelConfig,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
): ReferenceLosses & { gradients: ReferenceParameters } {
  if (config.arch === "nanogpt") return nanoGptGradients(config, params, tokens, batch);
  const cache = forwardWithCache(config, params, tokens, batch);
  const { d, T, N, V, eps, theta, hidden, up } = sizesOf(config, batch);
  const wte = parameter(params, "transformer.wte.weight");
  const gradients: ReferenceParameters = new Map();

  const dLogits = crossEntropyBackward(cache.logits, cache.targets, N, V, 1 / (batch * (T - 1)));
  const dWte = matmulDyTx(dLogits, cache.final, N, V, d);
  let dx = rmsnormBackward(matmulDyW(dLogits, wte, N, V, d), cache.x, N, d, eps);
  for (let l = config.n_layers - 1; l >= 0; l--) {
    const p = `transformer.blocks.${l}`;
    const layer = cache.layers[l];
    // x_out = middle + ff_out(swiglu(ff_proj(norm(middle))))
    const dGated = matmulDyW(dx, parameter(params, `${p}.ff_out.weight`), N, d, hidden);
    gradients.set(`${p}.ff_out.weight`, matmulDyTx(dx, layer.gated, N, d, hidden));
    const dUp = swigluBackward(dGated, layer.up, N, up);
    gradients.set(`${p}.ff_proj.weight`, matmulDyTx(dUp, layer.norm2, N, up, d));
    const dNorm2 = matmulDyW(dUp, parameter(params, `${p}.ff_proj.weight`), N, up, d);
    const dMiddle = add(dx, rmsnormBackward(dNorm2, layer.middle, N, d, eps));
    // middle = input + attn_out(attention(rope(att_proj(norm(input)))))
    const dAttention = matmulDyW(dMiddle, parameter(params, `${p}.attn_out.weight`), N, d, d);
    gradients.set(`${p}.attn_out.weight`, matmulDyTx(dMiddle, layer.attention, N, d, d));
    const dQkv = ropeBackward(
      attentionBackward(dAttention, layer.qkv, batch, T, d, config.n_heads),
      batch,
      T,
      d,
      headDim(config),
      theta,
    );
    gradients.set(`${p}.att_proj.weight`, matmulDyTx(dQkv, layer.norm1, N, 3 * d, d));
    const dNorm1 = matmulDyW(dQkv, parameter(params, `${p}.att_proj.weight`), N, 3 * d, d);
    dx = add(dMiddle, rmsnormBackward(dNorm1, layer.input, N, d, eps));
  }
  gradients.set("transformer.wte.weight", add(dWte, embeddingBackward(dx, cache.ids, V, d)));
  return { losses: cache.losses, meanLoss: cache.meanLoss, gradients };
}
