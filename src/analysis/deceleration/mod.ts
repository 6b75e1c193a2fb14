/**
 * Loss deceleration (docs/method.md#loss-deceleration): preprocessing of raw loss curves, the one-break BNSL, its fit and
 * derived quantities, the fit against the learning-rate area, the warmup control, and the fits as result rows.
 *
 * @module
 */
export {
  bnsl,
  bnslLogAt,
  bnslLogGradient,
  type BnslParameters,
  fromVector,
  logistic,
  type ParameterVector,
  softplus,
  toVector,
} from "./bnsl.ts";
export {
  atWarmupEnd,
  type DecelerationErrors,
  type DecelerationFit,
  type DecelerationOptions,
  defaultD1Guess,
  fitDeceleration,
  INITIAL_F1,
  type LossSeries,
  MIN_FIT_POINTS,
  PAPER_D1_GUESS,
  paperInitialGuess,
  WARMUP_END_FACTOR,
} from "./fit.ts";
export { fitLrArea, LrArea, type LrAreaFit } from "./lr_area.ts";
export {
  defaultMinStep,
  LOG_MOVING_AVERAGE_BASE,
  logGridIndices,
  logMovingAverage,
  MAX_SUBSAMPLE_EXPONENT,
  movingAverageWindowStart,
  onLogGrid,
  PAPER_MIN_STEP,
  PAPER_RUN_STEPS,
  type PreprocessedCurve,
  preprocessLossCurve,
} from "./preprocess.ts";
export {
  decelerationBreak,
  decelerationCurveRows,
  decelerationRow,
  fitCurves,
  lrAreaCurveRows,
  type NamedFit,
} from "./rows.ts";
export {
  WARMUP_RULE,
  type WarmupControlInput,
  warmupControlRows,
  type WarmupSlope,
  warmupSlope,
  warmupVerdict,
  warmupVerdicts,
} from "./warmup.ts";
