/**
 * Figures F5–F8 (docs/method.md#figures) of gradient interference:
 *
 * - F5: D(∇ℓ), the mean per-coordinate gradient interference, against the checkpoint step t (log x),
 *   one line per model, the deceleration band (union of the fitted t_d ranges) shaded;
 * - F6: the distribution of C_j = 1 − D_j per checkpoint as a heatmap (x: checkpoint step, ordinal;
 *   y: C_j bin; colour: fraction of coordinates, log scale), one facet per model;
 * - F7: C_g and C_(u,G)/C_(u,g) against t on log₂ y axes, two panels, one line per model;
 * - F8: 2-D histograms of the true Δℓ_i (x) against the predicted Δ̂ℓ_i = g_i·δ (y), one facet per
 *   checkpoint, ranges fitted to the values, the y = x line dashed. The binning is done here (a table of counts,
 *   not millions of points, goes into the spec).
 *
 * The builders are pure functions of plain rows (`src/report/figures.ts` makes them from the result
 * tables), so notebooks can call them on tables read back from disk.
 *
 * @module
 */
import type { VegaLiteSpec } from "./render.ts";
import type { Band, FigureOptions, Spec } from "./style.ts";
import {
  colorByModel,
  figure,
  linePanel,
  log2Domain,
  modelNames,
  stepAxis,
  tickLabelExpression,
  unitDomain,
} from "./style.ts";

/** The metrics of one checkpoint that F5 and F7 plot. */
export interface GradientMetricRow {
  /** The model (line colour). */
  model: string;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence" (line dash when both are present). */
  granularity: string;
  /** D(∇ℓ). */
  dGrad: number;
  /** C_g. */
  cG: number;
  /** C_(u,G). */
  cUG: number;
  /** C_(u,g). */
  cUg: number;
}

/** One bin of the C_j histogram of one checkpoint (F6). */
export interface CoherenceBinRow {
  /** The model (facet). */
  model: string;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence". */
  granularity: string;
  /** Lower edge of the C_j bin. */
  binLo: number;
  /** Upper edge of the C_j bin. */
  binHi: number;
  /** Coordinates in the bin. */
  count: number;
}

/** One facet of F8: the per-example predicted and true loss changes of one checkpoint. */
export interface PredictionPanel {
  /** The model. */
  model: string;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence". */
  granularity: string;
  /** Δ̂ℓ_i, one per example. */
  predicted: ArrayLike<number>;
  /** The true Δℓ_i, one per example (non-finite pairs are skipped). */
  actual: ArrayLike<number>;
}

/** Options of the gradient figures. */
export interface GradientFigureOptions extends FigureOptions {
  /** The deceleration band [from, to] in steps shaded on F5 and F7 (default none). */
  band?: Band;
}

/** Options of F6. */
export interface CoherenceHistogramFigureOptions extends GradientFigureOptions {
  /** Which granularity to show (default "token" when present, else the first one found). */
  granularity?: string;
}

/** Options of F8. */
export interface PredictionFigureOptions extends GradientFigureOptions {
  /** Bins along each axis (default 40). */
  bins?: number;
  /**
   * The share of the values each facet's range holds: it spans the (1 − q) to q quantiles of the true and
   * predicted changes together; values beyond go to the edge bins (default 0.999).
   */
  quantile?: number;
  /** Facets per row (default: the checkpoints shown per run, at most 6, so that each run is a row). */
  columns?: number;
  /**
   * Checkpoints shown per run and granularity (default 6): the first, the last, the one nearest the
   * deceleration band and others spread evenly between; Infinity shows every one.
   */
  maxPanelsPerRun?: number;
}

/** Dashes by granularity, only when both granularities are on the figure. */
function dashEncoding(rows: { granularity: string }[]): Spec {
  const kinds = [...new Set(rows.map((row) => row.granularity))].sort().reverse(); // token first
  if (kinds.length < 2) return {};
  return {
    strokeDash: {
      field: "granularity",
      type: "nominal",
      title: "Example",
      scale: { domain: kinds, range: kinds.map((_, i) => (i === 0 ? [1, 0] : [5, 3])) },
      legend: { orient: "bottom" },
    },
  };
}

