/**
 * Sequences and the batch plan: which sequences every training step, unseen batch and the eval split
 * hold.
 *
 * Chunking (OLMo's rule): with `N = ⌊tokens / T⌋`, sequence `k` is `tokens[k·T, (k+1)·T)`; the last
 * `tokens mod T` tokens are dropped. Sequences cross document boundaries.
 *
 * The plan (`shuffle: true`, the default): one permutation `P` of the `N` sequences, drawn by
 * `new Random(seed).shuffle([0 … N−1])` (Fisher–Yates, `src/util/random.ts`; seed 6198 as in the paper).
 * The last `E` entries of `P` are the eval split (kept sorted ascending), the first `N − E` are the
 * training order of epoch 0. Step `s` (1-based) trains on the global batch of training positions
 * `[(s−1)·B, s·B)`; position `p` is sequence `order_e[p mod (N−E)]` of epoch `e = ⌊p / (N−E)⌋`. Epoch
 * `e ≥ 1` reorders the epoch-0 order with `new Random(epochSeed(seed, e))`. So the order depends on the
 * data, `T`, the seed and `E` only — never on `B` or the model: every model size sees the same sequences
 * in the same order, and a smaller batch only cuts the same order into smaller steps. Changing `E` only
 * moves sequences between the end of the epoch-0 order and the eval split.
 *
 * With `shuffle: false` the file order is used: step `s` trains on sequences `[(s−1)·B, s·B)`, the eval
 * split is the last `E` sequences, and every epoch repeats the same order.
 *
 * @example
 * ```ts
 * import { BatchPlan, byteTokenizer, loadCorpus, tokenizeCorpus } from "./mod.ts";
 * const corpus = tokenizeCorpus(await loadCorpus("brown"), byteTokenizer());
 * const plan = new BatchPlan({ corpus, seqLen: 256, batchSequences: 32, evalSequences: 64 });
 * const batch = plan.trainBatch(1); // batch.tokens: Uint32Array [32·256]
 * const [first, second] = batch.microbatches(2); // 16 sequences each
 * const genres = batch.genreIds(); // Int32Array [32·256], indices into corpus.genres
 * const next = plan.unseenBatch(1); // = plan.trainBatch(2), never trained on by step 1
 * ```
 *
 * @module
 */
import { Random } from "../util/random.ts";
import { checkTokenizedCorpus, documentIdsOfRange, genreIdsOfRange } from "./tokenize.ts";
import type { TokenizedCorpus } from "./tokenize.ts";

/** The paper's data-order seed. */
export const DEFAULT_DATA_SEED = 6198;

/** Version of the ordering algorithm, stored in `DataDescription` so that a change is detected. */
export const BATCH_PLAN_VERSION = 1;

/** A corpus cut into sequences of `seqLen` tokens (OLMo's rule: the incomplete tail is dropped). */
export class Sequences {
  /** The tokenized corpus. */
  readonly corpus: TokenizedCorpus;
  /** Tokens per sequence (`T`). */
  readonly seqLen: number;
  /** Number of whole sequences, `⌊tokens / T⌋`. */
  readonly count: number;

  /** Cuts `corpus` into sequences of `seqLen` (≥ 2) tokens; the corpus is shared, not copied. */
  constructor(corpus: TokenizedCorpus, seqLen: number) {
    checkPositiveInteger(seqLen, "seqLen", 2, "use a sequence length of at least 2 tokens");
    this.corpus = corpus;
    this.seqLen = seqLen;
    this.count = Math.floor(corpus.tokens.length / seqLen);
  }

  /** The tokens of sequence `k` (a view into the corpus stream: do not modify). */
  tokens(k: number): Uint32Array {
    this.#check(k);
    return this.corpus.tokens.subarray(k * this.seqLen, (k + 1) * this.seqLen);
  }

  /** The document id (index into `corpus.documents`) of every token of sequence `k`. */
  documentIdsOfSequence(k: number, out?: Uint32Array): Uint32Array {
    this.#check(k);
    return documentIdsOfRange(this.corpus, k * this.seqLen, this.seqLen, out);
  }

  /** The genre id (index into `corpus.genres`, −1 for none) of every token of sequence `k`. */
  genreIdsOfSequence(k: number, out?: Int32Array): Int32Array {
    this.#check(k);
    return genreIdsOfRange(this.corpus, k * this.seqLen, this.seqLen, out);
  }

