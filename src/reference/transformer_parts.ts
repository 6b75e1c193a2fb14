/**
 * What the float64 OLMo and nanoGPT references share: their sizes, the activations a block saves, the
 * tied LM head (final RMSNorm, logits, the per-token losses of the next-token targets) forward and
 * backward, the residual add, and parameter look-up. The blocks themselves stay written out in
 * `model.ts` and `nanogpt.ts`.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { mlpHidden } from "../model/config.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.ts";

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

/** The sizes the forward and the backward use: width, sequence, rows, vocabulary, MLP widths, eps and θ. */
export function sizesOf(config: ModelConfig, batch: number) {
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

/** The activations one block saves for its backward (OLMo's and nanoGPT's alike). */
export interface BlockCache {
  /** The block's input (the residual stream) [N, d]. */
  input: Float64Array;
  /** RMSNorm(input) [N, d]. */
  norm1: Float64Array;
  /** q, k, v [N, 3d] (after RoPE in OLMo). */
  qkv: Float64Array;
  /** Attention's output, heads concatenated [N, d]. */
  attention: Float64Array;
  /** input + the attention's projection [N, d]. */
  middle: Float64Array;
  /** RMSNorm(middle) [N, d]. */
  norm2: Float64Array;
  /** The MLP's up projection [N, up width]. */
  up: Float64Array;
  /** The activation of `up` (SwiGLU or GELU) [N, hidden]. */
  gated: Float64Array;
}

/** `a + b` elementwise (the residual add). */
export function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** The parameter `name`; throws when it is missing. */
export function parameter(params: Map<string, Float64Array>, name: string): Float64Array {
  const value = params.get(name);
  if (!value) throw new Error(`reference model: missing parameter ${name}`);
  return value;
}

/** The sizes of the head: sequences, their length, vocabulary, width and the norm's eps. */
export interface HeadSizes {
  batch: number;
  T: number;
  V: number;
  d: number;
  eps: number;
}

/** The head's forward values the backward reads, and the per-token losses. */
export interface HeadCache {
  /** [batch, T − 1]: the loss of predicting token s+1 at position s. */
  losses: Float64Array;
  /** Mean over all predicted tokens. */
  meanLoss: number;
  /** The residual stream after the last block [N, d]. */
  x: Float64Array;
  /** RMSNorm(x) [N, d]. */
  final: Float64Array;
  /** final·wteᵀ [N, V]. */
  logits: Float64Array;
  /** Next-token targets [N] (−1 at each sequence's last position). */
  targets: Int32Array;
}

/** The tied head on the residual stream `x` [batch·T, d]: final norm, logits, per-token losses. */
export function headForward(
  x: Float64Array,
  wte: Float64Array,
  tokens: ArrayLike<number>,
  { batch, T, V, d, eps }: HeadSizes,
): HeadCache {
  const N = batch * T;
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
  return { losses, meanLoss: sum / (batch * (T - 1)), x, final, logits, targets };
}

/**
 * The head's backward from the mean loss: the head's part of wte's gradient (`dWte`, the embedding's
 * part is added by the caller) and the gradient of the residual stream after the last block (`dx`).
 */
export function headBackward(
  head: HeadCache,
  wte: Float64Array,
  { batch, T, V, d, eps }: HeadSizes,
): { dWte: Float64Array; dx: Float64Array } {
  const N = batch * T;
  const dLogits = crossEntropyBackward(head.logits, head.targets, N, V, 1 / (batch * (T - 1)));
  const dWte = matmulDyTx(dLogits, head.final, N, V, d);
  const dx = rmsnormBackward(matmulDyW(dLogits, wte, N, V, d), head.x, N, d, eps);
  return { dWte, dx };
}
