/**
 * `deno task zsl RUN_DIR… [--out DIR] [--batches K] [--lr …] [--no-one-step]`: zero-sum learning
 * (METHOD.md §5) of trained runs. For each run: the eval split's per-token losses of every
 * power-of-two checkpoint, D, M, |ΔL| between consecutive ones (Δ_t^{2t}, also per genre and
 * document), and one AdamW step from each checkpoint on K unseen batches (Δ_t^{t+1}). Work already
 * cached in `RUN/interference/` and newer than its checkpoint is skipped. Writes the tables and
 * figures F2–F4 into --out.
 *
 * @module
 */
import { numberOption, parseArgs, runMain, UsageError } from "../src/cli/args.ts";
import { bar, formatDuration, ProgressLine } from "../src/cli/progress.ts";
import { openGpu } from "../src/gpu/device.ts";
import type { GpuDevice } from "../src/gpu/device.ts";
import { loadRun } from "../src/train/run.ts";
import type { LoadedRun } from "../src/train/run.ts";
import {
  analyseRun,
  dt1BatchColumns,
  dt1Columns,
  dt2tColumns,
  dt2tGroupColumns,
  interferenceMarkdown,
  type OneStepLr,
  type RunInterference,
  type SummaryBreak,
} from "../src/analysis/interference/mod.ts";
import { fitDeceleration, readLossCurve } from "../src/analysis/deceleration/mod.ts";
import { encodeArrow, numericColumn, readArrow } from "../src/io/arrow.ts";
import { ensureWritableDirectory, writeFileAtomic } from "../src/io/atomic.ts";
import {
  interferenceFigureSpec,
  type InterferenceModel,
  oneStepFigureSpec,
  probeFigureSpec,
  type ProbeSeries,
  trajectoryFigureSpec,
} from "../src/plot/interference.ts";
import { renderChartToMemory, writeRenderedChart } from "../src/plot/render.ts";
import type { RenderedChart } from "../src/plot/render.ts";
import { dirname, join, resolve } from "../src/util/path.ts";

const COMMAND = "deno task zsl RUN_DIR…";
const SUMMARY = "Loss interference / zero-sum learning (Mircea et al. 2025) of trained runs.\n\n" +
  "For each run directory (written by deno task train): per-token eval losses of every power-of-two\n" +
  "checkpoint (RUN/interference/losses_step-NNNNNNN.arrow), D, M and |ΔL| between checkpoints t and 2t,\n" +
  "and one AdamW step from each checkpoint (with its optimizer state) on K batches training never saw.\n" +
  "Cached work newer than its checkpoint is reused. Writes interference_dt_2t.arrow,\n" +
  "interference_dt_2t_groups.arrow, interference_dt_1.arrow, interference_dt_1_batches.arrow,\n" +
  "interference.md and figures zsl_f2 (D, M, |ΔL| vs t), zsl_f3 (D–M trajectory), zsl_f4 (one step) and,\n" +
  "for runs trained with --probe-every, zsl_probe (the live probe) as .vl.json/.svg/.png into --out.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    description: "output directory of tables and figures (default: RUN/interference for one run, else " +
      "<common parent>/interference)",
  },
  batches: {
    type: "string",
    short: "k",
    multiple: false,
    description: "unseen batches of the one-step analysis (the batches after the run's last step)",
    default: "5",
  },
  lr: {
    type: "string",
    short: "l",
    multiple: false,
    description: "learning rate of the one step: checkpoint (lr(t), the paper's), next (lr(t+1), the " +
      "trainer's), peak, or a number; the peak LR wherever the rate is 0",
    default: "checkpoint",
  },
  clip: {
    type: "string",
    short: "c",
    multiple: false,
    description: "gradient-norm clipping of the one step (0: none, the paper's)",
    default: "0",
  },
  "no-one-step": {
    type: "boolean",
    short: "n",
    multiple: false,
    description: "only Δ_t^{2t} (no one-step analysis, no optimizer state needed)",
  },
  "eval-sequences": {
    type: "string",
    short: "e",
    multiple: false,
    description: "use only the first N eval sequences (default: the whole eval split)",
  },
  "max-step": {
    type: "string",
    short: "s",
    multiple: false,
    description: "only checkpoints up to this step",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    description: "deceleration fit: fit only steps > this (default: as deno task decel)",
  },
  force: {
    type: "boolean",
    short: "f",
    multiple: false,
    description: "recompute everything, ignoring the caches",
  },
} as const;