/** A line per model (and granularity) of one metric of `rows` against the step. */
function metricPanel(
  rows: Spec[],
  y: Spec,
  x: Spec,
  color: Spec,
  band: Band,
  size: { width: number; height: number },
  subtitle?: string,
): Spec {
  return linePanel(rows, {
    x,
    y,
    color,
    band,
    size,
    subtitle,
    lineEncoding: { detail: { field: "granularity" }, ...dashEncoding(rows as { granularity: string }[]) },
    tooltip: ["model", "granularity", "step"],
  });
}

/**
 * Figure F5: D(∇ℓ) against the checkpoint step t (log₂ x), one line per run (dashed for sequence
 * granularity when both granularities are present), the deceleration band shaded.
 */
export function gradientInterferenceFigureSpec(
  rows: GradientMetricRow[],
  options: GradientFigureOptions = {},
): VegaLiteSpec {
  const points = rows.filter((row) => Number.isFinite(row.dGrad) && row.step > 0)
    .map((row) => ({ model: row.model, step: row.step, granularity: row.granularity, dGrad: row.dGrad }));
  if (points.length === 0) {
    throw new Error("zsl: figure F5 needs at least one checkpoint with a finite D(∇ℓ)");
  }
  const x = stepAxis(points.map((p) => p.step), "Checkpoint step t");
  const y = {
    field: "dGrad",
    type: "quantitative",
    title: "D(∇ℓ) (mean per-coordinate interference)",
    scale: { domain: unitDomain(points.map((p) => p.dGrad)), nice: false, zero: false },
    axis: { grid: true, gridDash: [1, 2] },
  };
  const color = colorByModel(modelNames(rows, options), options.scheme);
  const size = { width: options.width ?? 360, height: options.height ?? 260 };
  return figure(
    options.title ?? "Per-coordinate gradient interference D(∇ℓ) (non-embedding parameters)",
    metricPanel(points, y, x, color, options.band ?? null, size),
  );
}

/**
 * Figure F7: C_g (left) and C_(u,G)/C_(u,g) (right) against t, log₂ y axes, one line per run, the
 * deceleration band shaded. Their product is 1 − D(Δ̂ℓ).
 */
export function coherenceFigureSpec(
  rows: GradientMetricRow[],
  options: GradientFigureOptions = {},
): VegaLiteSpec {
  const points = rows.filter((row) => row.step > 0).map((row) => ({
    model: row.model,
    step: row.step,
    granularity: row.granularity,
    cG: row.cG,
    ratio: row.cUG / row.cUg,
  }));
  const usable = (field: "cG" | "ratio") => points.filter((p) => Number.isFinite(p[field]) && p[field] > 0);
  const cG = usable("cG");
  const ratio = usable("ratio");
  if (cG.length === 0 && ratio.length === 0) {
    throw new Error("zsl: figure F7 needs at least one checkpoint with positive, finite coherences");
  }
  const color = colorByModel(modelNames(rows, options), options.scheme);
  const x = stepAxis([...cG, ...ratio].map((p) => p.step), "Checkpoint step t");
  const size = { width: options.width ?? 280, height: options.height ?? 240 };
  const band = options.band ?? null;
  const log2 = (field: string, title: string, values: number[]) => ({
    field,
    type: "quantitative",
    title,
    scale: { type: "log", base: 2, domain: log2Domain(values), nice: false },
    axis: { grid: true, gridDash: [1, 2], format: ".2~g" },
  });
  return figure(options.title ?? "Coherence of the per-example first-order loss changes p_ij = g_ij·δ_j", {
    hconcat: [
      metricPanel(
        cG,
        log2("cG", "C_g", cG.map((p) => p.cG)),
        x,
        color,
        band,
        size,
        "C_g = Σ_j|Σ_i p_ij| / Σ_jΣ_i|p_ij|",
      ),
      metricPanel(
        ratio,
        log2("ratio", "C_(u,G) / C_(u,g)", ratio.map((p) => p.ratio)),
        x,
        color,
        band,
        size,
        "C_(u,G)/C_(u,g) = (1 − D(Δ̂ℓ)) / C_g",
      ),
    ],
    resolve: { scale: { color: "shared" } },
  });
}

