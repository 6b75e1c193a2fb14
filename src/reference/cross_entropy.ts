/**
 * Float64 reference of token cross-entropy. Targets are ids, −1 meaning "no target" (loss 0,
 * gradient 0).
 *
 * @module
 */

function logSumExp(logits: ArrayLike<number>, base: number, vocab: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v] - max);
  return max + Math.log(sum);
}

function checkTarget(target: number, row: number, vocab: number): void {
  if (!(Number.isInteger(target) && target < vocab)) {
    throw new RangeError(`target ${target} at row ${row} is not −1 or an id below vocab ${vocab}`);
  }
}

/** Per-row losses `logsumexp(logits[r]) − logits[r, target[r]]`, 0 where the target is −1. */
export function crossEntropyForward(
  logits: ArrayLike<number>,
  targets: Int32Array,
  rows: number,
  vocab: number,
): Float64Array {
  const losses = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (targets[r] < 0) continue;
    checkTarget(targets[r], r, vocab);
    losses[r] = logSumExp(logits, r * vocab, vocab) - logits[r * vocab + targets[r]];
  }
  return losses;
}

/** `∂(scale·Σ losses)/∂logits = (softmax − onehot)·scale` on rows with a target, 0 elsewhere. */
export function crossEntropyBackward(
  logits: ArrayLike<number>,
  targets: Int32Array,
  rows: number,
  vocab: number,
  scale: number,
): Float64Array {
  const grad = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    if (targets[r] < 0) continue;
    checkTarget(targets[r], r, vocab);
    const lse = logSumExp(logits, r * vocab, vocab);
    for (let v = 0; v < vocab; v++) {
      grad[r * vocab + v] = (Math.exp(logits[r * vocab + v] - lse) - (v === targets[r] ? 1 : 0)) * scale;
    }
  }
  return grad;
}
