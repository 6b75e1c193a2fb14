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

/** A cos/sin table `[seqLen, headDim/2]`, row-major. */
export interface RopeTable {
  cos: Float64Array;
  sin: Float64Array;
}

/** Checks a RoPE shape and returns `headDim / 2`. */
export function checkRopeShape(seqLen: number, dModel: number, headDim: number): number {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`zsl: RoPE seqLen must be ≥ 1, got ${seqLen}`);
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
    throw new Error(
      `zsl: RoPE needs an even head dimension ≥ 2, got ${headDim}: choose d_model/n_heads even`,
    );
  }
  if (!Number.isInteger(dModel) || dModel % headDim !== 0) {
    throw new Error(`zsl: RoPE d_model ${dModel} is not a multiple of the head dimension ${headDim}`);
  }
  return headDim / 2;
}

/**
 * The cos/sin table OLMo builds. The angles follow PyTorch's float32 arithmetic exactly
 * (`inv_freq = 1 / θ^(2i/hd)` and `t·inv_freq` are each rounded to float32, as OLMo computes them
 * in fp32); only sin and cos are evaluated in float64, never in the shader, because float32
 * sin/cos of angles near 10³ rad lose digits on some GPUs.
 */
export function ropeTable(seqLen: number, headDim: number, theta = 10000): RopeTable {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
    throw new Error(`zsl: RoPE needs an even head dimension ≥ 2, got ${headDim}`);
  }
  const half = headDim / 2;
  const f = Math.fround;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(1 / f(Math.pow(theta, f(f(2 * i) / headDim))));
  const cos = new Float64Array(seqLen * half);
  const sin = new Float64Array(seqLen * half);
  for (let t = 0; t < seqLen; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f(t * invFreq[i]);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

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
