/**
 * The loss-deceleration artefacts of a set of runs (docs/method.md#loss-deceleration), in `SWEEP/results/` (or `--out`):
 *
 * - `deceleration.arrow` ({@linkcode DECELERATION_TABLE}): one {@linkcode DecelerationRow} per model;
 * - `deceleration_curves.arrow` ({@linkcode DECELERATION_CURVES_TABLE}): the points figure F1 draws;
 * - `deceleration_curves_lr_area.arrow` ({@linkcode DECELERATION_LR_AREA_CURVES_TABLE}): the points of F1's
 *   second view, the loss against the learning-rate area S (docs/method.md#loss-against-cumulative-learning-rate);
 * - `deceleration.md`, figure F1 (`deceleration_f1.vl.json`, `.svg`, `.png`) and its S view
 *   (`deceleration_f1_lr_area.*`).
 *
 * @module
 */
import { type TableSchema, tableSchema } from "./table.ts";

/** `deceleration.md`: the paper's tables in Markdown. */
export const DECELERATION_MARKDOWN = "deceleration.md";

/** Base name of figure F1 (`.vl.json`, `.svg`, `.png`). */
export const DECELERATION_FIGURE = "deceleration_f1";

/** Base name of F1's second view: the loss against the learning-rate area S. */
export const DECELERATION_LR_AREA_FIGURE = "deceleration_f1_lr_area";

/**
 * One row of `deceleration.arrow`: a model's BNSL fit, every parameter and derived quantity with its
 * ± one standard error. Each field's doc names its column (types: utf8, bool, the rest float64).
 */
export interface DecelerationRow {
  /** `name` (utf8): the model's name (unique in the table). */
  name: string;
  /** `identified` (bool): the fit identifies a break (else its numbers are a least-squares optimum). */
  identified: boolean;
  /** `reasons` (utf8): why the break is not identified, `; `-separated ("" when identified). */
  reasons: string;
  /** `t_d_in_range` (bool): t_d lies inside the fitted steps. */
  tDInRange: boolean;
  /** `n_points`: points fitted. */
  nPoints: number;
  /** `min_step` (steps): only steps > this were fitted. */
  minStep: number;
  /** `d1_guess` (steps): the initial break of the fit. */
  d1Guess: number;
  /** `first_step` (steps): the first fitted step. */
  firstStep: number;
  /** `final_step` (steps): the last step T. */
  finalStep: number;
  /** `b` (nats): scale, the pre-break line at t = 1. */
  b: number;
  /** `b_err`. */
  bErr: number;
  /** `c0`: minus the log-log slope before the break. */
  c0: number;
  /** `c0_err`. */
  c0Err: number;
  /** `c1`: change of the log-log slope at the break. */
  c1: number;
  /** `c1_err`. */
  c1Err: number;
  /** `log_d1` (log steps): the fitted break. */
  logD1: number;
  /** `log_d1_err`. */
  logD1Err: number;
  /** `d1` (steps). */
  d1: number;
  /** `d1_err` (steps). */
  d1Err: number;
  /** `f1` (log steps): width of the break. */
  f1: number;
  /** `f1_err`. */
  f1Err: number;
  /** `t_d` (steps): the deceleration step, = d1. */
  tD: number;
  /** `t_d_min` (steps): exp(log d1 − σ). */
  tDMin: number;
  /** `t_d_max` (steps): exp(log d1 + σ). */
  tDMax: number;
  /** `L_d` (nats): the pre-break line at t_d. */
  lossD: number;
  /** `L_d_err` (nats). */
  lossDErr: number;
  /** `r_d`: minus the post-break log-log slope, c0 + c1. */
  rateD: number;
  /** `r_d_err`. */
  rateDErr: number;
  /** `L_hat_T` (nats): the predicted final loss L_d·(t_d/T)^r_d. */
  predictedFinalLoss: number;
  /** `L_hat_T_err` (nats). */
  predictedFinalLossErr: number;
  /** `L_T` (nats): the smoothed loss at the last step T. */
  finalLoss: number;
  /** `rsle`: root of the mean squared log-residual. */
  rsle: number;
  /** `residual_ratio`: squared log-residual of the BNSL over that of one power law. */
  residualRatio: number;
  /** `sse`: sum of squared log-residuals. */
  sse: number;
  /** `converged` (bool): the optimiser met its convergence test. */
  converged: boolean;
  /** `iterations`: Levenberg–Marquardt iterations. */
  iterations: number;
  /** `warmup` (steps): the run's warmup (NaN when unknown: a curve file). */
  warmup: number;
  /**
   * `at_warmup_end` (bool): the break passes every other rule but lies within 2× of the end of the warmup
   * (docs/method.md#warmup-control), so it is not identified (`reasons` says so).
   */
  atWarmupEnd: boolean;
  /** `S_T` (Σ lr): the learning-rate area S(T) = Σ_{s≤T} lr(s) at the last step (NaN without learning rates). */
  lrAreaFinal: number;
  /** `S_at_t_d` (Σ lr): S at the step fit's t_d. */
  lrAreaAtTD: number;
  /** `S_at_warmup` (Σ lr): S at the end of the warmup. */
  lrAreaAtWarmup: number;
  /** `t_d_S` (Σ lr): the break of the fit against S. */
  tDLrArea: number;
  /** `t_d_S_min` (Σ lr): exp(log d1 − σ) of the fit against S. */
  tDLrAreaMin: number;
  /** `t_d_S_max` (Σ lr): exp(log d1 + σ) of the fit against S. */
  tDLrAreaMax: number;
  /** `t_d_S_steps` (steps): the step at which S reaches t_d_S. */
  tDLrAreaSteps: number;
  /** `L_d_S` (nats): the pre-break line of the fit against S at its break. */
  lossDLrArea: number;
  /** `r_d_S`: minus the post-break slope of log L against log S. */
  rateDLrArea: number;
  /** `r_d_S_err`. */
  rateDLrAreaErr: number;
  /** `rsle_S`: root of the mean squared log-residual of the fit against S. */
  rsleLrArea: number;
  /** `identified_S` (bool): the fit against S identifies a break (the same rules). */
  identifiedLrArea: boolean;
  /** `reasons_S` (utf8): why the fit against S identifies none, or why there is no such fit. */
  reasonsLrArea: string;
}

