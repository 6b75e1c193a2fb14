/**
 * The tables the presenters show, as text cells: written once here, then laid out as Markdown
 * (`markdown.ts`), HTML (`html.ts`) and notebook outputs. Each takes result rows (from `src/results/`).
 *
 * @module
 */
import type { AblationRow } from "../results/ablation.ts";
import type { LandscapeRow } from "../results/landscape.ts";
import type { DecelerationBreak, DecelerationRow } from "../results/deceleration.ts";
import type { GradientInterferenceRow } from "../results/gradients.ts";
import type { Dt1Row, Dt2tRow } from "../results/interference.ts";
import type { WarmupControlRow, WarmupVerdictRow } from "../results/warmup.ts";
import { formatNumber, formatStepRange, formatWithError } from "../util/format.ts";

/** A table of text cells: what every presenter lays out. */
export interface TextTable {
  /** A caption (shown above the table). */
  caption?: string;
  /** Column headers. */
  headers: string[];
  /** Rows of cells, one per header. */
  rows: string[][];
  /** Which columns hold numbers (right-aligned in HTML); default none. */
  numeric?: boolean[];
  /** Cells to highlight, by row (`band`: the window holding the deceleration). */
  highlight?: boolean[];
  /** The first cell of each row names the row (a transposed table: one column per run). */
  rowHeaders?: boolean;
}

/** A model's name with ⚠ when its break is not identified (and why, when it is the warmup's end). */
function markedName(row: DecelerationRow): string {
  return row.identified ? row.name : `${row.name} ⚠${row.atWarmupEnd ? " warmup end" : ""}`;
}

/** A value of S with its ±1σ range: `0.512 (0.498–0.527)`. */
function lrAreaRange(center: number, low: number, high: number): string {
  if (!Number.isFinite(center)) return "—";
  const digits = (value: number) => formatNumber(value, 3);
  return `${digits(center)} (${digits(low)}–${digits(high)})`;
}

/**
 * The paper's T1: Model | L_d | t_d (± 1σ range) | r_d | L̂_T | L_T, then t_d of the fit against the
 * learning-rate area S (⚠ where that fit identifies no break) and S at the step fit's t_d.
 */
export function t1Table(rows: readonly DecelerationRow[]): TextTable {
  return {
    caption: "T1 — deceleration per model (t_d in steps; against S = Σ lr: t_d in S, and S at t_d)",
    headers: ["Model", "L_d", "t_d", "r_d", "L̂_T", "L_T", "t_d in S", "S(t_d)"],
    rows: rows.map((row) => [
      markedName(row),
      formatWithError(row.lossD, row.lossDErr),
      formatStepRange(row.tD, [row.tDMin, row.tDMax]),
      formatWithError(row.rateD, row.rateDErr),
      formatWithError(row.predictedFinalLoss, row.predictedFinalLossErr),
      formatNumber(row.finalLoss),
      lrAreaRange(row.tDLrArea, row.tDLrAreaMin, row.tDLrAreaMax) +
      (Number.isFinite(row.tDLrArea) && !row.identifiedLrArea ? " ⚠" : ""),
      Number.isFinite(row.lrAreaAtTD) ? formatNumber(row.lrAreaAtTD, 3) : "—",
    ]),
    numeric: [false, true, true, true, true, true, true, true],
  };
}

/** The warmup control's verdict per model: warmups, breaks found, slope ± s.e., t_d change, verdict and why. */
export function warmupVerdictTable(verdicts: readonly WarmupVerdictRow[]): TextTable {
  return {
    caption: "Warmup control: slope of log t_d on log max(warmup, 1) over the runs that break",
    headers: ["Model", "warmups", "breaks", "slope", "t_d change", "verdict", "why"],
    rows: verdicts.map((row) => [
      row.group,
      row.warmups,
      `${row.breaks}/${row.runs}`,
      Number.isFinite(row.slope) ? formatWithError(row.slope, row.slopeErr) : "—",
      Number.isFinite(row.tDChange) ? `${(100 * row.tDChange).toFixed(0)}%` : "—",
      row.verdict,
      row.why,
    ]),
    numeric: [false, false, true, true, true, false, false],
  };
}

