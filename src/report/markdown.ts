/**
 * The Markdown reports of the result tables: `deceleration.md`, `interference.md`, `gradients.md`,
 * `ablation.md` and `landscape.md`.
 *
 * @module
 */
import type { AblationRow } from "../results/ablation.ts";
import type { LandscapeRow } from "../results/landscape.ts";
import { ABLATION_AXES } from "../results/ablation.ts";
import type { DecelerationBreak, DecelerationRow } from "../results/deceleration.ts";
import type { GradientInterferenceRow } from "../results/gradients.ts";
import type { Dt1Row, Dt2tRow } from "../results/interference.ts";
import { formatStepRange } from "../util/format.ts";
import type { TextTable } from "./tables.ts";
import {
  ablationTable,
  bnslParameterTable,
  dt1Table,
  dt2tTable,
  gradientTable,
  groupBy,
  landscapeTable,
  t1Table,
} from "./tables.ts";

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** A table as Markdown lines (pipes in cells escaped). */
export function markdownTable(table: TextTable): string[] {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(" | ")} |`;
  return [line(table.headers), line(table.headers.map(() => "---")), ...table.rows.map(line)];
}

/**
 * The paper's two tables in Markdown: Model | L_d | t_d | r_d | L̂_T | L_T, and the BNSL parameters with
 * ± one-sigma errors; a note under them for every fit whose break is not identified.
 */
export function decelerationMarkdown(rows: readonly DecelerationRow[], preamble = ""): string {
  const lines: string[] = ["# Loss deceleration", ""];
  if (preamble) lines.push(preamble, "");
  lines.push(
    "Fit: log L(t) = log b − c0·log t − c1·f1·log(1 + exp((log t − log d1)/f1)); t_d = d1, " +
      "L_d = b·t_d^−c0, r_d = c0 + c1, L̂_T = L_d·(t_d/T)^r_d, L_T = the smoothed loss at the last step T. " +
      "Errors are ± one standard error (t_d: the range exp(log d1 ∓ σ)).",
    "",
    ...markdownTable(t1Table(rows)),
    "",
    ...markdownTable(bnslParameterTable(rows)),
  );
  const unidentified = rows.filter((row) => !row.identified);
  if (unidentified.length > 0) {
    lines.push(
      "",
      "⚠ Break not identified (the numbers above are the least-squares optimum, not a deceleration):",
    );
    for (const row of unidentified) lines.push(`- ${escapeCell(row.name)}: ${row.reasons}.`);
  }
  return lines.join("\n") + "\n";
}

/** The sentence on a model's deceleration above its interference tables. */
function breakSentence(band: DecelerationBreak | null | undefined): string {
  return band
    ? `Deceleration t_d = ${formatStepRange(band.tD, band.tDRange)}.`
    : "No deceleration identified by the fit.";
}

/**
 * Markdown tables of D, M, |ΔL| per model (Δ_t^{2t}, then Δ_t^{t+1} train and eval), in the order of
 * `models`.
 */
export function interferenceMarkdown(
  models: string[],
  dt2t: readonly Dt2tRow[],
  dt1: readonly Dt1Row[],
  breaks: Map<string, DecelerationBreak | null> = new Map(),
): string {
  const lines = ["# Loss interference", ""];
  lines.push(
    "D = 1 − |Σ Δℓ| / Σ |Δℓ|, M = mean |Δℓ|, |ΔL| = |mean Δℓ| = M·(1 − D), over predicted tokens " +
      "(docs/method.md#loss-interference). Δ_t^{2t}: checkpoints t → 2t on the eval split. Δ_t^{t+1}: one " +
      "step of the run's own optimizer from checkpoint t, mean ± std over the unseen batches.",
    "",
  );
  const windows = groupBy(dt2t, (row) => row.model, models);
  const steps = groupBy(dt1, (row) => row.model);
  for (const [model, rows] of windows) {
    const band = breaks.get(model);
    lines.push(`## ${model}`, "", breakSentence(band), "", ...markdownTable(dt2tTable(rows, band)));
    const oneStep = steps.get(model) ?? [];
    if (oneStep.length > 0) lines.push("", ...markdownTable(dt1Table(oneStep)));
    lines.push("");
  }
  return lines.join("\n");
}

