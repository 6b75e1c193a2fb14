/**
 * Figures F2–F4 (docs/method.md#figures) of loss interference:
 *
 * - F2: D, M and |ΔL| of Δ_t^{2t} against t (log x), one line per model, the deceleration band
 *   from the fitted t_d ranges shaded;
 * - F3: D–M trajectories over filled contours of log₂((1 − D)·M) = log₂|ΔL| (a grid of rects
 *   computed here: Vega-Lite has no contour mark), start and end marked, the checkpoints whose
 *   window [t, 2t] overlaps the deceleration band ringed;
 * - F4: the one-step Δ_t^{t+1} versions on the stepped-on batch ("train") and on the eval split,
 *   mean ± std over the batches as bands.
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import { CHART_CONFIG, powersOfTwo, VEGA_LITE_SCHEMA } from "./style.ts";
import { modelColors } from "./deceleration.ts";
import type { VegaLiteSpec } from "./render.ts";

/** One point of a model's Δ_t^{2t} curve. */
export interface InterferencePoint {
  /** The earlier checkpoint's step (the window is t → 2t). */
  t: number;
  /** Destructive interference 1 − |Σ Δℓ| / Σ |Δℓ|. */
  D: number;
  /** Mean absolute per-token loss change (nats). */
  M: number;
  /** Signed ΔL (the figures plot |ΔL|). */
  deltaL: number;
}

/** One point of a model's Δ_t^{t+1} curve: means and standard deviations over the batches. */
export interface OneStepPoint {
  /** Step of the checkpoint stepped from. */
  t: number;
  /** "train" (the batch stepped on) or "eval" (the eval split). */
  set: "train" | "eval";
  /** Mean D over batches. */
  D: number;
  /** Standard deviation of D over batches (band half-width). */
  DStd: number;
  /** Mean M over batches (nats). */
  M: number;
  /** Standard deviation of M over batches. */
  MStd: number;
  /** Mean of |ΔL| over batches. */
  absDeltaL: number;
  /** Standard deviation of |ΔL| over batches. */
  absDeltaLStd: number;
}

/** A model on the interference figures. */
export interface InterferenceModel {
  /** The model's name (legend label and colour key). */
  name: string;
  /** Δ_t^{2t} points. */
  points: InterferencePoint[];
  /** Δ_t^{t+1} points (F4). */
  oneStep?: OneStepPoint[];
  /** The fitted deceleration range [from, to] in steps, or null when no break was identified. */
  band?: [number, number] | null;
}

/** Options of the interference figures. */
export interface InterferenceFigureOptions {
  /** Width of one panel in pixels (default set per figure). */
  width?: number;
  /** Height of one panel in pixels (default set per figure). */
  height?: number;
  /** Figure title (default: a description of the figure). */
  title?: string;
  /** Colour scheme of the models (a continuous Vega scheme; default plasma, as F1). */
  scheme?: string;
}

/** The union of the models' bands (null when none has one). */
export function unionBand(models: InterferenceModel[]): [number, number] | null {
  let from = Infinity;
  let to = -Infinity;
  for (const model of models) {
    if (!model.band) continue;
    from = Math.min(from, model.band[0]);
    to = Math.max(to, model.band[1]);
  }
  return Number.isFinite(from) ? [from, to] : null;
}

function positiveRange(values: number[], pad: number): [number, number] {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  if (positive.length === 0) return [1e-6, 1];
  const lo = Math.min(...positive);
  const hi = Math.max(...positive);
  return [lo / pad, hi * pad];
}

