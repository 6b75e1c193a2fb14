/**
 * Float64 references of the per-example gradient projection (`src/ops/projection.ts`): the per-example
 * gradients are formed explicitly (out × in per example, `src/reference/per_example.ts`) and then
 * projected, P_out G_e P_inᵀ, so the GPU's factored route (project the rows, then sum outer products) is
 * checked against the definition. Matrices row-major.
 *
 * @module
 */

import type { ProjectionMatrices } from "../ops/projection.ts";
import type { Matrix } from "./matmul.ts";
import { matmulDyW, matmulXWt } from "./matmul.ts";
import { checkOperands, exampleGradients } from "./per_example.ts";

/**
 * P_out G P_inᵀ [kOut, kIn] (flattened row-major) of one gradient G [out, in], with the parameter's
 * projection `matrices`: P_out [kOut, out] and P_in [kIn, in].
 */
export function projectGradient(
  gradient: Matrix,
  out: number,
  inputs: number,
  matrices: ProjectionMatrices,
): Float64Array {
  const { out: pOut, in: pIn, kOut, kIn } = matrices;
  checkOperands("projectGradient", { out, inputs, kOut, kIn }, [
    ["gradient", gradient, out * inputs],
    ["pOut", pOut, kOut * out],
    ["pIn", pIn, kIn * inputs],
  ]);
  // G P_inᵀ [out, kIn] first, then P_out on the left.
  return matmulDyW(pOut, matmulXWt(gradient, pIn, out, kIn, inputs), kOut, out, kIn);
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
  matrices: ProjectionMatrices,
): Float64Array {
  checkOperands("projectGradients", { examples }, [["gradients", gradients, examples * out * inputs]]);
  const size = out * inputs;
  return exampleGradients(
    examples,
    matrices.kOut * matrices.kIn,
    (e) => projectGradient(gradients.subarray(e * size, (e + 1) * size), out, inputs, matrices),
  );
}

/** The Frobenius inner product Σ a_j b_j in float64. */
export function frobeniusInner(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`zsl: frobeniusInner: lengths ${a.length} and ${b.length}`);
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += a[j] * b[j];
  return sum;
}