  #check(k: number): void {
    if (!Number.isInteger(k) || k < 0 || k >= this.count) {
      throw new Error(
        `zsl: sequence ${k} does not exist: there are ${this.count} sequences (0 … ${this.count - 1})`,
      );
    }
  }
}

/** A set of sequences: a training step's global batch, a microbatch, an unseen batch or the eval split. */
export class Batch {
  /** The sequences the batch is cut from. */
  readonly source: Sequences;
  /** Sequence indices, in batch order. */
  readonly sequences: Uint32Array;
  /** Tokens, row-major `[sequences.length · seqLen]`: row `i` is sequence `sequences[i]`. */
  readonly tokens: Uint32Array;
  /** The training step this batch belongs to, or `null` for the eval split. */
  readonly step: number | null;

  /**
   * A batch of the given sequences of `source`. `tokens`, when given, must already hold them (row-major,
   * `[sequences.length · seqLen]`) and is kept as is (slices pass a view); otherwise they are copied in.
   */
  constructor(source: Sequences, sequences: Uint32Array, step: number | null, tokens?: Uint32Array) {
    this.source = source;
    this.sequences = sequences;
    this.step = step;
    if (tokens) {
      this.tokens = tokens;
    } else {
      const seqLen = source.seqLen;
      this.tokens = new Uint32Array(sequences.length * seqLen);
      for (let i = 0; i < sequences.length; i++) this.tokens.set(source.tokens(sequences[i]), i * seqLen);
    }
  }

  /** Number of sequences (rows). */
  get size(): number {
    return this.sequences.length;
  }

  /** Tokens per sequence. */
  get seqLen(): number {
    return this.source.seqLen;
  }

  /** Document id of every token, `[size · seqLen]` like `tokens`. */
  documentIds(): Uint32Array {
    const seqLen = this.seqLen;
    const out = new Uint32Array(this.tokens.length);
    for (let i = 0; i < this.size; i++) {
      this.source.documentIdsOfSequence(this.sequences[i], out.subarray(i * seqLen, (i + 1) * seqLen));
    }
    return out;
  }

  /** Genre id of every token (index into `corpus.genres`, −1 for none), `[size · seqLen]`. */
  genreIds(): Int32Array {
    const seqLen = this.seqLen;
    const out = new Int32Array(this.tokens.length);
    for (let i = 0; i < this.size; i++) {
      this.source.genreIdsOfSequence(this.sequences[i], out.subarray(i * seqLen, (i + 1) * seqLen));
    }
    return out;
  }

  /** Rows `first … end − 1` as a batch (its tokens are a view into this batch's). */
  slice(first: number, end: number): Batch {
    if (!Number.isInteger(first) || !Number.isInteger(end) || first < 0 || end > this.size || first >= end) {
      throw new Error(`zsl: cannot slice rows ${first} … ${end - 1} of a batch of ${this.size} sequences`);
    }
    const seqLen = this.seqLen;
    return new Batch(
      this.source,
      this.sequences.subarray(first, end),
      this.step,
      this.tokens.subarray(first * seqLen, end * seqLen),
    );
  }

  /** `count` contiguous microbatches of equal size (`count` must divide the batch size). */
  microbatches(count: number): Batch[] {
    if (!Number.isInteger(count) || count <= 0 || this.size % count !== 0) {
      throw new Error(
        `zsl: a batch of ${this.size} sequences cannot be split into ${count} equal microbatches: ` +
          `choose a microbatch count that divides ${this.size}`,
      );
    }
    const rows = this.size / count;
    return Array.from({ length: count }, (_, index) => this.slice(index * rows, (index + 1) * rows));
  }
}

/** Options of a `BatchPlan`. */
export interface BatchPlanOptions {
  /** The tokenized corpus to cut into sequences. */
  corpus: TokenizedCorpus;
  /** Tokens per sequence (`T` ≥ 2). */
  seqLen: number;
  /** Sequences per global batch (`B` ≥ 1). */
  batchSequences: number;
  /** Held-out sequences (default 0). Give this or `evalFraction`, not both. */
  evalSequences?: number;
  /** Held-out fraction of the sequences, in [0, 1): `E = max(1, round(fraction · N))` when > 0. */
  evalFraction?: number;
  /** Seed of the order (default 6198, the paper's). */
  seed?: number;
  /** Shuffle the sequences (default true); false reads them in file order. */
  shuffle?: boolean;
}

