/**
 * The analyses of trained runs, from computing to presenting: each step computes rows (`src/analysis/`),
 * renders its figures in memory (`src/report/figures.ts`), then writes its tables (`src/results/`), its
 * Markdown and its figures, so that a failure leaves nothing half-written. The sweep and the analysis CLIs
 * (`deno task decel`, `zsl`, `gradients`, `landscape`) run the same steps. The deceleration fit is computed once and its
 * breaks passed to the interference and gradient steps.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { openGpu } from "../gpu/device.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { ensureWritableDirectory } from "../io/atomic.ts";
import type { DecelerationOptions } from "../analysis/deceleration/fit.ts";
import { fitDeceleration } from "../analysis/deceleration/fit.ts";
import {
  decelerationBreak,
  decelerationCurveRows,
  decelerationRow,
  fitCurves,
  lrAreaCurveRows,
} from "../analysis/deceleration/rows.ts";
import { warmupControlRows, warmupVerdicts } from "../analysis/deceleration/warmup.ts";
import { analyseRun, type RunInterference } from "../analysis/interference/run.ts";
import { analyseRunGradients, type RunGradients } from "../analysis/gradients/run.ts";
import { analyseRunLandscape, landscapeKs, type RunLandscape } from "../analysis/landscape.ts";
import { ablationRows, ablationRun } from "../analysis/ablation.ts";
import type { AblationRow } from "../results/ablation.ts";
import { ABLATION_MARKDOWN, ABLATION_TABLE } from "../results/ablation.ts";
import type { LandscapeRow } from "../results/landscape.ts";
import { LANDSCAPE_MARKDOWN, LANDSCAPE_TABLE } from "../results/landscape.ts";
import { readTableIfPresent, type TableSchema } from "../results/table.ts";
import type { GradientTableRun } from "../analysis/gradients/rows.ts";
import { coherenceHistogramRows, gradientInterferenceRows, runIdentity } from "../analysis/gradients/rows.ts";
import type { DecelerationBreak, DecelerationRow } from "../results/deceleration.ts";
import {
  DECELERATION_CURVES_TABLE,
  DECELERATION_LR_AREA_CURVES_TABLE,
  DECELERATION_MARKDOWN,
  DECELERATION_TABLE,
  decelerationBreaks,
} from "../results/deceleration.ts";
import type { WarmupControl } from "../results/warmup.ts";
import { DATA_STATISTICS_TABLE, type DataStatisticsRow } from "../results/data_statistics.ts";
import { sequenceEntropies } from "../data/entropy.ts";
import { WARMUP_CONTROL_TABLE, WARMUP_MARKDOWN, WARMUP_VERDICT_TABLE } from "../results/warmup.ts";
import { warmupMarkdown } from "../report/warmup.ts";
import { COHERENCE_HISTOGRAM_TABLE, GRADIENT_MARKDOWN, GRADIENT_TABLE } from "../results/gradients.ts";
import {
  DT1_BATCHES_TABLE,
  DT1_TABLE,
  DT2T_GROUPS_TABLE,
  DT2T_TABLE,
  INTERFERENCE_MARKDOWN,
} from "../results/interference.ts";
import { type LossCurve, readLossCurve, readProbeSeries } from "../results/loss_curves.ts";
import type { ProbeSeries } from "../results/loss_curves.ts";
import type { AnalysisTiming } from "../results/sweep.ts";
import { sweepEnvironment, sweepResultsDir, sweepRunDir, writeEnvironment } from "../results/sweep.ts";
import { writeTable } from "../results/table.ts";
import {
  ablationFigures,
  decelerationFigures,
  gradientFigures,
  interferenceFigures,
  landscapeFigures,
  type NamedFigure,
  predictionPanels,
  renderFigures,
  warmupFigures,
  writeFigures,
} from "../report/figures.ts";
import {
  ablationMarkdown,
  decelerationMarkdown,
  gradientMarkdown,
  interferenceMarkdown,
  landscapeMarkdown,
} from "../report/markdown.ts";
import { writeSweepRunsTable } from "../report/runs_table.ts";
import { writeSweepReport } from "../report/sweep_report.ts";
import type { LoadedRun } from "../train/run.ts";
import { loadRun } from "../train/run.ts";
import { join } from "../util/path.ts";
import type { SweepDefinition, SweepRun } from "./definition.ts";
import { warmupControls } from "./definition.ts";
import type { SweepEvent } from "./events.ts";

/** What a step wrote. */
export interface WrittenResults<Rows> {
  /** The rows of its main table. */
  rows: Rows;
  /** The files written. */
  files: string[];
}

