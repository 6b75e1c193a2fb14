/**
 * The whole transformer of docs/method.md#model in float64 TypeScript, forward and backward, composed from
 * the per-op references. It is the yardstick for the GPU engine's losses and gradients, and small
 * enough to read top to bottom. A config with `arch: "nanogpt"` goes to the nanoGPT reference
 * (`nanogpt.ts`).
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { headDim } from "../model/config.ts";
import { embeddingBackward, embeddingForward } from "./embedding.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";
import { nanoGptForward, nanoGptGradients } from "./nanogpt.ts";
import { add, headBackward, headForward, parameter, sizesOf } from "./transformer_parts.ts";
import type { BlockCache } from "./transformer_parts.ts";

export { nextTokenTargets } from "./transformer_parts.ts";

/** Parameters by OLMo name, row-major (out×in). */
export type ReferenceParameters = Map<string, Float64Array>;

/** Per-token losses and their mean. */
export interface ReferenceLosses {
  /** [batch, seq_len − 1]: the loss of predicting token s+1 at position s. */
  losses: Float64Array;
  /** Mean over all predicted tokens. */
  meanLoss: number;
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
  const layers: BlockCache[] = [];
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
  return { ...headForward(x, wte, tokens, { batch, T, V, d, eps }), layers, ids };
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

  const head = headBackward(cache, wte, { batch, T, V, d, eps });
  let dx = head.dx;
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
  gradients.set("transformer.wte.weight", add(head.dWte, embeddingBackward(dx, cache.ids, V, d)));
  return { losses: cache.losses, meanLoss: cache.meanLoss, gradients };
}
