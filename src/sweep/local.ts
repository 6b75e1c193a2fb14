/**
 * Runs a sweep on this machine: each run in `SWEEP/runs/<id>/`, skipped when finished and resumed from
 * its last checkpoint when not, then the analyses and the sweep's result tables in `SWEEP/results/`.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import { ensureWritableDirectory } from "../io/atomic.ts";
import { resolveRun } from "../train/run.ts";
import { runOptimizerOptions, train } from "../train/trainer.ts";
import { listCheckpoints } from "../train/checkpoint.ts";
import { timeTrainingStep } from "../train/timing.ts";
import type { ResolvedRun } from "../train/run.ts";
import { recordRunSession, sweepRunDir, writeSweepDefinition } from "../results/sweep.ts";
import type { RunStatus, SweepDefinition, SweepRun } from "./definition.ts";
import { expandSweep } from "./definition.ts";
import type { SweepEvent } from "./events.ts";
import { analyseSweep } from "./analyse.ts";
import { landscapeKs } from "../analysis/landscape.ts";
import { checkOnly, findChangedRuns, handleChangedRuns, lockSweep } from "./guard.ts";

export type { RunStatus, SweepEvent };

/** Whether `runDir` has finished `steps` steps, has checkpoints to resume from, or is new. */
export async function runStatus(runDir: string, steps: number): Promise<RunStatus> {
  const checkpoints = await listCheckpoints(runDir);
  if (checkpoints.includes(steps)) return "done";
  return checkpoints.length > 0 ? "partial" : "new";
}

/** Options of {@linkcode runSweepLocally}. */
export interface LocalSweepOptions {
  /** Only these run ids (default: all). */
  only?: string[];
  /** Skip the analyses and results (training only, e.g. one SLURM array task). */
  trainOnly?: boolean;
  /** Called at each run's start and end, after every training step, and before each analysis. */
  onEvent?: (event: SweepEvent) => void;
  /** Delete and retrain the runs whose stored definition differs from the requested one (else refuse). */
  restartChanged?: boolean;
  /** Interrupts training (SIGTERM, Ctrl-C): the run in training checkpoints and the sweep returns. */
  signal?: AbortSignal;
}

/**
 * Trains every run of the sweep that is not finished, then analyses all of them. One sweep process per
 * directory (SLURM array tasks, `trainOnly` with `only`, share it); `interrupted` is set when `signal`
 * stopped the training.
 */
export async function runSweepLocally(
  gpu: GpuDevice,
  definition: SweepDefinition,
  sweepDir: string,
  options: LocalSweepOptions = {},
): Promise<{ runs: SweepRun[]; results: string[]; interrupted?: string }> {
  checkOnly(definition, options.only);
  const lock = await lockSweep(sweepDir, options.trainOnly === true && options.only !== undefined);
  try {
    return await trainAndAnalyse(gpu, definition, sweepDir, options);
  } finally {
    lock.release();
  }
}