/** One checkpoint of the noise-scale figure: D(∇ℓ), B_simple and the run's batch, in one unit. */
export interface NoiseScaleRow {
  /** The model (line colour). */
  model: string;
  /** Checkpoint step t. */
  step: number;
  /** "token" or "sequence" (line dash when both are present). */
  granularity: string;
  /** D(∇ℓ). */
  dGrad: number;
  /** B_simple, in `unit`s. */
  bSimple: number;
  /** The run's batch, in `unit`s. */
  batch: number;
}

/** Options of the noise-scale figure. */
export interface NoiseScaleFigureOptions extends GradientFigureOptions {
  /** What B_simple and the batch count: "sequences" or "tokens" (default "examples"). */
  unit?: string;
}

/**
 * The gradient noise scale (docs/method.md#gradient-noise-scale) beside D(∇ℓ): left D(∇ℓ) against t (as F5),
 * right B_simple = tr(Σ)/‖𝔼g‖² against t on a log axis with each run's batch as a dotted rule in its colour
 * (in the same unit), the deceleration band shaded on both.
 */
export function noiseScaleFigureSpec(
  rows: NoiseScaleRow[],
  options: NoiseScaleFigureOptions = {},
): VegaLiteSpec {
  const unit = options.unit ?? "examples";
  const noise = rows.filter((row) => row.step > 0 && Number.isFinite(row.bSimple) && row.bSimple > 0);
  if (noise.length === 0) {
    throw new Error(
      "zsl: the noise-scale figure needs at least one checkpoint with a positive, finite B_simple",
    );
  }
  const interference = rows.filter((row) => row.step > 0 && Number.isFinite(row.dGrad));
  const x = stepAxis([...noise, ...interference].map((p) => p.step), "Checkpoint step t");
  const color = colorByModel(modelNames(rows, options), options.scheme);
  const size = { width: options.width ?? 300, height: options.height ?? 240 };
  const band = options.band ?? null;
  const batches = [...new Map(noise.filter((row) => row.batch > 0).map((row) => [row.model, row.batch]))]
    .map(([model, batch]) => ({ model, bSimple: batch }));
  const values = [...noise.map((row) => row.bSimple), ...batches.map((row) => row.bSimple)];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const y = {
    field: "bSimple",
    type: "quantitative",
    title: `B_simple (${unit})`,
    scale: { type: "log", domain: [lo / 2, hi * 2], nice: false },
    axis: { grid: true, gridDash: [1, 2], format: "~s" },
  };
  const points = (list: NoiseScaleRow[], field: "dGrad" | "bSimple") =>
    list.map((row) => ({
      model: row.model,
      step: row.step,
      granularity: row.granularity,
      [field]: row[field],
    }));
  const noisePanel = metricPanel(
    points(noise, "bSimple"),
    y,
    x,
    color,
    band,
    size,
    "B_simple = tr(Σ)/‖𝔼g‖²; dotted: the run's batch",
  );
  if (batches.length > 0) {
    (noisePanel.layer as Spec[]).push({
      data: { values: batches },
      mark: { type: "rule", strokeDash: [2, 3], strokeWidth: 1.5 },
      encoding: { y, color },
    });
  }
  const panels: Spec[] = [];
  if (interference.length > 0) {
    const dGrad = {
      field: "dGrad",
      type: "quantitative",
      title: "D(∇ℓ)",
      scale: { domain: unitDomain(interference.map((p) => p.dGrad)), nice: false, zero: false },
      axis: { grid: true, gridDash: [1, 2] },
    };
    panels.push(metricPanel(points(interference, "dGrad"), dGrad, x, color, band, size, "D(∇ℓ)"));
  }
  panels.push(noisePanel);
  return figure(options.title ?? "Gradient noise scale and per-coordinate interference", {
    hconcat: panels,
    resolve: { scale: { color: "shared" } },
  });
}

