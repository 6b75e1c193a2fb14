/**
 * Tokenizers: byte-level (the default for small models) and GPT-2 BPE (`npm:gpt-tokenizer`, offline,
 * rank data bundled). Both pad their vocabulary to a multiple of 64 for the embedding matrix; ids in
 * the padding never come out of `encode`.
 *
 * @example
 * ```ts
 * import { byteTokenizer, tokenizerByName } from "./tokenizer.ts";
 * const bytes = byteTokenizer();
 * bytes.encode("hé"); // Uint32Array [104, 195, 169]
 * const gpt2 = await tokenizerByName("gpt2");
 * gpt2.encode("Hello world"); // Uint32Array [15496, 995]
 * ```
 *
 * @module
 */

/** Turns text into token ids and back. */
export interface Tokenizer {
  /** `"bytes"` or `"gpt2"`: what `tokenizerByName` takes to rebuild it. */
  name: string;
  /** Rows of the embedding matrix: `tokenCount` padded up to a multiple of 64. */
  vocabSize: number;
  /** Ids that `encode` can produce, EOS included: valid data ids are `0 … tokenCount − 1`. */
  tokenCount: number;
  /** The end-of-document token appended after every document. */
  eosId: number;
  /** Text to token ids. Never produces `eosId`: the text `<|endoftext|>` is encoded as ordinary text. */
  encode(text: string): Uint32Array;
  /**
   * Token ids to text. EOS becomes `<|endoftext|>`, a padding id (`tokenCount … vocabSize − 1`, which an
   * untrained model can sample) becomes U+FFFD; an id outside the vocabulary is an error.
   */
  decode(ids: ArrayLike<number>): string;
}

/** The names `tokenizerByName` accepts. */
export type TokenizerName = "bytes" | "gpt2";

/** The names `tokenizerByName` accepts, for argument parsers and messages. */
export const TOKENIZER_NAMES: readonly TokenizerName[] = ["bytes", "gpt2"];

/** The text EOS decodes to (GPT-2's spelling, used by both tokenizers). */
export const EOS_TEXT = "<|endoftext|>";

/** The npm package behind the GPT-2 tokenizer (pinned). */
export const GPT2_PACKAGE = "npm:gpt-tokenizer@4.0.0";

/** Rounds a vocabulary size up to a multiple of 64 (GPT-2: 50257 → 50304). */
export function padVocabulary(tokenCount: number): number {
  return Math.ceil(tokenCount / 64) * 64;
}

/**
 * The byte-level tokenizer: a token is one UTF-8 byte (ids 0–255), EOS is 256, so 257 tokens padded to
 * a vocabulary of 320. Decoding replaces malformed UTF-8 (a sequence cut inside a character) by U+FFFD.
 */
export function byteTokenizer(): Tokenizer {
  const encoder = new TextEncoder();
  const eosId = 256;
  const tokenCount = 257;
  return {
    name: "bytes",
    vocabSize: padVocabulary(tokenCount),
    tokenCount,
    eosId,
    encode(text: string): Uint32Array {
      return Uint32Array.from(encoder.encode(text));
    },
    decode(ids: ArrayLike<number>): string {
      const decoder = new TextDecoder("utf-8");
      let text = "";
      const run = new Uint8Array(ids.length);
      let runLength = 0;
      const flush = () => {
        if (runLength > 0) text += decoder.decode(run.subarray(0, runLength));
        runLength = 0;
      };
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (Number.isInteger(id) && id >= 0 && id < 256) {
          run[runLength++] = id;
          continue;
        }
        flush();
        text += specialText(id, i, eosId, tokenCount, padVocabulary(tokenCount), "bytes");
      }
      flush();
      return text;
    },
  };
}

interface GptTokenizerModule {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(ids: Iterable<number>): string;
}

let gpt2Module: Promise<GptTokenizerModule> | null = null;

/**
 * The GPT-2 BPE tokenizer (r50k_base: 50257 tokens, EOS `<|endoftext|>` = 50256, vocabulary padded to
 * 50304 as in the paper). Loads `npm:gpt-tokenizer@4.0.0` on first use (about 30 ms).
 */
