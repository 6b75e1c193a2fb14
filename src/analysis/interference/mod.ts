/**
 * Zero-sum learning (docs/method.md#loss-interference): loss interference D, M, |ΔL| between checkpoints (Δ_t^{2t}),
 * over one optimizer step (Δ_t^{t+1}), per group, and live during training (the loss probe).
 *
 * @module
 */
export {
  IDENTITY_TOLERANCE,
  type Interference,
  interferenceFromSums,
  type InterferenceResult,
  lossInterference,
  meanStd,
  StableSum,
} from "./loss.ts";
export {
  modelTokenLosses,
  readTokenLosses,
  targetLabels,
  tokenLossColumns,
  type TokenLossOptions,
  TokenLossReader,
  type TokenSet,
  tokenSetOf,
  writeTokenLosses,
} from "./token_losses.ts";
export {
  OneStep,
  oneStepLearningRate,
  type OneStepLr,
  type OneStepOptions,
  type OptimizerState,
} from "./one_step.ts";
export {
  analyseRun,
  DEFAULT_ONE_STEP_BATCHES,
  type Dt1BatchRow,
  type Dt1Row,
  type Dt2tGroupRow,
  type Dt2tRow,
  evalTokenSet,
  isPowerOfTwo,
  lossFileName,
  oneStepFileName,
  powerOfTwoPairs,
  type RunInterference,
  type RunInterferenceOptions,
  summariseOneStep,
} from "./run.ts";
export {
  dt1BatchColumns,
  dt1Columns,
  dt2tColumns,
  dt2tGroupColumns,
  interferenceMarkdown,
  type SummaryBreak,
} from "./tables.ts";
export {
  createLossProbe,
  DEFAULT_PROBE_SEQUENCES,
  LossProbe,
  type LossProbeOptions,
  PROBE_COLUMNS,
} from "./probe.ts";
export { decelerationOf, interferenceSummaryLines, probeSeries, writeInterferenceReport } from "./write.ts";
