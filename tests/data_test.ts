import {
  BatchPlan,
  BROWN_GENRES,
  byteTokenizer,
  detokeniseBrown,
  documentIdAt,
  EOS_TEXT,
  gpt2Tokenizer,
  loadBrown,
  loadCorpus,
  NO_GENRE,
  Sequences,
  tokenizeCorpus,
  tokenizerByName,
  tokenStreamCorpus,
} from "../src/data/mod.ts";
import type { TextCorpus, TokenizedCorpus, Tokenizer } from "../src/data/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./asserts.ts";

const FIXTURES = new URL("./fixtures/data/", import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;

/** A hand-made stream: documents of the given lengths, each `[100·d + 0, 100·d + 1, …]` then EOS. */
function handMadeCorpus(lengths: number[], tokenizer: Tokenizer = byteTokenizer()): TokenizedCorpus {
  const tokens: number[] = [];
  lengths.forEach((length, document) => {
    for (let i = 0; i < length; i++) tokens.push((document * 10 + i) % 250);
    tokens.push(tokenizer.eosId);
  });
  return tokenStreamCorpus(Uint32Array.from(tokens), tokenizer, "hand-made");
}

/** A byte-token stream of `tokens` tokens: documents of 6 tokens, each followed by EOS. */
function sequenceCorpus(tokens: number): TokenizedCorpus {
  const stream = new Uint32Array(tokens);
  for (let i = 0; i < tokens; i++) stream[i] = i % 7 === 6 ? 256 : i % 200;
  return tokenStreamCorpus(stream, byteTokenizer(), "stream");
}

function isPermutation(values: ArrayLike<number>, count: number): boolean {
  if (values.length !== count) return false;
  const seen = new Uint8Array(count);
  for (let i = 0; i < values.length; i++) {
    if (values[i] >= count || seen[values[i]]) return false;
    seen[values[i]] = 1;
  }
  return true;
}

// ---------------------------------------------------------------- Brown

Deno.test("brown: 500 documents in 15 genres, tags stripped, sentences on lines", async () => {
  const brown = await loadBrown();
  assertEquals(brown.kind, "text");
  assertEquals(brown.documents.length, 500);
  assertEquals(brown.genres.length, 15);
  assertEquals(brown.genres.map((genre) => genre.id).join(""), "abcdefghjklmnpr");
  assertEquals(brown.genres[0], { id: "a", name: "press: reportage", label: "news" });
  assertEquals(brown.genres, [...BROWN_GENRES]);
  assert(brown === await loadBrown(), "the corpus is loaded once");

  const perGenre = new Map<string, number>();
  for (const document of brown.documents) {
    assertEquals(document.genre, document.name[1]);
    perGenre.set(document.genre!, (perGenre.get(document.genre!) ?? 0) + 1);
    assert(document.title !== undefined && document.title.length > 0, `${document.name} has a title`);
  }
  // The corpus manual's counts (NLTK: news 44, editorial 27, …, humor 9).
  assertEquals([...perGenre.values()], [44, 27, 17, 17, 36, 48, 75, 30, 80, 29, 24, 6, 29, 29, 9]);

  const first = brown.documents[0];
  assertEquals(first.name, "ca01");
  assertEquals(first.title, "The Atlanta Constitution");
  assert(
    first.text.startsWith(
      "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election " +
        'produced "no evidence" that any irregularities took place.\n\nThe jury further said',
    ),
    first.text.slice(0, 200),
  );
  const tagPattern = /\S\/(at|nn|nns|np|in|vbd|vbn|jj|cc|rb|cd|cs|pps|dt|``|'')(-tl|-hl)?(?=\s|$)/;
  let words = 0;
  for (const document of brown.documents) {
    const match = tagPattern.exec(document.text);
    assert(match === null, `${document.name} still has a tag: ${match?.[0]}`);
    assert(!document.text.includes("``") && document.text.endsWith("\n") && !document.text.startsWith("\n"));
    assert(!/\n\n\n/.test(document.text), `${document.name}: paragraphs are separated by one empty line`);
    words += document.text.split(/\s+/).filter((word) => word !== "").length;
  }
  // 1,161,192 tagged tokens; punctuation attached to words makes fewer whitespace-separated words.
  assert(words > 900_000 && words < 1_161_192, `${words} words`);
});

Deno.test("brown: detokenisation rules on a hand-made sample", () => {
  const tagged = "\n\n\tHe/pps said/vbd ,/, ``/`` Yes/rb ''/'' (/( and/or/cc 1/2/cd )/) ./.\n" +
    "\tWhy/wrb ?/.\n\n\n\tNew/jj paragraph/nn ;/. end/nn !/.\n\n";
  assertEquals(detokeniseBrown(tagged), 'He said, "Yes" (and/or 1/2).\nWhy?\n\nNew paragraph; end!\n');
});

Deno.test("brown: byte tokenization is fast, GPT-2 is timed", async () => {
  const brown = await loadBrown();
  const started = performance.now();
  const bytes = tokenizeCorpus(brown, byteTokenizer());
  const byteMs = performance.now() - started;
  assertEquals(bytes.tokens.length, 5_981_637);
  assertEquals(bytes.documents.length, 500);
  // Well under a second on an idle core (about 0.1 s); the bound leaves room for a loaded machine.
  assert(byteMs < 3000, `byte tokenization took ${byteMs.toFixed(0)} ms`);

  const gpt2 = await gpt2Tokenizer();
  const gptStarted = performance.now();
  const bpe = tokenizeCorpus(brown, gpt2);
  const gptMs = performance.now() - gptStarted;
  assertEquals(bpe.tokens.length, 1_344_851);
  console.log(
    `brown: bytes ${byteMs.toFixed(0)} ms (${bytes.tokens.length} tokens), ` +
      `gpt2 ${gptMs.toFixed(0)} ms (${bpe.tokens.length} tokens)`,
  );
  for (const corpus of [bytes, bpe]) {
    // The EOS count is the document count, and each document ends with one.
    let eos = 0;
    for (const token of corpus.tokens) if (token === corpus.tokenizer.eosId) eos++;
    assertEquals(eos, 500);
    for (let d = 1; d < 500; d++) {
      assertEquals(corpus.tokens[corpus.documentStarts[d] - 1], corpus.tokenizer.eosId);
    }
    assertEquals(corpus.documentGenres[0], 0);
    assertEquals(corpus.documentGenres[499], 14);
  }
  assertEquals(
    byteTokenizer().decode(bytes.tokens.subarray(0, bytes.documentStarts[1])),
    brown.documents[0].text + EOS_TEXT,
  );
  assertEquals(
    gpt2.decode(bpe.tokens.subarray(bpe.documentStarts[7], bpe.documentStarts[8])),
    brown.documents[7].text + EOS_TEXT,
  );
});

// ---------------------------------------------------------------- tokenizers

Deno.test("tokenizers: bytes round-trips UTF-8, pads to 320, EOS 256", () => {
  const bytes = byteTokenizer();
  assertEquals([bytes.name, bytes.vocabSize, bytes.tokenCount, bytes.eosId], ["bytes", 320, 257, 256]);
  assertEquals(bytes.encode("hé"), new Uint32Array([104, 195, 169]));
  for (
    const text of [
      "",
      "plain ASCII",
      "héllo wörld",
      "日本語のテキスト",
      "emoji 🎉👩‍👩‍👧 and \u0301 combining",
      "a\0b\n\t",
    ]
  ) {
    const ids = bytes.encode(text);
    assertEquals(ids.length, new TextEncoder().encode(text).length);
    assertEquals(bytes.decode(ids), text);
  }
  assert(!bytes.encode(EOS_TEXT).includes(256), "the text <|endoftext|> is not EOS");
  assertEquals(bytes.decode([104, 105, 256, 104, 300]), `hi${EOS_TEXT}h\uFFFD`);
  assertEquals(bytes.decode([0xe6, 0x97]), "\uFFFD"); // a character cut in half
  assertThrows(() => bytes.decode([320]), Error, "token id 320 at index 0");
  assertThrows(() => bytes.decode([-1]), Error, "ids are 0 … 319");
});

Deno.test("tokenizers: GPT-2 gives known ids, round-trips, pads to 50304", async () => {
  const gpt2 = await tokenizerByName("gpt2");
  assertEquals([gpt2.name, gpt2.vocabSize, gpt2.tokenCount, gpt2.eosId], ["gpt2", 50304, 50257, 50256]);
  assertEquals(gpt2.encode("Hello world"), new Uint32Array([15496, 995]));
  assertEquals(gpt2.encode(" the"), new Uint32Array([262]));
  for (
    const text of ["", "Hello world", "  spaces\n\nand newlines\t", "héllo wörld 日本語 🎉", "It's 1961's"]
  ) {
    assertEquals(gpt2.decode(gpt2.encode(text)), text);
  }
  assert(!gpt2.encode(`a ${EOS_TEXT} b`).includes(50256), "the text <|endoftext|> is not EOS");
  assertEquals(gpt2.decode([15496, 50256, 995]), `Hello${EOS_TEXT} world`);
  assertEquals(gpt2.decode([15496, 50300]), "Hello\uFFFD");
  assertThrows(() => gpt2.decode([50304]), Error, "token id 50304");
  assertEquals((await tokenizerByName("bytes")).vocabSize, 320);
  await assertRejects(
    () => tokenizerByName("neox"),
    Error,
    'unknown tokenizer "neox": choose one of "bytes", "gpt2"',
  );
});

// ---------------------------------------------------------------- corpora

Deno.test("corpora: a folder is its .txt files sorted by path, first-level folders are genres", async () => {
  const corpus = await loadCorpus(fixture("texts")) as TextCorpus;
  assertEquals(corpus.kind, "text");
  assertEquals(corpus.documents.map((document) => document.name), [
    "a.txt",
    "b.txt",
    "fiction/deep/two.txt",
    "news/one.txt",
  ]);
  assertEquals(corpus.documents.map((document) => document.genre), [undefined, undefined, "fiction", "news"]);
  assertEquals(corpus.genres, [{ id: "fiction", name: "fiction" }, { id: "news", name: "news" }]);
  assertEquals(corpus.documents[0].text, "First file at the root: héllo ✓.\n");

  const tokenized = tokenizeCorpus(corpus, byteTokenizer());
  assertEquals(Array.from(tokenized.documentGenres), [NO_GENRE, NO_GENRE, 0, 1]);
  const text = corpus.documents.map((document) => document.text + EOS_TEXT).join("");
  assertEquals(byteTokenizer().decode(tokenized.tokens), text);

  const single = await loadCorpus(fixture("single.txt")) as TextCorpus;
  assertEquals(single.documents, [{ name: "single.txt", text: "One document in one file.\n" }]);
});

Deno.test("corpora: .npy token arrays of every dtype, raw .bin dumps, documents split at EOS", async () => {
  const gpt2 = await gpt2Tokenizer();
  const expected = new Uint32Array([464, 3290, 50256, 0, 15496, 995, 50256, 7]);
  for (const dtype of ["uint16", "uint32", "int32", "int64"]) {
    const corpus = await loadCorpus(fixture(`tokens_${dtype}.npy`));
    assert(corpus.kind === "tokens");
    assertEquals(corpus.dtype, dtype);
    assertEquals(corpus.tokens, expected);
    const tokenized = tokenizeCorpus(corpus, gpt2);
    assertEquals(tokenized.documentStarts, new Uint32Array([0, 3, 7]));
    assertEquals(tokenized.documents.map((document) => document.name), ["#0", "#1", "#2"]);
  }
  const bin = await loadCorpus(fixture("raw_uint16.bin"));
  assert(bin.kind === "tokens");
  assertEquals(bin.tokens, expected);
  await assertRejects(() => loadCorpus(fixture("raw_olmo_uint16.npy")), Error, "rawDtype");
  const olmo = await loadCorpus(fixture("raw_olmo_uint16.npy"), { rawDtype: "uint16" });
  assert(olmo.kind === "tokens");
  assertEquals(olmo.tokens, expected);
  await assertRejects(
    () => loadCorpus(fixture("raw_odd.bin")),
    Error,
    "15 bytes, not a whole number of uint16 tokens",
  );
  const asUint32 = await loadCorpus(fixture("raw_uint16.bin"), { rawDtype: "uint32" });
  assert(asUint32.kind === "tokens");
  assertEquals(
    asUint32.tokens,
    new Uint32Array([464 + 3290 * 65536, 50256, 15496 + 995 * 65536, 50256 + 7 * 65536]),
  );
  await assertRejects(() => loadCorpus(fixture("negative_int32.npy")), Error, "token -1 at position 1");
  await assertRejects(
    () => loadCorpus(fixture("matrix_float32.npy")),
    Error,
    "expected one of uint16, uint32",
  );
  await assertRejects(
    () => loadCorpus(fixture("tokens_2d_uint16.npy")),
    Error,
    "shape (2, 3); expected a 1-D array",
  );
  await assertRejects(
    () => loadCorpus(fixture("tokens_v2_uint16.npy").replace("v2_uint16", "missing")),
    Error,
    "not found",
  );
});

Deno.test("corpora: bad inputs name the problem and the fix", async () => {
  const bytes = byteTokenizer();
  await assertRejects(() => loadCorpus(fixture("empty_folder")), Error, "has no .txt files");
  await assertRejects(() => loadCorpus(fixture("latin1.txt")), Error, "not valid UTF-8");
  await assertRejects(() => loadCorpus(fixture("nothing-here")), Error, 'give "brown", a text file');
  const empty: TextCorpus = { kind: "text", source: "empty", documents: [], genres: [] };
  assertThrows(() => tokenizeCorpus(empty, bytes), Error, "corpus empty is empty (no documents)");
  const blank: TextCorpus = {
    kind: "text",
    source: "blank",
    documents: [{ name: "x", text: "" }],
    genres: [],
  };
  assertThrows(() => tokenizeCorpus(blank, bytes), Error, "its documents have no text");
  assertThrows(() => tokenStreamCorpus(new Uint32Array(0), bytes, "nothing"), Error, "is empty (no tokens)");
  const unknownGenre: TextCorpus = {
    kind: "text",
    source: "g",
    documents: [{ name: "x", text: "hi", genre: "zz" }],
    genres: [],
  };
  assertThrows(() => tokenizeCorpus(unknownGenre, bytes), Error, 'genre "zz"');
  // GPT-2 ids in a byte-level run: the message names the id, its position and the vocabulary.
  const npy = await loadCorpus(fixture("tokens_uint16.npy"));
  assertThrows(
    () => tokenizeCorpus(npy, bytes),
    Error,
    "token id 464 at position 0 of " + fixture("tokens_uint16.npy") +
      " is outside the bytes vocabulary (257 tokens",
  );
  assertThrows(
    () => tokenStreamCorpus(new Uint32Array([1, 2, 3, 257]), bytes, "s"),
    Error,
    "token id 257 at position 3 of s",
  );
});

// ---------------------------------------------------------------- chunking and document ids

Deno.test("chunking: sequence k is tokens[kT, (k+1)T), the tail is dropped", () => {
  const corpus = handMadeCorpus([3, 5, 2, 4]); // 4 + 6 + 3 + 5 = 18 tokens
  assertEquals(corpus.tokens.length, 18);
  const sequences = new Sequences(corpus, 4);
  assertEquals(sequences.count, 4); // 18 = 4·4 + 2 dropped
  for (let k = 0; k < 4; k++) assertEquals(sequences.tokens(k), corpus.tokens.slice(4 * k, 4 * k + 4));
  assertThrows(() => sequences.tokens(4), Error, "sequence 4 does not exist: there are 4 sequences");
  assertEquals(new Sequences(corpus, 18).count, 1);
  assertEquals(new Sequences(corpus, 19).count, 0);
  assertThrows(() => new Sequences(corpus, 1), Error, "seqLen 1 is not a whole number ≥ 2");
});

Deno.test("chunking: document and genre ids map back across document boundaries", () => {
  const corpus = handMadeCorpus([3, 5, 2, 4]);
  // Documents: 0 → positions 0–3, 1 → 4–9, 2 → 10–12, 3 → 13–17 (each ends with its EOS).
  assertEquals(corpus.documentStarts, new Uint32Array([0, 4, 10, 13]));
  const sequences = new Sequences(corpus, 4);
  assertEquals(Array.from(sequences.documentIdsOfSequence(0)), [0, 0, 0, 0]);
  assertEquals(Array.from(sequences.documentIdsOfSequence(1)), [1, 1, 1, 1]);
  assertEquals(Array.from(sequences.documentIdsOfSequence(2)), [1, 1, 2, 2]);
  assertEquals(Array.from(sequences.documentIdsOfSequence(3)), [2, 3, 3, 3]);
  const stream = Array.from({ length: 16 }, (_, position) => documentIdAt(corpus, position));
  for (let k = 0; k < 4; k++) {
    const ids = sequences.documentIdsOfSequence(k);
    for (let i = 0; i < 4; i++) {
      assertEquals(ids[i], stream[4 * k + i]);
      // A token that is not EOS belongs to the document whose encoding holds it: here 10·d + i.
      const token = sequences.tokens(k)[i];
      if (token !== 256) assertEquals(Math.floor(token / 10), ids[i]);
    }
  }

  // Genres on a text corpus with a boundary inside a sequence of bytes.
  const corpusText: TextCorpus = {
    kind: "text",
    source: "genres",
    documents: [{ name: "x", text: "ab", genre: "g2" }, { name: "y", text: "cde" }, {
      name: "z",
      text: "f",
      genre: "g1",
    }],
    genres: [{ id: "g1", name: "one" }, { id: "g2", name: "two" }],
  };
  const tokenized = tokenizeCorpus(corpusText, byteTokenizer()); // a b EOS c d e EOS f EOS
  const byFive = new Sequences(tokenized, 5);
  assertEquals(Array.from(byFive.documentIdsOfSequence(0)), [0, 0, 0, 1, 1]);
  assertEquals(Array.from(byFive.genreIdsOfSequence(0)), [1, 1, 1, NO_GENRE, NO_GENRE]);
  const plan = new BatchPlan({ corpus: tokenized, seqLen: 3, batchSequences: 3, shuffle: false });
  const batch = plan.trainBatch(1);
  assertEquals(Array.from(batch.documentIds()), [0, 0, 0, 1, 1, 1, 1, 2, 2]);
  assertEquals(Array.from(batch.genreIds()), [1, 1, 1, -1, -1, -1, -1, 0, 0]);
  assertEquals(Array.from(batch.microbatches(3)[2].documentIds()), [1, 2, 2]);
});

// ---------------------------------------------------------------- batch plan

Deno.test("plan: one seeded permutation, stable, shared across batch sizes", () => {
  const corpus = sequenceCorpus(8 * 103 + 5); // 103 sequences of 8
  const make = (batchSequences: number, seed?: number) =>
    new BatchPlan({ corpus, seqLen: 8, batchSequences, evalSequences: 10, seed });
  const plan = make(4);
  assertEquals(plan.sequenceCount, 103);
  assertEquals(plan.seed, 6198);
  const order = plan.trainOrder();
  assert(isPermutation([...order, ...plan.evalSequenceIndices()], 103), "train + eval is a permutation");
  assert(order.some((value, index) => value !== index), "the order is shuffled");
  assertEquals(plan.trainOrder(), order);
  assertEquals(make(4).trainOrder(), order);
  assertEquals(make(1).trainOrder(), order);
  assertEquals(make(31).trainOrder(), order);
  assertEquals(make(31).evalSequenceIndices(), plan.evalSequenceIndices());
  assert(
    make(4, 7).trainOrder().some((value, index) => value !== order[index]),
    "another seed, another order",
  );

  // A batch of 4 is two batches of 2 back to back; tokens are the sequences' tokens, row-major.
  const half = make(2);
  for (let step = 1; step <= 5; step++) {
    const big = plan.trainBatch(step);
    assertEquals(big.step, step);
    assertEquals(Array.from(big.sequences), Array.from(order.subarray((step - 1) * 4, step * 4)));
    assertEquals(
      Array.from(big.sequences),
      [...half.trainBatch(2 * step - 1).sequences, ...half.trainBatch(2 * step).sequences],
    );
    for (let row = 0; row < 4; row++) {
      assertEquals(
        big.tokens.subarray(row * 8, row * 8 + 8),
        corpus.tokens.subarray(big.sequences[row] * 8, big.sequences[row] * 8 + 8),
      );
    }
    const micro = big.microbatches(2);
    assertEquals(micro[0].tokens, big.tokens.subarray(0, 16));
    assertEquals(micro[1].sequences, big.sequences.subarray(2, 4));
  }
  assertThrows(() => plan.trainBatch(1).microbatches(3), Error, "cannot be split into 3 equal microbatches");
  assertThrows(() => plan.trainBatch(0), Error, "steps count from 1");
});

Deno.test("plan: train and eval are disjoint; eval count or fraction", () => {
  const corpus = sequenceCorpus(16 * 200);
  for (const options of [{ evalSequences: 17 }, { evalFraction: 0.1 }, { evalFraction: 0.001 }]) {
    const plan = new BatchPlan({ corpus, seqLen: 16, batchSequences: 8, ...options });
    const evalSet = plan.evalSet();
    const expectedCount = "evalSequences" in options ? 17 : options.evalFraction === 0.1 ? 20 : 1;
    assertEquals(evalSet.size, expectedCount);
    assertEquals(plan.trainSequenceCount, 200 - expectedCount);
    assertEquals(evalSet.step, null);
    const held = new Set(evalSet.sequences);
    const trained = new Set<number>();
    for (let step = 1; step <= plan.stepsPerEpoch; step++) {
      for (const sequence of plan.trainBatch(step).sequences) {
        assert(!held.has(sequence), `step ${step} trains on eval sequence ${sequence}`);
        trained.add(sequence);
      }
    }
    assertEquals(trained.size, plan.stepsPerEpoch * 8);
  }
  const none = new BatchPlan({ corpus, seqLen: 16, batchSequences: 8 });
  assertEquals(none.evalSequenceCount, 0);
  assertThrows(() => none.evalSet(), Error, "no eval split: set evalSequences or evalFraction");
});

Deno.test("plan: shuffle false reads the file in order, eval from the end", () => {
  const corpus = sequenceCorpus(10 * 50 + 3);
  const plan = new BatchPlan({ corpus, seqLen: 10, batchSequences: 4, evalSequences: 6, shuffle: false });
  assertEquals(Array.from(plan.trainOrder()), Array.from({ length: 44 }, (_, i) => i));
  assertEquals(Array.from(plan.evalSet().sequences), [44, 45, 46, 47, 48, 49]);
  for (let step = 1; step <= 11; step++) {
    const batch = plan.trainBatch(step);
    assertEquals(Array.from(batch.sequences), [0, 1, 2, 3].map((i) => (step - 1) * 4 + i));
    assertEquals(batch.tokens, corpus.tokens.subarray((step - 1) * 40, step * 40));
  }
  // Past the end the file order repeats: step 12 holds positions 44–47 = sequences 0–3.
  assertEquals(Array.from(plan.trainBatch(12).sequences), [0, 1, 2, 3]);
});

Deno.test("plan: later epochs are fresh seeded permutations of the training sequences", () => {
  const corpus = sequenceCorpus(4 * 30);
  const plan = new BatchPlan({ corpus, seqLen: 4, batchSequences: 4, evalSequences: 3 });
  const first = plan.trainOrder(0);
  const second = plan.trainOrder(1);
  const third = plan.trainOrder(2);
  const sorted = (values: Uint32Array) => Array.from(values).sort((a, b) => a - b);
  assertEquals(sorted(second), sorted(first));
  assertEquals(sorted(third), sorted(first));
  assert(second.some((value, index) => value !== first[index]) && third.some((v, i) => v !== second[i]));
  assertEquals(
    new BatchPlan({ corpus, seqLen: 4, batchSequences: 9, evalSequences: 3 }).trainOrder(2),
    third,
  );
  // 27 training sequences, batch 4: step 7 holds positions 24–27, the last 3 of epoch 0 and the first
  // of epoch 1.
  assertEquals(Array.from(plan.trainBatch(7).sequences), [first[24], first[25], first[26], second[0]]);
  assertEquals(plan.sequenceAt(27 * 2 + 5), third[5]);
});

Deno.test("plan: unseen batches follow the last step and were never trained on", () => {
  const corpus = sequenceCorpus(8 * 120);
  const plan = new BatchPlan({ corpus, seqLen: 8, batchSequences: 5, evalSequences: 10 });
  assertEquals(plan.stepsPerEpoch, 22);
  for (const afterStep of [0, 1, 7, 20]) {
    const trained = new Set<number>();
    for (let step = 1; step <= afterStep; step++) {
      for (const s of plan.trainBatch(step).sequences) trained.add(s);
    }
    for (let k = 0; afterStep + 1 + k <= plan.stepsPerEpoch; k++) {
      const unseen = plan.unseenBatch(afterStep, k);
      assertEquals(unseen.step, afterStep + 1 + k);
      assertEquals(unseen.sequences, plan.trainBatch(afterStep + 1 + k).sequences);
      for (const sequence of unseen.sequences) {
        assert(!trained.has(sequence), `sequence ${sequence} was trained on`);
      }
    }
  }
  assertEquals(plan.unseenBatch(3).sequences, plan.trainBatch(4).sequences);
  assertThrows(() => plan.unseenBatch(22), Error, "past the first epoch");
  assertThrows(() => plan.unseenBatch(20, 2), Error, "would be step 23");
  assertThrows(() => plan.unseenBatch(-1), Error, "afterStep -1");
});

Deno.test("plan: describe() is JSON and checks a resumed run's data", () => {
  const corpus = sequenceCorpus(8 * 60);
  const plan = new BatchPlan({ corpus, seqLen: 8, batchSequences: 4, evalSequences: 5 });
  const description = plan.describe();
  assertEquals(JSON.parse(JSON.stringify(description)), description);
  assertEquals(description.tokenizer, "bytes");
  assertEquals(
    [
      description.seqLen,
      description.seed,
      description.sequences,
      description.trainSequences,
      description.evalSequences,
    ],
    [8, 6198, 60, 55, 5],
  );
  assertEquals(description.stepsPerEpoch, 13);
  plan.checkSameData(description);
  new BatchPlan({ corpus, seqLen: 8, batchSequences: 4, evalSequences: 5 }).checkSameData(description);
  const otherBatch = new BatchPlan({ corpus, seqLen: 8, batchSequences: 2, evalSequences: 5 });
  assertThrows(() => otherBatch.checkSameData(description), Error, "batchSequences 4 → 2");
  otherBatch.checkSameData(description, { ignoreBatchSize: true });
  const otherSeed = new BatchPlan({ corpus, seqLen: 8, batchSequences: 4, evalSequences: 5, seed: 1 });
  const error = assertThrows(() => otherSeed.checkSameData(description), Error, "seed 6198 → 1");
  assert(error.message.includes("orderFingerprint"), error.message);
  const otherData = sequenceCorpus(8 * 60);
  otherData.tokens[3] = 5;
  assertThrows(
    () =>
      new BatchPlan({ corpus: otherData, seqLen: 8, batchSequences: 4, evalSequences: 5 }).checkSameData(
        description,
      ),
    Error,
    "tokensFingerprint",
  );
});

Deno.test("plan: bad options name the problem and the fix", () => {
  const corpus = sequenceCorpus(8 * 10 + 3); // 10 sequences of 8
  const plan = (options: Partial<ConstructorParameters<typeof BatchPlan>[0]>) => () =>
    new BatchPlan({ corpus, seqLen: 8, batchSequences: 2, ...options });
  assertThrows(plan({ seqLen: 1 }), Error, "seqLen 1 is not a whole number ≥ 2");
  assertThrows(plan({ seqLen: 2.5 }), Error, "seqLen 2.5");
  assertThrows(plan({ batchSequences: 0 }), Error, "batchSequences 0 is not a whole number ≥ 1");
  assertThrows(plan({ batchSequences: -3 }), Error, "use a batch of at least 1 sequence");
  assertThrows(
    plan({ batchSequences: 8, evalSequences: 3 }),
    Error,
    "83 tokens = 10 sequences of 8, fewer than one batch of 8 plus 3 eval sequences",
  );
  assertThrows(plan({ seqLen: 100 }), Error, "0 sequences of 100");
  assertThrows(plan({ evalSequences: 2, evalFraction: 0.1 }), Error, "not both");
  assertThrows(plan({ evalSequences: -1 }), Error, "evalSequences -1");
  assertThrows(plan({ evalFraction: 1 }), Error, "evalFraction 1 is not in [0, 1)");
  assertThrows(plan({ seed: -5 }), Error, "data seed -5");
  plan({ batchSequences: 7, evalSequences: 3 })();
});
