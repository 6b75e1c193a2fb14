/**
 * Tables and report of the gradient-interference analysis (docs/method.md#gradient-interference), laid out like the loss
 * interference's (`src/analysis/interference/`):
 *
 * - per run, in `RUN/gradients/` (written by `run.ts`): `gradient_examples_step-NNNNNNN_<granularity>.arrow`,
 *   one row per example of a checkpoint — `sequence`, `position` (the predicted position s for token
 *   granularity, −1 for whole sequences), `predicted` Δ̂ℓ_i, `actual` Δℓ_i (NaN when not measured),
 *   `abs_predicted` Σ_j|p_ij|, `grad_sq` ‖g_i‖₂², `grad_abs` ‖g_i‖₁;
 * - per sweep, in `SWEEP/results/`: `gradient_interference.arrow` (one row per run, checkpoint and
 *   granularity), `gradient_coherence_histogram.arrow` (the C_j histogram of each of those rows),
 *   `gradients.md`, and figures F5–F8 (`zsl_f5` … `zsl_f8`, see `src/plot/gradients.ts`).
 *
 * @module
 */
import type { Columns, TableData } from "../../io/arrow.ts";
import { encodeArrow, numericColumn, readArrow } from "../../io/arrow.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import type { LoadedRun } from "../../train/run.ts";
import { join } from "../../util/path.ts";
import { renderGradientFigures } from "../../plot/gradients.ts";
import type { PredictionPanel } from "../../plot/gradients.ts";
import { writeRenderedChart } from "../../plot/render.ts";
import { decelerationOf } from "../interference/write.ts";
import type { SummaryBreak } from "../interference/tables.ts";
import { COHERENCE_BINS } from "./metrics.ts";
import type { GradientInterference, PredictionAgreement } from "./metrics.ts";

/**
 * The metrics of one checkpoint as the tables take them (`run.ts`'s `GradientCheckpoint` is one):
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
}

/** The gradient analysis of one run as the tables take it (`run.ts`'s `RunGradients` is one). */
export interface GradientTableRun {
  /** The run's name (lines and facets are keyed by it). */
  name: string;
  /** The run's directory (its `gradients/` holds the per-example tables F8 reads). */
  runDir: string;
  /** One entry per checkpoint and granularity measured, ascending by step. */
  checkpoints: GradientTableCheckpoint[];
}

/** How a run is named in the tables: its preset and total parameter count. */
export interface RunIdentity {
  /** The preset name (the run name when it has none). */
  model: string;
  /** Total parameters, the tied embedding counted once (NaN when unknown). */
  params: number;
}

/** Preset and total parameters of a run, from its run.json. */
export function runIdentity(run: LoadedRun): RunIdentity {
  const preset = run.info.preset;
  const total = Number(run.info.totalParams);
  return {
    model: typeof preset === "string" && preset !== "" ? preset : run.info.name,
    params: Number.isFinite(total) ? total : NaN,
  };
}

function checkGranularity(granularity: string): void {
  if (granularity !== "token" && granularity !== "sequence") {
    throw new Error(`zsl: granularity must be "token" or "sequence", got "${granularity}"`);
  }
}

/** The default per-run directory of the gradient analysis, `RUN/gradients`. */
export function gradientsDir(runDir: string): string {
  return join(runDir, "gradients");
}

/** File name of a checkpoint's per-example table: `gradient_examples_step-NNNNNNN_<granularity>.arrow`. */
export function exampleTableName(step: number, granularity: string): string {
  checkGranularity(granularity);
  if (!Number.isInteger(step) || step < 0) {
    throw new Error(`zsl: a checkpoint step is a whole number, got ${step}`);
  }
  return `gradient_examples_step-${String(step).padStart(7, "0")}_${granularity}.arrow`;
}

