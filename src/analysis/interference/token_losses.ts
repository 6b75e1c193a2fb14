/**
 * Per-token loss sets of the interference analyses and their Arrow files. The GPU reading is
 * `src/model/token_losses.ts` (re-exported here).
 *
 * A loss file `losses_step-NNNNNNN.arrow` has one row per predicted token: `seq` (row of the token
 * set), `pos` (position s, predicting token s+1), `loss` (nats, float32), and the `document` and
 * `genre` ids of the predicted token (s+1; genre −1 for none, an index into the corpus's genres).
 *
 * @module
 */
export { modelTokenLosses, type TokenLossOptions, TokenLossReader } from "../../model/token_losses.ts";
import { decodeArrow, encodeArrow } from "../../io/arrow.ts";
import type { Columns } from "../../io/arrow.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
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

/** The columns of a loss file: seq, pos, loss, document, genre. */
export function tokenLossColumns(losses: Float32Array, set: TokenSet): Columns {
  const perSequence = set.seqLen - 1;
  if (losses.length !== set.documents.length) {
    throw new Error(
      `zsl: ${losses.length} losses for a token set of ${set.documents.length} predicted tokens`,
    );
  }
  const seq = new Uint32Array(losses.length);
  const pos = new Uint32Array(losses.length);
  for (let i = 0; i < losses.length; i++) {
    seq[i] = Math.floor(i / perSequence);
    pos[i] = i % perSequence;
  }
  return { seq, pos, loss: losses, document: set.documents, genre: set.genres };
}

/** Writes a loss file atomically. */
export async function writeTokenLosses(path: string, losses: Float32Array, set: TokenSet): Promise<void> {
  await writeFileAtomic(path, encodeArrow(tokenLossColumns(losses, set)));
}

/** Reads the `loss` column of a loss file, checking it has `expected` rows (when given). */
export async function readTokenLosses(path: string, expected?: number): Promise<Float32Array> {
  const table = decodeArrow(await Deno.readFile(path), path);
  const column = table.columns.loss;
  if (!column) throw new Error(`zsl: ${path} has no "loss" column: it is not a token-loss file`);
  if (expected !== undefined && table.numRows !== expected) {
    throw new Error(`zsl: ${path} has ${table.numRows} tokens, expected ${expected}`);
  }
  return Float32Array.from(column as ArrayLike<number>);
}