async function trainAndAnalyse(
  gpu: GpuDevice,
  definition: SweepDefinition,
  sweepDir: string,
  options: LocalSweepOptions,
): Promise<{ runs: SweepRun[]; results: string[]; interrupted?: string }> {
  await ensureWritableDirectory(sweepDir);
  const runs = expandSweep(definition).filter((run) => !options.only || options.only.includes(run.id));
  const kernels = new Kernels(gpu);
  const resolvedRuns: ResolvedRun[] = [];
  for (const run of runs) {
    resolvedRuns.push(await resolveRun({ ...run.spec, out: sweepRunDir(sweepDir, run.id) }));
  }
  const changed = await findChangedRuns(
    runs.map((run, i) => ({ id: run.id, options: resolvedRuns[i].options })),
  );
  await handleChangedRuns(changed, options.restartChanged ?? false);
  // Only now: a refused rerun leaves the stored definition as it was.
  await writeSweepDefinition(sweepDir, definition);
  options.onEvent?.({ kind: "estimate", ...(await estimateSweep(kernels, definition, runs, resolvedRuns)) });
  for (const [index, run] of runs.entries()) {
    const runDir = sweepRunDir(sweepDir, run.id);
    const resolved = resolvedRuns[index];
    const status = await runStatus(runDir, resolved.options.steps);
    options.onEvent?.({ kind: "run-start", index, total: runs.length, run, status });
    if (status === "done") continue;
    const start = performance.now();
    const started = new Date().toISOString();
    const trained = await train(gpu, {
      ...resolved.options,
      resume: status === "partial",
      kernels,
      signal: options.signal,
      onStep: (progress) => options.onEvent?.({ kind: "step", index, total: runs.length, run, progress }),
    });
    const seconds = (performance.now() - start) / 1000;
    // Kept in the run directory: SLURM array tasks train runs in separate processes.
    await recordRunSession(runDir, {
      started,
      seconds,
      firstStep: trained.firstStep,
      lastStep: trained.step,
      adapter: gpu.adapter.description || gpu.adapter.device,
      software: gpu.adapter.isSoftware,
    });
    if (trained.interrupted) return { runs, results: [], interrupted: trained.interrupted };
    options.onEvent?.({ kind: "run-done", index, total: runs.length, run, seconds });
  }
  if (options.trainOnly) return { runs, results: [] };
  return { runs, results: await analyseSweep(definition, sweepDir, runs, { ...options, gpu }) };
}

/**
 * A rough time for what is left of a sweep on this adapter: each unfinished run's step time measured
 * on a few steps of its own model (which also compiles its kernels), times its remaining steps plus
 * evaluations, and the analyses as forwards and one-step updates at each power-of-two checkpoint (the
 * landscape's two forwards per α included).
 */
export async function estimateSweep(
  kernels: Kernels,
  definition: SweepDefinition,
  runs: SweepRun[],
  resolved: ResolvedRun[],
): Promise<{ trainingSeconds: number; analysisSeconds: number; runs: { id: string; seconds: number }[] }> {
  const perRun: { id: string; seconds: number }[] = [];
  let trainingSeconds = 0;
  let analysisSeconds = 0;
  for (const [index, run] of runs.entries()) {
    const { options, plan } = resolved[index];
    const done = (await listCheckpoints(options.runDir)).at(-1) ?? 0;
    const microbatches = options.batch / options.microbatch;
    const step = microbatches *
      await timeTrainingStep(kernels, options.model, options.microbatch, 2, runOptimizerOptions(options));
    // An evaluation is a forward (about a third of a training step) over the eval split.
    const evalPass = (step / 3) * (plan.evalSequenceCount / options.batch);
    const evaluations = options.evalEvery ? Math.ceil((options.steps - done) / options.evalEvery) : 0;
    const seconds = done >= options.steps ? 0 : (options.steps - done) * step + evaluations * evalPass;
    const checkpoints = Math.floor(Math.log2(options.steps)) + 2;
    const batches = definition.analyses.interferenceOneStep ? definition.analyses.oneStepBatches : 0;
    const analysis = definition.analyses.interferenceCheckpoints || batches > 0
      ? checkpoints * (evalPass + batches * (step + evalPass + step / 3))
      : 0;
    // Gradient interference: one step, then about three steps' work per batch of sequence examples
    // or (T−1)/2 backward passes (half a step each) per sequence of token examples.
    const granularity = definition.analyses.gradientInterference ?? "none";
    const gradientSequences = definition.analyses.gradientSequences ??
      (granularity === "token" ? 4 : options.batch);
    const perSequence = granularity === "token" ? ((options.model.seq_len - 1) / 2) * (step / 2) : 3 * step;
    const gradients = granularity === "none"
      ? 0
      : checkpoints * (step + (perSequence * gradientSequences) / options.batch);
    // The loss along the update: one step, then two forwards (a third of a step each: the batch and an
    // eval batch of the same size) per α.
    const landscape = definition.analyses.landscape
      ? checkpoints * (step + 2 * landscapeKs(definition.analyses.landscapePoints).length * (2 * step / 3))
      : 0;
    perRun.push({ id: run.id, seconds });
    trainingSeconds += seconds;
    analysisSeconds += analysis + gradients + landscape;
  }
  return { trainingSeconds, analysisSeconds, runs: perRun };
}
