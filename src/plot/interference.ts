/**
 * Figures F2–F4 (docs/method.md#figures) of loss interference, from plain rows:
 *
 * - F2: D, M and |ΔL| of Δ_t^{2t} against the step t (log x), one line per model, the deceleration band
 *   (the union of the fitted t_d ranges) shaded;
 * - F3: D–M trajectories over filled contours of log₂((1 − D)·M) = log₂|ΔL| (a grid of rects computed
 *   here: Vega-Lite has no contour mark), start and end marked, the points whose window overlaps the
 *   model's band ringed;
 * - F4: the one-step Δ_t^{t+1} versions on the stepped-on batch ("train") and on the eval split, mean ±
 *   std over the batches as bands;
 * - the live probe's D, M and |ΔL| during training.
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import type { VegaLiteSpec } from "./render.ts";
import type { Band, FigureOptions, Spec } from "./style.ts";
import {
  colorByModel,
  figure,
  linePanel,
  logTicks,
  modelNames,
  positiveDomain,
  quantityAxis,
  stepAxis,
  tickLabels,
  unionBand,
  unitDomain,
} from "./style.ts";

/** A model's loss interference over the window `step` → `stepEnd` (F2, F3, the probe). */
export interface InterferencePoint {
  /** The model (line colour and legend). */
  model: string;
  /** The window's first step (t of Δ_t^{2t}; the probe's step). */
  step: number;
  /** The window's last step (2t; t + 1 for one step). F3 rings windows that overlap the band. */
  stepEnd: number;
  /** D = 1 − |Σ Δℓ| / Σ |Δℓ|. */
  D: number;
  /** M = mean |Δℓ| (nats). */
  M: number;
  /** |ΔL| = M·(1 − D) (nats). */
  absDeltaL: number;
}

/** A model's one-step loss interference Δ_t^{t+1} from checkpoint `step`, mean and std over batches (F4). */
export interface OneStepPoint {
  /** The model. */
  model: string;
  /** The checkpoint stepped from. */
  step: number;
  /** "train" (the batch stepped on) or "eval" (the eval split). */
  set: "train" | "eval";
  /** Mean D. */
  D: number;
  /** Standard deviation of D (band half-width). */
  DStd: number;
  /** Mean M (nats). */
  M: number;
  /** Standard deviation of M. */
  MStd: number;
  /** Mean |ΔL| (nats). */
  absDeltaL: number;
  /** Standard deviation of |ΔL|. */
  absDeltaLStd: number;
}

/** Options of the interference figures. */
export interface InterferenceFigureOptions extends FigureOptions {
  /** Each model's fitted deceleration range (null: none identified); the panels shade their union. */
  bands?: Map<string, Band>;
}

/** Options of F3. */
export interface TrajectoryFigureOptions extends InterferenceFigureOptions {
  /** Background grid cells along D and M (default 120 × 90). */
  grid?: [number, number];
}

type Quantity = { field: "D" | "M" | "absDeltaL"; std?: string; title: string };

const QUANTITIES: Quantity[] = [
  { field: "D", title: "D (destructive interference)" },
  { field: "M", title: "M (mean |Δℓ|)" },
  { field: "absDeltaL", title: "|ΔL| = M·(1 − D)" },
];

/** The three panels D, M, |ΔL| of `rows` side by side (M and |ΔL| on log axes, padded by `pad`). */
function threePanels(
  rows: readonly Spec[],
  quantities: Quantity[],
  x: Spec,
  color: Spec,
  band: Band,
  size: { width: number; height: number },
  options: { pad: number; subtitle?: (title: string) => string; thin?: boolean },
): Spec[] {
  return quantities.map((quantity) => {
    const log = quantity.field !== "D";
    // On a log axis a band reaching 0 or below has no lower end: the domain follows the means and the
    // upper ends, and the band is cut at its bottom (linePanel), instead of stretching down to 10⁻⁵.
    const values = rows.flatMap((row) => {
      const value = row[quantity.field] as number;
      const std = quantity.std ? row[quantity.std] as number : 0;
      return !quantity.std ? [value] : log ? [value, value + std] : [value - std, value + std];
    });
    const domain = log ? positiveDomain(values, options.pad) : unitDomain(values);
    return linePanel(rows, {
      x,
      y: quantityAxis(quantity.field, quantity.title, domain, log),
      color,
      band,
      size,
      std: quantity.std,
      tooltip: ["model", "step"],
      subtitle: options.subtitle?.(quantity.title),
      thin: options.thin,
    });
  });
}