/**
 * Figure F6: the distribution of C_j = 1 − D_j over the non-embedding coordinates at each checkpoint,
 * as a heatmap (x: checkpoint step, ordinal; y: C_j bin; colour: fraction of the checkpoint's
 * coordinates, log scale, empty bins blank), one facet per run.
 */
export function coherenceHistogramFigureSpec(
  rows: CoherenceBinRow[],
  options: CoherenceHistogramFigureOptions = {},
): VegaLiteSpec {
  const kinds = new Set(rows.map((row) => row.granularity));
  const granularity = options.granularity ?? (kinds.has("token") ? "token" : rows[0]?.granularity);
  const picked = rows.filter((row) => row.granularity === granularity);
  const totals = new Map<string, number>();
  for (const row of picked) {
    const key = `${row.model}|${row.step}`;
    totals.set(key, (totals.get(key) ?? 0) + row.count);
  }
  const cells = picked.filter((row) => row.count > 0).map((row) => ({
    model: row.model,
    step: row.step,
    binLo: row.binLo,
    binHi: row.binHi,
    count: row.count,
    fraction: row.count / totals.get(`${row.model}|${row.step}`)!,
  }));
  if (cells.length === 0) {
    throw new Error(`zsl: figure F6 needs a coherence histogram with counts (granularity ${granularity})`);
  }
  const names = modelNames(cells, options);
  return figure(
    options.title ??
      `Per-coordinate gradient coherence C_j = 1 − D_j per checkpoint (${granularity} examples)`,
    {
      data: { values: cells },
      facet: { field: "model", type: "nominal", title: null, sort: names, header: { labelFontSize: 12 } },
      columns: Math.min(names.length, 3),
      spec: {
        width: options.width ?? 240,
        height: options.height ?? 220,
        mark: { type: "rect" },
        encoding: {
          x: { field: "step", type: "ordinal", title: "Checkpoint step t", sort: "ascending" },
          y: {
            field: "binLo",
            type: "quantitative",
            title: "C_j = 1 − D_j",
            scale: { domain: [0, 1], nice: false },
          },
          y2: { field: "binHi" },
          color: {
            field: "fraction",
            type: "quantitative",
            title: ["Fraction of", "coordinates"],
            scale: { type: "log", scheme: "viridis" },
            legend: { labelExpr: tickLabelExpression() },
          },
          tooltip: [
            { field: "model" },
            { field: "step" },
            { field: "binLo", title: "C_j from", format: ".2f" },
            { field: "count" },
            { field: "fraction", format: ".3g" },
          ],
        },
      },
      resolve: { scale: { x: "independent" } },
    },
  );
}

/** A 2-D histogram of (actual, predicted) over the square [lo, hi]², the same range on both axes. */
export interface PredictionHistogram {
  /** The range [lo, hi] of both axes (shared, so y = x is the diagonal). */
  domain: [number, number];
  /** Bins along each axis. */
  bins: number;
  /** Finite pairs counted. */
  n: number;
  /** Pairs outside the square, counted in the edge bins. */
  clipped: number;
  /** Non-empty cells: x (true Δℓ) from x0 to x1, y (predicted Δ̂ℓ) from y0 to y1. */
  cells: { x0: number; x1: number; y0: number; y1: number; count: number }[];
}

