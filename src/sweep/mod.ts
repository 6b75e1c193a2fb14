/**
 * Sweeps: a grid of training runs on one corpus and the analyses run on them, on this machine or as a
 * SLURM job array; the analysis steps they share with the CLIs.
 *
 * @module
 */
export * from "./definition.ts";
export * from "./events.ts";
export { type LocalSweepOptions, runStatus, runSweepLocally } from "./local.ts";
export {
  type AnalysisEstimate,
  estimateComparison,
  estimateSweepTime,
  type SweepEstimate,
} from "./estimate.ts";
export * from "./analyse.ts";
export * from "./slurm.ts";