/** A JSON-able summary of the data a plan serves, for `state.json` and checkpoints. */
export interface DataDescription {
  /** `BATCH_PLAN_VERSION` of the plan that wrote it. */
  version: number;
  /** `TokenizedCorpus.source` (`"brown"`, a path); not compared by `checkSameData`. */
  source: string;
  /** `Tokenizer.name` (`"bytes"`, `"gpt2"`). */
  tokenizer: string;
  /** `Tokenizer.vocabSize` (padded). */
  vocabSize: number;
  /** `Tokenizer.eosId`. */
  eosId: number;
  /** Length of the token stream. */
  tokens: number;
  /** Number of documents. */
  documents: number;
  /** `Genre.id` of every genre, in the corpus's order (genre ids index this list). */
  genres: string[];
  /** Hash of the token stream and document starts (hex). */
  tokensFingerprint: string;
  /** Tokens per sequence (`T`). */
  seqLen: number;
  /** Data-order seed. */
  seed: number;
  /** Whether the order is shuffled (false: file order). */
  shuffle: boolean;
  /** `N`, all whole sequences. */
  sequences: number;
  /** `N − E`, the sequences of one training epoch. */
  trainSequences: number;
  /** `E`, the held-out sequences. */
  evalSequences: number;
  /** Hash of the epoch-0 training order followed by the eval split (hex). */
  orderFingerprint: string;
  /** Sequences per global batch (`B`); `checkSameData` can ignore it. */
  batchSequences: number;
  /** Whole steps before the training order is exhausted, `⌊trainSequences / batchSequences⌋`. */
  stepsPerEpoch: number;
}

/** The fields `checkSameData` compares (the source path may move, so it is not among them). */
const DATA_FIELDS = [
  "version",
  "tokenizer",
  "vocabSize",
  "eosId",
  "tokens",
  "documents",
  "tokensFingerprint",
  "seqLen",
  "seed",
  "shuffle",
  "sequences",
  "trainSequences",
  "evalSequences",
  "orderFingerprint",
] as const;

/** Which sequences every step trains on, which are held out, and which are still unseen. */
export class BatchPlan {
  /** The tokenized corpus. */
  readonly corpus: TokenizedCorpus;
  /** The corpus cut into sequences of `seqLen` tokens. */
  readonly sequences: Sequences;
  /** Tokens per sequence (`T`). */
  readonly seqLen: number;
  /** Sequences per global batch (`B`). */
  readonly batchSequences: number;
  /** Data-order seed (default 6198). */
  readonly seed: number;
  /** Whether the order is shuffled; false reads the sequences in file order. */
  readonly shuffle: boolean;
  /** `N`, all whole sequences. */
  readonly sequenceCount: number;
  /** `N − E`, the sequences of one training epoch. */
  readonly trainSequenceCount: number;
  /** `E`, the held-out sequences. */
  readonly evalSequenceCount: number;
  /** `⌊(N − E) / B⌋`. */
  readonly stepsPerEpoch: number;

  readonly #firstOrder: Uint32Array;
  readonly #evalSequences: Uint32Array;
  #epochCache = new Map<number, Uint32Array>();
  #description: DataDescription | null = null;

  /**
   * Cuts the corpus into sequences, draws the order and the eval split. Throws when an option is out of
   * range or the corpus holds fewer than one batch plus the eval split.
   */
  constructor(options: BatchPlanOptions) {
    const { corpus, seqLen, batchSequences } = options;
    checkTokenizedCorpus(corpus);
    checkPositiveInteger(seqLen, "seqLen", 2, "use a sequence length of at least 2 tokens");
    checkPositiveInteger(batchSequences, "batchSequences", 1, "use a batch of at least 1 sequence");
    const seed = options.seed ?? DEFAULT_DATA_SEED;
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(
        `zsl: data seed ${seed} is not an integer in 0 … 2^32−1: give such a seed (the paper's is 6198)`,
      );
    }
    this.corpus = corpus;
    this.seqLen = seqLen;
    this.batchSequences = batchSequences;
    this.seed = seed;
    this.shuffle = options.shuffle ?? true;
    this.sequences = new Sequences(corpus, seqLen);
    const count = this.sequences.count;
    this.sequenceCount = count;

