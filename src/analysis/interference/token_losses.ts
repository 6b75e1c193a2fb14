/**
 * The token sets of the interference analyses: which tokens, and the document and genre of every
 * predicted token. The GPU reading of their losses is `src/model/token_losses.ts`; their files are
 * `src/results/interference.ts`'s.
 *
 * @module
 */
import type { Batch } from "../../data/batches.ts";

/**
 * The label of each predicted token from per-token labels of the input ([sequences·T], e.g.
 * `Batch.documentIds()`): the label of token s+1 for position s, [sequences·(T − 1)].
 */
export function targetLabels<A extends Uint32Array | Int32Array>(labels: A, seqLen: number): A {
  const sequences = labels.length / seqLen;
  if (!Number.isInteger(sequences)) {
    throw new Error(`zsl: ${labels.length} labels are not whole sequences of ${seqLen}`);
  }
  const out = new (labels.constructor as { new (n: number): A })(sequences * (seqLen - 1));
  for (let k = 0; k < sequences; k++) {
    out.set(labels.subarray(k * seqLen + 1, (k + 1) * seqLen), k * (seqLen - 1));
  }
  return out;
}

/** A fixed token set with the document and genre of every predicted token. */
export interface TokenSet {
  /** Input tokens, whole sequences row-major. */
  tokens: Uint32Array;
  /** Tokens per sequence (T). */
  seqLen: number;
  /** Document id of each predicted token, [sequences·(T − 1)]. */
  documents: Uint32Array;
  /** Genre id of each predicted token (−1: none), [sequences·(T − 1)]. */
  genres: Int32Array;
  /** Genre names by id (the corpus's genres). */
  genreNames: string[];
  /** Document names by id (the corpus's documents), when known. */
  documentNames?: string[];
}

/** The token set of `batch` (its first `maxSequences` sequences when given). */
export function tokenSetOf(
  batch: Batch,
  genreNames: string[],
  maxSequences?: number,
  documentNames?: string[],
): TokenSet {
  const T = batch.seqLen;
  const used = maxSequences !== undefined && maxSequences < batch.size ? batch.slice(0, maxSequences) : batch;
  return {
    tokens: used.tokens,
    seqLen: T,
    documents: targetLabels(used.documentIds(), T),
    genres: targetLabels(used.genreIds(), T),
    genreNames,
    documentNames,
  };
}
