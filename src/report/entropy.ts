/**
 * The report's line on the unigram stage: the training data's unigram and bigram entropies H1 and H2
 * (`data_statistics.arrow`) beside each identified break's loss L_d, so that a reader sees whether the
 * break sits where a model has learnt the token frequencies and not yet the pairs (H2 < L_d ≤ H1: the end
 * of the unigram stage, docs/warmup-study.md#mechanism).
 *
 * @module
 */
import type { DataStatisticsRow } from "../results/data_statistics.ts";
import type { DecelerationRow } from "../results/deceleration.ts";
import { formatNumber } from "../util/format.ts";

/** Where a break's loss lies against the entropies of its training data. */
export type EntropyStage = "above H1" | "between H2 and H1" | "below H2";

/** The stage of a loss `lossD` against `stats`: above H1, between H2 and H1 (unigram stage), below H2. */
export function entropyStage(
  lossD: number,
  stats: Pick<DataStatisticsRow, "unigramEntropy" | "bigramEntropy">,
): EntropyStage {
  if (lossD > stats.unigramEntropy) return "above H1";
  return lossD > stats.bigramEntropy ? "between H2 and H1" : "below H2";
}

/**
 * One sentence per training set: its H1 and H2, the identified breaks' L_d, and where they lie. Empty
 * without statistics or without an identified break among the set's runs.
 */
export function unigramStageLines(
  statistics: readonly DataStatisticsRow[],
  fits: readonly DecelerationRow[],
): string[] {
  const lines: string[] = [];
  for (const stats of statistics) {
    const names = new Set(stats.runs.split(", "));
    const breaks = fits.filter((fit) => names.has(fit.name) && fit.identified && Number.isFinite(fit.lossD));
    if (breaks.length === 0) continue;
    const stages = breaks.map((fit) => entropyStage(fit.lossD, stats));
    const between = stages.filter((stage) => stage === "between H2 and H1").length;
    const losses = breaks.map((fit) => `${formatNumber(fit.lossD, 3)} (${fit.name})`).join(", ");
    const verdict = between === breaks.length
      ? `every break lies between H2 and H1, where a model has learnt the token frequencies and not yet ` +
        `which token follows which: the end of the unigram stage`
      : `${between} of ${breaks.length} breaks lie between H2 and H1 (the end of the unigram stage); ` +
        `the others ${[...new Set(stages.filter((stage) => stage !== "between H2 and H1"))].join(" or ")}`;
    lines.push(
      `The training data (${stats.data}, ${stats.tokenizer} tokens) has a unigram entropy H1 = ` +
        `${formatNumber(stats.unigramEntropy, 3)} and a bigram entropy H2 = ${
          formatNumber(stats.bigramEntropy, 3)
        } ` +
        `nats per token; the breaks lie at L_d = ${losses}: ${verdict}.`,
    );
  }
  return lines;
}

/** One run's break with its model size, for {@linkcode sizeTrendLines}. */
export interface SizedBreak {
  /** The run's name (as in `deceleration.arrow`). */
  name: string;
  /** Non-embedding parameters of its model. */
  params: number;
  /** Runs with the same `group` differ only in their model (e.g. their spec without name and model). */
  group: string;
  /** The break's loss L_d and its standard error, nats. */
  lossD: number;
  lossDErr: number;
  /** Whether the fit identified the break. */
  identified: boolean;
}

/**
 * One sentence per group of runs that differ only in model size (at least two sizes): L_d from the
 * smallest to the largest model, and whether it falls with size, the paper's pattern (docs/method.md
 * #loss-deceleration): every step down by more than twice the standard error of the difference. A group
 * with a run whose break is not identified is said to be so, not judged.
 */
export function sizeTrendLines(breaks: readonly SizedBreak[]): string[] {
  const groups = new Map<string, SizedBreak[]>();
  for (const row of breaks) groups.set(row.group, [...(groups.get(row.group) ?? []), row]);
  const lines: string[] = [];
  for (const rows of groups.values()) {
    const sized = [...rows].sort((a, b) => a.params - b.params);
    if (new Set(sized.map((row) => row.params)).size < 2) continue;
    const names = sized.map((row) => row.name).join(", ");
    const unidentified = sized.filter((row) => !row.identified || !Number.isFinite(row.lossD));
    if (unidentified.length > 0) {
      lines.push(
        `L_d against model size (${names}): not judged, no break identified for ` +
          `${unidentified.map((row) => row.name).join(", ")}.`,
      );
      continue;
    }
    const losses = sized.map((row) => `${formatNumber(row.lossD, 4)} ± ${formatNumber(row.lossDErr, 2)}`);
    const notFalling: string[] = [];
    for (let i = 1; i < sized.length; i++) {
      const [smaller, larger] = [sized[i - 1], sized[i]];
      const error = Math.hypot(smaller.lossDErr, larger.lossDErr);
      if (!(smaller.lossD - larger.lossD > 2 * error)) notFalling.push(`${smaller.name} → ${larger.name}`);
    }
    const verdict = notFalling.length === 0
      ? "it falls with size, as in the paper"
      : `it does not fall with size (${notFalling.join(", ")}: not lower by more than 2 standard errors), ` +
        `unlike the paper's deceleration, whose L_d falls with size`;
    lines.push(`L_d against model size (${names}, smallest first): ${losses.join(" → ")} nats: ${verdict}.`);
  }
  return lines;
}
