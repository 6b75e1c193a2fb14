/**
 * Runs a sweep on this machine: each run in `SWEEP/runs/<id>/`, skipped when finished and resumed from
 * its last checkpoint when not, then the analyses and the sweep's result tables in `SWEEP/results/`.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { openGpu } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import { join } from "../util/path.ts";
import { ensureWritableDirectory, writeJsonAtomic } from "../io/atomic.ts";
import { resolveRun } from "../train/run.ts";
import type { StepProgress } from "../train/trainer.ts";
import { train } from "../train/trainer.ts";
import { listCheckpoints } from "../train/checkpoint.ts";
import type { ResolvedRun } from "../train/run.ts";
import { writeDecelerationReport } from "../analysis/deceleration/write.ts";
import { analyseRun, writeInterferenceReport } from "../analysis/interference/mod.ts";
import type { RunInterference } from "../analysis/interference/mod.ts";
import { loadRun } from "../train/run.ts";
import type { SweepDefinition, SweepRun } from "./definition.ts";
import { expandSweep } from "./definition.ts";
import type { AnalysisTiming } from "./results.ts";
import { recordRunSession, writeEnvironment, writeRunsTable } from "./results.ts";
import { writeSweepReport } from "./report.ts";
import { estimateSweepTime } from "./estimate.ts";
import { analyseRunGradients } from "../analysis/gradients/run.ts";
import type { RunGradients } from "../analysis/gradients/run.ts";
import { writeGradientReport } from "../analysis/gradients/table.ts";

/** Where a run stands. */
export type RunStatus = "done" | "partial" | "new";

/** Whether `runDir` has finished `steps` steps, has checkpoints to resume from, or is new. */
export async function runStatus(runDir: string, steps: number): Promise<RunStatus> {
  const checkpoints = await listCheckpoints(runDir);
  if (checkpoints.includes(steps)) return "done";
  return checkpoints.length > 0 ? "partial" : "new";
}

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

/** Options of {@linkcode runSweepLocally}. */
export interface LocalSweepOptions {
  /** Only these run ids (default: all). */
  only?: string[];
  /** Skip the analyses and results (training only, e.g. one SLURM array task). */
  trainOnly?: boolean;
  /** Called at each run's start and end, after every training step, and before each analysis. */
  onEvent?: (event: SweepEvent) => void;
}

/** Trains every run of the sweep that is not finished, then analyses all of them. */
export async function runSweepLocally(
  gpu: GpuDevice,
  definition: SweepDefinition,
  sweepDir: string,
  options: LocalSweepOptions = {},
): Promise<{ runs: SweepRun[]; results: string[] }> {
  await ensureWritableDirectory(sweepDir);
  await writeJsonAtomic(join(sweepDir, "sweep.json"), definition);
  const runs = expandSweep(definition).filter((run) => !options.only || options.only.includes(run.id));
  const kernels = new Kernels(gpu);
  const resolvedRuns: ResolvedRun[] = [];
  for (const run of runs) {
    resolvedRuns.push(await resolveRun({ ...run.spec, out: join(sweepDir, "runs", run.id) }));
  }
  options.onEvent?.({
    kind: "estimate",
    ...(await estimateSweepTime(kernels, definition, runs, resolvedRuns)),
  });
  for (const [index, run] of runs.entries()) {
    const runDir = join(sweepDir, "runs", run.id);
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
    options.onEvent?.({ kind: "run-done", index, total: runs.length, run, seconds });
  }
  if (options.trainOnly) return { runs, results: [] };
  return { runs, results: await analyseSweep(definition, sweepDir, runs, { ...options, gpu }) };
}

