/**
 * Float64 reference of nanoGPT's learned position embedding.
 *
 * @module
 */

/** `x[b·T + s, :] + wpe[s, :]` for `x` [batch·T, d] (a new array). */
export function positionForward(
  x: ArrayLike<number>,
  wpe: ArrayLike<number>,
  batch: number,
  seqLen: number,
  d: number,
): Float64Array {
  const out = Float64Array.from(x);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < seqLen * d; i++) out[b * seqLen * d + i] += wpe[i];
  }
  return out;
}

/** `dwpe` [positions, d]: row s is Σ_b dx[b·T + s] (rows s ≥ T zero). */
export function positionBackward(
  dx: ArrayLike<number>,
  batch: number,
  seqLen: number,
  d: number,
  positions = seqLen,
): Float64Array {
  const dwpe = new Float64Array(positions * d);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < seqLen * d; i++) dwpe[i] += dx[b * seqLen * d + i];
  }
  return dwpe;
}
