/**
 * Figure F1 (docs/method.md#figures): log-log training-loss curves with the BNSL fit and its two straight
 * segments, one colour per model, and the deceleration band from the fitted t_d ranges.
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import type { DecelerationFit } from "../analysis/deceleration/fit.ts";
import { CHART_FONT } from "./fonts.ts";
import type { VegaLiteSpec } from "./render.ts";

/** A model on the figure. */
export interface FigureModel {
  /** The model's name, as the legend shows it. */
  name: string;
  /** Its fit: the smoothed curve and the BNSL are drawn, and when identified the two segments. */
  fit: DecelerationFit;
}

/** Options of `decelerationFigureSpec`. */
export interface DecelerationFigureOptions {
  /** Plot width in SVG units (pixels at PNG scale 1). Default 360. */
  width?: number;
  /** Plot height in SVG units. Default 480. */
  height?: number;
  /** Shaded deceleration band [from, to] in steps; default `decelerationBand(models)`; null: none. */
  band?: [number, number] | null;
  /** Title above the chart; default none. */
  title?: string;
  /** Colour scheme (a Vega scheme name); default the paper's "plasma". */
  scheme?: string;
}

/**
 * One colour per model sampled from a continuous Vega scheme over [0, 0.85] (the paper samples
 * matplotlib's plasma at i/n; the top of plasma is too pale to read on white).
 */
export function modelColors(count: number, scheme = "plasma"): string[] {
  const interpolate = vega.scheme(scheme) as ((t: number) => string) | string[] | undefined;
  if (typeof interpolate !== "function") {
    throw new Error(`zsl: "${scheme}" is not a continuous Vega colour scheme (try plasma, viridis, magma)`);
  }
  return Array.from({ length: count }, (_, i) => interpolate(count === 1 ? 0 : (0.85 * i) / (count - 1)));
}

/**
 * The deceleration band: from the smallest to the largest end of the ±1σ t_d ranges of the fits
 * whose break is identified (null when none is). The authors hard-coded 3000–6000 steps.
 */
export function decelerationBand(models: FigureModel[]): [number, number] | null {
  let from = Infinity;
  let to = -Infinity;
  for (const { fit } of models) {
    if (!fit.identified || !Number.isFinite(fit.tDRange[0]) || !Number.isFinite(fit.tDRange[1])) continue;
    from = Math.min(from, fit.tDRange[0]);
    to = Math.max(to, fit.tDRange[1]);
  }
  return Number.isFinite(from) && Number.isFinite(to) ? [from, to] : null;
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

interface Row {
  model: string;
  series: "smoothed" | "fit" | "pre-break" | "post-break";
  step: number;
  loss: number;
}

/**
 * The Vega-Lite spec of figure F1: per model the smoothed loss (thin), the BNSL fit (thick) and,
 * when the break is identified, the pre-break line up to t_d and the post-break line of slope −r_d
 * (dotted); the grey band spans the fitted t_d ranges. Both axes are logarithmic.
 */
export function decelerationFigureSpec(
  models: FigureModel[],
  options: DecelerationFigureOptions = {},
): VegaLiteSpec {
  if (models.length === 0) throw new Error("zsl: the deceleration figure needs at least one model");
  const rows: Row[] = [];
  const push = (
    model: string,
    series: Row["series"],
    steps: ArrayLike<number>,
    losses: ArrayLike<number>,
  ) => {
    for (let i = 0; i < steps.length; i++) {
      if (steps[i] > 0 && losses[i] > 0) rows.push({ model, series, step: steps[i], loss: losses[i] });
    }
  };
  for (const { name, fit } of models) {
    push(name, "smoothed", fit.curve.steps, fit.curve.losses);
    push(name, "fit", fit.fitCurve.steps, fit.fitCurve.losses);
    if (fit.identified) {
      push(name, "pre-break", fit.preBreak.steps, fit.preBreak.losses);
      push(name, "post-break", fit.postBreak.steps, fit.postBreak.losses);
    }
  }
  const stepMin = Math.min(...rows.map((r) => r.step));
  const stepMax = Math.max(...rows.map((r) => r.step));
  const lossMin = Math.min(...rows.map((r) => r.loss));
  const lossMax = Math.max(...rows.map((r) => r.loss));
  const xDomain = [stepMin / 1.2, stepMax * 1.2];
  const yDomain = [lossMin / 1.05, lossMax * 1.05];
  const band = options.band === undefined ? decelerationBand(models) : options.band;
  const names = models.map((m) => m.name);

  const x = {
    field: "step",
    type: "quantitative",
    title: "Train steps",
    scale: { type: "log", domain: xDomain, nice: false },
    axis: { values: powersOfTen(xDomain[0], xDomain[1]), format: "~s", grid: true, gridDash: [1, 2] },
  } as const;
  const y = {
    field: "loss",
    type: "quantitative",
    title: "Loss",
    scale: { type: "log", domain: yDomain, nice: false },
    axis: { values: lossTicks(yDomain[0], yDomain[1]), format: "~g", grid: true, gridDash: [1, 2] },
  } as const;
  const color = {
    field: "model",
    type: "nominal",
    title: "Model",
    scale: { domain: names, range: modelColors(names.length, options.scheme) },
    legend: { orient: "bottom-left", fillColor: "white", padding: 6, symbolStrokeWidth: 3, symbolOpacity: 1 },
  } as const;
  const only = (series: string) => ({ filter: `datum.series === '${series}'` });

  const layers: unknown[] = [];
  if (band) {
    layers.push({
      data: {
        values: [{ from: band[0], to: band[1], middle: Math.sqrt(band[0] * band[1]), label: "Decel." }],
      },
      layer: [
        {
          mark: { type: "rect", color: "gray", opacity: 0.3 },
          encoding: { x: { ...x, field: "from" }, x2: { field: "to" } },
        },
        {
          mark: { type: "text", baseline: "top", dy: 4, fontSize: 11, color: "#444" },
          encoding: {
            x: { field: "middle", type: "quantitative", scale: x.scale },
            y: { value: 0 },
            text: { field: "label" },
          },
        },
      ],
    });
  }
  layers.push(
    {
      transform: [only("smoothed")],
      mark: { type: "line", strokeWidth: 1, opacity: 0.5, clip: true },
      encoding: { x, y, color, detail: { field: "series" } },
    },
    {
      transform: [only("fit")],
      mark: { type: "line", strokeWidth: 2, opacity: 0.85, clip: true },
      encoding: { x, y, color, detail: { field: "series" } },
    },
    {
      transform: [{ filter: "datum.series === 'pre-break' || datum.series === 'post-break'" }],
      mark: { type: "line", strokeWidth: 2, strokeDash: [2, 2], clip: true },
      encoding: { x, y, color, detail: { field: "series" } },
    },
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(options.title ? { title: options.title } : {}),
    width: options.width ?? 360,
    height: options.height ?? 480,
    data: { values: rows },
    layer: layers,
    config: { font: CHART_FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  } as unknown as VegaLiteSpec;
}
