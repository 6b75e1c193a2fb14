/**
 * Float64 reference of RMSNorm without affine weights.
 *
 * @module
 */

/** `y = x / sqrt(mean(x²) + eps)` per row of width `d`. */
export function rmsnormForward(x: ArrayLike<number>, rows: number, d: number, eps = 1e-5): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += x[r * d + j] ** 2;
    const rstd = 1 / Math.sqrt(sum / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] * rstd;
  }
  return y;
}

/** Gradient with respect to `x` given `dy`: `dx = rstd·(dy − y·mean(dy·y))` per row. */
export function rmsnormBackward(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  d: number,
  eps = 1e-5,
): Float64Array {
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += x[r * d + j] ** 2;
    const rstd = 1 / Math.sqrt(sum / d + eps);
    let dot = 0;
    for (let j = 0; j < d; j++) dot += dy[r * d + j] * x[r * d + j] * rstd;
    const mean = dot / d;
    for (let j = 0; j < d; j++) {
      const i = r * d + j;
      dx[i] = rstd * (dy[i] - x[i] * rstd * mean);
    }
  }
  return dx;
}
