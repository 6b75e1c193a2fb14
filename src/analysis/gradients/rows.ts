/**
 * The gradient analysis of a set of runs as result rows: `gradient_interference.arrow` and
 * `gradient_coherence_histogram.arrow` (their schemas are `src/results/gradients.ts`'s).
 *
 * @module
 */
import type { CoherenceHistogramRow, GradientInterferenceRow } from "../../results/gradients.ts";
import type { LoadedRun } from "../../train/run.ts";
import type { GradientInterference, PredictionAgreement } from "./metrics.ts";
import { COHERENCE_BINS } from "./metrics.ts";

/**
 * The metrics of one checkpoint as the rows take them (`run.ts`'s `GradientCheckpoint` is one):
 * {@linkcode GradientInterference} and where they come from.
 */
export interface GradientTableCheckpoint extends GradientInterference {
  /** The checkpoint's step t. */
  step: number;
  /** What an example is: "token" or "sequence". */
  granularity: string;
  /** Learning rate of the one-step update δ. */
  lr: number;
  /** Wall-clock seconds the measurement took. */
  seconds: number;
  /** Agreement of Δ̂ℓ_i with the true Δℓ_i (null, or NaN values, when Δℓ_i was not measured). */
  agreement: PredictionAgreement | null;
  /** Sequences whose examples were measured. */
  sequences?: number;
  /** Rows back-propagated by the per-example backward (its cost). */
  rowsBackpropagated?: number;
  /** The largest difference of Δ̂ℓ_i between the forward-mode tangent and the per-example gradients. */
  jvpMaxAbsDifference?: number;
}

/** The gradient analysis of one run as the rows take it (`run.ts`'s `RunGradients` is one). */
export interface GradientTableRun {
  /** The run's name (lines and facets are keyed by it). */
  name: string;
  /** The run's directory (its `gradients/` holds the per-example tables F8 reads). */
  runDir: string;
  /** One entry per checkpoint and granularity measured, ascending by step. */
  checkpoints: GradientTableCheckpoint[];
}

/** How a run is named in the tables: its preset and total parameter count, and its batch. */
export interface RunIdentity {
  /** The preset name (the run name when it has none). */
  model: string;
  /** Total parameters, the tied embedding counted once (NaN when unknown). */
  params: number;
  /** Sequences per global batch (NaN when unknown). */
  batch?: number;
  /** Tokens per sequence T (NaN when unknown); a sequence predicts T − 1. */
  seqLen?: number;
}

/** Preset, total parameters, batch and sequence length of a run, from its run.json. */
export function runIdentity(run: LoadedRun): RunIdentity {
  const preset = run.info.preset;
  const total = Number(run.info.totalParams);
  return {
    model: typeof preset === "string" && preset !== "" ? preset : run.info.name,
    params: Number.isFinite(total) ? total : NaN,
    batch: run.batch,
    seqLen: run.config.seq_len,
  };
}

/**
 * B_simple in predicted tokens and the run's batch in the row's examples and in tokens, for a checkpoint
 * of `granularity` with B_simple `bSimple` (in its examples); NaN where the batch is unknown.
 */
export function noiseScaleUnits(
  granularity: string,
  bSimple: number,
  identity: RunIdentity | undefined,
): { bSimpleTokens: number; batchExamples: number; batchTokens: number } {
  const predictions = (identity?.seqLen ?? NaN) - 1;
  const batch = identity?.batch ?? NaN;
  const token = granularity === "token";
  return {
    bSimpleTokens: token ? bSimple : bSimple * predictions,
    batchExamples: token ? batch * predictions : batch,
    batchTokens: batch * predictions,
  };
}

/**
 * The rows of `gradient_interference.arrow` of `results`, in run then checkpoint order; `identities`
 * gives each run's preset and parameter count by run name (default: the run name and NaN).
 */
export function gradientInterferenceRows(
  results: GradientTableRun[],
  identities: Map<string, RunIdentity> = new Map(),
): GradientInterferenceRow[] {
  return results.flatMap((result) =>
    result.checkpoints.map((c) => ({
      run: result.name,
      model: identities.get(result.name)?.model ?? result.name,
      params: identities.get(result.name)?.params ?? NaN,
      step: c.step,
      granularity: c.granularity,
      examples: c.examples,
      coordinates: c.coordinates,
      lr: c.lr,
      dGrad: c.dGrad,
      dGradCoordinates: c.dGradCoordinates,
      dGradZeroCoordinates: c.dGradZeroCoordinates,
      cG: c.cG,
      cUG: c.cUG,
      cUg: c.cUg,
      oneMinusDPredicted: c.oneMinusDPredicted,
      dPredicted: c.dPredicted,
      mPredicted: c.mPredicted,
      identityError: c.identityError,
      deltaNorm: c.deltaNorm,
      meanGradNorm: c.meanGradientNorm,
      meanExampleGradNorm: c.meanExampleGradNorm,
      pearson: c.agreement?.pearson ?? NaN,
      spearman: c.agreement?.spearman ?? NaN,
      slope: c.agreement?.slope ?? NaN,
      signAgreement: c.agreement?.signAgreement ?? NaN,
      medianRelativeError: c.agreement?.medianRelativeError ?? NaN,
      seconds: c.seconds,
      sequences: c.sequences ?? NaN,
      rowsBackpropagated: c.rowsBackpropagated ?? NaN,
      jvpMaxAbsDifference: c.jvpMaxAbsDifference ?? NaN,
      meanExampleGradSq: c.meanExampleGradSq ?? NaN,
      noiseTrace: c.noiseTrace ?? NaN,
      gradSqUnbiased: c.gradSqUnbiased ?? NaN,
      bSimple: c.bSimple ?? NaN,
      ...noiseScaleUnits(c.granularity, c.bSimple ?? NaN, identities.get(result.name)),
    }))
  );
}

/** The histogram rows of `results`: 100 per run, checkpoint and granularity. */
export function coherenceHistogramRows(results: GradientTableRun[]): CoherenceHistogramRow[] {
  return results.flatMap((result) =>
    result.checkpoints.flatMap((c) => {
      const counts = c.coherenceHistogram;
      if (counts.length !== COHERENCE_BINS) {
        throw new Error(
          `zsl: ${result.name} step ${c.step}: the coherence histogram has ${counts.length} bins, not ` +
            `${COHERENCE_BINS}`,
        );
      }
      return counts.map((count, b) => ({
        run: result.name,
        step: c.step,
        granularity: c.granularity,
        binLo: b / COHERENCE_BINS,
        binHi: (b + 1) / COHERENCE_BINS,
        count,
      }));
    })
  );
}
