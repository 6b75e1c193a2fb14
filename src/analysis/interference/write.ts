/**
 * The interference report of a set of analysed runs: tables (Arrow, Markdown) and figures F2–F4 (and
 * the live probe's), rendered before anything is written.
 *
 * @module
 */
import { fitDeceleration, readLossCurve } from "../deceleration/mod.ts";
import { encodeArrow, numericColumn, readArrow } from "../../io/arrow.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import {
  interferenceFigureSpec,
  type InterferenceModel,
  oneStepFigureSpec,
  probeFigureSpec,
  type ProbeSeries,
  trajectoryFigureSpec,
} from "../../plot/interference.ts";
import { renderChartToMemory, writeRenderedChart } from "../../plot/render.ts";
import type { RenderedChart } from "../../plot/render.ts";
import type { LoadedRun } from "../../train/run.ts";
import { formatDuration } from "../../cli/progress.ts";
import { join } from "../../util/path.ts";
import type { RunInterference } from "./run.ts";
import type { SummaryBreak } from "./tables.ts";
import {
  dt1BatchColumns,
  dt1Columns,
  dt2tColumns,
  dt2tGroupColumns,
  interferenceMarkdown,
} from "./tables.ts";

/** The fitted deceleration of a run (null when the fit fails or identifies no break). */
export async function decelerationOf(
  run: LoadedRun,
  minStep: number | undefined,
): Promise<SummaryBreak | null> {
  try {
    const curve = await readLossCurve(run.runDir);
    const fit = fitDeceleration(curve.steps, curve.losses, { minStep, label: curve.source });
    return fit.identified ? { tD: fit.tD, tDRange: fit.tDRange } : null;
  } catch (error) {
    console.error(`zsl: ${run.info.name}: no deceleration fit (${(error as Error).message})`);
    return null;
  }
}

/** The live-probe columns of a run's metrics, when it was trained with --probe-every. */
export async function probeSeries(
  run: LoadedRun,
  band: [number, number] | null,
): Promise<ProbeSeries | null> {
  try {
    const path = join(run.runDir, "metrics.arrow");
    const table = await readArrow(path);
    if (!table.columns.probe_D) return null;
    return {
      name: run.info.name,
      steps: numericColumn(table, "step", path),
      D: numericColumn(table, "probe_D", path),
      M: numericColumn(table, "probe_M", path),
      deltaL: numericColumn(table, "probe_deltaL", path),
      band,
    };
  } catch {
    return null;
  }
}

function f(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toPrecision(digits) : "—";
}

/** Console summary of one analysed run: its Δ_t^{2t} rows, the window holding t_d marked. */
export function interferenceSummaryLines(result: RunInterference, fit: SummaryBreak | null): string[] {
  const lines = [
    `${result.name}: ${result.checkpoints.length} checkpoints; computed ${result.computed.losses} loss sets, ` +
    `${result.computed.oneStep} one-step checkpoints in ${formatDuration(result.seconds)}` +
    (fit
      ? `; t_d = ${Math.round(fit.tD)} (${Math.round(fit.tDRange[0])}–${Math.round(fit.tDRange[1])})`
      : ""),
  ];
  for (const row of result.dt2t) {
    const near = fit && row.t2 >= fit.tDRange[0] && row.t <= fit.tDRange[1] ? "  ◀ t_d" : "";
    lines.push(
      `  ${String(row.t).padStart(6)} → ${String(row.t2).padEnd(6)} D ${f(row.D)}  M ${f(row.M)}  ` +
        `|ΔL| ${f(Math.abs(row.deltaL))}${near}`,
    );
  }
  return lines;
}

/**
 * Writes the tables and figures of `results` (from `analyseRun`, one per run of `runs`) into `out`.
 * Returns the files written and the fitted breaks used for the bands.
 */
export async function writeInterferenceReport(
  runs: LoadedRun[],
  results: RunInterference[],
  out: string,
  options: { oneStep: boolean; minStep?: number },
): Promise<{ written: string[]; breaks: Map<string, SummaryBreak | null> }> {
  const { oneStep, minStep } = options;
  const breaks = new Map<string, SummaryBreak | null>();
  for (const run of runs) breaks.set(run.info.name, await decelerationOf(run, minStep));
  const models: InterferenceModel[] = results.map((result) => ({
    name: result.name,
    points: result.dt2t.map((row) => ({ t: row.t, D: row.D, M: row.M, deltaL: row.deltaL })),
    oneStep: result.dt1,
    band: breaks.get(result.name)?.tDRange ?? null,
  }));

  // Render everything before writing anything.
  const figures: [string, RenderedChart][] = [];
  if (models.some((model) => model.points.length > 0)) {
    figures.push(["zsl_f2", await renderChartToMemory(interferenceFigureSpec(models))]);
    figures.push(["zsl_f3", await renderChartToMemory(trajectoryFigureSpec(models))]);
  } else {
    console.error("zsl: no pair of power-of-two checkpoints (t, 2t): figures F2 and F3 need two");
  }
  if (oneStep && models.some((model) => (model.oneStep?.length ?? 0) > 0)) {
    figures.push(["zsl_f4", await renderChartToMemory(oneStepFigureSpec(models))]);
  }
  const probes: ProbeSeries[] = [];
  for (const run of runs) {
    const series = await probeSeries(run, breaks.get(run.info.name)?.tDRange ?? null);
    if (series && Array.from(series.M).some(Number.isFinite)) probes.push(series);
  }
  if (probes.length > 0) figures.push(["zsl_probe", await renderChartToMemory(probeFigureSpec(probes))]);
  const tables: [string, Uint8Array | string][] = [
    ["interference_dt_2t.arrow", encodeArrow(dt2tColumns(results))],
    ["interference_dt_2t_groups.arrow", encodeArrow(dt2tGroupColumns(results))],
    ["interference.md", interferenceMarkdown(results, breaks)],
  ];
  if (oneStep) {
    tables.push(
      ["interference_dt_1.arrow", encodeArrow(dt1Columns(results))],
      ["interference_dt_1_batches.arrow", encodeArrow(dt1BatchColumns(results))],
    );
  }
  const written: string[] = [];
  for (const [name, data] of tables) {
    await writeFileAtomic(join(out, name), data);
    written.push(join(out, name));
  }
  for (const [name, figure] of figures) {
    const files = await writeRenderedChart(figure, join(out, name));
    written.push(files.vegaLite, files.svg, files.png);
  }
  return { written, breaks };
}
