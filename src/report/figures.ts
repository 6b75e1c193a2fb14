/**
 * The figures of the result tables: each takes result rows (from `src/results/`), turns them into the
 * plain rows of `src/plot/` (vocabulary: `model`, `step`), and returns named Vega-Lite specs. The sweep,
 * the CLIs and the notebooks draw the same figures through here.
 *
 * @module
 */
import type { VegaLiteSpec } from "../plot/render.ts";
import { renderChartToMemory, type RenderedChart, writeRenderedChart } from "../plot/render.ts";
import {
  type DecelerationFigureOptions,
  decelerationFigureSpec,
  lrAreaFigureSpec,
  type WarmupEnd,
} from "../plot/deceleration.ts";
import { warmupControlFigureSpec, type WarmupLine, type WarmupPoint } from "../plot/warmup.ts";
import type { InterferencePoint, OneStepPoint } from "../plot/interference.ts";
import {
  interferenceFigureSpec,
  oneStepFigureSpec,
  probeFigureSpec,
  trajectoryFigureSpec,
} from "../plot/interference.ts";
import type {
  CoherenceBinRow,
  GradientMetricRow,
  NoiseScaleRow,
  PredictionPanel,
} from "../plot/gradients.ts";
import {
  coherenceFigureSpec,
  coherenceHistogramFigureSpec,
  gradientInterferenceFigureSpec,
  noiseScaleFigureSpec,
  predictionFigureSpec,
} from "../plot/gradients.ts";
import type { Band } from "../plot/style.ts";
import { concatFigures, unionBand } from "../plot/style.ts";
import { landscapeFigureSpec, type LandscapePoint } from "../plot/landscape.ts";
import type { AblationAxis, AblationRow } from "../results/ablation.ts";
import type { LandscapeRow } from "../results/landscape.ts";
import { landscapeFigureName } from "../results/landscape.ts";
import { ABLATION_AXES, ablationFigureName } from "../results/ablation.ts";
import type {
  DecelerationBreak,
  DecelerationCurveRow,
  DecelerationRow,
  LrAreaCurveRow,
} from "../results/deceleration.ts";
import { DECELERATION_FIGURE, DECELERATION_LR_AREA_FIGURE } from "../results/deceleration.ts";
import type { WarmupControlRow, WarmupVerdictRow } from "../results/warmup.ts";
import { WARMUP_FIGURE } from "../results/warmup.ts";
import type { CoherenceHistogramRow, GradientInterferenceRow } from "../results/gradients.ts";
import { exampleTableFile, GRADIENT_FIGURES, gradientsDir, readExampleTable } from "../results/gradients.ts";
import type { Dt1Row, Dt2tRow } from "../results/interference.ts";
import { INTERFERENCE_FIGURES } from "../results/interference.ts";
import type { ProbeSeries } from "../results/loss_curves.ts";
import { exists } from "../util/files.ts";
import { join } from "../util/path.ts";

/** A figure to write: its base name in the results directory and its spec. */
export type NamedFigure = [name: string, spec: VegaLiteSpec];

/** Each model's band [t_d low, t_d high] (null where no break was identified). */
export function bandsOf(breaks: Map<string, DecelerationBreak | null>): Map<string, Band> {
  return new Map([...breaks].map(([name, fit]) => [name, fit?.tDRange ?? null]));
}

/** The union of the ±1σ t_d ranges of the identified fits (null when none is). */
export function decelerationBand(rows: readonly DecelerationRow[]): Band {
  return unionBand(rows.map((row) => (row.identified ? [row.tDMin, row.tDMax] : null)));
}

/** The caption of F1: which breaks lie at the warmup end and are not drawn as deceleration (none: empty). */
export function warmupEndNotes(rows: readonly DecelerationRow[]): string[] {
  const atEnd = rows.filter((row) => row.atWarmupEnd);
  if (atEnd.length === 0) return [];
  return [
    `⚠ Break at the warmup end (t_d within 2× of the warmup), not drawn as deceleration: ${
      atEnd.map((row) => `${row.name} (t_d ${Math.round(row.tD)}, warmup ${row.warmup})`).join(", ")
    }.`,
    "Dotted rules: the end of each run's warmup.",
  ];
}

