/**
 * Figures: Vega-Lite specs from plain rows (`model`, `step` and the quantities drawn), and their
 * rendering to `.vl.json`, SVG and PNG. Nothing here knows the analyses or the result tables.
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
  svgSize,
  svgToPng,
  type VegaLiteSpec,
  writeRenderedChart,
} from "./render.ts";
export { CHART_FONT, type ChartFonts, chartFonts } from "./fonts.ts";
export {
  type Band,
  concatFigures,
  type FigureOptions,
  logTicks,
  modelColors,
  tickLabelExpression,
  tickLabels,
  unionBand,
} from "./style.ts";
export {
  type DecelerationFigureOptions,
  decelerationFigureSpec,
  type LossCurvePoint,
  type LrAreaCurvePoint,
  lrAreaFigureSpec,
  type WarmupEnd,
} from "./deceleration.ts";
export {
  warmupControlFigureSpec,
  type WarmupFigureOptions,
  type WarmupLine,
  type WarmupPoint,
} from "./warmup.ts";
export {
  contourGrid,
  type InterferenceFigureOptions,
  interferenceFigureSpec,
  type InterferencePoint,
  oneStepFigureSpec,
  type OneStepPoint,
  probeFigureSpec,
  type TrajectoryFigureOptions,
  trajectoryFigureSpec,
} from "./interference.ts";
export {
  type CoherenceBinRow,
  coherenceFigureSpec,
  type CoherenceHistogramFigureOptions,
  coherenceHistogramFigureSpec,
  type GradientFigureOptions,
  gradientInterferenceFigureSpec,
  type GradientMetricRow,
  type NoiseScaleFigureOptions,
  noiseScaleFigureSpec,
  type NoiseScaleRow,
  type PredictionFigureOptions,
  predictionFigureSpec,
  type PredictionHistogram,
  predictionHistogram2d,
  type PredictionPanel,
  selectPanels,
} from "./gradients.ts";
export { type LandscapeFigureOptions, landscapeFigureSpec, type LandscapePoint } from "./landscape.ts";