/** The warmup control's runs: warmup, t_d (range), t_d/warmup, t_d in S and the break's status. */
export function warmupControlTable(rows: readonly WarmupControlRow[]): TextTable {
  return {
    caption: "Warmup control per run",
    headers: ["Model", "run", "warmup", "t_d", "t_d / warmup", "t_d in S", "break"],
    rows: rows.map((row) => [
      row.group,
      row.run,
      String(row.warmup),
      formatStepRange(row.tD, [row.tDMin, row.tDMax]),
      formatNumber(row.tDOverWarmup, 2),
      Number.isFinite(row.tDLrArea) ? row.tDLrArea.toPrecision(3) + (row.identifiedLrArea ? "" : " ⚠") : "—",
      row.identified ? "identified" : row.atWarmupEnd ? "at the warmup end" : "none",
    ]),
    numeric: [false, false, true, true, true, true, false],
    highlight: rows.map((row) => row.atWarmupEnd),
  };
}

/** The fitted BNSL parameters with ± one standard error, the fit's quality and the steps fitted. */
export function bnslParameterTable(rows: readonly DecelerationRow[]): TextTable {
  return {
    caption: "Fitted broken-power-law parameters, ± one standard error",
    headers: ["Model", "b", "c0", "c1", "log d1", "f1", "RSLE", "points", "steps fitted"],
    rows: rows.map((row) => [
      markedName(row),
      formatWithError(row.b, row.bErr),
      formatWithError(row.c0, row.c0Err),
      formatWithError(row.c1, row.c1Err),
      formatWithError(row.logD1, row.logD1Err),
      formatWithError(row.f1, row.f1Err),
      formatNumber(row.rsle),
      String(row.nPoints),
      `${row.firstStep}–${row.finalStep}`,
    ]),
    numeric: [false, true, true, true, true, true, true, true, true],
  };
}

/** The formula the deceleration tables are of. */
export const DECELERATION_FORMULA: string =
  "log L(t) = log b − c0·log t − c1·f1·log(1 + exp((log t − log d1)/f1)); t_d = d1, L_d = b·t_d^−c0, " +
  "r_d = c0 + c1, L̂_T = L_d·(t_d/T)^r_d, L_T = the smoothed loss at the last step T.";

/** Whether the window t → t2 overlaps the band (the window that holds the deceleration). */
export function overlapsBand(t: number, t2: number, band: DecelerationBreak | null | undefined): boolean {
  return band !== null && band !== undefined && t2 >= band.tDRange[0] && t <= band.tDRange[1];
}

/** Δ_t^{2t} of one model: its windows, the one overlapping the deceleration marked ◀ t_d. */
export function dt2tTable(rows: readonly Dt2tRow[], band: DecelerationBreak | null | undefined): TextTable {
  return {
    caption: "Δ_t^{2t}: checkpoints t → 2t on the eval split",
    headers: ["t → 2t", "eval loss at t", "D", "M", "|ΔL|"],
    rows: rows.map((row) => [
      `${row.t} → ${row.t2}${overlapsBand(row.t, row.t2, band) ? " ◀ t_d" : ""}`,
      formatNumber(row.lossT),
      formatNumber(row.D),
      formatNumber(row.M),
      formatNumber(Math.abs(row.deltaL)),
    ]),
    numeric: [true, true, true, true, true],
    highlight: rows.map((row) => overlapsBand(row.t, row.t2, band)),
  };
}

/** Δ_t^{t+1} of one model: mean ± std over the unseen batches, per checkpoint and set. */
export function dt1Table(rows: readonly Dt1Row[]): TextTable {
  return {
    caption: "Δ_t^{t+1}: one optimizer step from checkpoint t, mean ± std over the unseen batches",
    headers: ["t", "set", "lr", "D", "M", "|ΔL|"],
    rows: rows.map((row) => [
      String(row.t),
      row.set,
      formatNumber(row.lr),
      formatWithError(row.D, row.DStd),
      formatWithError(row.M, row.MStd),
      formatWithError(row.absDeltaL, row.absDeltaLStd),
    ]),
    numeric: [true, false, true, true, true, true],
  };
}