    let evalCount = 0;
    if (options.evalSequences !== undefined && options.evalFraction !== undefined) {
      throw new Error("zsl: give evalSequences or evalFraction, not both");
    }
    if (options.evalSequences !== undefined) {
      evalCount = options.evalSequences;
      if (!Number.isInteger(evalCount) || evalCount < 0) {
        throw new Error(
          `zsl: evalSequences ${evalCount} is not a whole number ≥ 0: give a count of sequences`,
        );
      }
    } else if (options.evalFraction !== undefined) {
      const fraction = options.evalFraction;
      if (!(fraction >= 0 && fraction < 1)) {
        throw new Error(`zsl: evalFraction ${fraction} is not in [0, 1): give a fraction such as 0.05`);
      }
      evalCount = fraction > 0 ? Math.max(1, Math.round(fraction * count)) : 0;
    }
    if (count < batchSequences + evalCount) {
      const tokens = corpus.tokens.length;
      throw new Error(
        `zsl: corpus ${corpus.source} has ${tokens} tokens = ${count} sequences of ${seqLen}, fewer than ` +
          `one batch of ${batchSequences} plus ${evalCount} eval sequences: use a smaller batch, a shorter ` +
          `sequence length or a smaller eval split, or a larger corpus`,
      );
    }
    this.evalSequenceCount = evalCount;
    this.trainSequenceCount = count - evalCount;
    this.stepsPerEpoch = Math.floor(this.trainSequenceCount / batchSequences);

