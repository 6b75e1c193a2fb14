/** The training data's unigram and bigram entropies, and the report's line that sets L_d beside them. */
import { assertEquals, assertThrows, assertWithin } from "./asserts.ts";
import { sequenceEntropies } from "../src/data/entropy.ts";
import { entropyStage, type SizedBreak, sizeTrendLines, unigramStageLines } from "../src/report/entropy.ts";
import type { DecelerationRow } from "../src/results/deceleration.ts";
import type { DataStatisticsRow } from "../src/results/data_statistics.ts";

Deno.test("sequenceEntropies: H1 of the targets and H2 = H(x_t | x_{t−1}) within each sequence", () => {
  // Targets 1, 0, 1 | 1 (first tokens are never targets); pairs 01, 10, 01 | 11.
  const got = sequenceEntropies([[0, 1, 0, 1], new Uint32Array([1, 1])]);
  assertWithin(
    Math.abs(got.unigram - (-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)))),
    1e-12,
    "got.unigram",
  );
  // After 0 always 1 (0 nats); after 1, 0 or 1 alike (ln 2); half the targets follow each.
  assertWithin(Math.abs(got.bigram - (0.5 * Math.log(2))), 1e-12, "got.bigram");
  assertEquals([got.targets, got.distinctTokens, got.distinctPairs], [4, 2, 3]);
  // A deterministic cycle: H2 = 0, H1 = ln 3 (a pair spanning two sequences is not counted).
  const cycle = sequenceEntropies([[0, 1, 2, 0, 1, 2, 0], [2, 0, 1, 2]]);
  assertWithin(Math.abs(cycle.unigram - (Math.log(3))), 1e-12, "cycle.unigram");
  assertWithin(Math.abs(cycle.bigram - (0)), 1e-12, "cycle.bigram");
  assertThrows(() => sequenceEntropies([[5], []]), Error, "no token follows another");
});

Deno.test("unigramStageLines: each identified break's L_d against the data's H1 and H2", () => {
  const stats: DataStatisticsRow = {
    data: "brown",
    tokenizer: "bytes",
    seq: 64,
    runs: "a_w4, a_w0, b_w0",
    targets: 1000,
    distinctTokens: 90,
    unigramEntropy: 3.11,
    bigramEntropy: 2.44,
  };
  assertEquals(
    [3.2, 2.9, 2.44].map((loss) => entropyStage(loss, stats)),
    ["above H1", "between H2 and H1", "below H2"],
  );
  const fit = (name: string, lossD: number, identified = true) =>
    ({ name, lossD, identified }) as DecelerationRow;
  const all = unigramStageLines([stats], [fit("a_w4", 2.95), fit("a_w0", 2.9), fit("b_w0", 9, false)]);
  assertEquals(all.length, 1);
  assertEquals(
    all[0],
    "The training data (brown, bytes tokens) has a unigram entropy H1 = 3.11 and a bigram entropy H2 = 2.44 " +
      "nats per token; the breaks lie at L_d = 2.95 (a_w4), 2.90 (a_w0): every break lies between H2 and H1, " +
      "where a model has learnt the token frequencies and not yet which token follows which: the end of the " +
      "unigram stage.",
  );
  const some = unigramStageLines([stats], [fit("a_w4", 2.95), fit("b_w0", 2.3)]);
  assertEquals(
    some[0].endsWith(
      "1 of 2 breaks lie between H2 and H1 (the end of the unigram stage); the others below H2.",
    ),
    true,
  );
  // Runs of another data set, or no identified break: no line.
  assertEquals(unigramStageLines([stats], [fit("c", 2.9), fit("a_w0", 2.9, false)]), []);
});

Deno.test("sizeTrendLines: L_d from the smallest model up, and whether it falls by more than 2 s.e.", () => {
  const at = (
    name: string,
    params: number,
    group: string,
    lossD: number,
    lossDErr = 0.01,
    identified = true,
  ) => ({ name, params, group, lossD, lossDErr, identified }) satisfies SizedBreak;
  const lines = sizeTrendLines([
    // Listed largest first: the line sorts by size.
    at("m_w0", 300, "w0", 2.85),
    at("s_w0", 200, "w0", 2.9),
    at("xs_w0", 100, "w0", 2.95),
    at("m_w4", 300, "w4", 2.953, 0.031),
    at("s_w4", 200, "w4", 2.95, 0.022),
    at("xs_w4", 100, "w4", 2.977, 0.008),
    at("only", 100, "alone", 3),
    at("a", 100, "unfit", 3),
    at("b", 200, "unfit", 2, 0.01, false),
  ]);
  assertEquals(lines, [
    "L_d against model size (xs_w0, s_w0, m_w0, smallest first): 2.950 ± 0.010 → 2.900 ± 0.010 → 2.850 ± 0.010 " +
    "nats: it falls with size, as in the paper.",
    "L_d against model size (xs_w4, s_w4, m_w4, smallest first): 2.977 ± 0.0080 → 2.950 ± 0.022 → " +
    "2.953 ± 0.031 nats: it does not fall with size (xs_w4 → s_w4, s_w4 → m_w4: not lower by more than 2 " +
    "standard errors), unlike the paper's deceleration, whose L_d falls with size.",
    "L_d against model size (a, b): not judged, no break identified for b.",
  ]);
});
