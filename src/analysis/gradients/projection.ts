/**
 * Which examples' projected gradients oppose each other: cosine similarities between chosen examples
 * (whole vectors or one parameter's slice) of a {@linkcode ProjectionSet}; the most negative cosines are
 * the tokens whose gradients fight each other.
 *
 * @module
 */
import type { ProjectionSet } from "../../results/projections.ts";

/** Which examples and which part of their vectors a comparison uses. */
export interface ComparisonOptions {
  /** Vector indices to compare (default all). */
  rows?: ArrayLike<number>;
  /** Compare only this parameter's slice (a name from the metadata's slices; default the whole vector). */
  parameter?: string;
}

function columnsOf(set: Pick<ProjectionSet, "dims" | "metadata">, parameter?: string): [number, number] {
  if (parameter === undefined) return [0, set.dims];
  const slice = set.metadata?.slices.find((candidate) => candidate.name === parameter);
  if (!slice) {
    const names = set.metadata?.slices.map((candidate) => candidate.name) ?? [];
    throw new RangeError(
      `zsl: no projected parameter "${parameter}"${
        names.length ? ` (projected: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", …" : ""})` : ""
      }: compare the whole vectors or name a projected parameter`,
    );
  }
  return [slice.offset, slice.offset + slice.kOut * slice.kIn];
}

/** The chosen rows' vectors (or slices), each scaled to unit length (all zero for a zero vector). */
function unitRows(
  set: Pick<ProjectionSet, "count" | "dims" | "vectors" | "metadata">,
  options: ComparisonOptions,
): { rows: number[]; units: Float64Array; width: number; zero: boolean[] } {
  const rows = options.rows === undefined
    ? Array.from({ length: set.count }, (_, i) => i)
    : Array.from(options.rows);
  for (const row of rows) {
    if (!(Number.isInteger(row) && row >= 0 && row < set.count)) {
      throw new RangeError(`zsl: row ${row} is not a vector index in 0…${set.count - 1}`);
    }
  }
  const [start, end] = columnsOf(set, options.parameter);
  const width = end - start;
  const units = new Float64Array(rows.length * width);
  const zero: boolean[] = [];
  for (const [i, row] of rows.entries()) {
    let norm = 0;
    for (let j = 0; j < width; j++) norm += set.vectors[row * set.dims + start + j] ** 2;
    norm = Math.sqrt(norm);
    zero.push(norm === 0);
    if (norm === 0) continue;
    for (let j = 0; j < width; j++) units[i * width + j] = set.vectors[row * set.dims + start + j] / norm;
  }
  return { rows, units, width, zero };
}

/**
 * Cosine similarities [n, n] (row-major, float64) between the chosen vectors (all, or `options.rows` in
 * the order given; optionally one parameter's slice). NaN where a vector is zero (e.g. a position
 * without a target).
 */
export function cosineSimilarityMatrix(
  set: Pick<ProjectionSet, "count" | "dims" | "vectors" | "metadata">,
  options: ComparisonOptions = {},
): Float64Array {
  const { rows, units, width, zero } = unitRows(set, options);
  const n = rows.length;
  const matrix = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let dot = 0;
      if (!zero[i] && !zero[j]) {
        for (let t = 0; t < width; t++) dot += units[i * width + t] * units[j * width + t];
      }
      const value = zero[i] || zero[j] ? NaN : i === j ? 1 : dot;
      matrix[i * n + j] = value;
      matrix[j * n + i] = value;
    }
  }
  return matrix;
}

/** One example of a pair: its vector index and identification. */
export interface ProjectionExample {
  /** Index of the vector in the set. */
  index: number;
  /** Sequence. */
  sequence: number;
  /** Predicting position (−1: whole sequence). */
  position: number;
  /** Input token (−1: whole sequence). */
  token: number;
  /** Target token (−1: whole sequence). */
  target: number;
}

/** Two examples whose projected gradients point apart, and their cosine. */
export interface OpposedPair {
  /** Cosine similarity of the two vectors (most negative first). */
  cosine: number;
  /** The example with the smaller index. */
  first: ProjectionExample;
  /** The other example. */
  second: ProjectionExample;
}

/**
 * The `k` pairs of chosen examples with the most negative cosine similarity, most negative first
 * (zero vectors skipped; only pairs with a negative cosine). O(n²·dims) for n chosen rows.
 */
export function mostOpposedPairs(
  set: ProjectionSet,
  k: number,
  options: ComparisonOptions = {},
): OpposedPair[] {
  if (!(Number.isInteger(k) && k > 0)) {
    throw new RangeError(`zsl: mostOpposedPairs needs a positive k, got ${k}`);
  }
  const { rows, units, width, zero } = unitRows(set, options);
  const best: { cosine: number; i: number; j: number }[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (zero[i]) continue;
    for (let j = i + 1; j < rows.length; j++) {
      if (zero[j]) continue;
      let cosine = 0;
      for (let t = 0; t < width; t++) cosine += units[i * width + t] * units[j * width + t];
      if (cosine >= 0 || (best.length === k && cosine >= best[k - 1].cosine)) continue;
      let at = best.length;
      while (at > 0 && best[at - 1].cosine > cosine) at--;
      best.splice(at, 0, { cosine, i, j });
      if (best.length > k) best.pop();
    }
  }
  const example = (i: number): ProjectionExample => {
    const index = rows[i];
    return {
      index,
      sequence: set.sequence[index],
      position: set.position[index],
      token: set.token[index],
      target: set.target[index],
    };
  };
  return best.map(({ cosine, i, j }) => {
    const [a, b] = rows[i] <= rows[j] ? [i, j] : [j, i];
    return { cosine, first: example(a), second: example(b) };
  });
}