export async function gpt2Tokenizer(): Promise<Tokenizer> {
  gpt2Module ??= import("npm:gpt-tokenizer@4.0.0/encoding/r50k_base") as Promise<GptTokenizerModule>;
  const bpe = await gpt2Module;
  const eosId = 50256;
  const tokenCount = 50257;
  const vocabSize = padVocabulary(tokenCount);
  // An empty disallow-list makes "<|endoftext|>" inside a document plain text, not a document break.
  const encodeOptions = { disallowedSpecial: new Set<string>() };
  return {
    name: "gpt2",
    vocabSize,
    tokenCount,
    eosId,
    encode(text: string): Uint32Array {
      return Uint32Array.from(bpe.encode(text, encodeOptions));
    },
    decode(ids: ArrayLike<number>): string {
      let text = "";
      let run: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (Number.isInteger(id) && id >= 0 && id < eosId) {
          run.push(id);
          continue;
        }
        if (run.length > 0) text += bpe.decode(run);
        run = [];
        text += specialText(id, i, eosId, tokenCount, vocabSize, "gpt2");
      }
      if (run.length > 0) text += bpe.decode(run);
      return text;
    },
  };
}

/** The name of {@linkcode idsTokenizer}'s tokenizers (token data without a named tokenizer). */
export const IDS_TOKENIZER = "ids";

/** The `eosId` of a tokenizer without an end-of-document token (no id equals it). */
export const NO_EOS: number = -1;

/**
 * The stand-in for token data made by a tokenizer zsl does not have (a user's own, GPT-NeoX's): every
 * id `0 … vocabSize − 1` is a token, `eosId` (if any) marks document boundaries, text cannot be
 * encoded, and ids decode as `⟨id⟩` (`⟨EOS⟩` for the end of a document).
 *
 * @example
 * ```ts
 * import { idsTokenizer } from "./tokenizer.ts";
 * const ids = idsTokenizer(1024, 0);
 * ids.decode([5, 0, 7]); // "⟨5⟩⟨EOS⟩⟨7⟩"
 * ```
 */
export function idsTokenizer(vocabSize: number, eosId: number = NO_EOS): Tokenizer {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new Error(`zsl: the vocabulary size must be a positive integer, got ${vocabSize}`);
  }
  if (eosId !== NO_EOS && !(Number.isInteger(eosId) && eosId >= 0 && eosId < vocabSize)) {
    throw new Error(
      `zsl: --eos-id must be an id in 0 … ${vocabSize - 1} (vocab_size ${vocabSize}), got ${eosId}`,
    );
  }
  return {
    name: IDS_TOKENIZER,
    vocabSize,
    tokenCount: vocabSize,
    eosId,
    encode(): Uint32Array {
      throw new Error(
        `zsl: token data without a named tokenizer cannot encode text: pass --tokenizer (bytes or gpt2)`,
      );
    },
    decode(ids: ArrayLike<number>): string {
      let text = "";
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
          throw new Error(
            `zsl: cannot decode token id ${id} at index ${i}: the ids are 0 … ${vocabSize - 1}`,
          );
        }
        text += id === eosId ? "⟨EOS⟩" : `⟨${id}⟩`;
      }
      return text;
    },
  };
}

/**
 * The tokenizer called `name` (`"bytes"` or `"gpt2"`), with an error listing the known names otherwise.
 */
export async function tokenizerByName(name: string): Promise<Tokenizer> {
  switch (name) {
    case "bytes":
      return byteTokenizer();
    case "gpt2":
      return await gpt2Tokenizer();
    default:
      throw new Error(
        `zsl: unknown tokenizer "${name}": choose one of ${TOKENIZER_NAMES.map((n) => `"${n}"`).join(", ")}`,
      );
  }
}

function specialText(
  id: number,
  index: number,
  eosId: number,
  tokenCount: number,
  vocabSize: number,
  name: string,
): string {
  if (id === eosId) return EOS_TEXT;
  if (Number.isInteger(id) && id >= tokenCount && id < vocabSize) return "\uFFFD";
  throw new Error(
    `zsl: cannot decode token id ${id} at index ${index}: the ${name} tokenizer's ids are 0 … ${
      vocabSize - 1
    }`,
  );
}
