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
import { train } from "../train/trainer.ts";
import { listCheckpoints } from "../train/checkpoint.ts";
import type { ResolvedRun } from "../train/run.ts";
import { recordRunSession, sweepRunDir, writeSweepDefinition } from "../results/sweep.ts";
import type { RunStatus, SweepDefinition, SweepRun } from "./definition.ts";
import { expandSweep } from "./definition.ts";
import type { SweepEvent } from "./events.ts";
import { analyseSweep } from "./analyse.ts";
import { estimateSweepTime } from "./estimate.ts";
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
  options.onEvent?.({
    kind: "estimate",
    ...(await estimateSweepTime(kernels, definition, runs, resolvedRuns)),
  });
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