/** The gradient-interference metrics of one run, one row per checkpoint and granularity. */
export function gradientTable(rows: readonly GradientInterferenceRow[]): TextTable {
  return {
    caption: "Gradient interference per checkpoint",
    headers: [
      "t",
      "examples",
      "N",
      "D(∇ℓ)",
      "C_g",
      "C_(u,G)",
      "C_(u,g)",
      "1 − D(Δ̂ℓ)",
      "M(Δ̂ℓ)",
      "‖δ‖",
      "‖G‖",
      "B_simple",
      "r",
      "slope",
    ],
    rows: rows.map((row) => [
      String(row.step),
      row.granularity,
      String(row.examples),
      formatNumber(row.dGrad),
      formatNumber(row.cG),
      formatNumber(row.cUG),
      formatNumber(row.cUg),
      formatNumber(row.oneMinusDPredicted),
      formatNumber(row.mPredicted),
      formatNumber(row.deltaNorm),
      formatNumber(row.meanGradNorm),
      formatNumber(row.bSimple),
      formatNumber(row.pearson),
      formatNumber(row.slope),
    ]),
    numeric: [true, false, ...Array(12).fill(true)],
  };
}

/**
 * The level of D that pure noise gives at N examples, 1 − 1/√N (N independent zero-mean values:
 * E|Σ x| / E Σ|x| = 1/√N; docs/method.md#reading-d-against-its-null). A measured D(∇ℓ) means opposed
 * gradients only where it lies clearly above this.
 */
export function interferenceNull(examples: number): number {
  return examples > 0 ? 1 - 1 / Math.sqrt(examples) : NaN;
}

/** The rows of {@linkcode gradientDetailTable}: a label and the value of a checkpoint's row. */
const GRADIENT_DETAILS: [string, (row: GradientInterferenceRow) => string][] = [
  ["examples N", (row) => `${row.examples} ${row.granularity}s`],
  ["sequences", (row) => formatNumber(row.sequences)],
  ["learning rate of δ", (row) => formatNumber(row.lr)],
  ["D(∇ℓ)", (row) => formatNumber(row.dGrad)],
  ["noise level of D at N, 1 − 1/√N", (row) => formatNumber(interferenceNull(row.examples))],
  ["coordinates in D(∇ℓ)", (row) => formatNumber(row.dGradCoordinates)],
  ["coordinates left out (zero gradient)", (row) => formatNumber(row.dGradZeroCoordinates)],
  ["C_g", (row) => formatNumber(row.cG)],
  ["C_(u,G)", (row) => formatNumber(row.cUG)],
  ["C_(u,g)", (row) => formatNumber(row.cUg)],
  ["1 − D(Δ̂ℓ)", (row) => formatNumber(row.oneMinusDPredicted)],
  ["M(Δ̂ℓ), nats", (row) => formatNumber(row.mPredicted)],
  ["|1 − D(Δ̂ℓ) − C_g·C_(u,G)/C_(u,g)|", (row) => formatNumber(row.identityError)],
  ["‖δ‖", (row) => formatNumber(row.deltaNorm)],
  ["‖G‖ (mean gradient)", (row) => formatNumber(row.meanGradNorm)],
  ["mean ‖g_i‖", (row) => formatNumber(row.meanExampleGradNorm)],
  ["Pearson r of Δℓ on Δ̂ℓ", (row) => formatNumber(row.pearson)],
  ["Spearman ρ", (row) => formatNumber(row.spearman)],
  ["slope of Δℓ on Δ̂ℓ", (row) => formatNumber(row.slope)],
  ["sign agreement", (row) => formatNumber(row.signAgreement)],
  ["median |Δ̂ℓ − Δℓ| / |Δℓ|", (row) => formatNumber(row.medianRelativeError)],
  ["seconds", (row) => formatNumber(row.seconds)],
];

/**
 * Every metric of `gradient_interference.arrow` for one run, one column per checkpoint (and granularity,
 * when both were measured) and one row per metric, N and the noise level of D at N included.
 */