/** The q-quantile (nearest rank) of the sorted array. */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Bins the pairs (actual[i], predicted[i]) into `bins`×`bins` cells over [lo, hi]², where [lo, hi] spans
 * the (1 − `quantile`) to `quantile` quantiles of all the values (true and predicted together, so that
 * both axes share it and y = x is the diagonal), widened by 5% on each side: the axes follow the data,
 * not zero. Values beyond the range count in the edge bins. Non-finite pairs are skipped.
 */
export function predictionHistogram2d(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  options: { bins?: number; quantile?: number } = {},
): PredictionHistogram {
  const bins = options.bins ?? 40;
  const q = options.quantile ?? 0.999;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new Error(`zsl: histogram bins must be a positive integer, got ${bins}`);
  }
  if (!(q >= 0.5 && q <= 1)) throw new Error(`zsl: the range quantile must be in [0.5, 1], got ${q}`);
  if (predicted.length !== actual.length) {
    throw new Error(
      `zsl: ${predicted.length} predicted and ${actual.length} actual loss changes: give one of each per example`,
    );
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < predicted.length; i++) {
    if (Number.isFinite(predicted[i]) && Number.isFinite(actual[i])) {
      xs.push(actual[i]);
      ys.push(predicted[i]);
    }
  }
  const sorted = Float64Array.from([...xs, ...ys]).sort();
  let lo = quantileOfSorted(sorted, 1 - q);
  let hi = quantileOfSorted(sorted, q);
  if (!(hi > lo)) {
    // One value (or none): any positive width shows it at the centre.
    const centre = Number.isFinite(lo) ? lo : 0;
    const half = centre === 0 ? 1 : Math.abs(centre) / 10;
    [lo, hi] = [centre - half, centre + half];
  } else {
    const pad = 0.05 * (hi - lo);
    [lo, hi] = [lo - pad, hi + pad];
  }
  const width = (hi - lo) / bins;
  const bin = (v: number) => Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
  const counts = new Map<number, number>();
  let clipped = 0;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < lo || xs[i] > hi || ys[i] < lo || ys[i] > hi) clipped++;
    const key = bin(xs[i]) * bins + bin(ys[i]);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const cells = [...counts].sort((a, b) => a[0] - b[0]).map(([key, count]) => {
    const bx = Math.floor(key / bins);
    const by = key % bins;
    return {
      x0: lo + bx * width,
      x1: lo + (bx + 1) * width,
      y0: lo + by * width,
      y1: lo + (by + 1) * width,
      count,
    };
  });
  return { domain: [lo, hi], bins, n: xs.length, clipped, cells };
}

/**
 * At most `count` of the panels of one run and granularity (in step order): the first, the last, the one
 * nearest the middle of `band` (on a log scale) and the others spread evenly by rank.
 */
export function selectPanels<Panel extends { step: number }>(
  panels: readonly Panel[],
  count: number,
  band: Band = null,
): Panel[] {
  const sorted = [...panels].sort((a, b) => a.step - b.step);
  if (sorted.length <= count) return sorted;
  const picked = new Set<number>();
  for (let k = 0; k < count; k++) picked.add(Math.round((k * (sorted.length - 1)) / Math.max(1, count - 1)));
  if (band) {
    const middle = Math.log(Math.sqrt(band[0] * band[1]));
    const distance = (i: number) => Math.abs(Math.log(sorted[i].step) - middle);
    const nearest = sorted.reduce((best, _, i) => (distance(i) < distance(best) ? i : best), 0);
    if (!picked.has(nearest)) {
      // Replace the evenly spread pick nearest to it (never the first or the last).
      const inner = [...picked].filter((i) => i !== 0 && i !== sorted.length - 1);
      if (inner.length > 0) {
        picked.delete(
          inner.reduce((best, i) => (Math.abs(i - nearest) < Math.abs(best - nearest) ? i : best)),
        );
      }
      picked.add(nearest);
    }
  }
  return [...picked].sort((a, b) => a - b).map((i) => sorted[i]);
}

