/**
 * Float64 reference of the token embedding.
 *
 * @module
 */

function checkId(id: number, row: number, vocab: number): void {
  if (!(Number.isInteger(id) && id >= 0 && id < vocab)) {
    throw new RangeError(`token id ${id} at row ${row} is not an integer in 0…${vocab - 1}`);
  }
}

/** `x` [rows, d] with `x[r] = wte[ids[r]]` (`wte` [vocab, d]). */
export function embeddingForward(
  wte: ArrayLike<number>,
  ids: ArrayLike<number>,
  vocab: number,
  d: number,
): Float64Array {
  const x = new Float64Array(ids.length * d);
  for (let r = 0; r < ids.length; r++) {
    checkId(ids[r], r, vocab);
    for (let c = 0; c < d; c++) x[r * d + c] = wte[ids[r] * d + c];
  }
  return x;
}

/** `dwte` [vocab, d]: row t is the sum of `dx[r]` over the rows r with `ids[r] = t`. */
export function embeddingBackward(
  dx: ArrayLike<number>,
  ids: ArrayLike<number>,
  vocab: number,
  d: number,
): Float64Array {
  const dwte = new Float64Array(vocab * d);
  for (let r = 0; r < ids.length; r++) {
    checkId(ids[r], r, vocab);
    for (let c = 0; c < d; c++) dwte[ids[r] * d + c] += dx[r * d + c];
  }
  return dwte;
}