/** The analyses and result tables of a sweep whose runs are trained. */
export async function analyseSweep(
  definition: SweepDefinition,
  sweepDir: string,
  runs: SweepRun[],
  options: LocalSweepOptions & { gpu?: GpuDevice } = {},
): Promise<string[]> {
  const resultsDir = join(sweepDir, "results");
  await ensureWritableDirectory(resultsDir);
  const runDirs = runs.map((run) => join(sweepDir, "runs", run.id));
  const files: string[] = [];
  const timings: AnalysisTiming[] = [];
  let analysisAdapter = options.gpu?.adapter ?? null;
  let analysisStart = performance.now();
  const recordAnalysisTime = (what: string) => {
    timings.push({ what, seconds: (performance.now() - analysisStart) / 1000 });
    analysisStart = performance.now();
  };
  if (definition.analyses.deceleration) {
    options.onEvent?.({ kind: "analysis", what: "deceleration fit (METHOD.md §4)" });
    files.push(...(await writeDecelerationReport(runDirs, resultsDir)).files);
    recordAnalysisTime("deceleration fit");
  }
  const { interferenceCheckpoints, interferenceOneStep, oneStepBatches } = definition.analyses;
  if (interferenceCheckpoints || interferenceOneStep) {
    options.onEvent?.({
      kind: "analysis",
      what: `loss interference (METHOD.md §5): Δ_t^{2t}${
        interferenceOneStep ? ` and Δ_t^{t+1} on ${oneStepBatches} unseen batches` : ""
      }`,
    });
    const loaded = [];
    for (const runDir of runDirs) loaded.push(await loadRun(runDir));
    const results: RunInterference[] = [];
    let gpu = options.gpu ?? null;
    const owned = gpu === null;
    try {
      for (const run of loaded) {
        results.push(
          await analyseRun(async () => (gpu ??= await openGpu()), run, {
            oneStep: interferenceOneStep,
            batches: oneStepBatches,
            onProgress: (text, done, total) =>
              options.onEvent?.({
                kind: "analysis-progress",
                text: `${run.info.name}: ${text}`,
                done,
                total,
              }),
          }),
        );
      }
    } finally {
      analysisAdapter = (gpu as GpuDevice | null)?.adapter ?? analysisAdapter;
      if (owned) (gpu as GpuDevice | null)?.destroy();
    }
    files.push(
      ...(await writeInterferenceReport(loaded, results, resultsDir, { oneStep: interferenceOneStep }))
        .written,
    );
    recordAnalysisTime(
      interferenceOneStep ? "loss interference Δ_t^{2t} and Δ_t^{t+1}" : "loss interference Δ_t^{2t}",
    );
  }
  const granularity = definition.analyses.gradientInterference ?? "none";
  if (granularity !== "none") {
    options.onEvent?.({
      kind: "analysis",
      what: `gradient interference (METHOD.md §6): exact per-${granularity} gradients at each checkpoint`,
    });
    const loaded = [];
    for (const runDir of runDirs) loaded.push(await loadRun(runDir));
    const results: RunGradients[] = [];
    let gpu = options.gpu ?? null;
    const owned = gpu === null;
    try {
      for (const run of loaded) {
        results.push(
          await analyseRunGradients(async () => (gpu ??= await openGpu()), run, {
            granularity,
            sequences: definition.analyses.gradientSequences,
            onProgress: (text, done, total) =>
              options.onEvent?.({ kind: "analysis-progress", text, done, total }),
          }),
        );
      }
    } finally {
      analysisAdapter = (gpu as GpuDevice | null)?.adapter ?? analysisAdapter;
      if (owned) (gpu as GpuDevice | null)?.destroy();
    }
    files.push(...(await writeGradientReport(loaded, results, resultsDir)).written);
    recordAnalysisTime(`gradient interference (per ${granularity})`);
  }
  options.onEvent?.({ kind: "analysis", what: "results table, environment and report" });
  const ids = runs.map((run) => run.id);
  files.push(await writeRunsTable(sweepDir, ids));
  files.push(await writeEnvironment(sweepDir, ids, { analysisAdapter, analyses: timings }));
  files.push(await writeSweepReport(sweepDir, { runIds: ids }));
  return files;
}
