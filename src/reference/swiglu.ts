/**
 * Float64 reference of SwiGLU: `x = u[:, :w/2]`, `gate = u[:, w/2:]`, `out = silu(gate)·x`.
 *
 * @module
 */

function sigmoid(g: number): number {
  if (g >= 0) return 1 / (1 + Math.exp(-g));
  const e = Math.exp(g);
  return e / (1 + e);
}

/** `out` [rows, width/2] from `u` [rows, width]. */
export function swigluForward(u: ArrayLike<number>, rows: number, width: number): Float64Array {
  const half = width / 2;
  const out = new Float64Array(rows * half);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < half; c++) {
      const gate = u[r * width + half + c];
      out[r * half + c] = gate * sigmoid(gate) * u[r * width + c];
    }
  }
  return out;
}

/** `du` [rows, width] from `dout` [rows, width/2] and `u`. */
export function swigluBackward(
  dout: ArrayLike<number>,
  u: ArrayLike<number>,
  rows: number,
  width: number,
): Float64Array {
  const half = width / 2;
  const du = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < half; c++) {
      const x = u[r * width + c];
      const gate = u[r * width + half + c];
      const s = sigmoid(gate);
      const d = dout[r * half + c];
      du[r * width + c] = d * gate * s;
      du[r * width + half + c] = d * x * s * (1 + gate * (1 - s));
    }
  }
  return du;
}
