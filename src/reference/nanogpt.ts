/**
 * The nanoGPT architecture of docs/method.md#the-nanogpt-variant in float64 TypeScript, forward and backward, composed from
 * the per-op references (the OLMo model is in `model.ts`): learned positions, pre-norm blocks with
 * parameter-free RMSNorm, causal attention without RoPE, an exact-GELU MLP of width 4d, tied logits.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { mlpHidden, validateConfig } from "../model/config.ts";
import { embeddingBackward, embeddingForward } from "./embedding.ts";
import { positionBackward, positionForward } from "./position.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "./matmul.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { attentionBackward, attentionForward } from "./attention.ts";
import { geluBackward, geluForward } from "./gelu.ts";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.ts";
import type { ReferenceLosses, ReferenceParameters } from "./model.ts";
import { nextTokenTargets } from "./model.ts";

function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

function parameter(params: ReferenceParameters, name: string): Float64Array {
  const value = params.get(name);
  if (!value) throw new Error(`reference nanoGPT: missing parameter ${name}`);
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
  gelu: Float64Array;
}

function forwardWithCache(
  config: Required<ModelConfig>,
  params: ReferenceParameters,
  tokens: ArrayLike<number>,
  batch: number,
) {
  const d = config.d_model;
  const T = config.seq_len;
  const N = batch * T;
  const V = config.vocab_size;
  const eps = config.norm_eps;
  const hidden = mlpHidden(config);
  const ids = Uint32Array.from(tokens);
  const wte = parameter(params, "transformer.wte.weight");
  const wpe = parameter(params, "transformer.wpe.weight");

  let x = positionForward(embeddingForward(wte, ids, V, d), wpe, batch, T, d);
  const layers: LayerCache[] = [];
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
    const gelu = geluForward(up);
    x = add(middle, matmulXWt(gelu, parameter(params, `${p}.mlp.c_proj.weight`), N, d, hidden));
    layers.push({ input, norm1, qkv, attention, middle, norm2, up, gelu });
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
  const d = config.d_model;
  const T = config.seq_len;
  const N = batch * T;
  const V = config.vocab_size;
  const eps = config.norm_eps;
  const hidden = mlpHidden(config);
  const wte = parameter(params, "transformer.wte.weight");
  const positions = parameter(params, "transformer.wpe.weight").length / d;
  const gradients: ReferenceParameters = new Map();

  const dLogits = crossEntropyBackward(cache.logits, cache.targets, N, V, 1 / (batch * (T - 1)));
  const dWte = matmulDyTx(dLogits, cache.final, N, V, d);
  let dx = rmsnormBackward(matmulDyW(dLogits, wte, N, V, d), cache.x, N, d, eps);
  for (let l = config.n_layers - 1; l >= 0; l--) {
    const p = `transformer.h.${l}`;
    const layer = cache.layers[l];
    const dGelu = matmulDyW(dx, parameter(params, `${p}.mlp.c_proj.weight`), N, d, hidden);
    gradients.set(`${p}.mlp.c_proj.weight`, matmulDyTx(dx, layer.gelu, N, d, hidden));
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
  gradients.set("transformer.wte.weight", add(dWte, embeddingBackward(dx, cache.ids, V, d)));
  gradients.set("transformer.wpe.weight", positionBackward(dx, batch, T, d, positions));
  return { losses: cache.losses, meanLoss: cache.meanLoss, gradients };
}
