/**
 * The gradient-interference artefacts (METHOD.md §6).
 *
 * Per sweep, in `SWEEP/results/` (or `--out`): `gradient_interference.arrow` (one
 * {@linkcode GradientInterferenceRow} per run, checkpoint and granularity),
 * `gradient_coherence_histogram.arrow` (the C_j histogram of each of those rows), `gradients.md`, and
 * figures F5–F8 (`zsl_f5` … `zsl_f8`).
 *
 * Per run, the cache in `RUN/gradients/`: `gradients_step-NNNNNNN_<granularity>.json` (the settings and
 * metrics of a checkpoint), `gradient_examples_step-NNNNNNN_<granularity>.arrow` (its per-example values:
 * {@linkcode ExampleRows}) and, when asked for, `projections_step-NNNNNNN_<granularity>.{npy,arrow,json}`.
 *
 * @module
 */
import type { Columns } from "../io/arrow.ts";
import { encodeArrow, numericColumn, readArrow } from "../io/arrow.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { jsonWithNulls, nullsToNaN, readCachedJson } from "../util/files.ts";
import { join } from "../util/path.ts";
import { type TableSchema, tableSchema } from "./table.ts";

/** `gradients.md`: the metrics of every run in Markdown. */
export const GRADIENT_MARKDOWN = "gradients.md";

/** Base names of figures F5–F8. */
export const GRADIENT_FIGURES = {
  /** F5: D(∇ℓ) against t. */
  interference: "zsl_f5",
  /** F6: the C_j histogram per checkpoint. */
  histogram: "zsl_f6",
  /** F7: the coherences against t. */
  coherence: "zsl_f7",
  /** F8: true against predicted per-example loss changes. */
  prediction: "zsl_f8",
} as const;

/** What an example is: a predicted token (the paper's) or a whole sequence. */
export type Granularity = "token" | "sequence";

/** One row of `gradient_interference.arrow`: the metrics of one run, checkpoint and granularity. */
export interface GradientInterferenceRow {
  /** `run` (utf8): the run's name. */
  run: string;
  /** `model` (utf8): its preset (the run name when it has none). */
  model: string;
  /** `params` (float64): total parameters, the tied embedding once (NaN when unknown). */
  params: number;
  /** `step` (int32, steps): the checkpoint t. */
  step: number;
  /** `granularity` (utf8): "token" or "sequence". */
  granularity: string;
  /** `examples` (float64): examples N. */
  examples: number;
  /** `coordinates` (float64): coordinates J, embedding included. */
  coordinates: number;
  /** `lr` (float64): learning rate of the one-step update δ. */
  lr: number;
  /** `d_grad` (float64): D(∇ℓ), the mean per-coordinate interference over non-embedding coordinates. */
  dGrad: number;
  /** `d_grad_coordinates` (float64): coordinates averaged in D(∇ℓ). */
  dGradCoordinates: number;
  /** `d_grad_zero_coordinates` (float64): non-embedding coordinates left out (every example's gradient 0). */
  dGradZeroCoordinates: number;
  /** `c_g` (float64): C_g = Σ_j|Σ_i p_ij| / Σ_jΣ_i|p_ij|. */
  cG: number;
  /** `c_u_G` (float64): C_(u,G) = |Σ_jΣ_i p_ij| / Σ_j|Σ_i p_ij|. */
  cUG: number;
  /** `c_u_g` (float64): C_(u,g) = Σ_i|Σ_j p_ij| / Σ_iΣ_j|p_ij|. */
  cUg: number;
  /** `one_minus_d_pred` (float64): 1 − D(Δ̂ℓ). */
  oneMinusDPredicted: number;
  /** `d_pred` (float64): D(Δ̂ℓ). */
  dPredicted: number;
  /** `m_pred` (float64, nats): M(Δ̂ℓ) = Σ_i|Δ̂ℓ_i| / N. */
  mPredicted: number;
  /**
   * `identity_error` (float64): |1 − D(Δ̂ℓ) − C_g·C_(u,G)/C_(u,g)|, absolute (both sides are fractions in
   * [0, 1]); NaN when a side is undefined.
   */
  identityError: number;
  /** `delta_norm` (float64): ‖δ‖₂. */
  deltaNorm: number;
  /** `mean_grad_norm` (float64): ‖G‖₂ of the mean gradient G. */
  meanGradNorm: number;
  /** `mean_example_grad_norm` (float64): mean over examples of ‖g_i‖₂. */
  meanExampleGradNorm: number;
  /** `pearson` (float64): Pearson correlation of Δ̂ℓ and Δℓ (NaN without Δℓ). */
  pearson: number;
  /** `spearman` (float64): Spearman correlation of Δ̂ℓ and Δℓ. */
  spearman: number;
  /** `slope` (float64): least-squares slope through 0 of Δℓ on Δ̂ℓ. */
  slope: number;
  /** `sign_agreement` (float64): fraction of examples where Δ̂ℓ and Δℓ have the same sign. */
  signAgreement: number;
  /** `median_relative_error` (float64): median |Δ̂ℓ − Δℓ|/|Δℓ|. */
  medianRelativeError: number;
  /** `seconds` (float64, s): wall time of the per-example statistics. */
  seconds: number;
  /** `sequences` (float64): sequences whose examples were measured (NaN when not recorded). */
  sequences: number;
  /** `rows_backpropagated` (float64): rows the per-example backward processed (NaN when not recorded). */
  rowsBackpropagated: number;
}

