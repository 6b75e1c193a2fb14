/**
 * Float64 references of the per-example gradient statistics (`src/ops/per_example.ts`): per-example
 * gradients built explicitly, then the same sums the GPU ops stream.
 *
 * @module
 */

import type { Matrix as Values } from "./matmul.ts";
import { matmulDyTx } from "./matmul.ts";

/** What one op adds and writes: per-coordinate sums and per-example sums over the op's coordinates. */
export interface ExampleStatsReference {
  /** Σ_e G_e[j], [coordinates]. */
  sumG: Float64Array;
  /** Σ_e |G_e[j]|, [coordinates]. */
  sumAbsG: Float64Array;
  /**
   * [examples][4]: (Σ_j G_e[j]·δ_j, Σ_j |G_e[j]·δ_j|, Σ_j G_e[j]², Σ_j |G_e[j]|) over every coordinate.
   */
  perExample: Float64Array;
}

/**
 * Checks that every size is a positive integer and every operand holds at least its expected number of
 * values, with an error naming the function `name` and the operand.
 */
export function checkOperands(
  name: string,
  sizes: Record<string, number>,
  operands: [operand: string, values: ArrayLike<number>, expected: number][],
): void {
  for (const [size, value] of Object.entries(sizes)) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`zsl: ${name} needs a positive integer ${size}, got ${value}`);
    }
  }
  for (const [operand, values, expected] of operands) {
    if (values.length < expected) {
      throw new RangeError(`zsl: ${name}: ${operand} has ${values.length} values, needs ${expected}`);
    }
  }
}

/**
 * Example e's gradient of a Linear weight, G_e = Σ_{r∈e} dy_r x_rᵀ [out·in], for dy [E·P, out] and
 * x [E·P, in] (rows e·P … e·P + P − 1 are example e's).
 */
export function linearExampleGradient(
  dy: Values,
  x: Values,
  e: number,
  rowsPerExample: number,
  out: number,
  inFeatures: number,
): Float64Array {
  const rows = (width: number) => [e * rowsPerExample * width, (e + 1) * rowsPerExample * width] as const;
  return matmulDyTx(
    dy.subarray(...rows(out)),
    x.subarray(...rows(inFeatures)),
    rowsPerExample,
    out,
    inFeatures,
  );
}

/**
 * Example e's gradient of the tied embedding wte [V, d]: Σ_{r∈e} dlogits_r final_rᵀ plus dEmbedding_r
 * added into row ids[r] for every r ∈ e.
 */
export function embeddingExampleGradient(
  dlogits: Values,
  final: Values,
  dEmbedding: Values,
  ids: ArrayLike<number>,
  e: number,
  rowsPerExample: number,
  vocab: number,
  d: number,
): Float64Array {
  const g = linearExampleGradient(dlogits, final, e, rowsPerExample, vocab, d);
  for (let r = e * rowsPerExample; r < (e + 1) * rowsPerExample; r++) {
    if (!(Number.isInteger(ids[r]) && ids[r] >= 0 && ids[r] < vocab)) {
      throw new RangeError(`zsl: embeddingExampleGradient: id ${ids[r]} at row ${r} is not below ${vocab}`);
    }
    for (let k = 0; k < d; k++) g[ids[r] * d + k] += dEmbedding[r * d + k];
  }
  return g;
}

/**
 * The gradients `exampleGradient(e)` (each `size` long) of `examples` examples stored [E, size], e.g.
 * every example's {@linkcode linearExampleGradient}.
 */
export function exampleGradients(
  examples: number,
  size: number,
  exampleGradient: (e: number) => Float64Array,
): Float64Array {
  const gradients = new Float64Array(examples * size);
  for (let e = 0; e < examples; e++) gradients.set(exampleGradient(e), e * size);
  return gradients;
}

/** The sums of {@linkcode ExampleStatsReference} over per-example gradients `gradients[e]`. */
export function exampleStats(gradients: Float64Array[], delta: Values): ExampleStatsReference {
  const n = delta.length;
  const sumG = new Float64Array(n);
  const sumAbsG = new Float64Array(n);
  const perExample = new Float64Array(gradients.length * 4);
  gradients.forEach((g, e) => {
    for (let j = 0; j < n; j++) {
      const p = g[j] * delta[j];
      sumG[j] += g[j];
      sumAbsG[j] += Math.abs(g[j]);
      perExample[4 * e] += p;
      perExample[4 * e + 1] += Math.abs(p);
      perExample[4 * e + 2] += g[j] * g[j];
      perExample[4 * e + 3] += Math.abs(g[j]);
    }
  });
  return { sumG, sumAbsG, perExample };
}

/** Reference of `LinearExampleStats.record` (sums start at zero). */
export function linearExampleStats(
  dy: Values,
  x: Values,
  delta: Values,
  examples: number,
  rowsPerExample: number,
  out: number,
  inFeatures: number,
): ExampleStatsReference {
  const rows = examples * rowsPerExample;
  checkOperands("linearExampleStats", { examples, rowsPerExample, out, in: inFeatures }, [
    ["dy", dy, rows * out],
    ["x", x, rows * inFeatures],
    ["delta", delta, out * inFeatures],
  ]);
  const gradients = Array.from(
    { length: examples },
    (_, e) => linearExampleGradient(dy, x, e, rowsPerExample, out, inFeatures),
  );
  return exampleStats(gradients, delta.subarray(0, out * inFeatures));
}

/** Reference of `EmbeddingExampleStats.record` (sums start at zero). */
export function embeddingExampleStats(
  dlogits: Values,
  final: Values,
  dEmbedding: Values,
  ids: ArrayLike<number>,
  delta: Values,
  examples: number,
  rowsPerExample: number,
  vocab: number,
  d: number,
): ExampleStatsReference {
  const rows = examples * rowsPerExample;
  checkOperands("embeddingExampleStats", { examples, rowsPerExample, vocab, d }, [
    ["dlogits", dlogits, rows * vocab],
    ["final", final, rows * d],
    ["dEmbedding", dEmbedding, rows * d],
    ["delta", delta, vocab * d],
  ]);
  for (let r = 0; r < rows; r++) {
    if (!(Number.isInteger(ids[r]) && ids[r] >= 0 && ids[r] < vocab)) {
      throw new RangeError(
        `zsl: embeddingExampleStats: token id ${ids[r]} at row ${r} is not in 0…${vocab - 1}`,
      );
    }
  }
  const gradients = Array.from(
    { length: examples },
    (_, e) => embeddingExampleGradient(dlogits, final, dEmbedding, ids, e, rowsPerExample, vocab, d),
  );
  return exampleStats(gradients, delta.subarray(0, vocab * d));
}

/**
 * Reference of `PositionExampleStats.record` (sums start at zero): example e's gradient of nanoGPT's wpe
 * is its rows of `dEmbedding` at positions 0…P−1, over the P·d coordinates present.
 */
export function positionExampleStats(
  dEmbedding: Values,
  delta: Values,
  examples: number,
  rowsPerExample: number,
  d: number,
): ExampleStatsReference {
  const coordinates = rowsPerExample * d;
  checkOperands("positionExampleStats", { examples, rowsPerExample, d }, [
    ["dEmbedding", dEmbedding, examples * coordinates],
    ["delta", delta, coordinates],
  ]);
  const gradients = Array.from(
    { length: examples },
    (_, e) => Float64Array.from(dEmbedding.subarray(e * coordinates, (e + 1) * coordinates)),
  );
  return exampleStats(gradients, delta.subarray(0, coordinates));
}
