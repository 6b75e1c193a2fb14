/**
 * The gradient-interference artefacts (docs/method.md#gradient-interference).
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
  /** The gradient noise scale B_simple beside D(∇ℓ) against t (docs/method.md#gradient-noise-scale). */
  noiseScale: "gradient_noise_scale",
} as const;

/** What an example is: a predicted token (the paper's) or a whole sequence. */
export type Granularity = "token" | "sequence";

/** The metrics of gradient interference over N examples and J coordinates (docs/method.md#gradient-interference), p_ij = g_ij·δ_j. */
export interface GradientMetrics {
  /** Examples N. */
  examples: number;
  /** Coordinates J (embedding included). */
  coordinates: number;
  /** D(∇ℓ): mean D_j over the non-embedding coordinates with a defined D_j (NaN when there are none). */
  dGrad: number;
  /** Coordinates averaged in D(∇ℓ). */
  dGradCoordinates: number;
  /** Non-embedding coordinates left out of D(∇ℓ) because every example's gradient is 0 there. */
  dGradZeroCoordinates: number;
  /** C_g = Σ_j|Σ_i p_ij| / Σ_jΣ_i|p_ij| (NaN when Σ|p| = 0: δ = 0 or all-zero gradients). */
  cG: number;
  /** C_(u,G) = |Σ_jΣ_i p_ij| / Σ_j|Σ_i p_ij| (NaN when Σ_j|Σ_i p_ij| = 0). */
  cUG: number;
  /** C_(u,g) = Σ_i|Σ_j p_ij| / Σ_iΣ_j|p_ij| (NaN when Σ|p| = 0). */
  cUg: number;
  /** 1 − D(Δ̂ℓ) = |Σ_i Δ̂ℓ_i| / Σ_i|Δ̂ℓ_i| (NaN when every Δ̂ℓ_i = 0). */
  oneMinusDPredicted: number;
  /** D(Δ̂ℓ), the loss-interference D of the predicted changes. */
  dPredicted: number;
  /** M(Δ̂ℓ) = Σ_i|Δ̂ℓ_i| / N (nats). */
  mPredicted: number;
  /**
   * |left − right| for the identity left = 1 − D(Δ̂ℓ) (per-example path), right = C_g·C_(u,G)/C_(u,g)
   * (NaN when a side is undefined). Absolute: both sides are fractions in [0, 1], so this is an error on
   * the scale of 1 − D itself; a relative error would blow up float32 rounding by 1/(1 − D(Δ̂ℓ)) once
   * nearly everything cancels, and say nothing about whether the metrics can be trusted.
   */
  identityError: number;
  /** ‖δ‖₂. */
  deltaNorm: number;
  /** Mean over examples of ‖g_i‖₂. */
  meanExampleGradNorm: number;
  /** Mean over examples of ‖g_i‖₂² (every coordinate, the embedding included). */
  meanExampleGradSq: number;
  /**
   * tr(Σ): the unbiased estimate N/(N − 1)·(mean ‖g_i‖² − ‖G‖²) of the trace of the per-example gradient
   * covariance (docs/method.md#gradient-noise-scale; NaN for N = 1).
   */
  noiseTrace: number;
  /** ‖𝔼g‖²: the unbiased estimate (N·‖G‖² − mean ‖g_i‖²)/(N − 1) of the squared true mean gradient. */
  gradSqUnbiased: number;
  /**
   * B_simple = tr(Σ)/‖𝔼g‖² (McCandlish et al. 2018), in examples of the row's granularity (tokens or
   * sequences); NaN when the estimate of ‖𝔼g‖² is ≤ 0 (noise swamps the mean gradient at this N).
   */
  bSimple: number;
}

/**
 * One row of `gradient_interference.arrow`: the metrics of one run, checkpoint and granularity. The
 * columns are snake_case ({@linkcode GRADIENT_TABLE} maps them; all float64 but `step` int32 and the
 * strings), in the order run, model, params, step, granularity, then the metrics.
 */
export interface GradientInterferenceRow extends GradientMetrics {
  /** `run` (utf8): the run's name. */
  run: string;
  /** `model` (utf8): its preset (the run name when it has none). */
  model: string;
  /** `params`: total parameters, the tied embedding once (NaN when unknown). */
  params: number;
  /** `step` (int32, steps): the checkpoint t. */
  step: number;
  /** `granularity` (utf8): "token" or "sequence". */
  granularity: string;
  /** `lr`: learning rate of the one-step update δ. */
  lr: number;
  /** `mean_grad_norm`: ‖G‖₂ of the mean gradient G. */
  meanGradNorm: number;
  /** `pearson`: Pearson correlation of Δ̂ℓ and Δℓ (NaN without Δℓ). */
  pearson: number;
  /** `spearman`: Spearman correlation of Δ̂ℓ and Δℓ. */
  spearman: number;
  /** `slope`: least-squares slope through 0 of Δℓ on Δ̂ℓ. */
  slope: number;
  /** `sign_agreement`: fraction of examples where Δ̂ℓ and Δℓ have the same sign. */
  signAgreement: number;
  /** `median_relative_error`: median |Δ̂ℓ − Δℓ|/|Δℓ|. */
  medianRelativeError: number;
  /** `seconds` (s): wall time of the per-example statistics. */
  seconds: number;
  /** `sequences`: sequences whose examples were measured (NaN when not recorded). */
  sequences: number;
  /** `rows_backpropagated`: rows the per-example backward processed (NaN when not recorded). */
  rowsBackpropagated: number;
  /**
   * `b_simple_tokens` (tokens): B_simple in predicted tokens: `b_simple` of token rows, `b_simple`·(T − 1)
   * of sequence rows (a sequence predicts T − 1 tokens).
   */
  bSimpleTokens: number;
  /** `batch_examples`: the run's batch in the row's examples: sequences, or sequences·(T − 1) tokens. */
  batchExamples: number;
  /** `batch_tokens` (tokens): the run's batch in predicted tokens, sequences·(T − 1). */
  batchTokens: number;
  /**
   * `jvp_max_abs_difference` (nats): max_i |Δ̂ℓ_i by the forward-mode tangent − Δ̂ℓ_i by the per-example
   * gradients|, the cross-check of the two paths (NaN when not recorded).
   */
  jvpMaxAbsDifference: number;
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
    mean_example_grad_sq: ["meanExampleGradSq", "float64"],
    noise_trace: ["noiseTrace", "float64"],
    grad_sq_unbiased: ["gradSqUnbiased", "float64"],
    b_simple: ["bSimple", "float64"],
    b_simple_tokens: ["bSimpleTokens", "float64"],
    batch_examples: ["batchExamples", "float64"],
    batch_tokens: ["batchTokens", "float64"],
    jvp_max_abs_difference: ["jvpMaxAbsDifference", "float64"],
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
