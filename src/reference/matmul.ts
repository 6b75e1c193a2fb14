/**
 * Float64 references of the three matrix products of a Linear layer (row-major; W stored out×in):
 * N = token rows, M = out features, K = in features, as in `src/ops/matmul.ts`.
 *
 * @module
 */

/** Any row-major matrix: float64 or float32 values. */
export type Matrix = Float64Array | Float32Array;

function checkSizes(
  name: string,
  operands: [string, Matrix, number][],
  n: number,
  m: number,
  k: number,
): void {
  for (const [size, value] of [["n", n], ["m", m], ["k", k]] as const) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`zsl: ${name} needs positive integer n, m, k, got ${size}=${value}`);
    }
  }
  for (const [operand, values, expected] of operands) {
    if (values.length < expected) {
      throw new RangeError(`zsl: ${name}: ${operand} has ${values.length} values, needs ${expected}`);
    }
  }
}

/** Forward of a Linear: `C[N,M] = X[N,K] · W[M,K]ᵀ`. */
export function matmulXWt(x: Matrix, w: Matrix, n: number, m: number, k: number): Float64Array {
  checkSizes("matmulXWt", [["x", x, n * k], ["w", w, m * k]], n, m, k);
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const xi = i * k;
    for (let j = 0; j < m; j++) {
      const wj = j * k;
      let sum = 0;
      for (let t = 0; t < k; t++) sum += x[xi + t] * w[wj + t];
      c[i * m + j] = sum;
    }
  }
  return c;
}

/** Input gradient of a Linear: `C[N,K] = dY[N,M] · W[M,K]`. */
export function matmulDyW(dy: Matrix, w: Matrix, n: number, m: number, k: number): Float64Array {
  checkSizes("matmulDyW", [["dy", dy, n * m], ["w", w, m * k]], n, m, k);
  const c = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const ci = i * k;
    for (let j = 0; j < m; j++) {
      const a = dy[i * m + j];
      if (a === 0) continue;
      const wj = j * k;
      for (let t = 0; t < k; t++) c[ci + t] += a * w[wj + t];
    }
  }
  return c;
}

/** Weight gradient of a Linear: `C[M,K] = dY[N,M]ᵀ · X[N,K]` (sum over the N token rows). */
export function matmulDyTx(dy: Matrix, x: Matrix, n: number, m: number, k: number): Float64Array {
  checkSizes("matmulDyTx", [["dy", dy, n * m], ["x", x, n * k]], n, m, k);
  const c = new Float64Array(m * k);
  for (let i = 0; i < n; i++) {
    const xi = i * k;
    for (let j = 0; j < m; j++) {
      const a = dy[i * m + j];
      if (a === 0) continue;
      const cj = j * k;
      for (let t = 0; t < k; t++) c[cj + t] += a * x[xi + t];
    }
  }
  return c;
}