/**
 * Figure F2: D, M and |ΔL| of Δ_t^{2t} against the step t, three panels side by side, one line per
 * model, the deceleration band shaded (the union of the models' bands).
 */
export function interferenceFigureSpec(
  points: readonly InterferencePoint[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  if (points.length === 0) throw new Error("zsl: figure F2 needs at least one pair of checkpoints (t, 2t)");
  const x = stepAxis(points.map((p) => p.step), "Step t (window t → 2t)");
  const color = colorByModel(modelNames(points, options), options.scheme, undefined, options.colorTitle);
  const size = { width: options.width ?? 240, height: options.height ?? 220 };
  const band = unionBand(options.bands?.values() ?? []);
  return figure(options.title ?? "Loss interference between checkpoints t and 2t (eval split)", {
    hconcat: threePanels(points as unknown as Spec[], QUANTITIES, x, color, band, size, { pad: 1.5 }),
    resolve: { scale: { color: "shared" } },
  });
}

/**
 * Figure F4: the one-step Δ_t^{t+1} quantities against t, a row for the stepped-on batch ("train") and
 * one for the eval split, mean lines with ±1 std bands over the batches.
 */
export function oneStepFigureSpec(
  points: readonly OneStepPoint[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  if (points.length === 0) {
    throw new Error("zsl: figure F4 needs one-step results (run without --no-one-step)");
  }
  const x = stepAxis(points.map((p) => p.step), "Checkpoint t (one step t → t+1)");
  const color = colorByModel(modelNames(points, options), options.scheme);
  const size = { width: options.width ?? 240, height: options.height ?? 190 };
  const band = unionBand(options.bands?.values() ?? []);
  const quantities: Quantity[] = [
    { field: "D", std: "DStd", title: "D" },
    { field: "M", std: "MStd", title: "M" },
    { field: "absDeltaL", std: "absDeltaLStd", title: "|ΔL|" },
  ];
  const sets = (["train", "eval"] as const).filter((set) => points.some((p) => p.set === set));
  return figure(
    options.title ?? "Loss interference of one optimizer step from checkpoint t (mean ± std over batches)",
    {
      vconcat: sets.map((set) => {
        const label = set === "train" ? "on the stepped-on batch (train)" : "on the eval split";
        const rows = points.filter((p) => p.set === set) as unknown as Spec[];
        const subtitle = (title: string) => `${title} ${label}`;
        return { hconcat: threePanels(rows, quantities, x, color, band, size, { pad: 1.5, subtitle }) };
      }),
      resolve: { scale: { color: "shared" } },
    },
  );
}

/**
 * The live probe's D, M and |ΔL| against the training step (log x), one line per model: the change over
 * each probe interval on the probe set (`deno task train --probe-every N`). Points with a non-finite M
 * are left out.
 */
export function probeFigureSpec(
  points: readonly InterferencePoint[],
  options: InterferenceFigureOptions = {},
): VegaLiteSpec {
  const rows = points.filter((p) => Number.isFinite(p.M) && p.step > 0);
  if (rows.length === 0) throw new Error("zsl: no probe measurements (train with --probe-every N)");
  const x = stepAxis(rows.map((r) => r.step), "Step (window: since the last probe)");
  const color = colorByModel(modelNames(rows, options), options.scheme);
  const size = { width: options.width ?? 240, height: options.height ?? 200 };
  const band = unionBand(options.bands?.values() ?? []);
  const quantities = QUANTITIES.map((q) => ({ ...q, title: q.title.split(" ")[0] }));
  return figure(options.title ?? "Live loss-interference probe during training (probe set)", {
    hconcat: threePanels(rows as unknown as Spec[], quantities, x, color, band, size, {
      pad: 1.3,
      thin: true,
    }),
    resolve: { scale: { color: "shared" } },
  });
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
 * Figure F3: each model's trajectory in the D–M plane (x = D, y = M on a log axis) over filled contours
 * of log₂|ΔL| = log₂((1 − D)·M); the first and last points are marked (circle, square) and labelled with
 * their step, and the points whose window [step, stepEnd] overlaps the model's band are ringed in black.
 * Pass Δ_t^{2t} points, or one-step points of one set (stepEnd = step + 1) with a title saying so.
 */
export function trajectoryFigureSpec(
  points: readonly InterferencePoint[],
  options: TrajectoryFigureOptions = {},
): VegaLiteSpec {
  const names = modelNames(points, options);
  const rows = names.flatMap((model, index) => {
    const band = options.bands?.get(model) ?? null;
    const usable = points.filter((p) =>
      p.model === model && Number.isFinite(p.D) && Number.isFinite(p.M) && p.M > 0
    )
      .sort((a, b) => a.step - b.step);
    return usable.map((p, i) => ({
      model,
      step: p.step,
      D: p.D,
      M: p.M,
      order: i,
      shape: i === usable.length - 1 ? "square" : "circle",
      size: i === 0 || i === usable.length - 1 ? 110 : 30,
      label: i === 0 || i === usable.length - 1 ? `t=${p.step}` : "",
      // Labels of several models at the same end stack instead of overlapping.
      labelM: p.M * 1.13 ** index,
      // Labels right of the middle go to the left of their point, so that none runs off the plot.
      right: false,
      window: band ? p.stepEnd >= band[0] && p.step <= band[1] : false,
    }));
  });
  if (rows.length === 0) throw new Error("zsl: figure F3 has no finite D, M points");
  const dRange = unitDomain(rows.map((r) => r.D));
  const mRange = positiveDomain(rows.map((r) => r.M), 2);
  for (const row of rows) {
    row.right = row.D > (dRange[0] + dRange[1]) / 2;
    row.labelM = Math.min(row.labelM, mRange[1] / 1.15);
  }
  const grid = contourGrid(dRange, mRange, options.grid);
  const levels = [...new Set(grid.map((cell) => cell.level))].sort((a, b) => a - b);
  // Light greys, darker where |ΔL| is larger, so that the model colours stay readable on top.
  const interpolate = vega.scheme("greys") as (t: number) => string;
  const levelColors = levels.map((_, i) => interpolate(0.04 + (0.5 * i) / Math.max(1, levels.length - 1)));
  const color = colorByModel(names, options.scheme);
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
    axis: { grid: false, values: logTicks(mRange), labelExpr: tickLabels(logTicks(mRange)) },
  };
  const anyBand = names.some((model) => options.bands?.get(model));
  return figure({
    text: options.title ?? "D–M trajectories, checkpoints t → 2t (eval split), over log₂|ΔL|",
    subtitle: anyBand
      ? "○ start, □ end; black rings: windows that overlap the fitted deceleration (t_d ± 1σ)"
      : "○ start, □ end (no deceleration identified by the fit)",
  }, {
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
          tooltip: [{ field: "model" }, { field: "step" }, { field: "D", format: ".3f" }, {
            field: "M",
            format: ".3g",
          }],
        },
      },
      // Each label twice: a white halo under it keeps it readable on the grey contours.
      ...[false, true].flatMap((right) =>
        [true, false].map((halo) => ({
          data: { values: rows },
          transform: [{ filter: `datum.label !== '' && ${right ? "datum.right" : "!datum.right"}` }],
          mark: {
            type: "text",
            align: right ? "right" : "left",
            dx: right ? -8 : 8,
            dy: -6,
            fontSize: 10,
            fontWeight: "bold",
            ...(halo ? { stroke: "white", strokeWidth: 3, strokeOpacity: 0.85, fill: "white" } : {}),
          },
          encoding: {
            x,
            y: { ...y, field: "labelM" },
            text: { field: "label" },
            ...(halo ? {} : { color }),
          },
        }))
      ),
    ],
  });
}