/** `gradient_interference.arrow`: {@linkcode GradientInterferenceRow}s in run, then checkpoint order. */
export const GRADIENT_TABLE: TableSchema<GradientInterferenceRow> = tableSchema(
  "gradient_interference.arrow",
  {
    run: ["run", "string"],
    model: ["model", "string"],
    params: ["params", "float64"],
    step: ["step", "int32"],
    granularity: ["granularity", "string"],
    examples: ["examples", "float64"],
    coordinates: ["coordinates", "float64"],
    lr: ["lr", "float64"],
    d_grad: ["dGrad", "float64"],
    d_grad_coordinates: ["dGradCoordinates", "float64"],
    d_grad_zero_coordinates: ["dGradZeroCoordinates", "float64"],
    c_g: ["cG", "float64"],
    c_u_G: ["cUG", "float64"],
    c_u_g: ["cUg", "float64"],
    one_minus_d_pred: ["oneMinusDPredicted", "float64"],
    d_pred: ["dPredicted", "float64"],
    m_pred: ["mPredicted", "float64"],
    identity_error: ["identityError", "float64"],
    delta_norm: ["deltaNorm", "float64"],
    mean_grad_norm: ["meanGradNorm", "float64"],
    mean_example_grad_norm: ["meanExampleGradNorm", "float64"],
    pearson: ["pearson", "float64"],
    spearman: ["spearman", "float64"],
    slope: ["slope", "float64"],
    sign_agreement: ["signAgreement", "float64"],
    median_relative_error: ["medianRelativeError", "float64"],
    seconds: ["seconds", "float64"],
    sequences: ["sequences", "float64"],
    rows_backpropagated: ["rowsBackpropagated", "float64"],
  },
);

/** One row of `gradient_coherence_histogram.arrow`: how many C_j = 1 − D_j fall in [binLo, binHi). */
export interface CoherenceHistogramRow {
  /** `run` (utf8). */
  run: string;
  /** `step` (int32, steps). */
  step: number;
  /** `granularity` (utf8). */
  granularity: string;
  /** `bin_lo` (float64): lower edge of the bin. */
  binLo: number;
  /** `bin_hi` (float64): upper edge (the last bin includes 1). */
  binHi: number;
  /** `count` (float64): non-embedding coordinates with C_j in the bin. */
  count: number;
}

