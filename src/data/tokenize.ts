/**
 * Tokenized corpora: every document encoded and followed by EOS, all joined into one token stream, with
 * the start of each document kept so that every token leads back to its document and genre.
 *
 * A document's EOS belongs to that document: document `i` is `tokens[documentStarts[i] …
 * documentStarts[i + 1])`, its text tokens then its EOS.
 *
 * @example
 * ```ts
 * import { loadCorpus } from "./corpus.ts";
 * import { byteTokenizer } from "./tokenizer.ts";
 * import { documentIdsOfRange, tokenizeCorpus } from "./tokenize.ts";
 * const corpus = tokenizeCorpus(await loadCorpus("brown"), byteTokenizer());
 * corpus.tokens.length; // 5,981,637: the UTF-8 bytes of the 500 documents and 500 EOS
 * documentIdsOfRange(corpus, 0, 4); // Uint32Array [0, 0, 0, 0]
 * ```
 *
 * @module
 */
import type { Corpus, Genre } from "./corpus.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** A document of a tokenized corpus (its text is gone; its tokens are a range of `tokens`). */
export interface DocumentInfo {
  /** Identifier (`"ca01"`, a relative path, or `"#17"` for the 18th document of a token file). */
  name: string;
  /** Title, where the text corpus gave one. */
  title?: string;
  /** `Genre.id`, if the document has a genre. */
  genre?: string;
}

/** A corpus as one token stream (documents joined by EOS) plus the way back from tokens to documents. */
export interface TokenizedCorpus {
  /** Where the data came from (`"brown"`, a path). */
  source: string;
  /** The tokenizer that produced (or, for a token corpus, checked) `tokens`. */
  tokenizer: Tokenizer;
  /** All tokens, EOS after every document. */
  tokens: Uint32Array;
  /** `documentStarts[i]` is the position of document `i`'s first token; increasing, starts at 0. */
  documentStarts: Uint32Array;
  /** One entry per document, parallel to `documentStarts` and `documentGenres`. */
  documents: DocumentInfo[];
  /** The genres documents refer to; a genre id in `documentGenres` indexes this list. */
  genres: Genre[];
  /** Index into `genres` of each document's genre, −1 for none. */
  documentGenres: Int32Array;
}

/** The value of `documentGenres` / `genreIdsOfRange` for a document without genre. */
export const NO_GENRE: number = -1;

/** Options of {@linkcode tokenizeCorpus} for token corpora (`.npy`, `.bin`). */
export interface TokenCorpusOptions {
  /**
   * The model's vocabulary size: every id must be below it. Default: the tokenizer's `tokenCount`.
   * A token file may come from another tokenizer than the one named (GPT-NeoX ids under `gpt2`): only
   * the model's embedding bounds its ids.
   */
  vocabSize?: number;
}

/**
 * Tokenizes a corpus. A text corpus: each document is encoded on its own and followed by EOS. A token
 * corpus: the stream is kept as is and split into documents after each `tokenizer.eosId` (tokens after
 * the last EOS form a last document without EOS); every id is checked against `options.vocabSize`
 * (default: the tokenizer's vocabulary).
 */
export function tokenizeCorpus(
  corpus: Corpus,
  tokenizer: Tokenizer,
  options: TokenCorpusOptions = {},
): TokenizedCorpus {
  if (corpus.kind === "tokens") {
    if (options.vocabSize !== undefined) checkTokenIds(corpus.tokens, options.vocabSize, corpus.source);
    return tokenStreamCorpus(corpus.tokens, tokenizer, corpus.source, options.vocabSize !== undefined);
  }
  if (corpus.documents.length === 0) {
    throw new Error(`zsl: corpus ${corpus.source} is empty (no documents): give a corpus with text`);
  }
  const genreIndex = new Map(corpus.genres.map((genre, index) => [genre.id, index]));
  const encoded: Uint32Array[] = [];
  const documentStarts = new Uint32Array(corpus.documents.length);
  const documentGenres = new Int32Array(corpus.documents.length);
  const documents: DocumentInfo[] = [];
  let total = 0;
  let textTokens = 0;
  corpus.documents.forEach((document, index) => {
    const ids = tokenizer.encode(document.text);
    encoded.push(ids);
    documentStarts[index] = total;
    total += ids.length + 1;
    textTokens += ids.length;
    if (total > 0xffffffff) {
      throw new Error(`zsl: corpus ${corpus.source} has more than 2^32 tokens; use a smaller corpus`);
    }
    let genre = NO_GENRE;
    if (document.genre !== undefined) {
      const found = genreIndex.get(document.genre);
      if (found === undefined) {
        throw new Error(
          `zsl: document ${document.name} of ${corpus.source} has genre "${document.genre}", ` +
            `which is not in the corpus's genre list (${
              corpus.genres.map((g) => g.id).join(", ") || "empty"
            })`,
        );
      }
      genre = found;
    }
    documentGenres[index] = genre;
    const info: DocumentInfo = { name: document.name };
    if (document.title !== undefined) info.title = document.title;
    if (document.genre !== undefined) info.genre = document.genre;
    documents.push(info);
  });
  if (textTokens === 0) {
    throw new Error(
      `zsl: corpus ${corpus.source} is empty (its documents have no text): give a corpus with text`,
    );
  }
  const tokens = new Uint32Array(total);
  encoded.forEach((ids, index) => {
    tokens.set(ids, documentStarts[index]);
    tokens[documentStarts[index] + ids.length] = tokenizer.eosId;
  });
  return {
    source: corpus.source,
    tokenizer,
    tokens,
    documentStarts,
    documents,
    genres: corpus.genres.map((genre) => ({ ...genre })),
    documentGenres,
  };
}

