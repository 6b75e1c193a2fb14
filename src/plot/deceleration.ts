/**
 * Figure F1 (docs/method.md#figures): log-log training-loss curves with the BNSL fit and its two straight
 * segments, one colour per model, and the deceleration band from the fitted t_d ranges; and its second view
 * against the learning-rate area S (docs/method.md#loss-against-cumulative-learning-rate).
 *
 * @module
 */
import type { VegaLiteSpec } from "./render.ts";
import type { Band, FigureOptions } from "./style.ts";
import { bandLayers, colorByModel, figure, modelNames, tickLabels } from "./style.ts";

/** A point of F1: a model's loss at a step on one of its lines. */
export interface LossCurvePoint {
  /** The model (colour and legend). */
  model: string;
  /** `smoothed` (thin), `fit` (thick), `pre-break` and `post-break` (dotted). */
  series: "smoothed" | "fit" | "pre-break" | "post-break";
  /** Training step (> 0). */
  step: number;
  /** Loss (> 0). */
  loss: number;
}

/** A point of F1's view against S: a model's loss at a learning-rate area on one of its lines. */
export interface LrAreaCurvePoint {
  /** The model (colour and legend). */
  model: string;
  /** As in {@linkcode LossCurvePoint}. */
  series: LossCurvePoint["series"];
  /** The learning-rate area S = Σ lr (> 0). */
  lrArea: number;
  /** Loss (> 0). */
  loss: number;
}

/** Where a model's warmup ends, on the figure's x axis. */
export interface WarmupEnd {
  /** The model (colour). */
  model: string;
  /** The end of its warmup (steps, or S on the view against S). */
  at: number;
}

/** Options of {@linkcode decelerationFigureSpec}. */
export interface DecelerationFigureOptions extends FigureOptions {
  /** The shaded deceleration band [from, to] in steps (the union of the fitted t_d ranges); null: none. */
  band?: Band;
  /** The models' warmup ends, drawn as dotted vertical rules in their colour (none by default). */
  warmupEnds?: readonly WarmupEnd[];
  /** Lines under the title (a caption: e.g. which breaks lie at the warmup end and are not drawn). */
  notes?: readonly string[];
}

/** Tick values for a log loss axis: integers, or halves/tenths when the range is narrow. */
function lossTicks(lo: number, hi: number): number[] {
  for (const spacing of [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01]) {
    const ticks: number[] = [];
    for (let k = Math.ceil(lo / spacing); k * spacing <= hi + 1e-12; k++) {
      ticks.push(Number((k * spacing).toFixed(6)));
    }
    if (ticks.length >= 3) return ticks.length > 12 ? ticks.filter((_, i) => i % 2 === 0) : ticks;
  }
  return [lo, hi];
}

function powersOfTen(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); 10 ** e <= hi * (1 + 1e-9); e++) out.push(10 ** e);
  return out;
}

/**
 * The Vega-Lite spec of figure F1: per model the smoothed loss (thin), the BNSL fit (thick) and, where
 * the break is identified, the pre-break line up to t_d and the post-break line of slope −r_d (dotted);
 * the grey band spans `options.band`, dotted vertical rules mark `options.warmupEnds`. Both axes are
 * logarithmic.
 */
export function decelerationFigureSpec(
  points: readonly LossCurvePoint[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  return lossCurveSpec(points, "step", "Train steps", options);
}

/**
 * F1's second view: the same lines against the learning-rate area S = Σ_{s≤t} lr(s) (the fit against S),
 * the band spanning the fits' t_d ranges in S.
 */
export function lrAreaFigureSpec(
  points: readonly LrAreaCurvePoint[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  return lossCurveSpec(
    points,
    "lrArea",
    "Cumulative learning rate S(t) = Σ lr",
    { title: "Loss against the cumulative learning rate", ...options },
  );
}

function lossCurveSpec<Point extends { model: string; loss: number }>(
  points: readonly Point[],
  field: keyof Point & string,
  title: string,
  options: DecelerationFigureOptions,
): VegaLiteSpec {
  const at = (point: Point) => point[field] as number;
  const rows = points.filter((p) => at(p) > 0 && p.loss > 0);
  if (rows.length === 0) throw new Error("zsl: the deceleration figure needs at least one model's curve");
  const xMin = Math.min(...rows.map(at));
  const xMax = Math.max(...rows.map(at));
  const lossMin = Math.min(...rows.map((r) => r.loss));
  const lossMax = Math.max(...rows.map((r) => r.loss));
  const xDomain = [xMin / 1.2, xMax * 1.2];
  const yDomain = [lossMin / 1.05, lossMax * 1.05];
  const x = {
    field,
    type: "quantitative",
    title,
    scale: { type: "log", domain: xDomain, nice: false },
    axis: {
      values: powersOfTen(xDomain[0], xDomain[1]),
      labelExpr: tickLabels(powersOfTen(xDomain[0], xDomain[1])),
      grid: true,
      gridDash: [1, 2],
    },
  };
  const y = {
    field: "loss",
    type: "quantitative",
    title: "Loss",
    scale: { type: "log", domain: yDomain, nice: false },
    axis: { values: lossTicks(yDomain[0], yDomain[1]), format: "~g", grid: true, gridDash: [1, 2] },
  };
  const names = modelNames(rows, options);
  const color = colorByModel(names, options.scheme, {
    orient: "bottom-left",
    fillColor: "white",
    padding: 6,
    symbolStrokeWidth: 3,
    symbolOpacity: 1,
  }, options.colorTitle);
  const line = (filter: string, mark: Record<string, unknown>) => ({
    transform: [{ filter }],
    mark: { type: "line", clip: true, ...mark },
    encoding: { x, y, color, detail: { field: "series" } },
  });
  const ends = (options.warmupEnds ?? []).filter((end) =>
    names.includes(end.model) && end.at >= xDomain[0] && end.at <= xDomain[1]
  );
  const warmupLayers = ends.length === 0 ? [] : [{
    data: { values: ends.map((end) => ({ model: end.model, [field]: end.at })) },
    mark: { type: "rule", strokeDash: [1, 3], strokeWidth: 1.5, opacity: 0.9 },
    encoding: { x, color },
  }];
  const notes = options.notes ?? [];
  const heading = options.title ?? (notes.length > 0 ? "Training loss" : undefined);
  return figure(notes.length > 0 ? { text: heading, subtitle: [...notes] } : heading, {
    width: options.width ?? 360,
    height: options.height ?? 480,
    data: { values: rows },
    layer: [
      ...bandLayers(options.band ?? null, x),
      ...warmupLayers,
      line("datum.series === 'smoothed'", { strokeWidth: 1, opacity: 0.5 }),
      line("datum.series === 'fit'", { strokeWidth: 2, opacity: 0.85 }),
      line("datum.series === 'pre-break' || datum.series === 'post-break'", {
        strokeWidth: 2,
        strokeDash: [2, 2],
      }),
    ],
  });
}
