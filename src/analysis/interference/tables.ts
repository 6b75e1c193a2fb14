/**
 * Tables of the interference analyses: Arrow columns (one `model` column so that several runs share
 * a file) and a Markdown summary.
 *
 * Files: `interference_dt_2t.arrow` (model, t, t2, D, M, deltaL, abs_deltaL, n, loss_t, loss_t2),
 * `interference_dt_2t_groups.arrow` (model, t, grouping, group, n, D, M, deltaL),
 * `interference_dt_1.arrow` (model, t, set, lr, batches, D, D_std, M, M_std, deltaL, deltaL_std,
 * abs_deltaL, abs_deltaL_std) and `interference_dt_1_batches.arrow` (one row per batch).
 *
 * @module
 */
import type { Columns } from "../../io/arrow.ts";
import type { RunInterference } from "./run.ts";

function column<R>(rows: R[], get: (row: R) => number): Float64Array {
  return Float64Array.from(rows, get);
}

function withModel<R>(results: RunInterference[], pick: (result: RunInterference) => R[]) {
  return results.flatMap((result) => pick(result).map((row) => ({ model: result.name, row })));
}

/** Δ_t^{2t}: one row per model and pair (t, 2t). */
export function dt2tColumns(results: RunInterference[]): Columns {
  const rows = withModel(results, (r) => r.dt2t);
  return {
    model: rows.map((r) => r.model),
    t: Int32Array.from(rows, (r) => r.row.t),
    t2: Int32Array.from(rows, (r) => r.row.t2),
    D: column(rows, (r) => r.row.D),
    M: column(rows, (r) => r.row.M),
    deltaL: column(rows, (r) => r.row.deltaL),
    abs_deltaL: column(rows, (r) => Math.abs(r.row.deltaL)),
    n: column(rows, (r) => r.row.n),
    loss_t: column(rows, (r) => r.row.lossT),
    loss_t2: column(rows, (r) => r.row.lossT2),
  };
}

/** Δ_t^{2t} per group (genre, document): one row per model, pair and group. */
export function dt2tGroupColumns(results: RunInterference[]): Columns {
  const rows = withModel(results, (r) => r.dt2tGroups);
  return {
    model: rows.map((r) => r.model),
    t: Int32Array.from(rows, (r) => r.row.t),
    grouping: rows.map((r) => r.row.grouping),
    group: rows.map((r) => r.row.group),
    n: column(rows, (r) => r.row.n),
    D: column(rows, (r) => r.row.D),
    M: column(rows, (r) => r.row.M),
    deltaL: column(rows, (r) => r.row.deltaL),
  };
}

/** Δ_t^{t+1}: mean ± std over batches, one row per model, checkpoint and set. */
export function dt1Columns(results: RunInterference[]): Columns {
  const rows = withModel(results, (r) => r.dt1);
  return {
    model: rows.map((r) => r.model),
    t: Int32Array.from(rows, (r) => r.row.t),
    set: rows.map((r) => r.row.set),
    lr: column(rows, (r) => r.row.lr),
    batches: column(rows, (r) => r.row.batches),
    D: column(rows, (r) => r.row.D),
    D_std: column(rows, (r) => r.row.DStd),
    M: column(rows, (r) => r.row.M),
    M_std: column(rows, (r) => r.row.MStd),
    deltaL: column(rows, (r) => r.row.deltaL),
    deltaL_std: column(rows, (r) => r.row.deltaLStd),
    abs_deltaL: column(rows, (r) => r.row.absDeltaL),
    abs_deltaL_std: column(rows, (r) => r.row.absDeltaLStd),
  };
}

/** Δ_t^{t+1}: one row per model, checkpoint, set and batch. */
export function dt1BatchColumns(results: RunInterference[]): Columns {
  const rows = withModel(results, (r) => r.dt1Batches);
  return {
    model: rows.map((r) => r.model),
    t: Int32Array.from(rows, (r) => r.row.t),
    set: rows.map((r) => r.row.set),
    batch: Int32Array.from(rows, (r) => r.row.batch),
    batch_step: Int32Array.from(rows, (r) => r.row.batchStep),
    lr: column(rows, (r) => r.row.lr),
    D: column(rows, (r) => r.row.D),
    M: column(rows, (r) => r.row.M),
    deltaL: column(rows, (r) => r.row.deltaL),
    n: column(rows, (r) => r.row.n),
    loss_before: column(rows, (r) => r.row.lossBefore),
    grad_norm: column(rows, (r) => r.row.gradNorm),
  };
}

function format(value: number, digits = 4): string {
  if (!Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4)
    ? value.toExponential(2)
    : value.toFixed(digits);
}

/** The deceleration step of a model, for the summary (when the fit identified a break). */
export interface SummaryBreak {
  /** The fitted deceleration step t_d. */
  tD: number;
  /** t_d's ± one-standard-error range [low, high] in steps. */
  tDRange: [number, number];
}

/** Markdown tables of D, M, |ΔL| per model (Δ_t^{2t}, then Δ_t^{t+1} train and eval). */
export function interferenceMarkdown(
  results: RunInterference[],
  breaks: Map<string, SummaryBreak | null> = new Map(),
): string {
  const lines = ["# Loss interference", ""];
  lines.push(
    "D = 1 − |Σ Δℓ| / Σ |Δℓ|, M = mean |Δℓ|, |ΔL| = |mean Δℓ| = M·(1 − D), over predicted tokens " +
      "(docs/method.md#loss-interference). Δ_t^{2t}: checkpoints t → 2t on the eval split. Δ_t^{t+1}: one AdamW step from " +
      "checkpoint t, mean ± std over the unseen batches.",
    "",
  );
  for (const result of results) {
    const fit = breaks.get(result.name);
    lines.push(`## ${result.name}`, "");
    lines.push(
      fit
        ? `Deceleration t_d = ${Math.round(fit.tD)} (${Math.round(fit.tDRange[0])}–${
          Math.round(fit.tDRange[1])
        }).`
        : "No deceleration identified by the fit.",
      "",
    );
    lines.push("| t → 2t | eval loss at t | D | M | \\|ΔL\\| |", "| --- | --- | --- | --- | --- |");
    for (const row of result.dt2t) {
      const marker = fit && row.t2 >= fit.tDRange[0] && row.t <= fit.tDRange[1] ? " ◀ t_d" : "";
      lines.push(
        `| ${row.t} → ${row.t2}${marker} | ${format(row.lossT)} | ${format(row.D)} | ${format(row.M)} | ` +
          `${format(Math.abs(row.deltaL))} |`,
      );
    }
    if (result.dt1.length > 0) {
      lines.push("", "| t | set | lr | D | M | \\|ΔL\\| |", "| --- | --- | --- | --- | --- | --- |");
      for (const row of result.dt1) {
        lines.push(
          `| ${row.t} | ${row.set} | ${row.lr.toExponential(2)} | ${format(row.D)} ± ${format(row.DStd)} | ` +
            `${format(row.M)} ± ${format(row.MStd)} | ${format(row.absDeltaL)} ± ${
              format(row.absDeltaLStd)
            } |`,
        );
      }
    }
    lines.push("");
  }
  return lines.join("\n");
}