/**
 * Fits every input (run directories, or step/loss Arrow or CSV files) against the step and, for run
 * directories, against the learning-rate area S, and writes into `out`: `deceleration.arrow`,
 * `deceleration_curves.arrow`, `deceleration_curves_lr_area.arrow` (when some input has learning rates),
 * `deceleration.md`, F1 (`deceleration_f1.*`) and its view against S (`deceleration_f1_lr_area.*`).
 */
export async function writeDecelerationResults(
  inputs: string[],
  out: string,
  options: Pick<DecelerationOptions, "preprocess" | "minStep" | "d1Guess"> = {},
): Promise<WrittenResults<DecelerationRow[]>> {
  const preprocess = options.preprocess ?? true;
  const curves: LossCurve[] = [];
  for (const path of inputs) curves.push(await readLossCurve(path));
  const fits = fitCurves(curves, { ...options, preprocess });
  const rows = fits.map(decelerationRow);
  const curveRows = fits.flatMap(decelerationCurveRows);
  const lrAreaRows = fits.flatMap(lrAreaCurveRows);
  const preamble = "Inputs: " + curves.map((curve, i) => `${fits[i].name} (${curve.source})`).join(", ") +
    ". " +
    (preprocess
      ? "Preprocessing: log moving average (base 1.2) of the per-step loss, log-grid subsample."
      : "Points fitted as given (no preprocessing).") +
    ` Fitted steps: > ${[...new Set(rows.map((row) => row.minStep))].join(" / ")}.`;
  const figures = await renderFigures(decelerationFigures(curveRows, rows, lrAreaRows));
  const files = await writeFigures(out, figures);
  const markdownPath = join(out, DECELERATION_MARKDOWN);
  await writeFileAtomic(markdownPath, decelerationMarkdown(rows, preamble));
  files.unshift(
    await writeTable(out, DECELERATION_TABLE, rows),
    markdownPath,
    await writeTable(out, DECELERATION_CURVES_TABLE, curveRows),
    ...(lrAreaRows.length > 0 ? [await writeTable(out, DECELERATION_LR_AREA_CURVES_TABLE, lrAreaRows)] : []),
  );
  return { rows, files };
}

/**
 * The warmup control of a sweep's runs (docs/method.md#warmup-control) from their fits (`rows`, named by run
 * id, each with its warmup), grouped by everything but the warmup; writes `warmup_control.arrow`,
 * `warmup_verdict.arrow`, `warmup_control.md` and the figure `warmup_control.*` into `out`.
 */
export async function writeWarmupResults(
  runs: readonly SweepRun[],
  rows: readonly DecelerationRow[],
  out: string,
): Promise<WrittenResults<WarmupControl>> {
  const fits = new Map(rows.map((row) => [row.name, row]));
  const inputs = [...warmupControls(runs)].flatMap(([group, own]) =>
    own.flatMap((run) => {
      const fit = fits.get(run.id);
      return fit && Number.isFinite(fit.warmup) ? [{ group, warmup: fit.warmup, fit }] : [];
    })
  );
  const controlRows = warmupControlRows(inputs);
  const control = { rows: controlRows, verdicts: warmupVerdicts(controlRows) };
  const figures = await renderFigures(warmupFigures(control.rows, control.verdicts));
  const files = [
    await writeTable(out, WARMUP_CONTROL_TABLE, control.rows),
    await writeTable(out, WARMUP_VERDICT_TABLE, control.verdicts),
  ];
  const markdownPath = join(out, WARMUP_MARKDOWN);
  await writeFileAtomic(markdownPath, warmupMarkdown(control));
  files.push(markdownPath, ...await writeFigures(out, figures));
  return { rows: control, files };
}

/**
 * The unigram and bigram entropies of each training set of `runs` (runs that share data, tokenizer and
 * sequence length share one), counted over the training sequences of the run's own batch plan; writes
 * `data_statistics.arrow` into `out`.
 */
export async function writeDataStatistics(
  runs: readonly LoadedRun[],
  out: string,
): Promise<WrittenResults<DataStatisticsRow[]>> {
  const sets = new Map<string, { run: LoadedRun; names: string[] }>();
  for (const run of runs) {
    const data = run.plan.describe();
    const key = JSON.stringify([data.tokenizer, data.tokensFingerprint, data.seqLen, data.orderFingerprint]);
    const set = sets.get(key);
    if (set) set.names.push(run.info.name);
    else sets.set(key, { run, names: [run.info.name] });
  }
  const rows = [...sets.values()].map(({ run, names }) => {
    const { plan } = run;
    const entropies = sequenceEntropies(Array.from(plan.trainOrder(), (k) => plan.sequences.tokens(k)));
    const spec = run.info.spec as { data?: unknown } | undefined;
    return {
      data: typeof spec?.data === "string" ? spec.data : plan.corpus.source,
      tokenizer: plan.corpus.tokenizer.name,
      seq: plan.seqLen,
      runs: names.join(", "),
      targets: entropies.targets,
      distinctTokens: entropies.distinctTokens,
      unigramEntropy: entropies.unigram,
      bigramEntropy: entropies.bigram,
    };
  });
  return { rows, files: [await writeTable(out, DATA_STATISTICS_TABLE, rows)] };
}