/**
 * A tokenized corpus from a token stream that already has EOS between documents (a `.npy` file, or a
 * hand-made stream in tests). Checks every id against `tokenizer.tokenCount`.
 */
export function tokenStreamCorpus(
  tokens: Uint32Array,
  tokenizer: Tokenizer,
  source = "tokens",
  checked = false,
): TokenizedCorpus {
  if (tokens.length === 0) {
    throw new Error(`zsl: corpus ${source} is empty (no tokens): give a corpus with data`);
  }
  if (!checked) validateTokens(tokens, tokenizer, source);
  const starts: number[] = [0];
  for (let i = 0; i < tokens.length - 1; i++) {
    if (tokens[i] === tokenizer.eosId) starts.push(i + 1);
  }
  const documents: DocumentInfo[] = starts.map((_, index) => ({ name: `#${index}` }));
  return {
    source,
    tokenizer,
    tokens,
    documentStarts: Uint32Array.from(starts),
    documents,
    genres: [],
    documentGenres: new Int32Array(starts.length).fill(NO_GENRE),
  };
}

/**
 * Checks that every id is one the tokenizer can produce (`0 … tokenCount − 1`), with an error naming the
 * first bad id, its position and the vocabulary.
 */
export function validateTokens(tokens: ArrayLike<number>, tokenizer: Tokenizer, source: string): void {
  const limit = tokenizer.tokenCount;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] >= limit) {
      throw new Error(
        `zsl: token id ${tokens[i]} at position ${i} of ${source} is outside the ${tokenizer.name} ` +
          `vocabulary (${limit} tokens, ids 0 … ${limit - 1}; embedding size ${tokenizer.vocabSize}): ` +
          `the data was made with another tokenizer; pass the tokenizer it was made with`,
      );
    }
  }
}

/**
 * Checks that every id of a token file is below the model's `vocabSize`, with an error naming the
 * first id that is not, where it is, and the fix.
 */
export function checkTokenIds(tokens: ArrayLike<number>, vocabSize: number, source: string): void {
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] >= vocabSize) {
      let largest = 0;
      for (let j = 0; j < tokens.length; j++) largest = Math.max(largest, tokens[j]);
      throw new Error(
        `zsl: token id ${tokens[i]} at position ${i} of ${source} is outside the model's vocabulary ` +
          `(vocab_size ${vocabSize}, ids 0 … ${vocabSize - 1}): give a model with vocab_size > ${largest} ` +
          `(--vocab-size, or vocab_size in --config)`,
      );
    }
  }
}

/** Checks the structure of a tokenized corpus (for corpora built by hand); throws naming the problem. */
export function checkTokenizedCorpus(corpus: TokenizedCorpus): void {
  const { tokens, documentStarts, documents, documentGenres, source } = corpus;
  if (tokens.length === 0) {
    throw new Error(`zsl: corpus ${source} is empty (no tokens): give a corpus with data`);
  }
  if (documentStarts.length === 0 || documentStarts[0] !== 0) {
    throw new Error(`zsl: corpus ${source}: documentStarts must start with 0`);
  }
  if (documents.length !== documentStarts.length || documentGenres.length !== documentStarts.length) {
    throw new Error(
      `zsl: corpus ${source}: ${documentStarts.length} document starts but ${documents.length} documents ` +
        `and ${documentGenres.length} document genres`,
    );
  }
  for (let i = 1; i < documentStarts.length; i++) {
    if (documentStarts[i] <= documentStarts[i - 1] || documentStarts[i] >= tokens.length) {
      throw new Error(
        `zsl: corpus ${source}: documentStarts must increase and lie inside the tokens (index ${i})`,
      );
    }
  }
  for (let i = 0; i < documentGenres.length; i++) {
    if (documentGenres[i] < NO_GENRE || documentGenres[i] >= corpus.genres.length) {
      throw new Error(
        `zsl: corpus ${source}: document ${i} has genre index ${documentGenres[i]} out of range`,
      );
    }
  }
  validateTokens(tokens, corpus.tokenizer, source);
}

/** The document that token `position` of the stream belongs to. */
export function documentIdAt(corpus: TokenizedCorpus, position: number): number {
  const starts = corpus.documentStarts;
  // Largest i with starts[i] <= position.
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (starts[middle] <= position) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** Document ids of the tokens `start … start + length − 1` of the stream (written to `out` if given). */
export function documentIdsOfRange(
  corpus: TokenizedCorpus,
  start: number,
  length: number,
  out: Uint32Array = new Uint32Array(length),
): Uint32Array {
  const starts = corpus.documentStarts;
  let document = documentIdAt(corpus, start);
  let next = document + 1 < starts.length ? starts[document + 1] : Infinity;
  for (let i = 0; i < length; i++) {
    while (start + i >= next) {
      document++;
      next = document + 1 < starts.length ? starts[document + 1] : Infinity;
    }
    out[i] = document;
  }
  return out;
}

/** Genre ids (indices into `corpus.genres`, −1 for none) of the tokens `start … start + length − 1`. */
export function genreIdsOfRange(
  corpus: TokenizedCorpus,
  start: number,
  length: number,
  out: Int32Array = new Int32Array(length),
): Int32Array {
  const documents = documentIdsOfRange(corpus, start, length);
  for (let i = 0; i < length; i++) out[i] = corpus.documentGenres[documents[i]];
  return out;
}
