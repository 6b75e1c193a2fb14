/**
 * The time a sweep will take on this adapter, measured rather than guessed: each unfinished run's
 * training loop is run for a few steps exactly as the sweep will run it (its model, data, metrics and
 * checkpoints, into a temporary directory, on the sweep's pipeline cache), and the steady step time
 * and the evaluation and checkpoint costs come from those steps; the analyses scale from the same
 * step time by factors measured on the default sweep.
 *
 * Why not time the kernels alone: the loop also waits for each step's loss, builds the next batch and
 * records its commands, and on a software adapter these add a good share of a step; a cold shader
 * cache adds seconds of compilation per pipeline, which the probe pays once, before the estimate (the
 * sweep then reuses the compiled pipelines).
 *
 * What it cannot see: the load other processes put on the machine later. (The single steps that
 * stalled for 5–240 s once or twice a run were Deno freeing Dawn's tick callbacks: src/gpu/ticks.ts.)
 *
 * @module
 */
import type { Kernels } from "../gpu/kernels.ts";
import { Transformer } from "../model/transformer.ts";
import { initParameters } from "../model/parameters.ts";
import type { ResolvedRun } from "../train/run.ts";
import { train } from "../train/trainer.ts";
import { checkpointSteps, listCheckpoints } from "../train/checkpoint.ts";
import { randomTokens } from "../train/timing.ts";
import { join } from "../util/path.ts";
import { formatDuration } from "../util/format.ts";
import { landscapeKs } from "../analysis/landscape.ts";
import type { SweepDefinition, SweepRun } from "./definition.ts";

/**
 * Steps of the probe run (checkpoints land at 1, 2, 4, …, 32 and 48; 41 plain steps are timed). On the
 * 2-core VM a run's step time switches between two levels for stretches of several steps (cpu-m: 52 and
 * 80 ms): 16 steps saw one level and put the default sweep's estimate 27% over its time; 48 see both.
 */
const PROBE_STEPS = 48;

/** What {@linkcode estimateSweepTime} returns. */
export interface SweepEstimate {
  /** Seconds to train every unfinished run. */
  trainingSeconds: number;
  /** Seconds of the analyses (the deceleration fits, loss and gradient interference, the landscape). */
  analysisSeconds: number;
  /** The analyses' seconds, each summed over the runs (they add up to `analysisSeconds`). */
  analyses: AnalysisEstimate;
  /** Per run: the seconds its training will take (0 when finished). */
  runs: { id: string; seconds: number }[];
}

/** The seconds of each analysis of a sweep (see {@linkcode estimateSweepTime}). */
export interface AnalysisEstimate {
  /** The deceleration fits and the warmup control. */
  fits: number;
  /** Loss interference between checkpoints and after one step. */
  lossInterference: number;
  /** Gradient interference (per sequence or per token). */
  gradientInterference: number;
  /** The loss along the update. */
  landscape: number;
}

/** What a probe of one run measured. */
export interface RunProbe {
  /**
   * Mean seconds of a plain step (data, record, submit, loss readback, metrics), the slowest left out.
   * The mean and not the median: on a shared machine a run's steps have a long tail (their mean was
   * 1.2–1.4× their median in runs of the default sweep under load), and the run's time is the sum.
   */
  stepSeconds: number;
  /** Seconds of one evaluation of the eval split. */
  evalSeconds: number;
  /** Seconds of one checkpoint write, beyond its step. */
  checkpointSeconds: number;
  /** Seconds the first step took beyond a steady one: compiling the training pipelines when cold. */
  compileSeconds: number;
  /** Pipelines the first step compiled (0 when another run of the same shapes compiled them). */
  pipelines: number;
}

/**
 * Runs `resolved`'s training loop for {@linkcode PROBE_STEPS} steps into a temporary directory (no
 * evaluation) and times its steps, then one evaluation's forwards.
 */
