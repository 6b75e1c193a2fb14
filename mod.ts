/**
 * zsl: train families of OLMo-style transformer language models with hand-written WGSL kernels on
 * WebGPU (Dawn), and measure loss deceleration and zero-sum learning (Mircea et al., ACL 2025).
 *
 * This module is the researcher's entry: training, the sweep, the three analyses, reading their results,
 * and the figures. Everything else is under the sub-path exports of `deno.json` (`./gpu`, `./ops`,
 * `./reference`, `./model`, `./train`, `./data`, `./io`, `./analysis`, `./results`, `./plot`, `./report`,
 * `./sweep`, `./notebook`, `./util`), each a `src/<folder>/mod.ts`. Everything works imported from a URL:
 * kernels are fetched relative to the modules.
 *
 * @example Train a small model
 * ```ts
 * import { openGpu, resolveRun, train } from "./mod.ts";
 *
 * const gpu = await openGpu();
 * const { options } = await resolveRun({ out: "runs/demo", preset: "tiny", steps: 16, batch: 4, evalSequences: 4 });
 * const result = await train(gpu, options);
 * console.log(`loss ${result.losses[0].toFixed(3)} → ${result.losses.at(-1)!.toFixed(3)}`);
 * gpu.destroy();
 * ```
 *
 * @example Run a sweep from code and read its results
 * ```ts
 * import { DECELERATION_TABLE, DT2T_TABLE, openGpu, readTable, runSweepLocally, validateSweep } from "./mod.ts";
 *
 * const definition = validateSweep({
 *   name: "demo",
 *   models: ["tiny"],
 *   batches: [4],
 *   common: { steps: 32, warmup: 2, evalSequences: 4 },
 *   analyses: { interferenceOneStep: false, gradientInterference: "none" },
 * });
 * const gpu = await openGpu();
 * await runSweepLocally(gpu, definition, "sweeps/demo"); // sweeps/demo/results: tables, figures, report.html
 * gpu.destroy();
 * const [fit] = await readTable("sweeps/demo/results", DECELERATION_TABLE);
 * const windows = await readTable("sweeps/demo/results", DT2T_TABLE);
 * console.log(fit.name, fit.identified ? `t_d = ${fit.tD}` : fit.reasons, windows.map((row) => row.D));
 * ```
 *
 * @example Analyse a run (the one trained in the first example)
 * ```ts
 * import { analyseRun, analyseRunGradients, fitDeceleration, loadRun, openGpu, readLossCurve } from "./mod.ts";
 *
 * const curve = await readLossCurve("runs/demo");
 * const fit = fitDeceleration(curve.steps, curve.losses);
 * console.log(fit.identified ? `t_d = ${fit.tD}` : `no break: ${fit.reasons.join("; ")}`);
 * const run = await loadRun("runs/demo");
 * const gpu = await openGpu();
 * const losses = await analyseRun(gpu, run, { batches: 1 });
 * const gradients = await analyseRunGradients(gpu, run, { granularity: "sequence" });
 * gpu.destroy();
 * for (const row of losses.dt2t) console.log(`${row.t} → ${row.t2}: D ${row.D.toFixed(3)}, M ${row.M.toFixed(4)}`);
 * for (const c of gradients.checkpoints) console.log(`step ${c.step}: D(∇ℓ) ${c.dGrad.toFixed(3)}`);
 * ```
 *
 * @module
 */

// Training
export { openGpu } from "./src/gpu/device.ts";
export type { GpuDevice } from "./src/gpu/device.ts";
export { PAPER_PRESETS, parameterCount, presetByName, PRESETS } from "./src/model/config.ts";
export type { ModelConfig, Preset } from "./src/model/config.ts";
export { loadRun, resolveRun } from "./src/train/run.ts";
export type { LoadedRun, ResolvedRun, RunSpec } from "./src/train/run.ts";
export { train } from "./src/train/trainer.ts";
export type { StepProgress, TrainOptions, TrainResult } from "./src/train/trainer.ts";
export { checkpointPath, listCheckpoints, loadCheckpoint } from "./src/train/checkpoint.ts";
export { evaluateTokenLosses } from "./src/model/evaluate.ts";
export { createLossProbe } from "./src/analysis/interference/probe.ts";