/** `deceleration.arrow`: one {@linkcode DecelerationRow} per model, in input order. */
export const DECELERATION_TABLE: TableSchema<DecelerationRow> = tableSchema("deceleration.arrow", {
  name: ["name", "string"],
  identified: ["identified", "boolean"],
  reasons: ["reasons", "string"],
  t_d_in_range: ["tDInRange", "boolean"],
  n_points: ["nPoints", "float64"],
  min_step: ["minStep", "float64"],
  d1_guess: ["d1Guess", "float64"],
  first_step: ["firstStep", "float64"],
  final_step: ["finalStep", "float64"],
  b: ["b", "float64"],
  b_err: ["bErr", "float64"],
  c0: ["c0", "float64"],
  c0_err: ["c0Err", "float64"],
  c1: ["c1", "float64"],
  c1_err: ["c1Err", "float64"],
  log_d1: ["logD1", "float64"],
  log_d1_err: ["logD1Err", "float64"],
  d1: ["d1", "float64"],
  d1_err: ["d1Err", "float64"],
  f1: ["f1", "float64"],
  f1_err: ["f1Err", "float64"],
  t_d: ["tD", "float64"],
  t_d_min: ["tDMin", "float64"],
  t_d_max: ["tDMax", "float64"],
  L_d: ["lossD", "float64"],
  L_d_err: ["lossDErr", "float64"],
  r_d: ["rateD", "float64"],
  r_d_err: ["rateDErr", "float64"],
  L_hat_T: ["predictedFinalLoss", "float64"],
  L_hat_T_err: ["predictedFinalLossErr", "float64"],
  L_T: ["finalLoss", "float64"],
  rsle: ["rsle", "float64"],
  residual_ratio: ["residualRatio", "float64"],
  sse: ["sse", "float64"],
  converged: ["converged", "boolean"],
  iterations: ["iterations", "float64"],
  warmup: ["warmup", "float64"],
  at_warmup_end: ["atWarmupEnd", "boolean"],
  S_T: ["lrAreaFinal", "float64"],
  S_at_t_d: ["lrAreaAtTD", "float64"],
  S_at_warmup: ["lrAreaAtWarmup", "float64"],
  t_d_S: ["tDLrArea", "float64"],
  t_d_S_min: ["tDLrAreaMin", "float64"],
  t_d_S_max: ["tDLrAreaMax", "float64"],
  t_d_S_steps: ["tDLrAreaSteps", "float64"],
  L_d_S: ["lossDLrArea", "float64"],
  r_d_S: ["rateDLrArea", "float64"],
  r_d_S_err: ["rateDLrAreaErr", "float64"],
  rsle_S: ["rsleLrArea", "float64"],
  identified_S: ["identifiedLrArea", "boolean"],
  reasons_S: ["reasonsLrArea", "string"],
});

