/**
 * What every zsl figure shares: the Vega-Lite schema, the look (font, axis and legend sizes), and
 * the power-of-two ticks of step axes.
 *
 * @module
 */
import { CHART_FONT } from "./fonts.ts";

/** The Vega-Lite schema the specs are written for. */
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** The config block of every figure. */
export const CHART_CONFIG = {
  font: CHART_FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

/** Powers of two within [lo, hi], thinned to at most ~8 ticks (every second or fourth power on long ranges). */
export function powersOfTwo(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log2(lo) + 1e-9); 2 ** e <= hi * (1 + 1e-9); e++) {
    if (2 ** e >= lo * (1 - 1e-9)) out.push(2 ** e);
  }
  const stride = Math.ceil(out.length / 8);
  return out.filter((_, i) => i % stride === 0);
}
