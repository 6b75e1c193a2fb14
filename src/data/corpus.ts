/**
 * Corpora: the embedded Brown Corpus, plain text files and folders, and pre-tokenized token arrays
 * (`.npy` as OLMo and nanoGPT write them, or a raw `.bin` dump).
 *
 * @example
 * ```ts
 * import { loadCorpus } from "./corpus.ts";
 * const brown = await loadCorpus("brown"); // 500 documents, 15 genres
 * const mine = await loadCorpus("texts/"); // every .txt below texts/, sorted by path
 * const olmo = await loadCorpus("part-00000.npy"); // a 1-D token array, documents split by EOS
 * ```
 *
 * @module
 */
import { hasNpyMagic, parseNpy } from "../io/npy.ts";
import type { NpyDtype } from "../io/npy.ts";
import { join, relative } from "../util/path.ts";
import { loadBrown } from "./brown.ts";

/** A genre (a document category): the Brown categories, or the first-level folders of a folder corpus. */
export interface Genre {
  /** Short id: the Brown category letter (`"a"`), or the folder name. */
  id: string;
  /** Readable name (`"press: reportage"`). */
  name: string;
  /** Another common name, where there is one (NLTK's `"news"`). */
  label?: string;
}

/** One document of a text corpus. */
export interface TextDocument {
  /** Identifier: the Brown file name (`"ca01"`) or the path relative to the corpus root. */
  name: string;
  /** The text. */
  text: string;
  /** Title, where the source gives one. */
  title?: string;
  /** `Genre.id` of the document's genre, if it has one. */
  genre?: string;
}

/** A corpus of documents as text, to be tokenized. */
export interface TextCorpus {
  /** Discriminant of `Corpus`: documents as text. */
  kind: "text";
  /** `"brown"` or the path it was loaded from. */
  source: string;
  /** The documents, in a fixed order (a folder's sorted by relative path); their order is the token order. */
  documents: TextDocument[];
  /** Every genre the documents use, in a fixed order (the index is the genre id of `genreIds`). */
  genres: Genre[];
}

/** A pre-tokenized corpus: one token stream, documents already separated by EOS tokens. */
export interface TokenArrayCorpus {
  /** Discriminant of `Corpus`: an already tokenized stream. */
  kind: "tokens";
  /** The path it was loaded from (or a label for hand-made streams). */
  source: string;
  /** The token ids, documents separated by EOS; `tokenizeCorpus` checks them against the vocabulary. */
  tokens: Uint32Array;
  /** The dtype the tokens were stored as, if they came from a file. */
  dtype?: NpyDtype;
}

/** What `loadCorpus` returns. */
export type Corpus = TextCorpus | TokenArrayCorpus;

/** Options for `loadCorpus`. */
export interface LoadCorpusOptions {
  /**
   * Read a `.npy` path that has no `.npy` header as a raw little-endian dump of this dtype (OLMo's
   * memory-mapped training files are raw `uint16`). `.bin` files are raw `uint16` (nanoGPT) unless this
   * says otherwise.
   */
  rawDtype?: "uint16" | "uint32";
}

const TOKEN_DTYPES: readonly NpyDtype[] = ["uint16", "uint32", "int32", "int64"];

/**
 * Loads a corpus:
 * - `"brown"`: the embedded Brown Corpus (see `loadBrown`);
 * - a folder: each `.txt` file below it (recursively, sorted by relative path with `/` separators,
 *   compared by code unit) is a document named by that path; files in a first-level subfolder get that
 *   folder's name as their genre;
 * - a `.npy` file: a 1-D `uint16`, `uint32`, `int32` or `int64` token array (OLMo / nanoGPT format);
 * - a `.bin` file: raw little-endian `uint16` tokens (nanoGPT's `train.bin`);
 * - any other file: one document of UTF-8 text.
 */
export async function loadCorpus(spec: string, options: LoadCorpusOptions = {}): Promise<Corpus> {
  if (spec === "brown") return await loadBrown();
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(spec);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `zsl: corpus ${spec} not found: give "brown", a text file, a folder of .txt files, ` +
          `or a .npy token array`,
      );
    }
    throw new Error(`zsl: cannot read corpus ${spec}: ${(error as Error).message}`);
  }
  if (info.isDirectory) return await loadTextFolder(spec);
  const lower = spec.toLowerCase();
  if (lower.endsWith(".npy") || lower.endsWith(".bin")) return await loadTokenFile(spec, options);
  return await loadTextFile(spec);
}

/** Loads one UTF-8 text file as a one-document corpus (document name: the file's base name). */
export async function loadTextFile(path: string): Promise<TextCorpus> {
  const text = decodeUtf8(await readBytes(path), path);
  const name = path.split(/[\\/]/).filter((part) => part !== "").pop() ?? path;
  return { kind: "text", source: path, documents: [{ name, text }], genres: [] };
}