// The sweep
export { defaultSweep, expandSweep, paperSweep, validateSweep } from "./src/sweep/definition.ts";
export type { SweepDefinition, SweepRun } from "./src/sweep/definition.ts";
export type { SweepEvent } from "./src/sweep/events.ts";
export { runSweepLocally } from "./src/sweep/local.ts";
export type { LocalSweepOptions } from "./src/sweep/local.ts";
// The per-analysis writers (writeDecelerationResults, …) are in the `./sweep` sub-path export.
export { analyseSweep, writeGradientResults } from "./src/sweep/analyse.ts";

// Loss deceleration (docs/method.md#loss-deceleration)
export { bnsl, fitDeceleration } from "./src/analysis/deceleration/mod.ts";
export type { DecelerationFit, DecelerationOptions } from "./src/analysis/deceleration/mod.ts";
export { decelerationCurveRows, decelerationRow, fitCurves } from "./src/analysis/deceleration/mod.ts";
export type { NamedFit } from "./src/analysis/deceleration/mod.ts";

// Loss interference (docs/method.md#loss-interference)
export { analyseRun, IDENTITY_TOLERANCE, lossInterference } from "./src/analysis/interference/mod.ts";
export type {
  Interference,
  RunInterference,
  RunInterferenceOptions,
} from "./src/analysis/interference/mod.ts";

// Gradient interference (docs/method.md#gradient-interference)
export {
  analyseRunGradients,
  gradientInterferenceFromMatrices,
  gradientInterferenceRows,
} from "./src/analysis/gradients/mod.ts";
export type { GradientInterference, RunGradientOptions, RunGradients } from "./src/analysis/gradients/mod.ts";

// Reading results
export { readTable, readTableIfPresent } from "./src/results/table.ts";
export type { TableSchema } from "./src/results/table.ts";
export {
  DECELERATION_CURVES_TABLE,
  DECELERATION_TABLE,
  decelerationBreaks,
} from "./src/results/deceleration.ts";
export type { DecelerationBreak, DecelerationCurveRow, DecelerationRow } from "./src/results/deceleration.ts";
export { DT1_BATCHES_TABLE, DT1_TABLE, DT2T_TABLE } from "./src/results/interference.ts";
export type { Dt1BatchRow, Dt1Row, Dt2tGroupRow, Dt2tRow } from "./src/results/interference.ts";
export {
  COHERENCE_HISTOGRAM_TABLE,
  exampleTableFile,
  GRADIENT_TABLE,
  gradientsDir,
  readExampleTable,
} from "./src/results/gradients.ts";
export type { CoherenceHistogramRow, ExampleRows, GradientInterferenceRow } from "./src/results/gradients.ts";
export { readWarmupControl } from "./src/results/warmup.ts";
export type { WarmupControl } from "./src/results/warmup.ts";
export { readLossCurve } from "./src/results/loss_curves.ts";
export { ABLATION_TABLE } from "./src/results/ablation.ts";
export { LANDSCAPE_TABLE } from "./src/results/landscape.ts";
export type { LossCurve } from "./src/results/loss_curves.ts";
export { readRunsTable, sweepResultsDir } from "./src/results/sweep.ts";
export { readArrow } from "./src/io/arrow.ts";

// Figures
export { renderChart } from "./src/plot/render.ts";
export type { VegaLiteSpec } from "./src/plot/render.ts";
export {
  coherenceFigureSpec,
  coherenceHistogramFigureSpec,
  decelerationFigureSpec,
  gradientInterferenceFigureSpec,
  interferenceFigureSpec,
  oneStepFigureSpec,
  predictionFigureSpec,
  probeFigureSpec,
  trajectoryFigureSpec,
} from "./src/plot/mod.ts";
export {
  bandsOf,
  checkpointPoints,
  coherenceBinRows,
  decelerationBand,
  decelerationFigure,
  gradientMetricRows,
  oneStepPoints,
  oneStepTrajectoryPoints,
  predictionPanels,
} from "./src/report/figures.ts";
export { ablationFigures, landscapeFigures } from "./src/report/figures.ts";
export { bnslParameterTable, dt1Table, dt2tTable, gradientTable, t1Table } from "./src/report/tables.ts";
export type { TextTable } from "./src/report/tables.ts";
export { writeSweepReport } from "./src/report/sweep_report.ts";

// Notebooks
export { openNotebookSweep, showChart, showMarkdown, showTable } from "./src/notebook/mod.ts";
