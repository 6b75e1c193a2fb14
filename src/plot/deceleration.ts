/**
 * Figure F1 (docs/method.md#figures): log-log training-loss curves with the BNSL fit and its two straight
 * segments, one colour per model, and the deceleration band from the fitted t_d ranges.
 *
 * @module
 */
import type { VegaLiteSpec } from "./render.ts";
import type { Band, FigureOptions } from "./style.ts";
import { bandLayers, colorByModel, figure, modelNames } from "./style.ts";

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

/** Options of {@linkcode decelerationFigureSpec}. */
export interface DecelerationFigureOptions extends FigureOptions {
  /** The shaded deceleration band [from, to] in steps (the union of the fitted t_d ranges); null: none. */
  band?: Band;
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
 * the grey band spans `options.band`. Both axes are logarithmic.
 */
export function decelerationFigureSpec(
  points: readonly LossCurvePoint[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  const rows = points.filter((p) => p.step > 0 && p.loss > 0);
  if (rows.length === 0) throw new Error("zsl: the deceleration figure needs at least one model's curve");
  const stepMin = Math.min(...rows.map((r) => r.step));
  const stepMax = Math.max(...rows.map((r) => r.step));
  const lossMin = Math.min(...rows.map((r) => r.loss));
  const lossMax = Math.max(...rows.map((r) => r.loss));
  const xDomain = [stepMin / 1.2, stepMax * 1.2];
  const yDomain = [lossMin / 1.05, lossMax * 1.05];
  const x = {
    field: "step",
    type: "quantitative",
    title: "Train steps",
    scale: { type: "log", domain: xDomain, nice: false },
    axis: { values: powersOfTen(xDomain[0], xDomain[1]), format: "~s", grid: true, gridDash: [1, 2] },
  };
  const y = {
    field: "loss",
    type: "quantitative",
    title: "Loss",
    scale: { type: "log", domain: yDomain, nice: false },
    axis: { values: lossTicks(yDomain[0], yDomain[1]), format: "~g", grid: true, gridDash: [1, 2] },
  };
  const color = colorByModel(modelNames(rows, options), options.scheme, {
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
  return figure(options.title, {
    width: options.width ?? 360,
    height: options.height ?? 480,
    data: { values: rows },
    layer: [
      ...bandLayers(options.band ?? null, x),
      line("datum.series === 'smoothed'", { strokeWidth: 1, opacity: 0.5 }),
      line("datum.series === 'fit'", { strokeWidth: 2, opacity: 0.85 }),
      line("datum.series === 'pre-break' || datum.series === 'post-break'", {
        strokeWidth: 2,
        strokeDash: [2, 2],
      }),
    ],
  });
}
