/**
 * Loss deceleration (docs/method.md#loss-deceleration): preprocessing of raw loss curves, the one-break BNSL, its fit
 * and derived quantities, reading curves from runs or files, and the result tables.
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
export { type LossCurve, parseLossCsv, readLossCurve } from "./curves.ts";
export { decelerationColumns, decelerationMarkdown, formatWithError, type NamedFit } from "./report.ts";
export { uniqueNames, writeDecelerationReport } from "./write.ts";
