/**
 * What every zsl figure shares, written once: the Vega-Lite schema and look, colour by model, the
 * power-of-two step axis, the value domains, the shaded deceleration band, and the line-and-point panel
 * of one quantity against the step. Figures take plain rows whose fields are named alike everywhere:
 * `model` (the line's name and colour) and `step` (optimizer steps).
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import { formatTick } from "../util/format.ts";
import { CHART_FONT } from "./fonts.ts";
import type { VegaLiteSpec } from "./render.ts";

/** The Vega-Lite schema the specs are written for. */
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** The config block of every figure. */
export const CHART_CONFIG = {
  font: CHART_FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

const SUPERSCRIPTS = "'⁰¹²³⁴⁵⁶⁷⁸⁹'";

/**
 * A Vega expression that writes the number `value` (an expression) as `formatTick` of `src/util/format.ts`
 * does: decimal from 10⁻³ up to 10⁵, `m×10ⁿ` outside (never `2e-5`). For the labels of axes and legends
 * whose values Vega picks; where the figure picks them, {@linkcode tickLabels} gives the same text.
 */
export function tickLabelExpression(value = "datum.value"): string {
  const magnitude = `abs(${value})`;
  const exponent = `floor(log(${magnitude}) / LN10 + 1e-9)`;
  const mantissa = `format(${value} / pow(10, ${exponent}), '.3~g')`;
  const power =
    `(${exponent} < 0 ? '⁻' : '') + (abs(${exponent}) >= 10 ? ${SUPERSCRIPTS}[floor(abs(${exponent}) / 10)] : '') + ` +
    `${SUPERSCRIPTS}[abs(${exponent}) % 10]`;
  return `${value} == 0 || (${magnitude} >= 0.001 && ${magnitude} < 100000) ? format(${value}, '~g') : ` +
    `(${mantissa} == '1' ? '' : ${mantissa} == '-1' ? '−' : ${mantissa} + '×') + '10' + ${power}`;
}

/**
 * Labels for known tick values: a Vega expression that maps each value to `formatTick`'s text (the value
 * nearest in log space, so that float noise in the scale does not matter). `ticks` must be positive.
 */
export function tickLabels(ticks: readonly number[]): string {
  const sorted = [...ticks].sort((a, b) => a - b);
  if (sorted.length === 0) return tickLabelExpression();
  let expression = JSON.stringify(formatTick(sorted[sorted.length - 1]));
  for (let i = sorted.length - 2; i >= 0; i--) {
    const between = Math.sqrt(sorted[i] * sorted[i + 1]);
    expression = `datum.value < ${between} ? ${JSON.stringify(formatTick(sorted[i]))} : ${expression}`;
  }
  return expression;
}

/**
 * Tick values for a log axis over `domain`: 1, 2 and 5 times the powers of ten inside it (only the powers
 * of ten over more than four decades; 1 to 9 times them where that gives fewer than three ticks), at most
 * ten (every second one dropped beyond).
 */
export function logTicks(domain: readonly [number, number]): number[] {
  const [lo, hi] = domain;
  if (!(lo > 0 && hi > lo)) return [];
  const within = (steps: number[]) => {
    const ticks: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); 10 ** e <= hi; e++) {
      for (const step of steps) {
        const value = Number((step * 10 ** e).toPrecision(6));
        if (value >= lo * (1 - 1e-9) && value <= hi * (1 + 1e-9)) ticks.push(value);
      }
    }
    return ticks;
  };
  let ticks = within(Math.log10(hi / lo) > 4 ? [1] : [1, 2, 5]);
  if (ticks.length < 3) ticks = within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  return ticks.length > 10 ? ticks.filter((_, i) => i % 2 === 0) : ticks;
}

/** A deceleration band [from, to] in steps, or null where no break was identified. */
export type Band = [number, number] | null;

/** A Vega-Lite fragment (an encoding, a layer, a panel): plain JSON. */
export type Spec = Record<string, unknown>;

/** Options every figure takes. */
export interface FigureOptions {
  /** Width of one panel in pixels (default set per figure). */
  width?: number;
  /** Height of one panel in pixels (default set per figure). */
  height?: number;
  /** Figure title (default: a description of the figure). */
  title?: string;
  /** Colour scheme of the models (a continuous Vega scheme; default plasma, as the paper). */
  scheme?: string;
  /** The models in legend order (default: in order of first appearance in the rows). */
  models?: string[];
  /** Title of the colour legend (default "Model"; "Optimizer" where the lines are a run's optimizers). */
  colorTitle?: string;
}