function colorEncoding(names: string[], scheme?: string) {
  return {
    field: "model",
    type: "nominal",
    title: "Model",
    scale: { domain: names, range: modelColors(names.length, scheme) },
    legend: { orient: "bottom", direction: "horizontal", symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
}

/** A panel of one quantity against t, with optional ±std band. */
function panel(
  rows: Record<string, unknown>[],
  quantity: { field: string; std?: string; title: string; log: boolean; domain: [number, number] },
  x: Record<string, unknown>,
  color: Record<string, unknown>,
  band: [number, number] | null,
  size: { width: number; height: number },
  subtitle?: string,
): Record<string, unknown> {
  const y = {
    field: quantity.field,
    type: "quantitative",
    title: quantity.title,
    scale: { type: quantity.log ? "log" : "linear", domain: quantity.domain, nice: false, clamp: true },
    axis: { grid: true, gridDash: [1, 2], format: quantity.log ? "~e" : "~g" },
  };
  const layers: unknown[] = [];
  if (band) {
    layers.push({
      data: { values: [{ from: band[0], to: band[1], label: "Decel." }] },
      layer: [
        {
          mark: { type: "rect", color: "gray", opacity: 0.25 },
          encoding: { x: { ...x, field: "from" }, x2: { field: "to" } },
        },
        {
          mark: { type: "text", baseline: "top", align: "left", dx: 3, dy: 4, fontSize: 10, color: "#444" },
          encoding: { x: { ...x, field: "from" }, y: { value: 0 }, text: { field: "label" } },
        },
      ],
    });
  }
  if (quantity.std) {
    layers.push({
      data: { values: rows },
      transform: [
        { calculate: `datum.${quantity.field} - datum.${quantity.std}`, as: "lo" },
        { calculate: `datum.${quantity.field} + datum.${quantity.std}`, as: "hi" },
        // A log axis cannot show a band reaching 0 or below: cut it at the lower domain end.
        ...(quantity.log ? [{ calculate: `max(datum.lo, ${quantity.domain[0]})`, as: "lo" }] : []),
      ],
      mark: { type: "area", opacity: 0.2, clip: true },
      encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color },
    });
  }
  layers.push(
    {
      data: { values: rows },
      mark: { type: "line", strokeWidth: 2, clip: true },
      encoding: { x, y, color },
    },
    {
      data: { values: rows },
      mark: { type: "point", filled: true, size: 22, clip: true },
      encoding: {
        x,
        y,
        color,
        tooltip: [{ field: "model" }, { field: "t" }, { field: quantity.field, format: ".4g" }],
      },
    },
  );
  return {
    width: size.width,
    height: size.height,
    ...(subtitle ? { title: { text: subtitle, fontSize: 12, fontWeight: "normal" } } : {}),
    layer: layers,
  };
}

function tAxis(ts: number[], title: string) {
  const lo = Math.min(...ts);
  const hi = Math.max(...ts);
  const domain = [lo / 1.3, hi * 1.3];
  return {
    field: "t",
    type: "quantitative",
    title,
    scale: { type: "log", base: 2, domain, nice: false },
    axis: { values: powersOfTwo(domain[0], domain[1]), format: "d", grid: true, gridDash: [1, 2] },
  };
}

function dDomain(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.max(0, Math.min(...finite) - 0.05);
  const hi = Math.min(1, Math.max(...finite) + 0.05);
  return [Math.floor(lo * 20) / 20, Math.ceil(hi * 20) / 20];
}

/**
 * Figure F2: D, M and |ΔL| of Δ_t^{2t} against t, three panels side by side, one line per model,
 * the deceleration band shaded (the union of the models' fitted t_d ranges).
 */
export function interferenceFigureSpec(
  models: InterferenceModel[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  const rows = models.flatMap((model) =>
    model.points.map((p) => ({ model: model.name, t: p.t, D: p.D, M: p.M, absDeltaL: Math.abs(p.deltaL) }))
  );
  if (rows.length === 0) throw new Error("zsl: figure F2 needs at least one pair of checkpoints (t, 2t)");
  const names = models.map((m) => m.name);
  const color = colorEncoding(names, options.scheme);
  const x = tAxis(rows.map((r) => r.t), "Step t (window t → 2t)");
  const band = unionBand(models);
  const size = { width: options.width ?? 240, height: options.height ?? 220 };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: options.title ?? "Loss interference between checkpoints t and 2t (eval split)",
    hconcat: [
      panel(
        rows,
        {
          field: "D",
          title: "D (destructive interference)",
          log: false,
          domain: dDomain(rows.map((r) => r.D)),
        },
        x,
        color,
        band,
        size,
      ),
      panel(
        rows,
        {
          field: "M",
          title: "M (mean |Δℓ|)",
          log: true,
          domain: positiveRange(rows.map((r) => r.M), 1.5),
        },
        x,
        color,
        band,
        size,
      ),
      panel(
        rows,
        {
          field: "absDeltaL",
          title: "|ΔL| = M·(1 − D)",
          log: true,
          domain: positiveRange(rows.map((r) => r.absDeltaL), 1.5),
        },
        x,
        color,
        band,
        size,
      ),
    ],
    resolve: { scale: { color: "shared" } },
    config: CHART_CONFIG,
  } as unknown as VegaLiteSpec;
}

/**
 * Figure F4: the one-step Δ_t^{t+1} quantities against t, a row for the stepped-on batch ("train")
 * and one for the eval split, mean lines with ±1 std bands over the batches.
 */
export function oneStepFigureSpec(
  models: InterferenceModel[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  const all = models.flatMap((model) => (model.oneStep ?? []).map((p) => ({ model: model.name, ...p })));
  if (all.length === 0) throw new Error("zsl: figure F4 needs one-step results (run without --no-one-step)");
  const names = models.map((m) => m.name);
  const color = colorEncoding(names, options.scheme);
  const x = tAxis(all.map((r) => r.t), "Checkpoint t (one step t → t+1)");
  const band = unionBand(models);
  const size = { width: options.width ?? 240, height: options.height ?? 190 };
  const row = (set: "train" | "eval") => {
    const rows = all.filter((r) => r.set === set);
    const label = set === "train" ? "on the stepped-on batch (train)" : "on the eval split";
    const range = (get: (r: typeof rows[number]) => number[]) => rows.flatMap(get);
    return {
      hconcat: [
        panel(
          rows,
          {
            field: "D",
            std: "DStd",
            title: "D",
            log: false,
            domain: dDomain(range((r) => [r.D - r.DStd, r.D + r.DStd])),
          },
          x,
          color,
          band,
          size,
          `D ${label}`,
        ),
        panel(
          rows,
          {
            field: "M",
            std: "MStd",
            title: "M",
            log: true,
            domain: positiveRange(range((r) => [r.M - r.MStd, r.M + r.MStd]), 1.5),
          },
          x,
          color,
          band,
          size,
          `M ${label}`,
        ),
        panel(
          rows,
          {
            field: "absDeltaL",
            std: "absDeltaLStd",
            title: "|ΔL|",
            log: true,
            domain: positiveRange(
              range((r) => [r.absDeltaL - r.absDeltaLStd, r.absDeltaL + r.absDeltaLStd]),
              1.5,
            ),
          },
          x,
          color,
          band,
          size,
          `|ΔL| ${label}`,
        ),
      ],
    };
  };
  const sets = new Set(all.map((r) => r.set));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: options.title ?? "Loss interference of one AdamW step from checkpoint t (mean ± std over batches)",
    vconcat: (["train", "eval"] as const).filter((set) => sets.has(set)).map(row),
    resolve: { scale: { color: "shared" } },
    config: CHART_CONFIG,
  } as unknown as VegaLiteSpec;
}

/** Options of F3. */
export interface TrajectoryFigureOptions extends InterferenceFigureOptions {
  /** Background grid cells along D and M (default 120 × 90). */
  grid?: [number, number];
  /** Which curve: "dt2t" (Δ_t^{2t}, default) or a one-step set. */
  source?: "dt2t" | "train" | "eval";
}

/**
 * The filled-contour background of F3: a grid of cells over D ∈ [d0, d1] (linear) and
 * M ∈ [m0, m1] (log), each holding the whole level ⌊log₂((1 − D)·M)⌋ at its centre.
 */
export function contourGrid(
  dRange: [number, number],
  mRange: [number, number],
  cells: [number, number] = [120, 90],
): { D: number; D2: number; M: number; M2: number; level: number }[] {
  const [nx, ny] = cells;
  const out = [];
  const logLo = Math.log(mRange[0]);
  const logHi = Math.log(mRange[1]);
  for (let i = 0; i < nx; i++) {
    const d0 = dRange[0] + ((dRange[1] - dRange[0]) * i) / nx;
    const d1 = dRange[0] + ((dRange[1] - dRange[0]) * (i + 1)) / nx;
    const dc = (d0 + d1) / 2;
    for (let j = 0; j < ny; j++) {
      const m0 = Math.exp(logLo + ((logHi - logLo) * j) / ny);
      const m1 = Math.exp(logLo + ((logHi - logLo) * (j + 1)) / ny);
      const mc = Math.sqrt(m0 * m1);
      const value = Math.log2(Math.max((1 - dc) * mc, 1e-300));
      // Each cell reaches a third of a cell into its neighbours, which are drawn over it: no
      // hairline seams between cells after anti-aliasing.
      const d2 = d0 + ((d1 - d0) * 4) / 3;
      const m2 = m0 * (m1 / m0) ** (4 / 3);
      out.push({
        D: d0,
        D2: Math.min(d2, dRange[1]),
        M: m0,
        M2: Math.min(m2, mRange[1]),
        level: Math.floor(value),
      });
    }
  }
  return out;
}

/**
 * Figure F3: each model's trajectory in the D–M plane (x = D, y = M on a log axis) over filled
 * contours of log₂|ΔL| = log₂((1 − D)·M); the first and last checkpoints are marked (circle,
 * square) and labelled with t, and the points whose window overlaps the model's deceleration band
 * are ringed in black.
 */
export function trajectoryFigureSpec(
  models: InterferenceModel[],
  options: TrajectoryFigureOptions = {},
): VegaLiteSpec {
  const source = options.source ?? "dt2t";
  const rows = models.flatMap((model, index) => {
    const points = source === "dt2t"
      ? model.points.map((p) => ({ t: p.t, t2: 2 * p.t, D: p.D, M: p.M }))
      : (model.oneStep ?? []).filter((p) => p.set === source).map((p) => ({
        t: p.t,
        t2: p.t + 1,
        D: p.D,
        M: p.M,
      }));
    const usable = points.filter((p) => Number.isFinite(p.D) && Number.isFinite(p.M) && p.M > 0)
      .sort((a, b) => a.t - b.t);
    return usable.map((p, i) => ({
      model: model.name,
      t: p.t,
      D: p.D,
      M: p.M,
      order: i,
      shape: i === usable.length - 1 ? "square" : "circle",
      size: i === 0 || i === usable.length - 1 ? 110 : 30,
      label: i === 0 || i === usable.length - 1 ? `t=${p.t}` : "",
      // Labels of several models at the same end stack instead of overlapping.
      labelM: p.M * 1.13 ** index,
      window: model.band ? p.t2 >= model.band[0] && p.t <= model.band[1] : false,
    }));
  });
  if (rows.length === 0) throw new Error(`zsl: figure F3 has no finite D, M points (${source})`);
  const dRange = dDomain(rows.map((r) => r.D));
  const mRange = positiveRange(rows.map((r) => r.M), 2);
  const grid = contourGrid(dRange, mRange, options.grid);
  const levels = [...new Set(grid.map((cell) => cell.level))].sort((a, b) => a - b);
  // Light greys, darker where |ΔL| is larger, so that the model colours stay readable on top.
  const interpolate = vega.scheme("greys") as (t: number) => string;
  const levelColors = levels.map((_, i) => interpolate(0.04 + (0.5 * i) / Math.max(1, levels.length - 1)));
  const names = models.map((m) => m.name);
  const color = colorEncoding(names, options.scheme);
  const x = {
    field: "D",
    type: "quantitative",
    title: "D (destructive interference)",
    scale: { domain: dRange, nice: false, zero: false },
    axis: { grid: false },
  };
  const y = {
    field: "M",
    type: "quantitative",
    title: "M (mean |Δℓ|)",
    scale: { type: "log", domain: mRange, nice: false },
    axis: { grid: false, format: "~e" },
  };
  const titles = {
    dt2t: "D–M trajectories, checkpoints t → 2t (eval split), over log₂|ΔL|",
    train: "D–M trajectories of one AdamW step (stepped-on batch) over log₂|ΔL|",
    eval: "D–M trajectories of one AdamW step (eval split) over log₂|ΔL|",
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: {
      text: options.title ?? titles[source],
      subtitle: models.some((m) => m.band)
        ? "○ start, □ end; black rings: windows that overlap the fitted deceleration (t_d ± 1σ)"
        : "○ start, □ end (no deceleration identified by the fit)",
    },
    width: options.width ?? 420,
    height: options.height ?? 340,
    layer: [
      {
        data: { values: grid },
        mark: { type: "rect", strokeWidth: 0 },
        encoding: {
          x: { ...x, field: "D" },
          x2: { field: "D2" },
          y: { ...y, field: "M" },
          y2: { field: "M2" },
          fill: {
            field: "level",
            type: "ordinal",
            title: "log₂|ΔL|",
            scale: { domain: levels, range: levelColors },
            legend: { orient: "right", symbolType: "square", labelFontSize: 10 },
          },
        },
      },
      {
        data: { values: rows },
        mark: { type: "line", strokeWidth: 2 },
        encoding: { x, y, color, order: { field: "order" }, detail: { field: "model" } },
      },
      {
        data: { values: rows },
        transform: [{ filter: "datum.window" }],
        mark: { type: "point", size: 190, stroke: "black", strokeWidth: 2, filled: false },
        encoding: { x, y },
      },
      {
        data: { values: rows },
        mark: { type: "point", filled: true, opacity: 1, stroke: "white", strokeWidth: 0.8 },
        encoding: {
          x,
          y,
          color,
          shape: { field: "shape", type: "nominal", scale: null },
          size: { field: "size", type: "quantitative", scale: null },
          tooltip: [{ field: "model" }, { field: "t" }, { field: "D", format: ".3f" }, {
            field: "M",
            format: ".3g",
          }],
        },
      },
      {
        data: { values: rows },
        transform: [{ filter: "datum.label !== ''" }],
        mark: { type: "text", align: "left", dx: 8, dy: -6, fontSize: 10, fontWeight: "bold" },
        encoding: { x, y: { ...y, field: "labelM" }, text: { field: "label" }, color },
      },
    ],
    config: CHART_CONFIG,
  } as unknown as VegaLiteSpec;
}

/** A model's live-probe series: D, M and ΔL between consecutive probes, at the probe's step. */
export interface ProbeSeries {
  /** The model's name (legend label and colour key). */
  name: string;
  /** Training step of each probe. */
  steps: ArrayLike<number>;
  /** D over the interval ending at each probe. */
  D: ArrayLike<number>;
  /** M over the interval ending at each probe (nats; non-finite: the point is skipped). */
  M: ArrayLike<number>;
  /** Signed ΔL over the interval ending at each probe (the figure plots |ΔL|). */
  deltaL: ArrayLike<number>;
  /** The fitted deceleration range [from, to] in steps, or null when no break was identified. */
  band?: [number, number] | null;
}

/**
 * The live probe's D, M and |ΔL| against the training step (log x), one line per model: the change
 * over each probe interval on the probe set (`deno task train --probe-every N`).
 */
export function probeFigureSpec(
  series: ProbeSeries[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  const rows: { model: string; t: number; D: number; M: number; absDeltaL: number }[] = [];
  for (const s of series) {
    for (let i = 0; i < s.steps.length; i++) {
      if (!Number.isFinite(s.M[i]) || !(s.steps[i] > 0)) continue;
      rows.push({ model: s.name, t: s.steps[i], D: s.D[i], M: s.M[i], absDeltaL: Math.abs(s.deltaL[i]) });
    }
  }
  if (rows.length === 0) throw new Error("zsl: no probe measurements (train with --probe-every N)");
  const names = series.map((s) => s.name);
  const color = colorEncoding(names, options.scheme);
  const x = tAxis(rows.map((r) => r.t), "Step (window: since the last probe)");
  const band = unionBand(series.map((s) => ({ name: s.name, points: [], band: s.band ?? null })));
  const size = { width: options.width ?? 240, height: options.height ?? 200 };
  const thin = (spec: Record<string, unknown>) => {
    // Hundreds of probes: thin lines, no points.
    const layers = spec.layer as Record<string, unknown>[];
    spec.layer = layers.filter((layer) => (layer.mark as { type?: string })?.type !== "point").map((layer) =>
      (layer.mark as { type?: string })?.type === "line"
        ? { ...layer, mark: { type: "line", strokeWidth: 1.2, clip: true } }
        : layer
    );
    return spec;
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: options.title ?? "Live loss-interference probe during training (probe set)",
    hconcat: [
      thin(
        panel(
          rows,
          {
            field: "D",
            title: "D",
            log: false,
            domain: dDomain(rows.map((r) => r.D)),
          },
          x,
          color,
          band,
          size,
        ),
      ),
      thin(
        panel(
          rows,
          {
            field: "M",
            title: "M",
            log: true,
            domain: positiveRange(rows.map((r) => r.M), 1.3),
          },
          x,
          color,
          band,
          size,
        ),
      ),
      thin(
        panel(
          rows,
          {
            field: "absDeltaL",
            title: "|ΔL|",
            log: true,
            domain: positiveRange(rows.map((r) => r.absDeltaL), 1.3),
          },
          x,
          color,
          band,
          size,
        ),
      ),
    ],
    resolve: { scale: { color: "shared" } },
    config: CHART_CONFIG,
  } as unknown as VegaLiteSpec;
}
