/**
 * What a sweep reports as it goes: each run's start, steps and end, the time estimate, and the analyses.
 *
 * @module
 */
import type { StepProgress } from "../train/trainer.ts";
import type { RunStatus, SweepRun } from "./definition.ts";

/** Progress events of a sweep. */
export type SweepEvent =
  | { kind: "run-start"; index: number; total: number; run: SweepRun; status: RunStatus }
  | { kind: "step"; index: number; total: number; run: SweepRun; progress: StepProgress }
  | { kind: "run-done"; index: number; total: number; run: SweepRun; seconds: number }
  | {
    kind: "estimate";
    trainingSeconds: number;
    analysisSeconds: number;
    runs: { id: string; seconds: number }[];
  }
  | { kind: "analysis"; what: string }
  | { kind: "analysis-progress"; text: string; done: number; total: number };