/** Which line of F1 a point is on. */
export type DecelerationSeries = "smoothed" | "fit" | "pre-break" | "post-break";

/** One row of `deceleration_curves.arrow`: a point of F1. */
export interface DecelerationCurveRow {
  /** `model` (utf8): the model's name, as in `deceleration.arrow`. */
  model: string;
  /**
   * `series` (utf8): `smoothed` (the preprocessed loss), `fit` (the BNSL), and where the break is
   * identified `pre-break` (b·t^−c0 up to t_d) and `post-break` (L_d·(t/t_d)^−r_d).
   */
  series: DecelerationSeries;
  /** `step` (float64, steps). */
  step: number;
  /** `loss` (float64, nats). */
  loss: number;
}

/** `deceleration_curves.arrow`: F1's points, per model in table order, then per series. */
export const DECELERATION_CURVES_TABLE: TableSchema<DecelerationCurveRow> = tableSchema(
  "deceleration_curves.arrow",
  {
    model: ["model", "string"],
    series: ["series", "string"],
    step: ["step", "float64"],
    loss: ["loss", "float64"],
  },
);

/** One row of `deceleration_curves_lr_area.arrow`: a point of F1's view against the learning-rate area. */
export interface LrAreaCurveRow {
  /** `model` (utf8): the model's name, as in `deceleration.arrow`. */
  model: string;
  /** `series` (utf8): as in `deceleration_curves.arrow`, of the fit against S. */
  series: DecelerationSeries;
  /** `S` (float64, Σ lr): the learning-rate area S(t) = Σ_{s≤t} lr(s). */
  lrArea: number;
  /** `loss` (float64, nats). */
  loss: number;
}

/** `deceleration_curves_lr_area.arrow`: the points of F1 against S, per model, then per series. */
export const DECELERATION_LR_AREA_CURVES_TABLE: TableSchema<LrAreaCurveRow> = tableSchema(
  "deceleration_curves_lr_area.arrow",
  {
    model: ["model", "string"],
    series: ["series", "string"],
    S: ["lrArea", "float64"],
    loss: ["loss", "float64"],
  },
);

/** A model's identified deceleration: t_d and its ± one-standard-error range, in steps. */
export interface DecelerationBreak {
  /** The fitted deceleration step t_d. */
  tD: number;
  /** [exp(log d1 − σ), exp(log d1 + σ)]. */
  tDRange: [number, number];
}

/** Each model's break by name: null where the fit identified none (an unidentified t_d is no break). */
export function decelerationBreaks(rows: readonly DecelerationRow[]): Map<string, DecelerationBreak | null> {
  return new Map(
    rows.map((row) => [row.name, row.identified ? { tD: row.tD, tDRange: [row.tDMin, row.tDMax] } : null]),
  );
}
