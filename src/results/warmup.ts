/**
 * The warmup-control artefacts of a sweep (docs/method.md#warmup-control), in `SWEEP/results/`: whether
 * each model's break follows its warmup, from runs that differ only in warmup.
 *
 * - `warmup_control.arrow` ({@linkcode WARMUP_CONTROL_TABLE}): one {@linkcode WarmupControlRow} per run;
 * - `warmup_verdict.arrow` ({@linkcode WARMUP_VERDICT_TABLE}): one {@linkcode WarmupVerdictRow} per model
 *   (a group of runs that differ only in warmup), with the slope of log t_d on log warmup and the verdict;
 * - `warmup_control.md` and the figure `warmup_control.*` (t_d against the warmup).
 *
 * @example The verdict per model
 * ```ts
 * import { readWarmupControl } from "./warmup.ts";
 * const control = await readWarmupControl("sweeps/default/results");
 * for (const row of control?.verdicts ?? []) console.log(`${row.group}: ${row.verdict} (${row.why})`);
 * ```
 *
 * @module
 */
import { readTableIfPresent, type TableSchema, tableSchema } from "./table.ts";

/** `warmup_control.md`: the verdicts and the runs in Markdown. */
export const WARMUP_MARKDOWN = "warmup_control.md";

/** Base name of the warmup-control figure (t_d against the warmup). */
export const WARMUP_FIGURE = "warmup_control";

/** What the warmup control says of a model's break. */
export type WarmupVerdict = "follows the warmup" | "independent of the warmup" | "undetermined";

/** The three verdicts, in the order the report lists them. */
export const WARMUP_VERDICTS: readonly WarmupVerdict[] = [
  "follows the warmup",
  "independent of the warmup",
  "undetermined",
];

/** One row of `warmup_control.arrow`: one run's break beside its warmup. */
export interface WarmupControlRow {
  /** `group` (utf8): the model: runs that differ only in warmup share it. */
  group: string;
  /** `run` (utf8): the run's name (as in `deceleration.arrow`). */
  run: string;
  /** `warmup` (float64, steps): the run's warmup (0: none). */
  warmup: number;
  /**
   * `break_found` (bool): the fit finds a break, identified or at the warmup end: its t_d enters the
   * control.
   */
  breakFound: boolean;
  /** `identified` (bool): the break is identified as a deceleration (`deceleration.arrow`'s). */
  identified: boolean;
  /** `at_warmup_end` (bool): the break lies within 2× of the end of the warmup. */
  atWarmupEnd: boolean;
  /** `t_d` (float64, steps): the fitted break (a least-squares optimum where no break is found). */
  tD: number;
  /** `t_d_min` (float64, steps): exp(log d1 − σ). */
  tDMin: number;
  /** `t_d_max` (float64, steps): exp(log d1 + σ). */
  tDMax: number;
  /** `t_d_over_warmup` (float64): t_d / warmup (NaN for no warmup). */
  tDOverWarmup: number;
  /** `t_d_S` (float64, Σ lr): the break of the fit against the learning-rate area. */
  tDLrArea: number;
  /** `identified_S` (bool): the fit against S identifies it. */
  identifiedLrArea: boolean;
  /** `reasons` (utf8): why the break is not identified ("" when it is). */
  reasons: string;
}

/** `warmup_control.arrow`: one {@linkcode WarmupControlRow} per run, by model then warmup. */
export const WARMUP_CONTROL_TABLE: TableSchema<WarmupControlRow> = tableSchema("warmup_control.arrow", {
  group: ["group", "string"],
  run: ["run", "string"],
  warmup: ["warmup", "float64"],
  break_found: ["breakFound", "boolean"],
  identified: ["identified", "boolean"],
  at_warmup_end: ["atWarmupEnd", "boolean"],
  t_d: ["tD", "float64"],
  t_d_min: ["tDMin", "float64"],
  t_d_max: ["tDMax", "float64"],
  t_d_over_warmup: ["tDOverWarmup", "float64"],
  t_d_S: ["tDLrArea", "float64"],
  identified_S: ["identifiedLrArea", "boolean"],
  reasons: ["reasons", "string"],
});

/** One row of `warmup_verdict.arrow`: one model's warmup control and its verdict. */
export interface WarmupVerdictRow {
  /** `group` (utf8): the model (as in `warmup_control.arrow`). */
  group: string;
  /** `runs` (float64): runs of the model. */
  runs: number;
  /** `warmups` (utf8): their warmups in steps, ascending, comma-separated. */
  warmups: string;
  /** `breaks` (float64): runs whose fit finds a break (identified or at the warmup end). */
  breaks: number;
  /** `slope` (float64): weighted least-squares slope of log t_d on log max(warmup, 1), over the breaks. */
  slope: number;
  /** `slope_err` (float64): its standard error (from the t_d ranges, scaled up by the scatter). */
  slopeErr: number;
  /** `intercept` (float64, log steps): the line's log t_d at warmup ≤ 1. */
  intercept: number;
  /** `chi2_per_dof` (float64): weighted squared residual per degree of freedom (NaN for two breaks). */
  chi2PerDof: number;
  /** `t_d_change` (float64): largest |t_d / t_d(longest warmup) − 1| over the breaks. */
  tDChange: number;
  /** `verdict` (utf8): "follows the warmup", "independent of the warmup" or "undetermined". */
  verdict: WarmupVerdict;
  /** `why` (utf8): the rule's numbers behind the verdict, in a sentence. */
  why: string;
}

/** `warmup_verdict.arrow`: one {@linkcode WarmupVerdictRow} per model, in sweep order. */
export const WARMUP_VERDICT_TABLE: TableSchema<WarmupVerdictRow> = tableSchema("warmup_verdict.arrow", {
  group: ["group", "string"],
  runs: ["runs", "float64"],
  warmups: ["warmups", "string"],
  breaks: ["breaks", "float64"],
  slope: ["slope", "float64"],
  slope_err: ["slopeErr", "float64"],
  intercept: ["intercept", "float64"],
  chi2_per_dof: ["chi2PerDof", "float64"],
  t_d_change: ["tDChange", "float64"],
  verdict: ["verdict", "string"],
  why: ["why", "string"],
});

/** A sweep's warmup control: its runs and its verdicts. */
export interface WarmupControl {
  /** `warmup_control.arrow`. */
  rows: WarmupControlRow[];
  /** `warmup_verdict.arrow`. */
  verdicts: WarmupVerdictRow[];
}

/** The warmup control of a results directory, or null when the sweep wrote none (no deceleration fit). */
export async function readWarmupControl(resultsDir: string): Promise<WarmupControl | null> {
  const verdicts = await readTableIfPresent(resultsDir, WARMUP_VERDICT_TABLE);
  if (!verdicts) return null;
  return { rows: await readTableIfPresent(resultsDir, WARMUP_CONTROL_TABLE) ?? [], verdicts };
}
