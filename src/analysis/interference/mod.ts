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
} from "./loss.ts";
export { targetLabels, type TokenSet, tokenSetOf } from "./token_losses.ts";
export { oneStepLearningRate, type OneStepLr } from "./one_step.ts";
export {
  analyseRun,
  DEFAULT_ONE_STEP_BATCHES,
  evalTokenSet,
  isPowerOfTwo,
  powerOfTwoPairs,
  type RunInterference,
  type RunInterferenceOptions,
  summariseOneStep,
} from "./run.ts";
export {
  createLossProbe,
  DEFAULT_PROBE_SEQUENCES,
  LossProbe,
  type LossProbeOptions,
  PROBE_COLUMNS,
} from "./probe.ts";
