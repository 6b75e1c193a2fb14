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
}

/** A model's name with ⚠ when its break is not identified. */
function markedName(row: DecelerationRow): string {
  return row.identified ? row.name : `${row.name} ⚠`;
}

/** The paper's T1: Model | L_d | t_d (± 1σ range) | r_d | L̂_T | L_T. */
export function t1Table(rows: readonly DecelerationRow[]): TextTable {
  return {
    caption: "T1 — deceleration per model",
    headers: ["Model", "L_d", "t_d", "r_d", "L̂_T", "L_T"],
    rows: rows.map((row) => [
      markedName(row),
      formatWithError(row.lossD, row.lossDErr),
      formatStepRange(row.tD, [row.tDMin, row.tDMax]),
      formatWithError(row.rateD, row.rateDErr),
      formatWithError(row.predictedFinalLoss, row.predictedFinalLossErr),
      row.finalLoss.toFixed(4),
    ]),
    numeric: [false, true, true, true, true, true],
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
      row.rsle.toFixed(4),
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
  const pm = (mean: number, std: number) => `${formatNumber(mean)} ± ${formatNumber(std)}`;
  return {
    caption: "Δ_t^{t+1}: one optimizer step from checkpoint t, mean ± std over the unseen batches",
    headers: ["t", "set", "lr", "D", "M", "|ΔL|"],
    rows: rows.map((row) => [
      String(row.t),
      row.set,
      row.lr.toExponential(2),
      pm(row.D, row.DStd),
      pm(row.M, row.MStd),
      pm(row.absDeltaL, row.absDeltaLStd),
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
      formatNumber(row.pearson, 3),
      formatNumber(row.slope, 3),
    ]),
    numeric: [true, false, ...Array(11).fill(true)],
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
        formatNumber(row.tDOverWarmup, 1),
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
      own[0].lr.toExponential(2),
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