/** `gradient_coherence_histogram.arrow`: 100 {@linkcode CoherenceHistogramRow}s per run, checkpoint, granularity. */
export const COHERENCE_HISTOGRAM_TABLE: TableSchema<CoherenceHistogramRow> = tableSchema(
  "gradient_coherence_histogram.arrow",
  {
    run: ["run", "string"],
    step: ["step", "int32"],
    granularity: ["granularity", "string"],
    bin_lo: ["binLo", "float64"],
    bin_hi: ["binHi", "float64"],
    count: ["count", "float64"],
  },
);

/** The per-run cache directory of the gradient analysis, `RUN/gradients`. */
export function gradientsDir(runDir: string): string {
  return join(runDir, "gradients");
}

function stepAndGranularity(step: number, granularity: string): string {
  if (granularity !== "token" && granularity !== "sequence") {
    throw new Error(`zsl: granularity must be "token" or "sequence", got "${granularity}"`);
  }
  if (!Number.isInteger(step) || step < 0) {
    throw new Error(`zsl: a checkpoint step is a whole number, got ${step}`);
  }
  return `step-${String(step).padStart(7, "0")}_${granularity}`;
}

/** `gradients_step-NNNNNNN_<granularity>.json`: a checkpoint's cached settings and metrics. */
export function gradientCacheFile(step: number, granularity: string): string {
  return `gradients_${stepAndGranularity(step, granularity)}.json`;
}

/** `gradient_examples_step-NNNNNNN_<granularity>.arrow`: a checkpoint's per-example table. */
export function exampleTableFile(step: number, granularity: string): string {
  return `gradient_examples_${stepAndGranularity(step, granularity)}.arrow`;
}

/** `projections_step-NNNNNNN_<granularity>` (no extension): a checkpoint's projected gradients. */
export function projectionFilesBase(step: number, granularity: string): string {
  return `projections_${stepAndGranularity(step, granularity)}`;
}

/** A gradient cache file: the settings the result was made with, and the result (NaN kept). */
export interface GradientCache {
  /** Settings (granularity, sequences, learning rate, optimizer, …): a change recomputes the result. */
  settings: unknown;
  /** The checkpoint's metrics as the analysis returned them. */
  result: unknown;
}

/** Writes a gradient cache file (NaN written as null). */
export async function writeGradientCache(path: string, cache: GradientCache): Promise<void> {
  await writeJsonAtomic(path, { settings: cache.settings, result: JSON.parse(jsonWithNulls(cache.result)) });
}

/** Reads a gradient cache file (null read back as NaN in the result), or null when missing or unreadable. */
export async function readGradientCache(path: string): Promise<GradientCache | null> {
  const cached = await readCachedJson(path) as GradientCache | null;
  return cached ? { settings: cached.settings, result: nullsToNaN(cached.result) } : null;
}

/** The per-example values of one checkpoint (all of one length, one entry per example). */
export interface ExampleRows {
  /** `sequence` (int32): row of the example's sequence in the analysed batch. */
  sequence: ArrayLike<number>;
  /** `position` (int32): the predicted position s (token granularity), −1 for a whole sequence. */
  position: ArrayLike<number>;
  /** `predicted` (float64, nats): Δ̂ℓ_i = Σ_j p_ij. */
  predicted: ArrayLike<number>;
  /** `actual` (float64, nats): the true Δℓ_i of the step (NaN where not measured). */
  actual: ArrayLike<number>;
  /** `abs_predicted` (float64, nats): Σ_j |p_ij|. */
  absPredicted: ArrayLike<number>;
  /** `grad_sq` (float64): ‖g_i‖₂². */
  gradSq: ArrayLike<number>;
  /** `grad_abs` (float64): ‖g_i‖₁. */
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
  const rows: Record<string, ArrayLike<number>> = {
    sequence: Int32Array.from(numbers("sequence")),
    position: Int32Array.from(numbers("position")),
  };
  for (const [field, column] of EXAMPLE_COLUMNS) rows[field] = numbers(column);
  return rows as unknown as ExampleRows;
}
