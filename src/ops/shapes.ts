/**
 * What the ops and their float64 references share: the shape checks (positive sizes, RoPE, attention),
 * and the RoPE cos/sin table the op uploads (the reference rotates by the same table). They live here,
 * below the references, so that an op never imports `reference/`.
 *
 * @module
 */

/**
 * Throws a RangeError naming `op` and the first of `sizes` that is not a positive integer (an
 * `undefined` size is an option left out, and passes).
 */
export function checkPositiveSizes(op: string, sizes: Record<string, number | undefined>): void {
  for (const [name, value] of Object.entries(sizes)) {
    if (value === undefined) continue;
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`zsl: ${op} needs a positive integer ${name}, got ${value}`);
    }
  }
}

/** A cos/sin table `[seqLen, headDim/2]`, row-major. */
export interface RopeTable {
  /** cos of each position's angle per pair, `[seqLen, headDim/2]`. */
  cos: Float64Array;
  /** sin of each position's angle per pair, `[seqLen, headDim/2]`. */
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

/** Checks an attention shape and returns the head dimension. */
export function checkAttentionShape(batch: number, seqLen: number, dModel: number, nHeads: number): number {
  for (
    const [name, value] of [["batch", batch], ["seqLen", seqLen], ["dModel", dModel], ["nHeads", nHeads]]
  ) {
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new Error(`zsl: attention ${name} must be a positive integer, got ${value}`);
    }
  }
  if (dModel % nHeads !== 0) {
    throw new Error(`zsl: attention d_model ${dModel} is not divisible by n_heads ${nHeads}`);
  }
  return dModel / nHeads;
}

/** Throws unless SwiGLU's input is `rows` positive rows of a positive even `width` (gate and value halves). */
export function checkSwiGluShape(rows: number, width: number): void {
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(width) && width > 0 && width % 2 === 0)) {
    throw new RangeError(
      `zsl: SwiGLU needs positive integer rows and an even width, got rows=${rows}, width=${width}`,
    );
  }
}
