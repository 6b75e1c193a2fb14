/**
 * Float64 reference of the exact GELU, `x·Φ(x)` with Φ the standard normal CDF, and of erf/erfc
 * (JavaScript has none): a Taylor series for |x| < 2.5, a continued fraction beyond (relative error
 * about 1e-14).
 *
 * @module
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(x) in float64. */
export function erf(x: number): number {
  if (Math.abs(x) >= 2.5) return Math.sign(x) * (1 - erfc(Math.abs(x)));
  // erf(x) = 2/√π · Σ_n (−1)ⁿ x^(2n+1) / (n!·(2n+1)).
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -(x * x) / n;
    const next = term / (2 * n + 1);
    sum += next;
    if (Math.abs(next) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(x) = 1 − erf(x) in float64, accurate in the tail (no cancellation for large x). */
export function erfc(x: number): number {
  if (x < 2.5) return 1 - erf(x);
  // Continued fraction erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by Lentz.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** The standard normal CDF Φ(x) = erfc(−x/√2)/2. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** `out[i] = x[i]·Φ(x[i])`. */
export function geluForward(x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * normalCdf(x[i]);
  return out;
}

/** `dx[i] = dout[i]·(Φ(x[i]) + x[i]·φ(x[i]))`. */
export function geluBackward(dout: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const density = Math.exp(-0.5 * x[i] * x[i]) / Math.sqrt(2 * Math.PI);
    dx[i] = dout[i] * (normalCdf(x[i]) + x[i] * density);
  }
  return dx;
}