/** Loads every `.txt` file below `folder` as a document (see `loadCorpus` for order and genres). */
export async function loadTextFolder(folder: string): Promise<TextCorpus> {
  const paths: string[] = [];
  await collectTextFiles(folder, paths);
  const relativePaths = paths.map((path) => relative(folder, path).split("\\").join("/"));
  const order = relativePaths.map((_, index) => index).sort((a, b) =>
    relativePaths[a] < relativePaths[b] ? -1 : relativePaths[a] > relativePaths[b] ? 1 : 0
  );
  if (order.length === 0) {
    throw new Error(
      `zsl: corpus folder ${folder} has no .txt files (searched recursively): ` +
        `add UTF-8 .txt files, one per document, or give another corpus`,
    );
  }
  const documents: TextDocument[] = [];
  const genres: Genre[] = [];
  for (const index of order) {
    const name = relativePaths[index];
    const text = decodeUtf8(await readBytes(paths[index]), paths[index]);
    const slash = name.indexOf("/");
    const genre = slash > 0 ? name.slice(0, slash) : undefined;
    if (genre !== undefined && !genres.some((known) => known.id === genre)) {
      genres.push({ id: genre, name: genre });
    }
    documents.push(genre === undefined ? { name, text } : { name, text, genre });
  }
  return { kind: "text", source: folder, documents, genres };
}

/**
 * Loads a token file: a `.npy` 1-D integer array, or a raw little-endian dump (`.bin`, or any file when
 * `options.rawDtype` is given and it has no `.npy` header). Values must fit in 32 bits and be ≥ 0;
 * their range against a vocabulary is checked by `tokenizeCorpus`.
 */
export async function loadTokenFile(
  path: string,
  options: LoadCorpusOptions = {},
): Promise<TokenArrayCorpus> {
  const bytes = await readBytes(path);
  const isNpy = hasNpyMagic(bytes);
  const rawDtype = options.rawDtype ?? (path.toLowerCase().endsWith(".bin") ? "uint16" : undefined);
  if (!isNpy) {
    if (rawDtype === undefined) {
      throw new Error(
        `zsl: ${path} has no .npy header: if it is a raw token dump (OLMo's memory-mapped .npy files ` +
          `are raw uint16), load it with the rawDtype option ("uint16" or "uint32"); ` +
          `otherwise save it with numpy.save`,
      );
    }
    return { kind: "tokens", source: path, tokens: rawTokens(bytes, rawDtype, path), dtype: rawDtype };
  }
  const array = parseNpy(bytes, path, { ndim: 1, dtypes: TOKEN_DTYPES });
  const data = array.data;
  let tokens: Uint32Array;
  if (data instanceof Uint32Array) {
    tokens = data;
  } else if (data instanceof Uint16Array) {
    tokens = Uint32Array.from(data);
  } else if (data instanceof Int32Array) {
    for (let i = 0; i < data.length; i++) {
      if (data[i] < 0) throw negativeToken(path, i, data[i]);
    }
    tokens = new Uint32Array(data.buffer, data.byteOffset, data.length);
  } else if (data instanceof BigInt64Array) {
    tokens = new Uint32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const value = data[i];
      if (value < 0n) throw negativeToken(path, i, value);
      if (value > 0xffffffffn) {
        throw new Error(
          `zsl: token ${value} at position ${i} of ${path} does not fit in 32 bits: ` +
            `the file does not hold token ids`,
        );
      }
      tokens[i] = Number(value);
    }
  } else {
    throw new Error(`zsl: ${path} has dtype ${array.dtype}; token arrays are ${TOKEN_DTYPES.join(", ")}`);
  }
  return { kind: "tokens", source: path, tokens, dtype: array.dtype };
}

function rawTokens(bytes: Uint8Array, dtype: "uint16" | "uint32", path: string): Uint32Array {
  const size = dtype === "uint16" ? 2 : 4;
  if (bytes.length % size !== 0) {
    throw new Error(
      `zsl: ${path} is ${bytes.length} bytes, not a whole number of ${dtype} tokens: ` +
        `the file is truncated or not a raw ${dtype} dump`,
    );
  }
  const copy = bytes.slice();
  const count = bytes.length / size;
  return dtype === "uint16"
    ? Uint32Array.from(new Uint16Array(copy.buffer, 0, count))
    : new Uint32Array(copy.buffer, 0, count);
}

function negativeToken(path: string, position: number, value: number | bigint): Error {
  return new Error(
    `zsl: token ${value} at position ${position} of ${path} is negative: the file does not hold token ids`,
  );
}

async function collectTextFiles(folder: string, out: string[], visited = new Set<string>()): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    // A symbolic link back to an ancestor would otherwise recurse forever.
    const real = await Deno.realPath(folder);
    if (visited.has(real)) return;
    visited.add(real);
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch (error) {
    throw new Error(`zsl: cannot read corpus folder ${folder}: ${(error as Error).message}`);
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    let isDirectory = entry.isDirectory;
    let isFile = entry.isFile;
    if (entry.isSymlink) {
      const target = await Deno.stat(path).catch(() => null); // a dangling link is skipped
      isDirectory = target?.isDirectory ?? false;
      isFile = target?.isFile ?? false;
    }
    if (isDirectory) await collectTextFiles(path, out, visited);
    else if (isFile && entry.name.toLowerCase().endsWith(".txt")) out.push(path);
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
  }
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`zsl: ${path} is not valid UTF-8 text: convert it to UTF-8 (e.g. with iconv)`);
  }
}