/**
 * Each run's fitted break, for the bands of the interference and gradient figures when no deceleration
 * step ran: a run whose curve cannot be fitted gets none, and a line on stderr says why.
 */
export async function fitBreaks(
  runs: readonly LoadedRun[],
  minStep?: number,
): Promise<Map<string, DecelerationBreak | null>> {
  const breaks = new Map<string, DecelerationBreak | null>();
  for (const run of runs) {
    try {
      const curve = await readLossCurve(run.runDir);
      breaks.set(
        run.info.name,
        decelerationBreak(fitDeceleration(curve.steps, curve.losses, { minStep, label: curve.source })),
      );
    } catch (error) {
      console.error(`zsl: ${run.info.name}: no deceleration fit (${(error as Error).message})`);
      breaks.set(run.info.name, null);
    }
  }
  return breaks;
}

/**
 * Writes the loss-interference results of `results` (from `analyseRun`, one per run of `runs`) into `out`:
 * `interference_dt_2t.arrow`, `interference_dt_2t_groups.arrow`, `interference.md` and, with `oneStep`,
 * `interference_dt_1.arrow` and `interference_dt_1_batches.arrow`; figures F2, F3 (when a pair of
 * checkpoints exists), F4 (with `oneStep`) and the live probe's (for runs trained with one).
 */
export async function writeInterferenceResults(
  runs: readonly LoadedRun[],
  results: readonly RunInterference[],
  out: string,
  options: { oneStep: boolean; breaks: Map<string, DecelerationBreak | null> },
): Promise<string[]> {
  const models = results.map((result) => result.name);
  const dt2t = results.flatMap((result) => result.dt2t);
  const dt1 = options.oneStep ? results.flatMap((result) => result.dt1) : [];
  const probes: ProbeSeries[] = [];
  for (const run of runs) {
    const series = await readProbeSeries(run.runDir, run.info.name);
    if (series) probes.push(series);
  }
  if (dt2t.length === 0) {
    console.error("zsl: no pair of power-of-two checkpoints (t, 2t): figures F2 and F3 need two");
  }
  const figures = await renderFigures(
    interferenceFigures({ models, dt2t, dt1, breaks: options.breaks, probes }),
  );
  const files = [
    await writeTable(out, DT2T_TABLE, dt2t),
    await writeTable(out, DT2T_GROUPS_TABLE, results.flatMap((result) => result.dt2tGroups)),
  ];
  const markdownPath = join(out, INTERFERENCE_MARKDOWN);
  await writeFileAtomic(markdownPath, interferenceMarkdown(models, dt2t, dt1, options.breaks));
  files.push(markdownPath);
  if (options.oneStep) {
    files.push(
      await writeTable(out, DT1_TABLE, dt1),
      await writeTable(out, DT1_BATCHES_TABLE, results.flatMap((result) => result.dt1Batches)),
    );
  }
  files.push(...await writeFigures(out, figures));
  return files;
}

/**
 * Writes the gradient-interference results of `results` (one per run of `runs`, matched by name: the runs
 * give the preset and parameter count) into `out`: `gradient_interference.arrow`,
 * `gradient_coherence_histogram.arrow`, `gradients.md`, and figures F5–F8 (F8 from each run's per-example
 * tables, left out when none has true loss changes).
 */
export async function writeGradientResults(
  runs: readonly LoadedRun[],
  results: readonly GradientTableRun[],
  out: string,
  options: { breaks: Map<string, DecelerationBreak | null> },
): Promise<string[]> {
  const identities = new Map(runs.map((run) => [run.info.name, runIdentity(run)]));
  const rows = gradientInterferenceRows([...results], identities);
  const histogram = coherenceHistogramRows([...results]);
  const runDirs = new Map(results.map((result) => [result.name, result.runDir]));
  const figures = rows.length > 0
    ? await renderFigures(gradientFigures({
      rows,
      histogram,
      panels: await predictionPanels(rows, (run) => runDirs.get(run)),
      breaks: options.breaks,
    }))
    : [];
  const markdownPath = join(out, GRADIENT_MARKDOWN);
  const files = [
    await writeTable(out, GRADIENT_TABLE, rows),
    await writeTable(out, COHERENCE_HISTOGRAM_TABLE, histogram),
  ];
  await writeFileAtomic(
    markdownPath,
    gradientMarkdown(results.map((result) => result.name), rows, options.breaks),
  );
  files.push(markdownPath, ...await writeFigures(out, figures));
  return files;
}

