/**
 * Helpers for the Jupyter notebooks (Deno kernel): the sweep a notebook reads (`ZSL_SWEEP`, or a tiny
 * sweep it trains itself) and rich outputs (native Vega-Lite charts, tables).
 *
 * @module
 */
export {
  chartOutput,
  type ChartOutputOptions,
  display,
  inJupyter,
  markdownBundle,
  markdownToText,
  type MediaBundle,
  type MediaMetadata,
  type Output,
  showChart,
  showMarkdown,
  showTable,
  svgSize,
  tableBundle,
  type TableInput,
  type TableOptions,
  VEGA_LITE_MIME,
  VEGA_LITE_V5_SCHEMA,
} from "./display.ts";
export {
  ABLATION_SWEEP_ENV,
  type NotebookRun,
  type NotebookSweep,
  type NotebookSweepOptions,
  openNotebookSweep,
  SWEEP_ENV,
  TINY_ABLATION_SWEEP_NAME,
  TINY_SWEEP_NAME,
  tinyAblationSweep,
  tinySweep,
} from "./sweep.ts";