/** The deepest directory containing every run directory. */
function commonParent(paths: string[]): string {
  const parents = paths.map((path) => dirname(resolve(path)).split("/").filter((part) => part.length > 0));
  const common: string[] = [];
  for (let i = 0; i < parents[0].length; i++) {
    if (parents.every((parent) => parent[i] === parents[0][i])) common.push(parents[0][i]);
    else break;
  }
  return "/" + common.join("/");
}

function parseLr(raw: string): OneStepLr {
  if (raw === "checkpoint" || raw === "next" || raw === "peak") return raw;
  const value = Number(raw);
  if (raw.trim() === "" || !(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`--lr must be checkpoint, next, peak or a positive number, got "${raw}"`);
  }
  return value;
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name} #${count}`;
  });
}

/** The fitted deceleration of a run (null when the fit fails or identifies no break). */
async function decelerationOf(
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
async function probeSeries(run: LoadedRun, band: [number, number] | null): Promise<ProbeSeries | null> {
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

function summaryLines(result: RunInterference, fit: SummaryBreak | null): string[] {
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

async function main(): Promise<void> {
  const { values, positionals } = parseArgs(Deno.args, COMMAND, SUMMARY, OPTIONS, true);
  if (positionals.length === 0) {
    throw new UsageError("give at least one run directory\nRun with --help for the options.");
  }
  const batches = numberOption(values, "batches") ?? 5;
  if (!Number.isInteger(batches) || batches < 1) throw new UsageError(`--batches must be a positive integer`);
  const clip = numberOption(values, "clip") ?? 0;
  if (!(clip >= 0)) throw new UsageError(`--clip must be ≥ 0`);
  const evalSequences = numberOption(values, "eval-sequences");
  if (evalSequences !== undefined && (!Number.isInteger(evalSequences) || evalSequences < 1)) {
    throw new UsageError(`--eval-sequences must be a positive integer`);
  }
  const maxStep = numberOption(values, "max-step");
  const minStep = numberOption(values, "min-step");
  const lr = parseLr(values.lr as string);
  const oneStep = !values["no-one-step"];
  const out = typeof values.out === "string"
    ? resolve(values.out)
    : positionals.length === 1
    ? join(resolve(positionals[0]), "interference")
    : join(commonParent(positionals), "interference");
  const runs: LoadedRun[] = [];
  for (const path of positionals) runs.push(await loadRun(path));
  await ensureWritableDirectory(out);
  const names = uniqueNames(runs.map((run) => run.info.name));
  runs.forEach((run, i) => (run.info.name = names[i]));

  let gpu: GpuDevice | null = null;
  const openDevice = async () => {
    gpu ??= await openGpu();
    return gpu;
  };
  const progress = new ProgressLine();
  const results: RunInterference[] = [];
  try {
    for (const run of runs) {
      const started = performance.now();
      results.push(
        await analyseRun(openDevice, run, {
          oneStep,
          batches,
          lr,
          clip,
          evalSequences,
          maxStep,
          force: values.force === true,
          onProgress: (text, done, total) => {
            const elapsed = (performance.now() - started) / 1000;
            const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
            progress.update(
              `${bar(total ? done / total : 1)} ${done}/${total} ${text} ETA ${formatDuration(eta)}`,
            );
          },
        }),
      );
    }
  } finally {
    progress.done();
    (gpu as GpuDevice | null)?.destroy();
  }

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
    written.push(name);
  }
  for (const [name, figure] of figures) {
    await writeRenderedChart(figure, join(out, name));
    written.push(`${name}.{vl.json,svg,png}`);
  }
  for (const result of results) {
    for (const line of summaryLines(result, breaks.get(result.name) ?? null)) console.log(line);
  }
  console.log(`wrote into ${out}: ${written.join(", ")}`);
}

if (import.meta.main) await runMain(main);
