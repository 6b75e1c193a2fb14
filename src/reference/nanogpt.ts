/**
 * The nanoGPT architecture of docs/method.md#the-nanogpt-variant in float64 TypeScript, forward and backward, composed from
 * the per-op references (the OLMo model is in `model.ts`): learned positions, pre-norm blocks with
 * parameter-free RMSNorm, causal attention without RoPE, an exact-GELU MLP of width 4d, tied logits.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { validateConfig } from "../model/config.ts";
import { embeddingBackward, embeddingForward } from "./embedding.ts";
import { positionBackward, positionForward } from "./position.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import { geluBackward, geluForward } from "./gelu.ts";
import type { ReferenceLosses, ReferenceParameters } from "./model.ts";
import { add, headBackward, headForward, parameter, sizesOf } from "./transformer_parts.ts";
import type { BlockCache } from "./transformer_parts.ts";

function forwardWithCache(
  config: Required<ModelConfig>,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
) {
  const { d, T, N, V, eps, hidden } = sizesOf(config, batch);
  const ids = Uint32Array.from(tokens);
  const wte = parameter(params, "transformer.wte.weight");
  const wpe = parameter(params, "transformer.wpe.weight");

  let x = positionForward(embeddingForward(wte, ids, V, d), wpe, batch, T, d);
  const layers: BlockCache[] = [];
  for (let l = 0; l < config.n_layers; l++) {
    const p = `transformer.h.${l}`;
    const input = x;
    // middle = input + attn.c_proj(attention(attn.c_attn(norm(input))))
    const norm1 = rmsnormForward(input, N, d, eps);
    const qkv = matmulXWt(norm1, parameter(params, `${p}.attn.c_attn.weight`), N, 3 * d, d);
    const attention = attentionForward(qkv, batch, T, d, config.n_heads);
    const middle = add(input, matmulXWt(attention, parameter(params, `${p}.attn.c_proj.weight`), N, d, d));
    // out = middle + mlp.c_proj(gelu(mlp.c_fc(norm(middle))))
    const norm2 = rmsnormForward(middle, N, d, eps);
    const up = matmulXWt(norm2, parameter(params, `${p}.mlp.c_fc.weight`), N, hidden, d);
    const gated = geluForward(up);
    x = add(middle, matmulXWt(gated, parameter(params, `${p}.mlp.c_proj.weight`), N, d, hidden));
    layers.push({ input, norm1, qkv, attention, middle, norm2, up, gated });
  }
  return { ...headForward(x, wte, tokens, { batch, T, V, d, eps }), layers, ids };
}

/** Per-token losses of `batch` sequences of a nanoGPT model (`config.arch` "nanogpt"). */
export function nanoGptForward(
  config: ModelConfig,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
): ReferenceLosses {
  const { losses, meanLoss } = forwardWithCache(validateConfig(config), params, tokens, batch);
  return { losses, meanLoss };
}

/** Per-token losses, their mean, and the gradient of the mean loss for every nanoGPT parameter. */
export function nanoGptGradients(
  rawConfig: ModelConfig,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
): ReferenceLosses & { gradients: ReferenceParameters } {
  const config = validateConfig(rawConfig);
  const cache = forwardWithCache(config, params, tokens, batch);
  const { d, T, N, V, eps, hidden } = sizesOf(config, batch);
  const wte = parameter(params, "transformer.wte.weight");
  const positions = parameter(params, "transformer.wpe.weight").length / d;
  const gradients: ReferenceParameters = new Map();

  const head = headBackward(cache, wte, { batch, T, V, d, eps });
  let dx = head.dx;
  for (let l = config.n_layers - 1; l >= 0; l--) {
    const p = `transformer.h.${l}`;
    const layer = cache.layers[l];
    const dGelu = matmulDyW(dx, parameter(params, `${p}.mlp.c_proj.weight`), N, d, hidden);
    gradients.set(`${p}.mlp.c_proj.weight`, matmulDyTx(dx, layer.gated, N, d, hidden));
    const dUp = geluBackward(dGelu, layer.up);
    gradients.set(`${p}.mlp.c_fc.weight`, matmulDyTx(dUp, layer.norm2, N, hidden, d));
    const dNorm2 = matmulDyW(dUp, parameter(params, `${p}.mlp.c_fc.weight`), N, hidden, d);
    const dMiddle = add(dx, rmsnormBackward(dNorm2, layer.middle, N, d, eps));
    const dAttention = matmulDyW(dMiddle, parameter(params, `${p}.attn.c_proj.weight`), N, d, d);
    gradients.set(`${p}.attn.c_proj.weight`, matmulDyTx(dMiddle, layer.attention, N, d, d));
    const dQkv = attentionBackward(dAttention, layer.qkv, batch, T, d, config.n_heads);
    gradients.set(`${p}.attn.c_attn.weight`, matmulDyTx(dQkv, layer.norm1, N, 3 * d, d));
    const dNorm1 = matmulDyW(dQkv, parameter(params, `${p}.attn.c_attn.weight`), N, 3 * d, d);
    dx = add(dMiddle, rmsnormBackward(dNorm1, layer.input, N, d, eps));
  }
  gradients.set("transformer.wte.weight", add(head.dWte, embeddingBackward(dx, cache.ids, V, d)));
  gradients.set("transformer.wpe.weight", positionBackward(dx, batch, T, d, positions));
  return { losses: cache.losses, meanLoss: cache.meanLoss, gradients };
}
