/**
 * `data_statistics.arrow`: what the training data alone predicts of the loss curve. One row per training
 * set of a sweep (data, tokenizer and sequence length): the unigram entropy H1 and the bigram conditional
 * entropy H2 of its training tokens, in nats per token (src/data/entropy.ts). A loss curve that breaks at
 * L_d ≈ H1 breaks where a model has learnt the token frequencies: the end of the unigram stage
 * (docs/warmup-study.md#mechanism), not necessarily the paper's deceleration.
 *
 * @example L_d beside H1 and H2
 * ```ts
 * import { DATA_STATISTICS_TABLE } from "./data_statistics.ts";
 * import { readTableIfPresent } from "./table.ts";
 * const rows = await readTableIfPresent("sweeps/default/results", DATA_STATISTICS_TABLE) ?? [];
 * for (const row of rows) console.log(row.data, row.tokenizer, row.unigramEntropy, row.bigramEntropy);
 * ```
 *
 * @module
 */
import { type TableSchema, tableSchema } from "./table.ts";

/** One row of `data_statistics.arrow`: one training set. */
export interface DataStatisticsRow {
  /** `data` (utf8): the corpus (`"brown"`, a path), as the runs name it. */
  data: string;
  /** `tokenizer` (utf8): `"bytes"`, `"gpt2"`, … */
  tokenizer: string;
  /** `seq` (float64, tokens): the sequence length (bigrams are counted within sequences). */
  seq: number;
  /** `runs` (utf8): the runs trained on it, comma-separated. */
  runs: string;
  /** `targets` (float64): training tokens counted (each sequence's tokens after its first). */
  targets: number;
  /** `distinct_tokens` (float64): distinct target tokens. */
  distinctTokens: number;
  /** `unigram_entropy` (float64, nats/token): H1 of the training targets. */
  unigramEntropy: number;
  /** `bigram_entropy` (float64, nats/token): H2 = H(x_t | x_{t−1}) of the training targets. */
  bigramEntropy: number;
}

/** `data_statistics.arrow`: one {@linkcode DataStatisticsRow} per training set of a sweep. */
export const DATA_STATISTICS_TABLE: TableSchema<DataStatisticsRow> = tableSchema("data_statistics.arrow", {
  data: ["data", "string"],
  tokenizer: ["tokenizer", "string"],
  seq: ["seq", "float64"],
  runs: ["runs", "string"],
  targets: ["targets", "float64"],
  distinct_tokens: ["distinctTokens", "float64"],
  unigram_entropy: ["unigramEntropy", "float64"],
  bigram_entropy: ["bigramEntropy", "float64"],
});
