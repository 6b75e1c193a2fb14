/**
 * The data pipeline: corpora (the embedded Brown Corpus, text files and folders, `.npy` token arrays),
 * tokenizers (bytes, GPT-2), the EOS-joined token stream and its documents and genres, OLMo-style
 * chunking into sequences, and the seeded batch plan shared by every model size.
 *
 * @example
 * ```ts
 * import { BatchPlan, loadCorpus, tokenizeCorpus, tokenizerByName } from "./mod.ts";
 *
 * const tokenizer = await tokenizerByName("bytes"); // or "gpt2"
 * const corpus = tokenizeCorpus(await loadCorpus("brown"), tokenizer);
 * const plan = new BatchPlan({ corpus, seqLen: 256, batchSequences: 32, evalFraction: 0.02 });
 * for (let step = 1; step <= 10; step++) {
 *   const batch = plan.trainBatch(step); // batch.tokens: Uint32Array [32 · 256]
 *   for (const micro of batch.microbatches(4)) {
 *     // forward/backward on micro.tokens (8 sequences)
 *   }
 * }
 * const held = plan.evalSet(); // disjoint from every training batch
 * const state = { data: plan.describe() }; // store; on resume: plan.checkSameData(state.data)
 * ```
 *
 * @module
 */
export { BROWN_GENRES, BROWN_PACKAGE, detokeniseBrown, loadBrown } from "./brown.ts";
export { loadCorpus, loadTextFile, loadTextFolder, loadTokenFile } from "./corpus.ts";
export type { TokenEntropies } from "./entropy.ts";
export { sequenceEntropies } from "./entropy.ts";
export type {
  Corpus,
  Genre,
  LoadCorpusOptions,
  TextCorpus,
  TextDocument,
  TokenArrayCorpus,
} from "./corpus.ts";
export {
  byteTokenizer,
  EOS_TEXT,
  GPT2_PACKAGE,
  gpt2Tokenizer,
  IDS_TOKENIZER,
  idsTokenizer,
  NO_EOS,
  padVocabulary,
  TOKENIZER_NAMES,
  tokenizerByName,
} from "./tokenizer.ts";
export type { Tokenizer, TokenizerName } from "./tokenizer.ts";
export {
  checkTokenIds,
  checkTokenizedCorpus,
  documentIdAt,
  documentIdsOfRange,
  genreIdsOfRange,
  NO_GENRE,
  tokenizeCorpus,
  tokenStreamCorpus,
  validateTokens,
} from "./tokenize.ts";
export type { DocumentInfo, TokenCorpusOptions, TokenizedCorpus } from "./tokenize.ts";
export {
  Batch,
  BATCH_PLAN_VERSION,
  BatchPlan,
  DEFAULT_DATA_SEED,
  epochSeed,
  fingerprint,
  Sequences,
} from "./batches.ts";
export type { BatchPlanOptions, DataDescription } from "./batches.ts";