    const all = new Uint32Array(count);
    for (let i = 0; i < count; i++) all[i] = i;
    if (this.shuffle) new Random(seed).shuffle(all);
    this.#firstOrder = all.slice(0, this.trainSequenceCount);
    this.#evalSequences = all.slice(this.trainSequenceCount).sort();
  }

  /**
   * The training order of epoch `epoch` (0-based): sequence indices, `trainSequenceCount` of them.
   * A copy; the same on every call.
   */
  trainOrder(epoch = 0): Uint32Array {
    return this.#order(epoch).slice();
  }

  /** The sequence at training position `position` (0-based; position `p` belongs to step `⌊p/B⌋ + 1`). */
  sequenceAt(position: number): number {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new Error(`zsl: training position ${position} is not a whole number ≥ 0`);
    }
    const epoch = Math.floor(position / this.trainSequenceCount);
    return this.#order(epoch)[position - epoch * this.trainSequenceCount];
  }

  /** The document id of every token of sequence `k` (see `Sequences.documentIdsOfSequence`). */
  documentIdsOfSequence(k: number): Uint32Array {
    return this.sequences.documentIdsOfSequence(k);
  }

  /** The genre id (index into `corpus.genres`, −1 for none) of every token of sequence `k`. */
  genreIdsOfSequence(k: number): Int32Array {
    return this.sequences.genreIdsOfSequence(k);
  }

  /** The global batch of step `step` (1-based): training positions `[(step−1)·B, step·B)`. */
  trainBatch(step: number): Batch {
    if (!Number.isSafeInteger(step) || step < 1) {
      throw new Error(`zsl: step ${step} is not a whole number ≥ 1: steps count from 1`);
    }
    const batch = this.batchSequences;
    const indices = new Uint32Array(batch);
    const first = (step - 1) * batch;
    for (let i = 0; i < batch; i++) indices[i] = this.sequenceAt(first + i);
    return new Batch(this.sequences, indices, step);
  }

  /**
   * The `k`-th batch (0-based) that training up to step `afterStep` has not seen: the batch of step
   * `afterStep + 1 + k`. Throws when that batch reaches past the first epoch, where every sequence may
   * already have been trained on (use `evalSet` there).
   */
  unseenBatch(afterStep: number, k = 0): Batch {
    if (!Number.isSafeInteger(afterStep) || afterStep < 0) {
      throw new Error(`zsl: afterStep ${afterStep} is not a whole number ≥ 0`);
    }
    if (!Number.isSafeInteger(k) || k < 0) {
      throw new Error(`zsl: unseen batch index ${k} is not a whole number ≥ 0`);
    }
    const step = afterStep + 1 + k;
    if (step > this.stepsPerEpoch) {
      throw new Error(
        `zsl: unseen batch ${k} after step ${afterStep} would be step ${step}, past the first epoch ` +
          `(${this.stepsPerEpoch} steps of ${this.batchSequences} sequences), whose sequences training may ` +
          `already have seen: use the eval split (evalSet) or an earlier step`,
      );
    }
    return this.trainBatch(step);
  }

  /** The held-out sequences (sorted ascending) as one batch. Throws when the plan has no eval split. */
  evalSet(): Batch {
    if (this.evalSequenceCount === 0) {
      throw new Error("zsl: this batch plan has no eval split: set evalSequences or evalFraction");
    }
    return new Batch(this.sequences, this.#evalSequences.slice(), null);
  }

  /** The eval split's sequence indices (sorted ascending; a copy). */
  evalSequenceIndices(): Uint32Array {
    return this.#evalSequences.slice();
  }

  /** A JSON-able summary: data source, tokenizer, seqLen, seed, counts and fingerprints. */
  describe(): DataDescription {
    if (!this.#description) {
      const corpus = this.corpus;
      const order = new Uint32Array(this.sequenceCount);
      order.set(this.#firstOrder, 0);
      order.set(this.#evalSequences, this.trainSequenceCount);
      this.#description = {
        version: BATCH_PLAN_VERSION,
        source: corpus.source,
        tokenizer: corpus.tokenizer.name,
        vocabSize: corpus.tokenizer.vocabSize,
        eosId: corpus.tokenizer.eosId,
        tokens: corpus.tokens.length,
        documents: corpus.documents.length,
        genres: corpus.genres.map((genre) => genre.id),
        tokensFingerprint: fingerprint([corpus.tokens, corpus.documentStarts]),
        seqLen: this.seqLen,
        seed: this.seed,
        shuffle: this.shuffle,
        sequences: this.sequenceCount,
        trainSequences: this.trainSequenceCount,
        evalSequences: this.evalSequenceCount,
        orderFingerprint: fingerprint([order]),
        batchSequences: this.batchSequences,
        stepsPerEpoch: this.stepsPerEpoch,
      };
    }
    return structuredClone(this.#description);
  }

  /**
   * Checks that `saved` (an earlier `describe()`, e.g. from a resumed run's state) describes the same
   * data and order; throws listing every difference. `ignoreBatchSize` allows a different batch size
   * (comparing runs of different model sizes, which share the order).
   */
  checkSameData(saved: DataDescription, options: { ignoreBatchSize?: boolean } = {}): void {
    const current = this.describe();
    const fields: (keyof DataDescription)[] = [...DATA_FIELDS];
    if (!options.ignoreBatchSize) fields.push("batchSequences");
    const differences = fields.filter((field) =>
      JSON.stringify(saved[field]) !== JSON.stringify(current[field])
    )
      .map((field) => `${field} ${JSON.stringify(saved[field])} → ${JSON.stringify(current[field])}`);
    if (differences.length > 0) {
      throw new Error(
        `zsl: the data differs from the saved run (${differences.join("; ")}): use the same corpus, ` +
          `tokenizer, sequence length, batch size, eval split and seed as the run ` +
          `(saved source: ${saved.source})`,
      );
    }
  }

  #order(epoch: number): Uint32Array {
    if (epoch === 0) return this.#firstOrder;
    let order = this.#epochCache.get(epoch);
    if (!order) {
      order = this.#firstOrder.slice();
      if (this.shuffle) new Random(epochSeed(this.seed, epoch)).shuffle(order);
      if (this.#epochCache.size >= 2) this.#epochCache.delete(this.#epochCache.keys().next().value!);
      this.#epochCache.set(epoch, order);
    }
    return order;
  }
}

/**
 * The seed of epoch `epoch ≥ 1`'s reordering: a 32-bit mix of the data seed and the epoch (splitmix32
 * finaliser of `seed + epoch · 0x9E3779B9`), so each epoch's order is fixed and differs from the others.
 */
export function epochSeed(seed: number, epoch: number): number {
  let z = (seed + Math.imul(epoch, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 64-bit hash (two 32-bit lanes, hex) of 32-bit arrays, lengths included. Not cryptographic. */
export function fingerprint(arrays: ArrayLike<number>[]): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (value: number) => {
    h1 = Math.imul(h1 ^ value, 2654435761);
    h2 = Math.imul(h2 ^ value, 1597334677);
  };
  for (const array of arrays) {
    mix(array.length >>> 0);
    for (let i = 0; i < array.length; i++) mix(array[i]);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

function checkPositiveInteger(value: number, name: string, minimum: number, fix: string): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new Error(`zsl: ${name} ${value} is not a whole number ≥ ${minimum}: ${fix}`);
  }
}