/**
 * Writes the loss along the update of `results` (from `analyseRunLandscape`) into `out`: `landscape.arrow`,
 * `landscape.md` and one figure per run, `zsl_landscape_<run>`.
 */
export async function writeLandscapeResults(
  results: readonly RunLandscape[],
  out: string,
): Promise<WrittenResults<LandscapeRow[]>> {
  const rows = results.flatMap((result) => result.rows);
  const files = await writeStep(out, LANDSCAPE_TABLE, rows, [LANDSCAPE_MARKDOWN, landscapeMarkdown(rows)], {
    figures: landscapeFigures(rows),
  });
  return { rows, files };
}

/**
 * Writes the comparison of the runs that differ only in their optimizer or architecture into `out`, from
 * the fits and windows already there (`deceleration.arrow`, `deceleration_curves.arrow`,
 * `interference_dt_2t.arrow`; a missing one leaves its columns NaN and its figure out): `ablation.arrow`,
 * `ablation.md`, and F1 and F2 per axis (`zsl_ablation_<axis>_f1`, `_f2`). Nothing is written when no two
 * runs differ only in one of them.
 */
export async function writeAblationResults(
  runs: readonly LoadedRun[],
  out: string,
): Promise<WrittenResults<AblationRow[]>> {
  const deceleration = await readTableIfPresent(out, DECELERATION_TABLE) ?? [];
  const dt2t = await readTableIfPresent(out, DT2T_TABLE) ?? [];
  const rows = ablationRows(runs.map(ablationRun), deceleration, dt2t);
  if (rows.length === 0) return { rows, files: [] };
  const curves = await readTableIfPresent(out, DECELERATION_CURVES_TABLE) ?? [];
  const files = await writeStep(out, ABLATION_TABLE, rows, [ABLATION_MARKDOWN, ablationMarkdown(rows)], {
    figures: ablationFigures({ rows, curves, dt2t }),
  });
  return { rows, files };
}

/**
 * One step's files: renders the figures in memory first (a failure writes nothing), then writes the
 * table, the Markdown and the figures into `out`; returns their paths.
 */
async function writeStep<Row>(
  out: string,
  table: TableSchema<Row>,
  rows: readonly Row[],
  [markdownFile, markdown]: [string, string],
  { figures }: { figures: NamedFigure[] },
): Promise<string[]> {
  const rendered = await renderFigures(figures);
  const markdownPath = join(out, markdownFile);
  const files = [await writeTable(out, table, rows)];
  await writeFileAtomic(markdownPath, markdown);
  files.push(markdownPath, ...await writeFigures(out, rendered));
  return files;
}

/** Opens the GPU the first time an analysis needs one, and remembers which adapter it was. */
class LazyGpu {
  #gpu: GpuDevice | null;
  readonly #owned: boolean;

  constructor(gpu?: GpuDevice) {
    this.#gpu = gpu ?? null;
    this.#owned = gpu === undefined;
  }

