/**
 * Loss deceleration (docs/method.md#loss-deceleration): preprocessing of raw loss curves, the one-break BNSL, its fit and
 * derived quantities, and the fits as result rows.
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
} from "./fit.ts";
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
  type NamedFit,
} from "./rows.ts";
