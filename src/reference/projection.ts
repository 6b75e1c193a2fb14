/**
 * Float64 references of the per-example gradient projection (`src/ops/projection.ts`): the per-example
 * gradients are formed explicitly (out × in per example) and then projected, P_out G_e P_inᵀ, so the
 * GPU's factored route (project the rows, then sum outer products) is checked against the definition.
 * Rows e·P … e·P+P−1 belong to example e; matrices row-major.
 *
 * @module
 */

import type { Matrix } from "./matmul.ts";

function checkLength(name: string, operand: string, values: ArrayLike<number>, expected: number): void {
  if (values.length < expected) {
    throw new RangeError(`zsl: ${name}: ${operand} has ${values.length} values, needs ${expected}`);
  }
}

/**
 * Per-example gradients of a Linear [out, in]: G_e = Σ_{r∈e} dy_r x_rᵀ for `dy` [E·P, out], `x` [E·P, in].
 * Returns [E, out·in].
 */
export function perExampleLinearGradients(
  dy: Matrix,
  x: Matrix,
  examples: number,
  rowsPerExample: number,
  out: number,
  inputs: number,
): Float64Array {
  const rows = examples * rowsPerExample;
  checkLength("perExampleLinearGradients", "dy", dy, rows * out);
  checkLength("perExampleLinearGradients", "x", x, rows * inputs);
  const gradients = new Float64Array(examples * out * inputs);
  for (let r = 0; r < rows; r++) {
    const base = Math.floor(r / rowsPerExample) * out * inputs;
    for (let o = 0; o < out; o++) {
      const a = dy[r * out + o];
      for (let k = 0; k < inputs; k++) gradients[base + o * inputs + k] += a * x[r * inputs + k];
    }
  }
  return gradients;
}

/**
 * Per-example gradients of the tied embedding [V, d]: G_e[v, k] = Σ_{r∈e} dlogits[r, v]·final[r, k] +
 * Σ_{r∈e, ids[r] = v} dEmbedding[r, k]. Returns [E, V·d].
 */
export function perExampleEmbeddingGradients(
  dlogits: Matrix,
  final: Matrix,
  dEmbedding: Matrix,
  ids: ArrayLike<number>,
  examples: number,
  rowsPerExample: number,
  vocab: number,
  d: number,
): Float64Array {
  const rows = examples * rowsPerExample;
  checkLength("perExampleEmbeddingGradients", "dEmbedding", dEmbedding, rows * d);
  checkLength("perExampleEmbeddingGradients", "ids", ids, rows);
  const gradients = perExampleLinearGradients(dlogits, final, examples, rowsPerExample, vocab, d);
  for (let r = 0; r < rows; r++) {
    const id = ids[r];
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) {
      throw new RangeError(`zsl: perExampleEmbeddingGradients: id ${id} at row ${r} is not below ${vocab}`);
    }
    const base = Math.floor(r / rowsPerExample) * vocab * d + id * d;
    for (let k = 0; k < d; k++) gradients[base + k] += dEmbedding[r * d + k];
  }
  return gradients;
}

/**
 * P_out G P_inᵀ [kOut, kIn] (flattened row-major) of one gradient G [out, in], with `pOut` [kOut, out]
 * and `pIn` [kIn, in].
 */
export function projectGradient(
  gradient: Matrix,
  out: number,
  inputs: number,
  pOut: Matrix,
  pIn: Matrix,
  kOut: number,
  kIn: number,
): Float64Array {
  checkLength("projectGradient", "gradient", gradient, out * inputs);
  checkLength("projectGradient", "pOut", pOut, kOut * out);
  checkLength("projectGradient", "pIn", pIn, kIn * inputs);
  // G P_inᵀ [out, kIn] first, then P_out on the left.
  const right = new Float64Array(out * kIn);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < kIn; j++) {
      let sum = 0;
      for (let k = 0; k < inputs; k++) sum += gradient[o * inputs + k] * pIn[j * inputs + k];
      right[o * kIn + j] = sum;
    }
  }
  const projected = new Float64Array(kOut * kIn);
  for (let i = 0; i < kOut; i++) {
    for (let o = 0; o < out; o++) {
      const p = pOut[i * out + o];
      for (let j = 0; j < kIn; j++) projected[i * kIn + j] += p * right[o * kIn + j];
    }
  }
  return projected;
}

/**
 * {@linkcode projectGradient} of each of `examples` gradients stored [E, out·in]: returns
 * [E, kOut·kIn].
 */
export function projectGradients(
  gradients: Matrix,
  examples: number,
  out: number,
  inputs: number,
  pOut: Matrix,
  pIn: Matrix,
  kOut: number,
  kIn: number,
): Float64Array {
  checkLength("projectGradients", "gradients", gradients, examples * out * inputs);
  const projected = new Float64Array(examples * kOut * kIn);
  for (let e = 0; e < examples; e++) {
    const gradient = gradients.subarray(e * out * inputs, (e + 1) * out * inputs);
    projected.set(projectGradient(gradient, out, inputs, pOut, pIn, kOut, kIn), e * kOut * kIn);
  }
  return projected;
}

/** The Frobenius inner product Σ a_j b_j in float64. */
export function frobeniusInner(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`zsl: frobeniusInner: lengths ${a.length} and ${b.length}`);
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += a[j] * b[j];
  return sum;
}