/** The per-example values of one checkpoint (all of one length, one entry per example). */
export interface ExampleRows {
  /** Row of the example's sequence in the analysed batch. */
  sequence: ArrayLike<number>;
  /** The predicted position s (token granularity), −1 for a whole sequence. */
  position: ArrayLike<number>;
  /** Δ̂ℓ_i = Σ_j p_ij. */
  predicted: ArrayLike<number>;
  /** The true Δℓ_i of the step (NaN where not measured). */
  actual: ArrayLike<number>;
  /** Σ_j |p_ij|. */
  absPredicted: ArrayLike<number>;
  /** ‖g_i‖₂². */
  gradSq: ArrayLike<number>;
  /** ‖g_i‖₁. */
  gradAbs: ArrayLike<number>;
}

const EXAMPLE_COLUMNS = [
  ["predicted", "predicted"],
  ["actual", "actual"],
  ["absPredicted", "abs_predicted"],
  ["gradSq", "grad_sq"],
  ["gradAbs", "grad_abs"],
] as const satisfies readonly (readonly [keyof ExampleRows, string])[];

/** Arrow columns of a per-example table (sequence and position int32, the rest float64). */
export function exampleTableColumns(rows: ExampleRows): Columns {
  const n = rows.predicted.length;
  for (const [field, value] of Object.entries(rows)) {
    if ((value as ArrayLike<number>).length !== n) {
      throw new Error(
        `zsl: the per-example table has ${(value as ArrayLike<number>).length} values of ${field} for ${n} ` +
          `examples: give one per example in every column`,
      );
    }
  }
  const columns: Columns = {
    sequence: Int32Array.from(rows.sequence),
    position: Int32Array.from(rows.position),
  };
  for (const [field, column] of EXAMPLE_COLUMNS) columns[column] = Float64Array.from(rows[field]);
  return columns;
}

/** Writes a checkpoint's per-example table to `path` (Arrow, atomically). */
export async function writeExampleTable(path: string, rows: ExampleRows): Promise<void> {
  await writeFileAtomic(path, encodeArrow(exampleTableColumns(rows)));
}

/** Reads a per-example table (sequence, position as Int32Array; the rest as Float64Array). */
export async function readExampleTable(path: string): Promise<ExampleRows> {
  const table = await readArrow(path);
  const numbers = (name: string) => numericColumn(table, name, path);
  return {
    sequence: Int32Array.from(numbers("sequence")),
    position: Int32Array.from(numbers("position")),
    predicted: numbers("predicted"),
    actual: numbers("actual"),
    absPredicted: numbers("abs_predicted"),
    gradSq: numbers("grad_sq"),
    gradAbs: numbers("grad_abs"),
  };
}

/** One row of `gradient_interference.arrow` (camelCase here; the Arrow columns are snake_case). */
export interface GradientInterferenceRow {
  /** Run name. */
  run: string;
  /** Preset name. */
  model: string;
  /** Total parameters. */
  params: number;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence". */
  granularity: string;
  /** Examples N. */
  examples: number;
  /** Coordinates J. */
  coordinates: number;
  /** Learning rate of δ. */
  lr: number;
  /** D(∇ℓ). */
  dGrad: number;
  /** Coordinates averaged in D(∇ℓ). */
  dGradCoordinates: number;
  /** Non-embedding coordinates whose gradient is 0 for every example (left out of D(∇ℓ)). */
  dGradZeroCoordinates: number;
  /** C_g. */
  cG: number;
  /** C_(u,G). */
  cUG: number;
  /** C_(u,g). */
  cUg: number;
  /** 1 − D(Δ̂ℓ). */
  oneMinusDPredicted: number;
  /** D(Δ̂ℓ). */
  dPredicted: number;
  /** M(Δ̂ℓ). */
  mPredicted: number;
  /** Relative error of the identity 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g). */
  identityError: number;
  /** ‖δ‖. */
  deltaNorm: number;
  /** ‖G‖, G the mean gradient. */
  meanGradNorm: number;
  /** Mean ‖g_i‖₂. */
  meanExampleGradNorm: number;
  /** Pearson correlation of Δ̂ℓ and Δℓ (NaN without Δℓ). */
  pearson: number;
  /** Spearman correlation of Δ̂ℓ and Δℓ. */
  spearman: number;
  /** Least-squares slope through 0 of Δℓ on Δ̂ℓ. */
  slope: number;
  /** Fraction of examples where Δ̂ℓ and Δℓ have the same sign. */
  signAgreement: number;
  /** Median |Δ̂ℓ − Δℓ|/|Δℓ|. */
  medianRelativeError: number;
  /** Seconds the measurement took. */
  seconds: number;
  /** Sequences whose examples were measured (NaN when not recorded). */
  sequences: number;
  /** Rows back-propagated by the per-example backward (NaN when not recorded). */
  rowsBackpropagated: number;
}

