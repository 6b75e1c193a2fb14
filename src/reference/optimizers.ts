/**
 * The optimizers of the authors' ablations (docs/method.md#optimizers) in float64, for tests: Cautious AdamW,
 * AdEMAMix and Muon (with AdamW on the embeddings), each with global-norm clipping first. One call is
 * one step over every tensor; states are updated in place.
 *
 * @module
 */
import { referenceClip } from "./adamw.ts";
import type { AdamWStep } from "./adamw.ts";

/** One parameter tensor and its optimizer state. */
export interface ReferenceTensor {
  /** Parameter name (OLMo or nanoGPT): Muon reads the role from it. */
  name: string;
  /** [rows, cols] (out×in). */
  shape: [number, number];
  /** The parameter; updated in place. */
  param: Float64Array;
  /** Its gradient, unclipped. */
  grad: Float64Array;
  /** Decoupled weight decay applies (Cautious, AdEMAMix; Muon decides by role). */
  decay: boolean;
  /** State tensors by name (created as zeros when missing). */
  state: Map<string, Float64Array>;
}

/** Hyperparameters shared by every reference step: AdamW's. */
export type ReferenceStep = AdamWStep;

/** AdEMAMix's extra hyperparameters. */
export interface AdemamixStep extends ReferenceStep {
  /** Final mixing coefficient α. */
  alpha: number;
  /** Final slow-EMA decay β3. */
  beta3: number;
  /** Warmup T of α and β3 (0: none). */
  warmup: number;
}

/** Muon's extra hyperparameters. */
export interface MuonStep extends ReferenceStep {
  /** Muon's learning rate is lrScale·lr. */
  lrScale: number;
  /** Nesterov momentum μ. */
  momentum: number;
}

function state(tensor: ReferenceTensor, name: string): Float64Array {
  let value = tensor.state.get(name);
  if (!value) {
    value = new Float64Array(tensor.param.length);
    tensor.state.set(name, value);
  }
  return value;
}

/** One Cautious AdamW step (states `exp_avg`, `exp_avg_sq`); returns the norm before clipping. */
export function cautiousReferenceStep(tensors: ReferenceTensor[], step: ReferenceStep): number {
  const { norm, clip } = referenceClip(tensors, step.maxNorm);
  const bc1 = 1 - step.beta1 ** step.t;
  const bc2 = 1 - step.beta2 ** step.t;
  for (const tensor of tensors) {
    const m = state(tensor, "exp_avg");
    const v = state(tensor, "exp_avg_sq");
    const g = tensor.grad.map((value) => value * clip);
    let masked = 0;
    for (let i = 0; i < g.length; i++) {
      m[i] = step.beta1 * m[i] + (1 - step.beta1) * g[i];
      v[i] = step.beta2 * v[i] + (1 - step.beta2) * g[i] * g[i];
      if (m[i] * g[i] > 0) masked++;
    }
    const scale = 1 / Math.max(masked / g.length, 1e-3);
    const stepSize = step.lr * Math.sqrt(bc2) / bc1;
    for (let i = 0; i < g.length; i++) {
      if (tensor.decay) tensor.param[i] *= 1 - step.lr * step.weightDecay;
      const mask = m[i] * g[i] > 0 ? scale : 0;
      tensor.param[i] -= stepSize * (m[i] * mask) / (Math.sqrt(v[i]) + step.eps);
    }
  }
  return norm;
}

/** α_t and β3_t of AdEMAMix at step t (docs/method.md#optimizers). */
export function ademamixSchedule(
  t: number,
  alpha: number,
  beta1: number,
  beta3: number,
  warmup: number,
): { alpha: number; beta3: number } {
  if (warmup <= 0 || t >= warmup) return { alpha, beta3 };
  const f = (beta: number) => Math.log(0.5) / Math.log(beta) - 1;
  const fInverse = (h: number) => 0.5 ** (1 / (h + 1));
  const a = t / warmup;
  return { alpha: t * alpha / warmup, beta3: fInverse((1 - a) * f(beta1) + a * f(beta3)) };
}

/** One AdEMAMix step (states `exp_avg_fast`, `exp_avg_slow`, `exp_avg_sq`); returns the norm. */
export function ademamixReferenceStep(tensors: ReferenceTensor[], step: AdemamixStep): number {
  const { norm, clip } = referenceClip(tensors, step.maxNorm);
  const bc1 = 1 - step.beta1 ** step.t;
  const bc2 = 1 - step.beta2 ** step.t;
  const { alpha, beta3 } = ademamixSchedule(step.t, step.alpha, step.beta1, step.beta3, step.warmup);
  for (const tensor of tensors) {
    const m1 = state(tensor, "exp_avg_fast");
    const m2 = state(tensor, "exp_avg_slow");
    const v = state(tensor, "exp_avg_sq");
    for (let i = 0; i < tensor.param.length; i++) {
      const g = tensor.grad[i] * clip;
      m1[i] = step.beta1 * m1[i] + (1 - step.beta1) * g;
      m2[i] = beta3 * m2[i] + (1 - beta3) * g;
      v[i] = step.beta2 * v[i] + (1 - step.beta2) * g * g;
      const p = tensor.param[i];
      const update = (m1[i] / bc1 + alpha * m2[i]) / (Math.sqrt(v[i] / bc2) + step.eps) +
        (tensor.decay ? step.weightDecay * p : 0);
      tensor.param[i] = p - step.lr * update;
    }
  }
  return norm;
}

