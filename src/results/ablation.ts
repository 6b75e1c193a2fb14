/**
 * The ablation comparison (docs/method.md#optimizers): runs of a sweep that differ only
 * in their optimizer, or only in their architecture, side by side.
 *
 * Per sweep, in `SWEEP/results/` (or `--out`): `ablation.arrow` (the schema below: one row per run and axis
 * it is compared along), `ablation.md`, and per axis the figures F1 and F2 with one colour per optimizer
 * (or architecture) and one panel per group of compared runs: `zsl_ablation_optimizer_f1`,
 * `zsl_ablation_optimizer_f2`, `zsl_ablation_arch_f1`, `zsl_ablation_arch_f2`.
 *
 * Units: steps are optimizer steps; losses in nats; D is per predicted eval token (Δ_t^{2t},
 * docs/method.md#loss-interference).
 *
 * @module
 */
import { type TableSchema, tableSchema } from "./table.ts";

/** What the compared runs differ in. */
export type AblationAxis = "optimizer" | "arch";

/** The axes, in the order the tables and figures show them. */
export const ABLATION_AXES: readonly AblationAxis[] = ["optimizer", "arch"];

/** `ablation.md`: the comparison tables in Markdown. */
export const ABLATION_MARKDOWN = "ablation.md";

/** Base name of the figure `figure` (F1, F2) of the runs compared along `axis`. */
export function ablationFigureName(axis: AblationAxis, figure: "f1" | "f2"): string {
  return `zsl_ablation_${axis}_${figure}`;
}

/**
 * One row of `ablation.arrow`: a run among the runs that share everything but the axis, with its
 * deceleration fit and the destructive interference D of Δ_t^{2t} before, across and after the break.
 */
export interface AblationRow {
  /** `axis` (utf8): "optimizer" or "arch", what the group's runs differ in. */
  axis: AblationAxis;
  /** `group` (utf8): what the group's runs share, named from their names (`cpu-xs_nanogpt`). */
  group: string;
  /** `value` (utf8): the run's optimizer or architecture. */
  value: string;
  /** `run` (utf8): the run's name (`model` of the other tables). */
  run: string;
  /** `warmup` (int32, steps): the run's learning-rate warmup. */
  warmup: number;
  /** `identified` (bool): the deceleration fit's break is identified (false: no fit, or not identified). */
  identified: boolean;
  /** `t_d` (float64, steps): the fitted break (NaN without a fit). */
  tD: number;
  /** `t_d_min` (float64, steps): its −1σ end. */
  tDMin: number;
  /** `t_d_max` (float64, steps): its +1σ end. */
  tDMax: number;
  /** `L_d` (float64, nats): the loss at the break. */
  lossD: number;
  /** `r_d` (float64): the post-break slope. */
  rateD: number;
  /** `L_T` (float64, nats): the smoothed loss at the last step. */
  finalLoss: number;
  /** `t_d_over_warmup` (float64): t_d / warmup (a break within a few warmups may follow the warmup). */
  tDOverWarmup: number;
  /** `D_before_t` (int32, steps): t of the last window t → 2t ending at or before t_d_min (−1: none). */
  dBeforeT: number;
  /** `D_before` (float64): its D (NaN: none, or the break is not identified). */
  dBefore: number;
  /** `D_break_t` (int32, steps): t of the window t ≤ t_d < 2t (−1: none). */
  dBreakT: number;
  /** `D_break` (float64): its D. */
  dBreak: number;
  /** `D_after_t` (int32, steps): t of the first window starting at or after t_d_max (−1: none). */
  dAfterT: number;
  /** `D_after` (float64): its D. */
  dAfter: number;
  /** `D_last_t` (int32, steps): t of the last window (−1: none). */
  dLastT: number;
  /** `D_last` (float64): its D (given whether or not the break is identified). */
  dLast: number;
}

/** `ablation.arrow`: one {@linkcode AblationRow} per axis and compared run. */
export const ABLATION_TABLE: TableSchema<AblationRow> = tableSchema("ablation.arrow", {
  axis: ["axis", "string"],
  group: ["group", "string"],
  value: ["value", "string"],
  run: ["run", "string"],
  warmup: ["warmup", "int32"],
  identified: ["identified", "boolean"],
  t_d: ["tD", "float64"],
  t_d_min: ["tDMin", "float64"],
  t_d_max: ["tDMax", "float64"],
  L_d: ["lossD", "float64"],
  r_d: ["rateD", "float64"],
  L_T: ["finalLoss", "float64"],
  t_d_over_warmup: ["tDOverWarmup", "float64"],
  D_before_t: ["dBeforeT", "int32"],
  D_before: ["dBefore", "float64"],
  D_break_t: ["dBreakT", "int32"],
  D_break: ["dBreak", "float64"],
  D_after_t: ["dAfterT", "int32"],
  D_after: ["dAfter", "float64"],
  D_last_t: ["dLastT", "int32"],
  D_last: ["dLast", "float64"],
});