/** The Arrow column of each numeric field of {@linkcode GradientInterferenceRow}, in table order. */
const NUMERIC_COLUMNS = [
  ["params", "params"],
  ["step", "step"],
  ["examples", "examples"],
  ["coordinates", "coordinates"],
  ["lr", "lr"],
  ["dGrad", "d_grad"],
  ["dGradCoordinates", "d_grad_coordinates"],
  ["dGradZeroCoordinates", "d_grad_zero_coordinates"],
  ["cG", "c_g"],
  ["cUG", "c_u_G"],
  ["cUg", "c_u_g"],
  ["oneMinusDPredicted", "one_minus_d_pred"],
  ["dPredicted", "d_pred"],
  ["mPredicted", "m_pred"],
  ["identityError", "identity_error"],
  ["deltaNorm", "delta_norm"],
  ["meanGradNorm", "mean_grad_norm"],
  ["meanExampleGradNorm", "mean_example_grad_norm"],
  ["pearson", "pearson"],
  ["spearman", "spearman"],
  ["slope", "slope"],
  ["signAgreement", "sign_agreement"],
  ["medianRelativeError", "median_relative_error"],
  ["seconds", "seconds"],
  ["sequences", "sequences"],
  ["rowsBackpropagated", "rows_backpropagated"],
] as const satisfies readonly (readonly [keyof GradientInterferenceRow, string])[];

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
    }))
  );
}

/**
 * Arrow columns of `gradient_interference.arrow`: run, model, params, step, granularity, examples,
 * coordinates, lr, d_grad, d_grad_coordinates, d_grad_zero_coordinates, c_g, c_u_G, c_u_g,
 * one_minus_d_pred, d_pred, m_pred, identity_error, delta_norm, mean_grad_norm,
 * mean_example_grad_norm, pearson, spearman, slope, sign_agreement, median_relative_error, seconds,
 * sequences, rows_backpropagated.
 */
export function gradientInterferenceColumns(rows: GradientInterferenceRow[]): Columns {
  const columns: Columns = { run: rows.map((r) => r.run), model: rows.map((r) => r.model) };
  for (const [field, column] of NUMERIC_COLUMNS) {
    columns[column] = field === "step"
      ? Int32Array.from(rows, (r) => r.step)
      : Float64Array.from(rows, (r) => r[field]);
    // Documented column order: granularity right after step.
    if (field === "step") columns.granularity = rows.map((r) => r.granularity);
  }
  return columns;
}

function stringColumn(table: TableData, name: string, source: string): string[] {
  const column = table.columns[name];
  if (!column) {
    throw new Error(`zsl: ${source} has no column "${name}" (columns: ${table.names.join(", ")})`);
  }
  return Array.from(column, (value) => String(value));
}