/** Newton–Schulz coefficients of Muon's NS5. */
export const NS5_COEFFICIENTS = [3.4445, -4.7750, 2.0315] as const;

/**
 * NS5(u) of a [rows, cols] matrix: X = u/(‖u‖_F + 1e-7), transposed when rows > cols, five steps of
 * X ← a·X + (b·A + c·A²)·X with A = X·Xᵀ, transposed back.
 */
export function newtonSchulz5(u: ArrayLike<number>, rows: number, cols: number): Float64Array {
  let frobenius = 0;
  for (let i = 0; i < rows * cols; i++) frobenius += u[i] * u[i];
  const scale = 1 / (Math.sqrt(frobenius) + 1e-7);
  const tall = rows > cols;
  const [r, c] = tall ? [cols, rows] : [rows, cols];
  let x = new Float64Array(r * c);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) x[tall ? j * rows + i : i * cols + j] = u[i * cols + j] * scale;
  }
  const [a, b, cc] = NS5_COEFFICIENTS;
  for (let iteration = 0; iteration < 5; iteration++) {
    const A = new Float64Array(r * r);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        let sum = 0;
        for (let k = 0; k < c; k++) sum += x[i * c + k] * x[j * c + k];
        A[i * r + j] = sum;
      }
    }
    const B = new Float64Array(r * r);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += A[i * r + k] * A[k * r + j];
        B[i * r + j] = b * A[i * r + j] + cc * sum;
      }
    }
    const next = new Float64Array(r * c);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += B[i * r + k] * x[k * c + j];
        next[i * c + j] = a * x[i * c + j] + sum;
      }
    }
    x = next;
  }
  if (!tall) return x;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = x[j * rows + i];
  return out;
}

/** Whether Muon updates parameter `name` (every weight but the embeddings) and in how many row blocks. */
export function muonBlocks(name: string): number {
  if (name === "transformer.wte.weight" || name === "transformer.wpe.weight") return 0;
  return name.endsWith(".att_proj.weight") || name.endsWith(".attn.c_attn.weight") ? 3 : 1;
}

/**
 * One Muon step (v1): Muon on every weight but the embeddings (state `momentum_buffer`; q, k, v blocks
 * apart), AdamW on the embeddings (states `exp_avg`, `exp_avg_sq`, always decayed). Returns the norm.
 */
export function muonReferenceStep(tensors: ReferenceTensor[], step: MuonStep): number {
  const { norm, clip } = referenceClip(tensors, step.maxNorm);
  const bc1 = 1 - step.beta1 ** step.t;
  const bc2Sqrt = Math.sqrt(1 - step.beta2 ** step.t);
  const muonLr = step.lrScale * step.lr;
  for (const tensor of tensors) {
    const g = tensor.grad.map((value) => value * clip);
    const blocks = muonBlocks(tensor.name);
    if (blocks === 0) {
      const m = state(tensor, "exp_avg");
      const v = state(tensor, "exp_avg_sq");
      for (let i = 0; i < g.length; i++) {
        tensor.param[i] *= 1 - step.lr * step.weightDecay;
        m[i] = step.beta1 * m[i] + (1 - step.beta1) * g[i];
        v[i] = step.beta2 * v[i] + (1 - step.beta2) * g[i] * g[i];
        tensor.param[i] -= (step.lr / bc1) * m[i] / (Math.sqrt(v[i]) / bc2Sqrt + step.eps);
      }
      continue;
    }
    const buffer = state(tensor, "momentum_buffer");
    const u = new Float64Array(g.length);
    for (let i = 0; i < g.length; i++) {
      buffer[i] = step.momentum * buffer[i] + g[i];
      u[i] = g[i] + step.momentum * buffer[i];
    }
    const [rows, cols] = tensor.shape;
    const blockRows = rows / blocks;
    const blockLength = blockRows * cols;
    for (let k = 0; k < blocks; k++) {
      const o = newtonSchulz5(u.subarray(k * blockLength, (k + 1) * blockLength), blockRows, cols);
      const scale = Math.sqrt(Math.max(blockRows, cols));
      for (let i = 0; i < blockLength; i++) tensor.param[k * blockLength + i] -= muonLr * scale * o[i];
    }
  }
  return norm;
}