/** Markdown tables of the gradient-interference metrics, one per run (in the order of `runs`). */
export function gradientMarkdown(
  runs: string[],
  rows: readonly GradientInterferenceRow[],
  breaks: Map<string, DecelerationBreak | null> = new Map(),
): string {
  const lines = ["# Gradient interference", ""];
  lines.push(
    "Per-example gradients g_i at checkpoint t and the one-step update δ (docs/method.md#gradient-interference). D(∇ℓ): mean " +
      "per-coordinate interference 1 − |Σ_i g_ij| / Σ_i |g_ij| over non-embedding coordinates. C_g, " +
      "C_(u,G), C_(u,g): coherences of p_ij = g_ij·δ_j; 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g). M(Δ̂ℓ): mean " +
      "|g_i·δ|. B_simple: the gradient noise scale tr(Σ)/‖𝔼g‖² in examples (docs/method.md#gradient-noise-scale). " +
      "r, slope: Pearson correlation and slope through 0 of the true Δℓ_i on Δ̂ℓ_i.",
    "",
  );
  for (const [run, own] of groupBy(rows, (row) => row.run, runs)) {
    const band = breaks.get(run);
    lines.push(`## ${run}`, "");
    if (band) lines.push(breakSentence(band), "");
    lines.push(...markdownTable(gradientTable(own)), "");
  }
  return lines.join("\n");
}

/** What the ablation tables say about the windows and the warmup (Markdown and the report). */
export const ABLATION_NOTE: string =
  "Runs compared share everything but the axis (docs/method.md#optimizers). D is that " +
  "of Δ_t^{2t} on the eval split: “before” the last window t → 2t ending by the break's −1σ end, “at t_d” " +
  "the window holding t_d, “after” the first window starting after its +1σ end (— unless the break is " +
  "identified). ⚠: the break is not identified. A break within a few warmups (t_d / warmup small) may " +
  "follow the learning-rate warmup rather than the run's own deceleration: compare with a warmup control.";

/** `ablation.md`: one table per axis of {@linkcode ablationTable}. */
export function ablationMarkdown(rows: readonly AblationRow[]): string {
  const lines = ["# Ablations", "", ABLATION_NOTE];
  for (const axis of ABLATION_AXES) {
    const own = rows.filter((row) => row.axis === axis);
    if (own.length === 0) continue;
    const table = ablationTable(own);
    lines.push("", `**${table.caption}**`, "", ...markdownTable(table));
  }
  if (rows.length === 0) {
    lines.push("", "No runs of the sweep differ only in their optimizer or architecture.");
  }
  return lines.join("\n") + "\n";
}

/** What the landscape tables are of (Markdown and the report). */
export const LANDSCAPE_NOTE: string =
  "Per-token losses at θ_t + α·δ, δ the one step of the run's own optimizer from checkpoint t (no clipping, " +
  "lr(t)) on the first batch training never saw (“train”) and on an eval batch (“eval”); Δℓ(α) = " +
  "ℓ(θ_t + α·δ) − ℓ(θ_t), ΔL its mean, D and M as for loss interference (docs/method.md#loss-along-the-update).";

/** `landscape.md`: one {@linkcode landscapeTable} per run. */
export function landscapeMarkdown(rows: readonly LandscapeRow[]): string {
  const lines = ["# Loss along the update", "", LANDSCAPE_NOTE];
  for (const [model, own] of groupBy(rows, (row) => row.model)) {
    lines.push("", `## ${model}`, "", ...markdownTable(landscapeTable(own)));
  }
  return lines.join("\n") + "\n";
}
