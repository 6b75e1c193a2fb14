/**
 * The entropies of a token stream that the first stages of training reach: the unigram entropy
 * H1 = −Σ p(x) ln p(x) (the loss of a model that knows only token frequencies) and the bigram conditional
 * entropy H2 = H(x_t | x_{t−1}) (the loss of one that knows the previous token too), in nats per token,
 * counted over the targets of the training sequences (positions 1 … T−1 of each, each paired with the
 * token before it in the same sequence). Both are plug-in (maximum-likelihood) estimates on the training
 * tokens themselves: the losses an n-gram table would reach on its own training data, so a lower bound on
 * what it reaches on held-out text, the more so for H2 with a large vocabulary (GPT-2: most bigrams are rare).
 *
 * @example The stages of a byte-level model on Brown
 * ```ts
 * import { BatchPlan, loadCorpus, tokenizeCorpus, tokenizerByName } from "./mod.ts";
 * import { sequenceEntropies } from "./entropy.ts";
 *
 * const corpus = tokenizeCorpus(await loadCorpus("brown"), await tokenizerByName("bytes"));
 * const plan = new BatchPlan({ corpus, seqLen: 64, batchSequences: 16, evalSequences: 32 });
 * const order = plan.trainOrder();
 * const { unigram, bigram } = sequenceEntropies(Array.from(order, (k) => plan.sequences.tokens(k)));
 * console.log(unigram.toFixed(2), bigram.toFixed(2)); // ≈ 3.1 and 2.4 nats
 * ```
 *
 * @module
 */

/** Unigram and bigram entropies of a set of sequences, in nats per token. */
export interface TokenEntropies {
  /** H1: entropy of the target tokens' frequencies. */
  unigram: number;
  /** H2: entropy of a target given the token before it (same sequence). */
  bigram: number;
  /** Targets counted (tokens after the first of each sequence). */
  targets: number;
  /** Distinct target tokens. */
  distinctTokens: number;
  /** Distinct (previous, target) pairs. */
  distinctPairs: number;
}

/** Pair keys are previous · 2^26 + target: exact in a float64 for ids below 2^26 (any vocabulary here). */
const PAIR_BASE = 67_108_864;

/** −Σ (c/n) ln(c/n) over the counts `c`, `n` = their sum. */
function entropyOfCounts(counts: Iterable<number>, n: number): number {
  let sum = 0;
  for (const c of counts) if (c > 0) sum -= c * Math.log(c / n);
  return sum / n;
}

/**
 * {@linkcode TokenEntropies} of `sequences` (each a list of token ids, every id a non-negative integer):
 * targets are each sequence's tokens after its first. Throws when there is no target.
 */
export function sequenceEntropies(sequences: Iterable<ArrayLike<number>>): TokenEntropies {
  const targetCounts = new Map<number, number>();
  const previousCounts = new Map<number, number>();
  const pairCounts = new Map<number, number>();
  let targets = 0;
  for (const sequence of sequences) {
    for (let i = 1; i < sequence.length; i++) {
      const previous = sequence[i - 1];
      const target = sequence[i];
      targetCounts.set(target, (targetCounts.get(target) ?? 0) + 1);
      previousCounts.set(previous, (previousCounts.get(previous) ?? 0) + 1);
      if (!(target < PAIR_BASE && previous < PAIR_BASE)) {
        throw new Error(`zsl: token id ${Math.max(target, previous)} ≥ 2^26: too large for the bigram count`);
      }
      const pair = previous * PAIR_BASE + target;
      pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + 1);
      targets++;
    }
  }
  if (targets === 0) {
    throw new Error(
      "zsl: no token follows another in these sequences: entropies need sequences of ≥ 2 tokens",
    );
  }
  return {
    unigram: entropyOfCounts(targetCounts.values(), targets),
    // H(x_t | x_{t−1}) = H(x_{t−1}, x_t) − H(x_{t−1}).
    bigram: entropyOfCounts(pairCounts.values(), targets) - entropyOfCounts(previousCounts.values(), targets),
    targets,
    distinctTokens: targetCounts.size,
    distinctPairs: pairCounts.size,
  };
}
