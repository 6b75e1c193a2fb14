/**
 * One-line summaries for the terminal: what the analysis CLIs print after writing their results.
 *
 * @module
 */
import type { DecelerationBreak, DecelerationRow } from "../results/deceleration.ts";
import type { GradientInterferenceRow } from "../results/gradients.ts";
import type { Dt2tRow } from "../results/interference.ts";
import { formatDuration, formatNumber, formatStepRange, formatWithError } from "../util/format.ts";
import { overlapsBand } from "./tables.ts";

/** One line of a fit: t_d (range), L_d, r_d, L̂_T, L_T, RSLE, points, and why the break is not identified. */
export function decelerationSummary(row: DecelerationRow): string {
  const status = row.identified ? "" : `  ⚠ break not identified: ${row.reasons}`;
  return `${row.name}: t_d = ${formatStepRange(row.tD, [row.tDMin, row.tDMax])}, ` +
    `L_d = ${formatWithError(row.lossD, row.lossDErr)}, r_d = ${formatWithError(row.rateD, row.rateDErr)}, ` +
    `L̂_T = ${formatWithError(row.predictedFinalLoss, row.predictedFinalLossErr)}, ` +
    `L_T = ${formatNumber(row.finalLoss)}, RSLE = ${formatNumber(row.rsle)} (${row.nPoints} points)${status}`;
}

/** What the loss-interference summary of a run needs (an analysed run is one). */
export interface InterferenceRunSummary {
  /** The run's name. */
  name: string;
  /** Checkpoints analysed. */
  checkpoints: readonly number[];
  /** Loss sets and one-step checkpoints computed (not from the cache). */
  computed: { losses: number; oneStep: number };
  /** Seconds the analysis took. */
  seconds: number;
  /** Its Δ_t^{2t} rows. */
  dt2t: readonly Dt2tRow[];
}

/** A run's loss interference: its Δ_t^{2t} rows, the window holding t_d marked. */
export function interferenceSummary(
  result: InterferenceRunSummary,
  band: DecelerationBreak | null,
): string[] {
  const lines = [
    `${result.name}: ${result.checkpoints.length} checkpoints; computed ${result.computed.losses} loss sets, ` +
    `${result.computed.oneStep} one-step checkpoints in ${formatDuration(result.seconds)}` +
    (band ? `; t_d = ${formatStepRange(band.tD, band.tDRange)}` : ""),
  ];
  for (const row of result.dt2t) {
    const near = overlapsBand(row.t, row.t2, band) ? "  ◀ t_d" : "";
    lines.push(
      `  ${String(row.t).padStart(6)} → ${String(row.t2).padEnd(6)} D ${formatNumber(row.D)}  ` +
        `M ${formatNumber(row.M)}  |ΔL| ${formatNumber(Math.abs(row.deltaL))}${near}`,
    );
  }
  return lines;
}

/** One line of a checkpoint's gradient interference. */
export function gradientSummary(row: GradientInterferenceRow): string {
  const fmt = (value: number) => formatNumber(value);
  return `${row.run} step ${row.step} (${row.examples} ${row.granularity} examples): D(∇ℓ) ${
    fmt(row.dGrad)
  }  ` +
    `C_g ${fmt(row.cG)}  C_(u,G)/C_(u,g) ${fmt(row.cUG / row.cUg)}  1−D(Δ̂ℓ) ${
      fmt(row.oneMinusDPredicted)
    }  ` +
    `identity error ${formatNumber(row.identityError, 2)}  Δ̂ℓ~Δℓ pearson ${fmt(row.pearson)}  ` +
    `B_simple ${fmt(row.bSimple)}  ` +
    `${formatNumber(row.seconds, 2)} s`;
}

/** An example of a pair of projected gradients: where it is, and its token and target (−1: none). */
export interface PairExample {
  /** Sequence. */
  sequence: number;
  /** Predicting position (−1: whole sequence). */
  position: number;
  /** Input token. */
  token: number;
  /** Target token. */
  target: number;
}

/**
 * One line per pair: the cosine and, for each example, sequence, position and `token → target` (decoded
 * with `decode` when given, as JSON strings so that whitespace shows; ids otherwise).
 */
export function formatOpposedPairs(
  pairs: readonly { cosine: number; first: PairExample; second: PairExample }[],
  decode?: (token: number) => string,
): string {
  const show = (token: number) => token < 0 ? "—" : decode ? JSON.stringify(decode(token)) : `#${token}`;
  const describe = (example: PairExample) =>
    example.position < 0
      ? `seq ${example.sequence}`
      : `seq ${example.sequence} pos ${example.position} ${show(example.token)} → ${show(example.target)}`;
  return pairs.map((pair) =>
    `cos ${pair.cosine.toFixed(3)}  ${describe(pair.first)}  vs  ${describe(pair.second)}`
  )
    .join("\n");
}
