/**
 * The warmup-control figure (docs/method.md#warmup-control): each model's t_d against its warmup on log axes,
 * error bars from the fitted t_d ranges, the line t_d = warmup with the band of breaks within 2× of the
 * warmup end shaded, and each model's fitted line log t_d = a + b·log max(w, 1). Warmup 0 is drawn at 1 (the
 * same schedule: the first update takes the peak rate).
 *
 * @module
 */
import type { VegaLiteSpec } from "./render.ts";
import type { FigureOptions, Spec } from "./style.ts";
import { colorByModel, figure, modelNames, positiveDomain } from "./style.ts";

/** A run's break: its model, warmup and t_d with its ±1σ range. */
export interface WarmupPoint {
  /** The model (colour). */
  model: string;
  /** The run's warmup in steps (0: none). */
  warmup: number;
  /** The fitted break t_d (steps). */
  tD: number;
  /** exp(log d1 − σ) (steps). */
  tDMin: number;
  /** exp(log d1 + σ) (steps). */
  tDMax: number;
  /** "identified" or "at the warmup end" (the marker's shape). */
  status: "identified" | "at the warmup end";
}

/** A model's fitted line log t_d = intercept + slope·log max(w, 1) over its warmups. */
export interface WarmupLine {
  /** The model (colour). */
  model: string;
  /** The slope. */
  slope: number;
  /** log t_d at warmup ≤ 1. */
  intercept: number;
  /** The smallest and largest warmup of the model (steps). */
  warmups: [number, number];
}

/** Options of {@linkcode warmupControlFigureSpec}. */
export interface WarmupFigureOptions extends FigureOptions {
  /** Each model's fitted line (drawn dashed; none by default). */
  lines?: readonly WarmupLine[];
  /** The band's factor either side of t_d = warmup (default 2). */
  factor?: number;
}

const STATUSES = ["identified", "at the warmup end"];

/**
 * The Vega-Lite spec of the warmup control: x the warmup (log; 0 drawn at 1), y t_d (log), one colour per
 * model, a rule from t_d_min to t_d_max under each point, the marker's shape its status, the dashed line
 * t_d = warmup inside the shaded band [warmup/2, 2·warmup], and the models' fitted lines.
 */
export function warmupControlFigureSpec(
  points: readonly WarmupPoint[],
  options: WarmupFigureOptions = {},
): VegaLiteSpec {
  const rows = points.filter((p) => p.tD > 0 && Number.isFinite(p.tD)).map((p) => ({
    ...p,
    x: Math.max(p.warmup, 1),
    lo: p.tDMin > 0 ? p.tDMin : p.tD,
    hi: Number.isFinite(p.tDMax) ? p.tDMax : p.tD,
  }));
  if (rows.length === 0) throw new Error("zsl: the warmup-control figure needs at least one break");
  const factor = options.factor ?? 2;
  const height = options.height ?? 320;
  const lines = (options.lines ?? []).filter((line) => Number.isFinite(line.slope));
  const xs = [...rows.map((r) => r.x), ...lines.flatMap((line) => line.warmups.map((w) => Math.max(w, 1)))];
  const xDomain = positiveDomain(xs, 1.6);
  // The line t_d = warmup stays in view: where the breaks lie against it is the figure's point.
  const yDomain = positiveDomain([...rows.flatMap((r) => [r.lo, r.hi]), ...xDomain], 1.5);
  const logAxis = (field: string, title: string, domain: [number, number]): Spec => ({
    field,
    type: "quantitative",
    title,
    scale: { type: "log", domain, nice: false },
    axis: { grid: true, gridDash: [1, 2], format: "~s" },
  });
  const x = logAxis("x", "Warmup steps (0 drawn at 1)", xDomain);
  const y = logAxis("tD", "t_d (steps)", yDomain);
  const color = colorByModel(modelNames(rows, options), options.scheme);
  const [lo, hi] = xDomain;
  const reference = [lo, hi].map((w) => ({ x: w, tD: w, lo: w / factor, hi: w * factor }));
  const fitted = lines.flatMap((line) =>
    line.warmups.map((w) => Math.max(w, 1)).map((w) => ({
      model: line.model,
      x: w,
      tD: Math.exp(line.intercept + line.slope * Math.log(w)),
    }))
  );
  const layers: Spec[] = [
    {
      data: { values: reference },
      mark: { type: "area", color: "gray", opacity: 0.18, clip: true },
      encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" } },
    },
    {
      data: { values: reference },
      mark: { type: "line", color: "#444", strokeDash: [4, 3], strokeWidth: 1, clip: true },
      encoding: { x, y },
    },
    {
      data: { values: [{ x: hi, label: `dashed: t_d = warmup; shaded: within ${factor}× of it` }] },
      mark: { type: "text", align: "right", baseline: "bottom", dx: -4, dy: -4, fontSize: 10, color: "#444" },
      encoding: { x, y: { value: height }, text: { field: "label" } },
    },
  ];
  if (fitted.length > 0) {
    layers.push({
      data: { values: fitted },
      mark: { type: "line", strokeDash: [6, 3], strokeWidth: 1.5, opacity: 0.8, clip: true },
      encoding: { x, y, color, detail: { field: "model" } },
    });
  }
  layers.push(
    {
      data: { values: rows },
      mark: { type: "rule", strokeWidth: 1.5, clip: true },
      encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color },
    },
    {
      data: { values: rows },
      mark: { type: "point", filled: true, size: 60, opacity: 1, clip: true },
      encoding: {
        x,
        y,
        color,
        shape: {
          field: "status",
          type: "nominal",
          title: "Break",
          scale: { domain: STATUSES, range: ["circle", "triangle-up"] },
          legend: { orient: "bottom" },
        },
        tooltip: [
          { field: "model" },
          { field: "warmup" },
          { field: "tD", format: ".4~g" },
          { field: "lo", title: "t_d_min", format: ".4~g" },
          { field: "hi", title: "t_d_max", format: ".4~g" },
          { field: "status" },
        ],
      },
    },
  );
  return figure(options.title ?? "Warmup control: t_d against the warmup", {
    width: options.width ?? 360,
    height,
    layer: layers,
  });
}