/** Reads `gradient_interference.arrow` back into rows. */
export async function readGradientInterference(path: string): Promise<GradientInterferenceRow[]> {
  const table = await readArrow(path);
  const run = stringColumn(table, "run", path);
  const model = stringColumn(table, "model", path);
  const granularity = stringColumn(table, "granularity", path);
  const numbers = NUMERIC_COLUMNS.map(([field, column]) =>
    [field, numericColumn(table, column, path)] as const
  );
  return Array.from({ length: table.numRows }, (_, i) => {
    const row = { run: run[i], model: model[i], granularity: granularity[i] } as Record<string, unknown>;
    for (const [field, values] of numbers) row[field] = values[i];
    return row as unknown as GradientInterferenceRow;
  });
}

/** One row of `gradient_coherence_histogram.arrow`: the count of C_j in [binLo, binHi). */
export interface CoherenceHistogramRow {
  /** Run name. */
  run: string;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence". */
  granularity: string;
  /** Lower edge of the bin. */
  binLo: number;
  /** Upper edge of the bin (the last bin includes 1). */
  binHi: number;
  /** Non-embedding coordinates with C_j in the bin. */
  count: number;
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

/** Arrow columns of `gradient_coherence_histogram.arrow`: run, step, granularity, bin_lo, bin_hi, count. */
export function coherenceHistogramColumns(rows: CoherenceHistogramRow[]): Columns {
  return {
    run: rows.map((r) => r.run),
    step: Int32Array.from(rows, (r) => r.step),
    granularity: rows.map((r) => r.granularity),
    bin_lo: Float64Array.from(rows, (r) => r.binLo),
    bin_hi: Float64Array.from(rows, (r) => r.binHi),
    count: Float64Array.from(rows, (r) => r.count),
  };
}

/** Reads `gradient_coherence_histogram.arrow` back into rows. */
export async function readCoherenceHistogram(path: string): Promise<CoherenceHistogramRow[]> {
  const table = await readArrow(path);
  const run = stringColumn(table, "run", path);
  const granularity = stringColumn(table, "granularity", path);
  const step = numericColumn(table, "step", path);
  const binLo = numericColumn(table, "bin_lo", path);
  const binHi = numericColumn(table, "bin_hi", path);
  const count = numericColumn(table, "count", path);
  return Array.from({ length: table.numRows }, (_, i) => ({
    run: run[i],
    step: step[i],
    granularity: granularity[i],
    binLo: binLo[i],
    binHi: binHi[i],
    count: count[i],
  }));
}

function format(value: number, digits = 4): string {
  if (!Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4)
    ? value.toExponential(2)
    : value.toFixed(digits);
}

/** Markdown tables of the gradient-interference metrics, one per run. */
export function gradientMarkdown(
  results: GradientTableRun[],
  breaks: Map<string, SummaryBreak | null> = new Map(),
): string {
  const lines = ["# Gradient interference", ""];
  lines.push(
    "Per-example gradients g_i at checkpoint t and the one-step update δ (docs/method.md#gradient-interference). D(∇ℓ): mean " +
      "per-coordinate interference 1 − |Σ_i g_ij| / Σ_i |g_ij| over non-embedding coordinates. C_g, " +
      "C_(u,G), C_(u,g): coherences of p_ij = g_ij·δ_j; 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g). M(Δ̂ℓ): mean " +
      "|g_i·δ|. r, slope: Pearson correlation and slope through 0 of the true Δℓ_i on Δ̂ℓ_i.",
    "",
  );
  for (const result of results) {
    const fit = breaks.get(result.name);
    lines.push(`## ${result.name}`, "");
    if (fit) {
      lines.push(
        `Deceleration t_d = ${Math.round(fit.tD)} (${Math.round(fit.tDRange[0])}–${
          Math.round(fit.tDRange[1])
        }).`,
        "",
      );
    }
    lines.push(
      "| t | examples | N | D(∇ℓ) | C_g | C_(u,G) | C_(u,g) | 1 − D(Δ̂ℓ) | M(Δ̂ℓ) | ‖δ‖ | ‖G‖ | r | slope |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const c of result.checkpoints) {
      lines.push(
        `| ${c.step} | ${c.granularity} | ${c.examples} | ${format(c.dGrad)} | ${format(c.cG)} | ` +
          `${format(c.cUG)} | ${format(c.cUg)} | ${format(c.oneMinusDPredicted)} | ${
            format(c.mPredicted)
          } | ` +
          `${format(c.deltaNorm)} | ${format(c.meanGradientNorm)} | ${
            format(c.agreement?.pearson ?? NaN, 3)
          } | ` +
          `${format(c.agreement?.slope ?? NaN, 3)} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Reads the per-example tables of `results` that exist and have true loss changes, for figure F8
 * (missing ones are skipped). `cacheDirOf` gives a run's table directory (default `RUN/gradients`).
 */
export async function predictionPanels(
  results: GradientTableRun[],
  cacheDirOf: (result: GradientTableRun) => string = (result) => gradientsDir(result.runDir),
): Promise<PredictionPanel[]> {
  const panels: PredictionPanel[] = [];
  for (const result of results) {
    const dir = cacheDirOf(result);
    for (const c of result.checkpoints) {
      const path = join(dir, exampleTableName(c.step, c.granularity));
      // A checkpoint measured without its per-example table is skipped; a table that exists but
      // cannot be read is an error.
      if (!(await exists(path))) continue;
      const examples = await readExampleTable(path);
      if (!Array.from(examples.actual).some(Number.isFinite)) continue;
      panels.push({
        run: result.name,
        step: c.step,
        granularity: c.granularity,
        predicted: examples.predicted,
        actual: examples.actual,
      });
    }
  }
  return panels;
}

/** Options of {@linkcode writeGradientReport}. */
export interface GradientReportOptions {
  /** Fitted breaks by run name (default: fitted here from each run's loss curve). */
  breaks?: Map<string, SummaryBreak | null>;
  /** Smallest step of the deceleration fit when the breaks are fitted here. */
  minStep?: number;
  /** A run's per-example table directory (default `RUN/gradients`), for F8. */
  cacheDirOf?: (result: GradientTableRun) => string;
}

/**
 * Writes the sweep-level tables (`gradient_interference.arrow`, `gradient_coherence_histogram.arrow`,
 * `gradients.md`) and figures F5–F8 (`zsl_f5` … `zsl_f8`, each `.vl.json`, `.svg`, `.png`) of
 * `results` (one per run of `runs`, matched by name: `runs` give the preset, parameter count and fitted
 * deceleration band; `analyseRunGradients` results fit `results` as they are) into `out`. F8 reads each run's per-example tables and is left out
 * when none has true loss changes. Everything is rendered before the first file is written.
 */
export async function writeGradientReport(
  runs: LoadedRun[],
  results: GradientTableRun[],
  out: string,
  options: GradientReportOptions = {},
): Promise<{ written: string[]; breaks: Map<string, SummaryBreak | null> }> {
  const breaks = options.breaks ?? new Map<string, SummaryBreak | null>();
  if (!options.breaks) {
    for (const run of runs) breaks.set(run.info.name, await decelerationOf(run, options.minStep));
  }
  const identities = new Map(runs.map((run) => [run.info.name, runIdentity(run)]));
  const rows = gradientInterferenceRows(results, identities);
  const histogram = coherenceHistogramRows(results);
  const bands = new Map([...breaks].map(([name, fit]) => [name, fit?.tDRange ?? null]));
  const figures = rows.length > 0
    ? await renderGradientFigures({
      rows,
      histogram,
      panels: await predictionPanels(results, options.cacheDirOf),
      bands,
    })
    : [];
  const tables: [string, Uint8Array | string][] = [
    ["gradient_interference.arrow", encodeArrow(gradientInterferenceColumns(rows))],
    ["gradient_coherence_histogram.arrow", encodeArrow(coherenceHistogramColumns(histogram))],
    ["gradients.md", gradientMarkdown(results, breaks)],
  ];
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