  /** The device (opened on first call). */
  readonly open = async (): Promise<GpuDevice> => (this.#gpu ??= await openGpu());

  /** The adapter used, if any. */
  get adapter() {
    return this.#gpu?.adapter ?? null;
  }

  /** Destroys the device if it was opened here. */
  close(): void {
    if (this.#owned) this.#gpu?.destroy();
  }
}

/** The analyses and result tables of a sweep whose runs are trained. Returns the files written. */
export async function analyseSweep(
  definition: SweepDefinition,
  sweepDir: string,
  runs: SweepRun[],
  options: { onEvent?: (event: SweepEvent) => void; gpu?: GpuDevice } = {},
): Promise<string[]> {
  const resultsDir = sweepResultsDir(sweepDir);
  await ensureWritableDirectory(resultsDir);
  const runDirs = runs.map((run) => sweepRunDir(sweepDir, run.id));
  const files: string[] = [];
  const timings: AnalysisTiming[] = [];
  let started = performance.now();
  const timed = (what: string) => {
    timings.push({ what, seconds: (performance.now() - started) / 1000 });
    started = performance.now();
  };
  const { analyses } = definition;
  const interference = analyses.interferenceCheckpoints || analyses.interferenceOneStep;
  const granularity = analyses.gradientInterference ?? "none";
  const landscape = analyses.landscape ?? false;
  const ablation = (definition.archs?.length ?? 1) > 1 || (definition.optimizers?.length ?? 1) > 1;
  const loaded: LoadedRun[] = [];
  if (interference || granularity !== "none" || landscape || ablation) {
    for (const runDir of runDirs) loaded.push(await loadRun(runDir));
  }
  let breaks = new Map<string, DecelerationBreak | null>();
  if (analyses.deceleration) {
    options.onEvent?.({ kind: "analysis", what: "deceleration fit (docs/method.md#loss-deceleration)" });
    const { rows, files: written } = await writeDecelerationResults(runDirs, resultsDir, {
      minStep: analyses.decelerationMinStep,
    });
    files.push(...written);
    breaks = decelerationBreaks(rows);
    files.push(...(await writeWarmupResults(runs, rows, resultsDir)).files);
    // H1 and H2 of the training tokens: is the break the end of the unigram stage (L_d ≈ H1)?
    const withPlans = loaded.length > 0 ? loaded : await Promise.all(runDirs.map((dir) => loadRun(dir)));
    files.push(...(await writeDataStatistics(withPlans, resultsDir)).files);
    timed("deceleration fit, warmup control and data entropies");
  } else if (loaded.length > 0) breaks = await fitBreaks(loaded, analyses.decelerationMinStep);

  const gpu = new LazyGpu(options.gpu);
  const progress = (text: string, done: number, total: number) =>
    options.onEvent?.({ kind: "analysis-progress", text, done, total });
  try {
    if (interference) {
      options.onEvent?.({
        kind: "analysis",
        what: `loss interference (docs/method.md#loss-interference): Δ_t^{2t}${
          analyses.interferenceOneStep
            ? ` and Δ_t^{t+1} on ${analyses.oneStepBatches} unseen batch${
              analyses.oneStepBatches === 1 ? "" : "es"
            }`
            : ""
        }`,
      });
      const results: RunInterference[] = [];
      for (const run of loaded) {
        results.push(
          await analyseRun(gpu.open, run, {
            oneStep: analyses.interferenceOneStep,
            batches: analyses.oneStepBatches,
            onProgress: progress,
          }),
        );
      }
      files.push(
        ...await writeInterferenceResults(loaded, results, resultsDir, {
          oneStep: analyses.interferenceOneStep,
          breaks,
        }),
      );
      timed(
        analyses.interferenceOneStep
          ? "loss interference Δ_t^{2t} and Δ_t^{t+1}"
          : "loss interference Δ_t^{2t}",
      );
    }
    if (granularity !== "none") {
      options.onEvent?.({
        kind: "analysis",
        what:
          `gradient interference (docs/method.md#gradient-interference): exact per-${granularity} gradients at each checkpoint`,
      });
      const results: RunGradients[] = [];
      for (const run of loaded) {
        results.push(
          await analyseRunGradients(gpu.open, run, {
            granularity,
            sequences: analyses.gradientSequences,
            onProgress: progress,
          }),
        );
      }
      files.push(...await writeGradientResults(loaded, results, resultsDir, { breaks }));
      timed(`gradient interference (per ${granularity})`);
    }
    if (landscape) {
      const points = analyses.landscapePoints;
      options.onEvent?.({
        kind: "analysis",
        what: `loss along the update (docs/method.md#loss-along-the-update): ${
          2 * landscapeKs(points).length
        } α per checkpoint`,
      });
      const results: RunLandscape[] = [];
      for (const run of loaded) {
        results.push(
          await analyseRunLandscape(gpu.open, run, {
            points,
            scale: analyses.landscapeScale,
            onProgress: progress,
          }),
        );
      }
      files.push(...(await writeLandscapeResults(results, resultsDir)).files);
      timed("loss along the update");
    }
  } finally {
    gpu.close();
  }
  if (ablation) {
    options.onEvent?.({
      kind: "analysis",
      what: "ablations: runs that differ only in optimizer or architecture",
    });
    files.push(...(await writeAblationResults(loaded, resultsDir)).files);
    timed("ablation comparison");
  }
  options.onEvent?.({ kind: "analysis", what: "results table, environment and report" });
  const ids = runs.map((run) => run.id);
  files.push(await writeSweepRunsTable(sweepDir, ids));
  const environment = await sweepEnvironment(sweepDir, ids, {
    analysisAdapter: gpu.adapter ?? options.gpu?.adapter ?? null,
    analyses: timings,
  });
  files.push(await writeEnvironment(sweepDir, environment));
  files.push(await writeSweepReport(sweepDir, { runIds: ids }));
  return files;
}
