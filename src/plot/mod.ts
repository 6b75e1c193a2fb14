/**
 * Figures: Vega-Lite specs and their rendering to `.vl.json`, SVG and PNG.
 *
 * @module
 */
export {
  type ChartFiles,
  chartPaths,
  chartToSvg,
  type PngOptions,
  renderChart,
  renderChartToMemory,
  type RenderedChart,
  svgToPng,
  type VegaLiteSpec,
  writeRenderedChart,
} from "./render.ts";
export { CHART_FONT, type ChartFonts, chartFonts } from "./fonts.ts";
export {
  decelerationBand,
  type DecelerationFigureOptions,
  decelerationFigureSpec,
  type FigureModel,
  modelColors,
} from "./deceleration.ts";