export function gradientDetailTable(rows: readonly GradientInterferenceRow[], caption?: string): TextTable {
  const both = new Set(rows.map((row) => row.granularity)).size > 1;
  return {
    caption: caption ?? "Gradient interference, every metric, per checkpoint t",
    headers: ["", ...rows.map((row) => `t = ${row.step}${both ? ` (${row.granularity})` : ""}`)],
    rows: GRADIENT_DETAILS.map(([label, value]) => [label, ...rows.map(value)]),
    numeric: [false, ...rows.map(() => true)],
    rowHeaders: true,
  };
}

/** A D of Δ_t^{2t} with its window: `0.512 (8→16)`; "—" where there is none. */
function windowD(D: number, t: number): string {
  return t >= 0 && Number.isFinite(D) ? `${formatNumber(D, 3)} (${t}→${2 * t})` : "—";
}

/**
 * The runs of one ablation axis side by side, one row per run: its group, the axis value, the fit (⚠: the
 * break is not identified, its numbers are not a deceleration), t_d in warmups, and the D of Δ_t^{2t}
 * before, at and after the break and at the last window.
 */
export function ablationTable(rows: readonly AblationRow[]): TextTable {
  const axis = rows[0]?.axis ?? "optimizer";
  return {
    caption:
      `Runs that differ only in their ${axis === "arch" ? "architecture" : "optimizer"}: deceleration ` +
      "and D of Δ_t^{2t} (eval) before, across and after the break",
    headers: [
      "group",
      axis,
      "t_d",
      "L_d",
      "r_d",
      "t_d / warmup",
      "D before",
      "D at t_d",
      "D after",
      "D last",
      "L_T",
    ],
    rows: rows.map((row) => {
      const fitted = Number.isFinite(row.tD);
      return [
        row.group,
        row.identified || !fitted ? row.value : `${row.value} ⚠`,
        fitted ? formatStepRange(row.tD, [row.tDMin, row.tDMax]) : "no fit",
        formatNumber(row.lossD),
        formatNumber(row.rateD),
        formatNumber(row.tDOverWarmup, 2),
        windowD(row.dBefore, row.dBeforeT),
        windowD(row.dBreak, row.dBreakT),
        windowD(row.dAfter, row.dAfterT),
        windowD(row.dLast, row.dLastT),
        formatNumber(row.finalLoss),
      ];
    }),
    numeric: [false, false, true, true, true, true, true, true, true, true, true],
  };
}

/**
 * The loss along the update of one run, one row per checkpoint and set: the step's rate, ΔL, D and M at
 * the real step (k = 25), and the α of the lowest mean loss on the grid with its ΔL and D ("—" when the
 * grid has no α > 0).
 */
export function landscapeTable(rows: readonly LandscapeRow[]): TextTable {
  const out: string[][] = [];
  for (const [, own] of groupBy(rows, (row) => `${row.t}|${row.set}`)) {
    const step = own.find((row) => row.k === 25);
    const best = own.reduce((a, b) => (b.loss < a.loss ? b : a));
    out.push([
      String(own[0].t),
      own[0].set,
      formatNumber(own[0].lr),
      formatNumber(step?.deltaL ?? NaN),
      formatNumber(step?.D ?? NaN),
      formatNumber(step?.M ?? NaN),
      formatNumber(best.alpha, 2),
      formatNumber(best.deltaL),
      formatNumber(best.D),
    ]);
  }
  return {
    caption: "Loss along the update: at the real step (α = 1·s) and at the α of the lowest mean loss",
    headers: [
      "t",
      "set",
      "lr",
      "ΔL at step",
      "D at step",
      "M at step",
      "best α",
      "ΔL at best α",
      "D at best α",
    ],
    rows: out,
    numeric: [true, false, true, true, true, true, true, true, true],
  };
}

/** Groups rows by `key` in order of first appearance (every name of `order` first, even without rows). */
export function groupBy<Row>(
  rows: readonly Row[],
  key: (row: Row) => string,
  order: string[] = [],
): Map<string, Row[]> {
  const groups = new Map<string, Row[]>(order.map((name) => [name, []]));
  for (const row of rows) {
    const name = key(row);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name)!.push(row);
  }
  return groups;
}