/** Each model's warmup end (steps, or S with `lrArea`), where it has one. */
function warmupEnds(rows: readonly DecelerationRow[], lrArea = false): WarmupEnd[] {
  return rows.filter((row) => row.warmup > 0)
    .map((row) => ({ model: row.name, at: lrArea ? row.lrAreaAtWarmup : row.warmup }))
    .filter((end) => Number.isFinite(end.at));
}

/**
 * F1 from `deceleration_curves.arrow` and the band of `deceleration.arrow`, the warmup ends marked and the
 * breaks at the warmup end named in the caption.
 */
export function decelerationFigure(
  curves: readonly DecelerationCurveRow[],
  rows: readonly DecelerationRow[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  return decelerationFigureSpec(curves, {
    band: decelerationBand(rows),
    warmupEnds: warmupEnds(rows),
    notes: warmupEndNotes(rows),
    ...options,
  });
}

/** F1's view against S from `deceleration_curves_lr_area.arrow`, the band the fits' t_d ranges in S. */
export function lrAreaFigure(
  curves: readonly LrAreaCurveRow[],
  rows: readonly DecelerationRow[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  return lrAreaFigureSpec(curves, {
    band: unionBand(rows.map((row) => (row.identifiedLrArea ? [row.tDLrAreaMin, row.tDLrAreaMax] : null))),
    warmupEnds: warmupEnds(rows, true),
    ...options,
  });
}

/** The warmup-control figure: the breaks found (identified or at the warmup end) and each model's line. */
export function warmupControlFigure(
  rows: readonly WarmupControlRow[],
  verdicts: readonly WarmupVerdictRow[],
): VegaLiteSpec {
  const points: WarmupPoint[] = rows.filter((row) => row.breakFound).map((row) => ({
    model: row.group,
    warmup: row.warmup,
    tD: row.tD,
    tDMin: row.tDMin,
    tDMax: row.tDMax,
    status: row.identified ? "identified" : "at the warmup end",
  }));
  const lines: WarmupLine[] = verdicts.filter((verdict) => Number.isFinite(verdict.slope)).map((verdict) => {
    const own = rows.filter((row) => row.group === verdict.group && row.breakFound).map((row) => row.warmup);
    return {
      model: verdict.group,
      slope: verdict.slope,
      intercept: verdict.intercept,
      warmups: [Math.min(...own), Math.max(...own)],
    };
  });
  const models = [...new Set(rows.map((row) => row.group))];
  return warmupControlFigureSpec(points, { lines, models });
}

/** The warmup-control figure named for the results directory (none when no run has a break). */
export function warmupFigures(
  rows: readonly WarmupControlRow[],
  verdicts: readonly WarmupVerdictRow[],
): NamedFigure[] {
  return rows.some((row) => row.breakFound) ? [[WARMUP_FIGURE, warmupControlFigure(rows, verdicts)]] : [];
}

/** Δ_t^{2t} rows as F2/F3 points. */
export function checkpointPoints(rows: readonly Dt2tRow[]): InterferencePoint[] {
  return rows.map((row) => ({
    model: row.model,
    step: row.t,
    stepEnd: row.t2,
    D: row.D,
    M: row.M,
    absDeltaL: Math.abs(row.deltaL),
  }));
}

/** Δ_t^{t+1} rows as F4 points. */
export function oneStepPoints(rows: readonly Dt1Row[]): OneStepPoint[] {
  return rows.map((row) => ({
    model: row.model,
    step: row.t,
    set: row.set,
    D: row.D,
    DStd: row.DStd,
    M: row.M,
    MStd: row.MStd,
    absDeltaL: row.absDeltaL,
    absDeltaLStd: row.absDeltaLStd,
  }));
}

/** Δ_t^{t+1} rows of one set as F3 points (the window t → t + 1). */
export function oneStepTrajectoryPoints(rows: readonly Dt1Row[], set: "train" | "eval"): InterferencePoint[] {
  return rows.filter((row) => row.set === set).map((row) => ({
    model: row.model,
    step: row.t,
    stepEnd: row.t + 1,
    D: row.D,
    M: row.M,
    absDeltaL: row.absDeltaL,
  }));
}

/** The live probe's series as points (the change since the previous probe, at each probe's step). */
export function probePoints(series: readonly ProbeSeries[]): InterferencePoint[] {
  return series.flatMap((s) =>
    Array.from(s.steps, (step, i) => ({
      model: s.name,
      step,
      stepEnd: step,
      D: s.D[i],
      M: s.M[i],
      absDeltaL: Math.abs(s.deltaL[i]),
    }))
  );
}

/** What the loss-interference figures are drawn from. */
export interface InterferenceFigureInput {
  /** The models in legend order. */
  models: string[];
  /** `interference_dt_2t.arrow` rows (F2, F3; none: no F2, F3). */
  dt2t: readonly Dt2tRow[];
  /** `interference_dt_1.arrow` rows (F4; none: no F4). */
  dt1: readonly Dt1Row[];
  /** Each model's fitted break (the bands). */
  breaks: Map<string, DecelerationBreak | null>;
  /** The runs' live-probe series (the probe figure; none: no probe figure). */
  probes: readonly ProbeSeries[];
}

/** F2 and F3 (when there are Δ_t^{2t} rows), F4 (Δ_t^{t+1} rows) and the probe's figure (probe series). */
export function interferenceFigures(input: InterferenceFigureInput): NamedFigure[] {
  const options = { models: input.models, bands: bandsOf(input.breaks) };
  const figures: NamedFigure[] = [];
  if (input.dt2t.length > 0) {
    const points = checkpointPoints(input.dt2t);
    figures.push([INTERFERENCE_FIGURES.checkpoints, interferenceFigureSpec(points, options)]);
    figures.push([INTERFERENCE_FIGURES.trajectories, trajectoryFigureSpec(points, options)]);
  }
  if (input.dt1.length > 0) {
    figures.push([INTERFERENCE_FIGURES.oneStep, oneStepFigureSpec(oneStepPoints(input.dt1), options)]);
  }
  const probes = input.probes.filter((series) => input.models.includes(series.name));
  if (probes.length > 0) {
    const models = probes.map((series) => series.name);
    const bands = new Map(models.map((model) => [model, options.bands.get(model) ?? null]));
    figures.push([INTERFERENCE_FIGURES.probe, probeFigureSpec(probePoints(probes), { models, bands })]);
  }
  return figures;
}

/** `gradient_interference.arrow` rows as F5/F7 rows (the run is the model). */
export function gradientMetricRows(rows: readonly GradientInterferenceRow[]): GradientMetricRow[] {
  return rows.map((row) => ({ ...row, model: row.run }));
}

/** `gradient_coherence_histogram.arrow` rows as F6 rows. */
export function coherenceBinRows(rows: readonly CoherenceHistogramRow[]): CoherenceBinRow[] {
  return rows.map((row) => ({ ...row, model: row.run }));
}

/**
 * The F8 panels of `rows`: each checkpoint's per-example table (in `RUN/gradients/` of the run's directory
 * given by `runDirOf`) with true loss changes. A table that does not exist is skipped; one that exists but
 * cannot be read is an error.
 */
export async function predictionPanels(
  rows: readonly GradientInterferenceRow[],
  runDirOf: (run: string) => string | undefined,
): Promise<PredictionPanel[]> {
  const panels: PredictionPanel[] = [];
  for (const row of rows) {
    const runDir = runDirOf(row.run);
    if (runDir === undefined) continue;
    const path = join(gradientsDir(runDir), exampleTableFile(row.step, row.granularity));
    if (!(await exists(path))) continue;
    const examples = await readExampleTable(path);
    if (!Array.from(examples.actual).some(Number.isFinite)) continue;
    panels.push({
      model: row.run,
      step: row.step,
      granularity: row.granularity,
      predicted: examples.predicted,
      actual: examples.actual,
    });
  }
  return panels;
}

/** What the gradient figures are drawn from. */
export interface GradientFigureInput {
  /** `gradient_interference.arrow` rows (F5, F7). */
  rows: readonly GradientInterferenceRow[];
  /** `gradient_coherence_histogram.arrow` rows (F6). */
  histogram: readonly CoherenceHistogramRow[];
  /** Per-checkpoint predicted and true loss changes (F8; none: no F8). */
  panels: readonly PredictionPanel[];
  /** Each run's fitted break: F5 and F7 shade the union of the bands of the runs drawn. */
  breaks: Map<string, DecelerationBreak | null>;
}

/**
 * The figures `input` has data for: F5 (a finite D(∇ℓ)), F6 (counts), F7 (positive coherences), F8 (panels)
 * and the noise scale beside D(∇ℓ) (a positive B_simple).
 */
export function gradientFigures(input: GradientFigureInput): NamedFigure[] {
  const runs = new Set(input.rows.map((row) => row.run));
  const band = unionBand([...bandsOf(input.breaks)].filter(([name]) => runs.has(name)).map(([, b]) => b));
  const rows = gradientMetricRows(input.rows);
  const figures: NamedFigure[] = [];
  if (rows.some((row) => Number.isFinite(row.dGrad))) {
    figures.push([GRADIENT_FIGURES.interference, gradientInterferenceFigureSpec(rows, { band })]);
  }
  if (input.histogram.some((row) => row.count > 0)) {
    figures.push([
      GRADIENT_FIGURES.histogram,
      coherenceHistogramFigureSpec(coherenceBinRows(input.histogram), { band }),
    ]);
  }
  if (rows.some((row) => row.cG > 0 || row.cUG / row.cUg > 0)) {
    figures.push([GRADIENT_FIGURES.coherence, coherenceFigureSpec(rows, { band })]);
  }
  if (input.panels.length > 0) {
    figures.push([GRADIENT_FIGURES.prediction, predictionFigureSpec([...input.panels], { band })]);
  }
  const noise = noiseScaleRows(input.rows);
  if (noise.rows.some((row) => row.bSimple > 0 && Number.isFinite(row.bSimple))) {
    figures.push([GRADIENT_FIGURES.noiseScale, noiseScaleFigureSpec(noise.rows, { band, unit: noise.unit })]);
  }
  return figures;
}

/**
 * `gradient_interference.arrow` rows as rows of the noise-scale figure, and their unit: sequences when every
 * row is of sequences, else tokens (B_simple of sequence rows times the T − 1 tokens a sequence predicts).
 */
export function noiseScaleRows(
  rows: readonly GradientInterferenceRow[],
): { rows: NoiseScaleRow[]; unit: "sequences" | "tokens" } {
  const sequences = rows.every((row) => row.granularity === "sequence");
  return {
    unit: sequences ? "sequences" : "tokens",
    rows: rows.map((row) => ({
      model: row.run,
      step: row.step,
      granularity: row.granularity,
      dGrad: row.dGrad,
      bSimple: sequences ? row.bSimple : row.bSimpleTokens,
      batch: sequences ? row.batchExamples : row.batchTokens,
    })),
  };
}

/** What the ablation figures are drawn from. */
export interface AblationFigureInput {
  /** `ablation.arrow` rows: which runs are compared along which axis, in which group. */
  rows: readonly AblationRow[];
  /** `deceleration_curves.arrow` rows of the runs (F1; none: no F1). */
  curves: readonly DecelerationCurveRow[];
  /** `interference_dt_2t.arrow` rows of the runs (F2; none: no F2). */
  dt2t: readonly Dt2tRow[];
}

const AXIS_TITLES: Record<AblationAxis, string> = { optimizer: "Optimizer", arch: "Architecture" };

/**
 * F1 and F2 of the runs that differ only in their optimizer (or architecture), for each axis with such
 * runs: one panel (F1) or row of panels (F2) per group of compared runs, one colour per optimizer (or
 * architecture), the same colour for a value in every group; each panel shades the union of its runs'
 * identified t_d ranges.
 */
export function ablationFigures(input: AblationFigureInput): NamedFigure[] {
  const figures: NamedFigure[] = [];
  for (const axis of ABLATION_AXES) {
    const rows = input.rows.filter((row) => row.axis === axis);
    if (rows.length === 0) continue;
    const values = [...new Set(rows.map((row) => row.value))];
    const groups = [...new Set(rows.map((row) => row.group))];
    const options = { models: values, colorTitle: AXIS_TITLES[axis] };
    const f1: VegaLiteSpec[] = [];
    const f2: VegaLiteSpec[] = [];
    for (const group of groups) {
      const members = rows.filter((row) => row.group === group);
      const valueOf = new Map(members.map((row) => [row.run, row.value]));
      const bands = new Map(
        members.map((row) => [row.value, row.identified ? [row.tDMin, row.tDMax] as Band : null]),
      );
      const band = unionBand(bands.values());
      const curves = input.curves.filter((row) => valueOf.has(row.model))
        .map((row) => ({ ...row, model: valueOf.get(row.model)! }));
      if (curves.length > 0) {
        f1.push(decelerationFigureSpec(curves, { ...options, band, title: group, width: 280, height: 360 }));
      }
      const windows = input.dt2t.filter((row) => valueOf.has(row.model))
        .map((row) => ({ ...row, model: valueOf.get(row.model)! }));
      if (windows.length > 0) {
        f2.push(interferenceFigureSpec(checkpointPoints(windows), { ...options, bands, title: group }));
      }
    }
    const by = axis === "optimizer" ? "optimizer" : "architecture";
    if (f1.length > 0) {
      figures.push([
        ablationFigureName(axis, "f1"),
        concatFigures(`F1 by ${by}: training loss and its broken power law`, f1, "horizontal"),
      ]);
    }
    if (f2.length > 0) {
      figures.push([
        ablationFigureName(axis, "f2"),
        concatFigures(`F2 by ${by}: loss interference between checkpoints t and 2t (eval)`, f2, "vertical"),
      ]);
    }
  }
  return figures;
}

/** `landscape.arrow` rows as the landscape figure's points (the checkpoint is the line). */
export function landscapePoints(rows: readonly LandscapeRow[]): LandscapePoint[] {
  return rows.map((row) => ({
    checkpoint: row.t,
    set: row.set,
    alpha: row.alpha,
    loss: row.loss,
    deltaL: row.deltaL,
    D: row.D,
    M: row.M,
  }));
}

/** The loss along the update, one figure per run of `rows` (`zsl_landscape_<run>`), a line per checkpoint. */
export function landscapeFigures(rows: readonly LandscapeRow[]): NamedFigure[] {
  const models = [...new Set(rows.map((row) => row.model))];
  return models.map((model) => {
    const own = rows.filter((row) => row.model === model);
    return [
      landscapeFigureName(model),
      landscapeFigureSpec(landscapePoints(own), {
        scale: own[0].scale,
        title: `${model}: loss along the update θ_t + α·δ (one line per checkpoint t)`,
      }),
    ];
  });
}

/** F1 and its view against S (when some fit has one) named for the results directory. */
export function decelerationFigures(
  curves: readonly DecelerationCurveRow[],
  rows: readonly DecelerationRow[],
  lrAreaCurves: readonly LrAreaCurveRow[] = [],
): NamedFigure[] {
  const figures: NamedFigure[] = [];
  if (curves.length > 0) figures.push([DECELERATION_FIGURE, decelerationFigure(curves, rows)]);
  if (lrAreaCurves.length > 0) figures.push([DECELERATION_LR_AREA_FIGURE, lrAreaFigure(lrAreaCurves, rows)]);
  return figures;
}

/** Renders every figure in memory (spec, SVG, PNG): a failure here leaves nothing written. */
export async function renderFigures(figures: readonly NamedFigure[]): Promise<[string, RenderedChart][]> {
  const rendered: [string, RenderedChart][] = [];
  for (const [name, spec] of figures) rendered.push([name, await renderChartToMemory(spec)]);
  return rendered;
}

/** Writes rendered figures to `dir/<name>.{vl.json,svg,png}`; returns the paths written. */
export async function writeFigures(
  dir: string,
  rendered: readonly [string, RenderedChart][],
): Promise<string[]> {
  const written: string[] = [];
  for (const [name, figure] of rendered) {
    const files = await writeRenderedChart(figure, join(dir, name));
    written.push(files.vegaLite, files.svg, files.png);
  }
  return written;
}