/** Powers of two within [lo, hi], thinned to at most ~8 ticks (every second or fourth power on long ranges). */
export function powersOfTwo(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log2(lo) + 1e-9); 2 ** e <= hi * (1 + 1e-9); e++) {
    if (2 ** e >= lo * (1 - 1e-9)) out.push(2 ** e);
  }
  const stride = Math.ceil(out.length / 8);
  return out.filter((_, i) => i % stride === 0);
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

/** The models of `rows` in order of first appearance (or `options.models` when given). */
export function modelNames(rows: readonly { model: string }[], options: FigureOptions = {}): string[] {
  return options.models ?? [...new Set(rows.map((row) => row.model))];
}

/**
 * Colour by the `model` field, one colour of `scheme` per name, the legend below the plot by default and
 * titled `title`.
 */
export function colorByModel(names: string[], scheme?: string, legend?: Spec, title = "Model"): Spec {
  return {
    field: "model",
    type: "nominal",
    title,
    scale: { domain: names, range: modelColors(names.length, scheme) },
    legend: legend ?? { orient: "bottom", direction: "horizontal", symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
}

/** The union of the bands that are not null (null when none is). */
export function unionBand(bands: Iterable<Band | undefined>): Band {
  let from = Infinity;
  let to = -Infinity;
  for (const band of bands) {
    if (!band || !Number.isFinite(band[0]) || !Number.isFinite(band[1])) continue;
    from = Math.min(from, band[0]);
    to = Math.max(to, band[1]);
  }
  return Number.isFinite(from) ? [from, to] : null;
}

/** The x encoding of the step on a log₂ axis (power-of-two ticks) around `steps`, titled `title`. */
export function stepAxis(steps: number[], title: string): Spec {
  const lo = Math.min(...steps);
  const hi = Math.max(...steps);
  const domain = [lo / 1.3, hi * 1.3];
  return {
    field: "step",
    type: "quantitative",
    title,
    scale: { type: "log", base: 2, domain, nice: false },
    axis: { values: powersOfTwo(domain[0], domain[1]), format: "d", grid: true, gridDash: [1, 2] },
  };
}

/** A domain within [0, 1] around the finite values, padded by 0.05 and rounded out to 0.05. */
export function unitDomain(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.max(0, Math.min(...finite) - 0.05);
  const hi = Math.min(1, Math.max(...finite) + 0.05);
  return [Math.floor(lo * 20) / 20, Math.ceil(hi * 20) / 20];
}

/** A log-axis domain around the positive finite values, widened by the factor `pad` on both sides. */
export function positiveDomain(values: number[], pad: number): [number, number] {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  if (positive.length === 0) return [1e-6, 1];
  return [Math.min(...positive) / pad, Math.max(...positive) * pad];
}

/** A log₂ domain around the positive finite values, widened to whole powers of two. */
export function log2Domain(values: number[]): [number, number] {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  if (positive.length === 0) return [0.5, 1];
  const lo = 2 ** Math.floor(Math.log2(Math.min(...positive)));
  const hi = 2 ** Math.ceil(Math.log2(Math.max(...positive)));
  return lo === hi ? [lo / 2, hi * 2] : [lo, hi];
}

/**
 * The deceleration band: a grey rectangle over [from, to] on the x encoding `x`, labelled "Decel." just
 * above the plot area (outside it, so that the label never lies on a curve).
 */
export function bandLayers(band: Band, x: Spec): Spec[] {
  if (!band) return [];
  return [{
    data: { values: [{ from: band[0], to: band[1], middle: Math.sqrt(band[0] * band[1]), label: "Decel." }] },
    layer: [
      {
        mark: { type: "rect", color: "gray", opacity: 0.25 },
        encoding: { x: { ...x, field: "from" }, x2: { field: "to" } },
      },
      {
        mark: { type: "text", baseline: "bottom", align: "center", dy: -2, fontSize: 10, color: "#444" },
        encoding: { x: { ...x, field: "middle" }, y: { value: 0 }, text: { field: "label" } },
      },
    ],
  }];
}

/** What a {@linkcode linePanel} draws. */
export interface LinePanel {
  /** The x encoding (usually {@linkcode stepAxis}). */
  x: Spec;
  /** The y encoding of the quantity (its `field` is drawn). */
  y: Spec;
  /** The colour encoding (usually {@linkcode colorByModel}). */
  color: Spec;
  /** The band shaded behind the lines. */
  band: Band;
  /** Panel size in pixels. */
  size: { width: number; height: number };
  /** A title above the panel. */
  subtitle?: string;
  /** A field holding the standard deviation of the quantity: a ±1 std area is drawn around the line. */
  std?: string;
  /** Extra line encodings (a dash by granularity, a `detail` splitting the lines). */
  lineEncoding?: Spec;
  /** Fields shown in the points' tooltip before the quantity. */
  tooltip: string[];
  /** Many points (a probe every few steps): thin lines, no point marks. Default false. */
  thin?: boolean;
}

/** A panel of one quantity of `rows` against the step: a line per model, its points, the band, a ±std area. */
export function linePanel(rows: readonly Spec[], panel: LinePanel): Spec {
  const { x, y, color, std } = panel;
  const field = y.field as string;
  const layers: Spec[] = [...bandLayers(panel.band, x)];
  if (std) {
    const scale = y.scale as { type?: string; domain: [number, number] };
    layers.push({
      data: { values: rows },
      transform: [
        { calculate: `datum.${field} - datum.${std}`, as: "lo" },
        { calculate: `datum.${field} + datum.${std}`, as: "hi" },
        // A log axis cannot show a band reaching 0 or below: cut it at the lower domain end.
        ...(scale.type === "log" ? [{ calculate: `max(datum.lo, ${scale.domain[0]})`, as: "lo" }] : []),
      ],
      mark: { type: "area", opacity: 0.2, clip: true },
      encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color },
    });
  }
  layers.push({
    data: { values: rows },
    mark: { type: "line", strokeWidth: panel.thin ? 1.2 : 2, clip: true },
    encoding: { x, y, color, ...panel.lineEncoding },
  });
  if (!panel.thin) {
    layers.push({
      data: { values: rows },
      mark: { type: "point", filled: true, size: 22, clip: true },
      encoding: {
        x,
        y,
        color,
        tooltip: [...panel.tooltip.map((name) => ({ field: name })), { field, format: ".4g" }],
      },
    });
  }
  return {
    width: panel.size.width,
    height: panel.size.height,
    ...(panel.subtitle ? { title: { text: panel.subtitle, fontSize: 12, fontWeight: "normal" } } : {}),
    layer: layers,
  };
}

/**
 * The y encoding of a quantity: a linear or log axis over `domain`, grid dashed; a log axis has its ticks
 * at 1, 2, 5 × 10ⁿ ({@linkcode logTicks}), labelled as decimals or `m×10ⁿ`.
 */
export function quantityAxis(field: string, title: string, domain: [number, number], log: boolean): Spec {
  const ticks = log ? logTicks(domain) : [];
  return {
    field,
    type: "quantitative",
    title,
    scale: { type: log ? "log" : "linear", domain, nice: false, clamp: true },
    axis: {
      grid: true,
      gridDash: [1, 2],
      ...(ticks.length > 0
        ? { values: ticks, labelExpr: tickLabels(ticks) }
        : { labelExpr: tickLabelExpression() }),
    },
  };
}

/**
 * Figures side by side (`horizontal`) or stacked (`vertical`) as one figure: each keeps its title, data,
 * layers and panels; a colour scale of the same domain everywhere is shared (one legend).
 */
export function concatFigures(
  title: string | undefined,
  figures: readonly VegaLiteSpec[],
  direction: "horizontal" | "vertical",
): VegaLiteSpec {
  const views = figures.map((spec) => {
    const { $schema: _schema, config: _config, ...view } = spec as unknown as Spec;
    return view;
  });
  return figure(title, {
    [direction === "horizontal" ? "hconcat" : "vconcat"]: views,
    resolve: { scale: { color: "shared" } },
  });
}

/** A whole figure: schema, title (none when undefined), the body (layers, panels or facets) and the config. */
export function figure(title: string | Spec | undefined, body: Spec): VegaLiteSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(title === undefined ? {} : { title }),
    ...body,
    config: CHART_CONFIG,
  } as unknown as VegaLiteSpec;
}
