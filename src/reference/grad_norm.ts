/**
 * Float64 reference of the global gradient norm.
 *
 * @module
 */

/** `sqrt(Σ over tensors Σ g²)`. */
export function gradNorm(tensors: ArrayLike<number>[]): number {
  let sum = 0;
  for (const tensor of tensors) {
    for (let i = 0; i < tensor.length; i++) sum += tensor[i] * tensor[i];
  }
  return Math.sqrt(sum);
}
