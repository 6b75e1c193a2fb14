/**
 * Float64 reference of rotary position embeddings (RoPE) as OLMo applies them: θ = 10000,
 * non-interleaved rotate-half, on the q and k blocks of the fused `qkv [B·T, 3d]` rows.
 *
 * For head dimension `hd` and pair `i < hd/2` at position `t`, with angle `t·inv_freq[i]`:
 * `out[i] = x[i]·cos − x[i+hd/2]·sin`, `out[i+hd/2] = x[i+hd/2]·cos + x[i]·sin`. The backward is
 * the transpose (rotation by the opposite angle).
 *
 * @module
 */
import { checkRopeShape, ropeTable } from "../ops/shapes.ts";

function rotate(
  input: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  headDim: number,
  theta: number,
  direction: 1 | -1,
): Float64Array {
  const half = checkRopeShape(seqLen, dModel, headDim);
  const rows = batch * seqLen;
  if (input.length !== rows * 3 * dModel) {
    throw new Error(`zsl: RoPE input has ${input.length} values, expected B·T·3d = ${rows * 3 * dModel}`);
  }
  const { cos, sin } = ropeTable(seqLen, headDim, theta);
  const out = Float64Array.from(input);
  const heads = dModel / headDim;
  for (let r = 0; r < rows; r++) {
    const t = r % seqLen;
    for (let block = 0; block < 2; block++) {
      for (let h = 0; h < heads; h++) {
        const base = r * 3 * dModel + block * dModel + h * headDim;
        for (let i = 0; i < half; i++) {
          const c = cos[t * half + i];
          const s = direction * sin[t * half + i];
          const x1 = input[base + i];
          const x2 = input[base + i + half];
          out[base + i] = x1 * c - x2 * s;
          out[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
  return out;
}

/** RoPE on the q and k blocks of `qkv [B·T, 3d]`; returns a new array (v unchanged). */
export function ropeForward(
  qkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  headDim: number,
  theta = 10000,
): Float64Array {
  return rotate(qkv, batch, seqLen, dModel, headDim, theta, 1);
}

/** Backward of {@linkcode ropeForward}: rotates the dq and dk blocks of `dqkv` back (dv unchanged). */
export function ropeBackward(
  dqkv: ArrayLike<number>,
  batch: number,
  seqLen: number,
  dModel: number,
  headDim: number,
  theta = 10000,
): Float64Array {
  return rotate(dqkv, batch, seqLen, dModel, headDim, theta, -1);
}