export async function probeRun(kernels: Kernels, resolved: ResolvedRun): Promise<RunProbe> {
  const { options, plan } = resolved;
  const dir = await Deno.makeTempDir({ prefix: "zsl-estimate-" });
  const pipelinesBefore = kernels.pipelineCount;
  const stamps: number[] = [];
  const start = performance.now();
  try {
    await train(kernels.gpu, {
      ...options,
      runDir: join(dir, "probe"),
      steps: PROBE_STEPS,
      // The learning rates do not change the time of a step; the run's schedule may not fit 8 steps.
      schedule: {
        ...options.schedule,
        warmup: Math.min(options.schedule.warmup, PROBE_STEPS),
        decaySteps: 0,
      },
      evalEvery: 0,
      resume: false,
      probe: undefined,
      kernels,
      onStep: () => {
        stamps.push(performance.now());
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const durations = stamps.map((t, i) => (t - (i === 0 ? start : stamps[i - 1])) / 1000);
  const checkpointed = new Set(checkpointSteps(PROBE_STEPS));
  const plain = durations.filter((_, i) => !checkpointed.has(i + 1));
  const step = meanWithoutLargest(plain);
  const checkpoints = durations.filter((_, i) => i > 0 && checkpointed.has(i + 1));
  const checkpointSeconds = Math.max(0, median(checkpoints) - step);
  // Minus a steady step and a checkpoint: the rest of the first step is compilation.
  const compileSeconds = Math.max(0, durations[0] - step - checkpointSeconds);
  const evalChunks = Math.floor(plan.evalSequenceCount / options.microbatch);
  const evalSeconds = evalChunks * await forwardSeconds(kernels, resolved);
  return {
    stepSeconds: step,
    evalSeconds,
    checkpointSeconds,
    compileSeconds,
    pipelines: kernels.pipelineCount - pipelinesBefore,
  };
}

/** Seconds of one forward of a microbatch (with its loss readback), the fastest of a few. */
async function forwardSeconds(kernels: Kernels, resolved: ResolvedRun): Promise<number> {
  const gpu = kernels.gpu;
  const { config, options } = resolved;
  const model = await Transformer.create(
    gpu,
    config,
    { batch: options.microbatch, training: false },
    kernels,
  );
  try {
    model.setParameters(initParameters(model.layout, 0));
    const tokens = randomTokens(options.microbatch * config.seq_len, config.vocab_size, 3);
    let best = Infinity;
    for (let rep = 0; rep < 4; rep++) {
      const start = performance.now();
      await model.forwardLosses(tokens);
      if (rep > 0) best = Math.min(best, (performance.now() - start) / 1000);
    }
    return best;
  } finally {
    model.destroy();
  }
}

/** The mean of `values` without their largest (one hiccup of the scheduler must not count 11 times). */
function meanWithoutLargest(values: number[]): number {
  if (values.length < 3) return median(values);
  const sorted = [...values].sort((a, b) => a - b).slice(0, -1);
  return sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The time of what is left of a sweep: for each unfinished run, its remaining steps at the probed
 * step time (of its own model and optimizer), its evaluations and checkpoints; the analyses from the
 * same measurements (loss interference: forwards and one-step updates at each checkpoint; gradient
 * interference: a step and the per-example backwards; the loss along the update: a step and two
 * forwards per α).
 */
export async function estimateSweepTime(
  kernels: Kernels,
  definition: SweepDefinition,
  runs: SweepRun[],
  resolved: ResolvedRun[],
): Promise<SweepEstimate> {
  const perRun: { id: string; seconds: number }[] = [];
  let trainingSeconds = 0;
  const analyses: AnalysisEstimate = { fits: 0, lossInterference: 0, gradientInterference: 0, landscape: 0 };
  for (const [index, run] of runs.entries()) {
    const { options } = resolved[index];
    const done = (await listCheckpoints(options.runDir)).at(-1) ?? 0;
    const probe = await probeRun(kernels, resolved[index]);
    const step = probe.stepSeconds;
    const left = Math.max(0, options.steps - done);
    const evaluations = options.evalEvery
      ? Math.floor(options.steps / options.evalEvery) - Math.floor(done / options.evalEvery) +
        (options.steps % options.evalEvery === 0 ? 0 : 1)
      : 0;
    const checkpoints = checkpointSteps(options.steps).filter((s) => s > done).length;
    const seconds = left === 0
      ? 0
      : left * step + evaluations * probe.evalSeconds + checkpoints * probe.checkpointSeconds;
    perRun.push({ id: run.id, seconds });
    trainingSeconds += seconds;
    const parts = analysisTime(definition, resolved[index], probe);
    for (const key of Object.keys(analyses) as (keyof AnalysisEstimate)[]) analyses[key] += parts[key];
  }
  const analysisSeconds = Object.values(analyses).reduce((sum, seconds) => sum + seconds, 0);
  return { trainingSeconds, analysisSeconds, analyses, runs: perRun };
}

/**
 * Measured cost of the analyses relative to the work they consist of (a forward, a step, a backward):
 * on the default sweep (lavapipe, 2 cores, shared) the loss-interference analysis took 0.9–1.4× and the
 * per-sequence gradient-interference analysis 1.4–2.2× the time of those passes at the probed step time
 * (two sweeps at different loads; the middle is used), and after the kernels of issue #17's rounds 3–5
 * the two together took about 1.2× that again (≈ 40 s against 34 estimated on the idle default sweep:
 * the passes got faster, loading checkpoints and building models did not):
 * each checkpoint is also loaded from disk, models and their pipelines are built per analysis shape, and
 * every evaluation reads its per-token losses back. (3.1× and 4.8× before Dawn's ticks were throttled by
 * count, src/gpu/ticks.ts.)
 */
const LOSS_INTERFERENCE_OVERHEAD = 1.3;
const GRADIENT_INTERFERENCE_OVERHEAD = 2.0;

/**
 * Seconds of one run's deceleration fits (against the step and against S, with their restarts) and its
 * share of the results tables, figures and report, which no probe measures: `deno task decel` fits the six
 * runs of the default sweep and draws their figures in 2.1 s (the quick sweep's in 2.0 s), and the quick
 * sweep's analyses after training took about 8 s in all, so 1.5 s a run. (It was 6 s a run, from fits that
 * took 7–10 s of CPU before they were sped up; that put the quick sweep's estimate 27% over.)
 */
const DECELERATION_FIT_SECONDS = 1.5;

/** The analyses of one run, from its probe (see {@linkcode estimateSweepTime}). */
function analysisTime(
  definition: SweepDefinition,
  resolved: ResolvedRun,
  probe: RunProbe,
): AnalysisEstimate {
  const { options } = resolved;
  const step = probe.stepSeconds;
  const evalPass = probe.evalSeconds;
  const checkpoints = checkpointSteps(options.steps).length;
  const a = definition.analyses;
  const batches = a.interferenceOneStep ? a.oneStepBatches : 0;
  const interference = a.interferenceCheckpoints || batches > 0
    ? LOSS_INTERFERENCE_OVERHEAD * checkpoints * (evalPass + batches * (step + evalPass + step / 3))
    : 0;
  // Gradient interference: one step, then about three steps' work per batch of sequence examples or
  // (T−1)/2 backward passes (half a step each) per sequence of token examples, and per batch the
  // forward-mode cross-check of Δ̂ℓ (a forward with its tangent: 0.5–1.1 steps measured on cpu-s).
  const granularity = a.gradientInterference ?? "none";
  const sequences = a.gradientSequences ?? (granularity === "token" ? 4 : options.batch);
  const perSequence = granularity === "token" ? ((options.model.seq_len - 1) / 2) * (step / 2) : 3 * step;
  const crossCheck = step;
  const gradients = granularity === "none" ? 0 : GRADIENT_INTERFERENCE_OVERHEAD * checkpoints *
    (step + ((perSequence + crossCheck) * sequences) / options.batch);
  // The loss along the update: one step, then two forwards (a third of a step each: the batch and an eval
  // batch of the same size) per α. No overhead factor: none was measured for it.
  const landscape = a.landscape
    ? checkpoints * (step + 2 * landscapeKs(a.landscapePoints).length * (2 * step / 3))
    : 0;
  const fits = a.deceleration ? DECELERATION_FIT_SECONDS : 0;
  return { fits, lossInterference: interference, gradientInterference: gradients, landscape };
}

/**
 * The text that puts a sweep's actual time beside its estimate, for the line that ends it: `""` without
 * an estimate, else e.g. `" (estimated ~2m30s: it took 7% longer)"`.
 *
 * @example
 * ```ts
 * import { estimateComparison } from "./estimate.ts";
 * console.log(estimateComparison(150, 161)); // " (estimated ~2m30s: it took 7% longer)"
 * ```
 */
export function estimateComparison(estimatedSeconds: number | null, actualSeconds: number): string {
  if (estimatedSeconds === null || !(estimatedSeconds > 0)) return "";
  const off = Math.round((actualSeconds / estimatedSeconds - 1) * 100);
  const how = off === 0 ? "as estimated" : `it took ${Math.abs(off)}% ${off > 0 ? "longer" : "less"}`;
  return ` (estimated ~${formatDuration(estimatedSeconds)}: ${how})`;
}
