/**
 * Float64 reference of causal multi-head self-attention on the fused `qkv [B·T, 3d]` rows (q, k, v
 * are column blocks; head `h` is columns `h·hd … (h+1)·hd` of each): per (batch, head),
 * `y = softmax(q·kᵀ/√hd + causal mask)·v`, heads concatenated into `y [B·T, d]`.
 *
 * @module
 */
import { checkAttentionShape } from "../ops/shapes.ts";

function checkLength(name: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected) {
    throw new Error(`zsl: attention ${name} has ${array.length} values, expected ${expected}`);
  }
}

/** The attention probabilities of one (batch, head): `[T, T]`, zero above the diagonal. */
function probabilities(
  qkv: ArrayLike<number>,
  b: number,
  h: number,
  seqLen: number,
  dModel: number,
  headDim: number,
  lse?: Float64Array,
): Float64Array {
  const scale = 1 / Math.sqrt(headDim);
  const stride = 3 * dModel;
  const p = new Float64Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) {
    const qBase = (b * seqLen + i) * stride + h * headDim;
    let max = -Infinity;
    for (let j = 0; j <= i; j++) {
      const kBase = (b * seqLen + j) * stride + dModel + h * headDim;
      let s = 0;
      for (let c = 0; c < headDim; c++) s += qkv[qBase + c] * qkv[kBase + c];
      s *= scale;
      p[i * seqLen + j] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) {
      const e = Math.exp(p[i * seqLen + j] - max);
      p[i * seqLen + j] = e;
      sum += e;
    }
    for (let j = 0; j <= i; j++) p[i * seqLen + j] /= sum;
    if (lse) lse[i] = max + Math.log(sum);
  }
  return p;
}

/**
 * Causal attention forward with the log-sum-exp of the scaled scores per (batch, head, position),
 * `lse [B·H·T]` (index `(b·H + h)·T + t`), as the GPU kernel saves it.
 */
export function attentionForwardWithLse(
  qkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  nHeads: number,
): { y: Float64Array; lse: Float64Array } {
  const headDim = checkAttentionShape(batch, seqLen, dModel, nHeads);
  checkLength("qkv", qkv, batch * seqLen * 3 * dModel);
  const y = new Float64Array(batch * seqLen * dModel);
  const lse = new Float64Array(batch * nHeads * seqLen);
  const stride = 3 * dModel;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHeads; h++) {
      const headLse = lse.subarray((b * nHeads + h) * seqLen, (b * nHeads + h + 1) * seqLen);
      const p = probabilities(qkv, b, h, seqLen, dModel, headDim, headLse);
      for (let i = 0; i < seqLen; i++) {
        const yBase = (b * seqLen + i) * dModel + h * headDim;
        for (let j = 0; j <= i; j++) {
          const w = p[i * seqLen + j];
          const vBase = (b * seqLen + j) * stride + 2 * dModel + h * headDim;
          for (let c = 0; c < headDim; c++) y[yBase + c] += w * qkv[vBase + c];
        }
      }
    }
  }
  return { y, lse };
}

/** Causal attention forward: `y [B·T, d]` from `qkv [B·T, 3d]` (q and k already rotated). */
export function attentionForward(
  qkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  nHeads: number,
): Float64Array {
  return attentionForwardWithLse(qkv, batch, seqLen, dModel, nHeads).y;
}

/**
 * Causal attention backward: `dqkv [B·T, 3d]` (all three blocks) from `dy [B·T, d]` and the same
 * `qkv` the forward saw. With P the probabilities and S the scaled scores:
 * `dV = Pᵀ·dY`, `dP = dY·Vᵀ`, `dS = P ∘ (dP − rowsum(dP ∘ P))`, `dQ = dS·K/√hd`, `dK = dSᵀ·Q/√hd`.
 */
export function attentionBackward(
  dy: ArrayLike<number>,
  qkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  nHeads: number,
): Float64Array {
  const headDim = checkAttentionShape(batch, seqLen, dModel, nHeads);
  checkLength("qkv", qkv, batch * seqLen * 3 * dModel);
  checkLength("dy", dy, batch * seqLen * dModel);
  const scale = 1 / Math.sqrt(headDim);
  const stride = 3 * dModel;
  const dqkv = new Float64Array(batch * seqLen * stride);
  const ds = new Float64Array(seqLen * seqLen);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHeads; h++) {
      const p = probabilities(qkv, b, h, seqLen, dModel, headDim);
      const row = (t: number) => (b * seqLen + t) * stride + h * headDim;
      const dyRow = (t: number) => (b * seqLen + t) * dModel + h * headDim;
      for (let i = 0; i < seqLen; i++) {
        let rowSum = 0;
        for (let j = 0; j <= i; j++) {
          let dp = 0;
          for (let c = 0; c < headDim; c++) dp += dy[dyRow(i) + c] * qkv[row(j) + 2 * dModel + c];
          ds[i * seqLen + j] = dp;
          rowSum += dp * p[i * seqLen + j];
        }
        for (let j = 0; j <= i; j++) {
          const pij = p[i * seqLen + j];
          ds[i * seqLen + j] = pij * (ds[i * seqLen + j] - rowSum);
          for (let c = 0; c < headDim; c++) {
            // dV_j += P_ij·dy_i; dQ_i += dS_ij·k_j/√hd; dK_j += dS_ij·q_i/√hd
            dqkv[row(j) + 2 * dModel + c] += pij * dy[dyRow(i) + c];
            dqkv[row(i) + c] += ds[i * seqLen + j] * qkv[row(j) + dModel + c] * scale;
            dqkv[row(j) + dModel + c] += ds[i * seqLen + j] * qkv[row(i) + c] * scale;
          }
        }
      }
    }
  }
  return dqkv;
}