/**
 * Figure F8: one facet per checkpoint, one row per run (and granularity), a 2-D histogram of the true
 * Δℓ_i (x) against the predicted Δ̂ℓ_i (y) over a range fitted to each facet's values (the same on both
 * axes), cells coloured by count (log), and the y = x line dashed. At most `maxPanelsPerRun` checkpoints
 * of each run are drawn ({@linkcode selectPanels}).
 */
export function predictionFigureSpec(
  panels: PredictionPanel[],
  options: PredictionFigureOptions = {},
): VegaLiteSpec {
  if (panels.length === 0) throw new Error("zsl: figure F8 needs at least one checkpoint's Δℓ_i and Δ̂ℓ_i");
  const models = new Set(panels.map((p) => p.model));
  const kinds = new Set(panels.map((p) => p.granularity));
  const limit = options.maxPanelsPerRun ?? 6;
  const groups = new Map<string, PredictionPanel[]>();
  for (const panel of panels) {
    const key = `${panel.model}\u0000${panel.granularity}`;
    groups.set(key, [...(groups.get(key) ?? []), panel]);
  }
  const shown = [...groups.values()].map((group) => selectPanels(group, limit, options.band ?? null));
  const perRow = Math.max(...shown.map((group) => group.length));
  const values: Record<string, unknown>[] = [];
  const labels: string[] = [];
  for (const panel of shown.flat()) {
    const histogram = predictionHistogram2d(panel.predicted, panel.actual, options);
    const label = [
      ...(models.size > 1 ? [panel.model] : []),
      `t = ${panel.step}`,
      ...(kinds.size > 1 ? [panel.granularity] : []),
    ].join(" · ");
    if (labels.includes(label)) throw new Error(`zsl: figure F8 has two panels labelled "${label}"`);
    labels.push(label);
    for (const cell of histogram.cells) values.push({ panel: label, kind: "cell", ...cell });
    const [lo, hi] = histogram.domain;
    values.push({ panel: label, kind: "diagonal", x0: lo, y0: lo }, {
      panel: label,
      kind: "diagonal",
      x0: hi,
      y0: hi,
    });
  }
  const axis = (field: string, title: string) => ({
    field,
    type: "quantitative",
    title,
    scale: { zero: false, nice: false },
    axis: { grid: false, tickCount: 4, labelExpr: tickLabelExpression(), labelFontSize: 10 },
  });
  const x = axis("x0", "True Δℓ_i");
  const y = axis("y0", "Predicted Δ̂ℓ_i = g_i·δ");
  const side = options.width ?? options.height ?? 150;
  const hidden = panels.length - labels.length;
  return figure({
    text: options.title ?? "First-order predicted vs true per-example loss change of one step",
    subtitle: `dashed: y = x; each panel's range fitted to its values` +
      (hidden > 0 ? `; ${labels.length} of ${panels.length} checkpoints shown` : ""),
  }, {
    data: { values },
    facet: { field: "panel", type: "nominal", title: null, sort: labels, header: { labelFontSize: 11 } },
    columns: Math.min(labels.length, options.columns ?? perRow),
    spec: {
      width: side,
      height: side,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'cell'" }],
          mark: { type: "rect" },
          encoding: {
            x,
            x2: { field: "x1" },
            y,
            y2: { field: "y1" },
            color: {
              field: "count",
              type: "quantitative",
              title: "Examples",
              scale: { type: "log", scheme: "blues" },
              legend: { labelExpr: tickLabelExpression() },
            },
            tooltip: [{ field: "panel" }, { field: "x0", format: ".3g" }, { field: "y0", format: ".3g" }, {
              field: "count",
            }],
          },
        },
        {
          transform: [{ filter: "datum.kind === 'diagonal'" }],
          mark: { type: "line", color: "#d62728", strokeDash: [4, 3], strokeWidth: 1.3 },
          encoding: { x, y },
        },
      ],
    },
    resolve: { scale: { x: "independent", y: "independent" } },
  });
}
