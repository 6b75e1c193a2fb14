/**
 * Rich output for Jupyter notebooks on the Deno kernel: Vega-Lite charts as native
 * `application/vnd.vegalite.v5+json` outputs (with an SVG for frontends that cannot draw them), and
 * tables as HTML, Markdown and plain text. The bundles are plain objects, so they are built and tested
 * anywhere; `display` hands them to `Deno.jupyter.display` inside the kernel and prints their text
 * elsewhere (a notebook's code also runs under `deno run`).
 *
 * @module
 */
import type { TableData } from "../io/arrow.ts";
import { chartToSvg, type VegaLiteSpec } from "../plot/render.ts";

/** A Jupyter MIME bundle: output data by media type, as `Deno.jupyter.display(…, {raw: true})` takes it. */
export type MediaBundle = Record<string, unknown>;

/**
 * The Vega-Lite media type Jupyter frontends render natively (JupyterLab, Notebook 7, VS Code). The
 * specs of `src/plot/` are written against Vega-Lite 6 and use nothing that Vega-Lite 5 lacks; their
 * `$schema` is rewritten to v5 so that a v5 renderer does not warn.
 */
export const VEGA_LITE_MIME = "application/vnd.vegalite.v5+json";

/** The `$schema` of a spec shown under {@linkcode VEGA_LITE_MIME}. */
export const VEGA_LITE_V5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** Options of {@linkcode chartBundle}. */
export interface ChartBundleOptions {
  /**
   * Also render the chart to SVG (Vega's headless view) for frontends and exports without a Vega-Lite
   * renderer (GitHub's notebook viewer, nbconvert to PDF). Default false: the SVG of a chart with many
   * marks (F3's contour background) is several times the size of its spec, and every frontend that runs
   * the notebook draws the spec itself.
   */
  svg?: boolean;
}

/** The MIME bundle of a Vega-Lite chart: the spec (v5 media type), an optional SVG, and a text line. */
export async function chartBundle(
  spec: VegaLiteSpec,
  options: ChartBundleOptions = {},
): Promise<MediaBundle> {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new Error("zsl: chartBundle needs a Vega-Lite spec object (from a *FigureSpec builder of mod.ts)");
  }
  const object = spec as unknown as Record<string, unknown>;
  const titleText = (object.title as { text?: unknown } | undefined)?.text ?? object.title;
  const title = typeof titleText === "string"
    ? titleText
    : Array.isArray(titleText)
    ? titleText.join(" ")
    : "untitled";
  const data = object.data as { values?: unknown[] } | undefined;
  const rows = Array.isArray(data?.values) ? `, ${data.values.length} data rows` : "";
  const bundle: MediaBundle = {
    [VEGA_LITE_MIME]: { ...structuredClone(object), $schema: VEGA_LITE_V5_SCHEMA },
    "text/plain": `Vega-Lite chart (${title}${rows})`,
  };
  if (options.svg ?? false) bundle["image/svg+xml"] = await chartToSvg(spec);
  return bundle;
}

/** A table to show: an Arrow table read back, or named columns of equal length. */
export type TableInput = TableData | Record<string, ArrayLike<unknown>>;

/** Options of {@linkcode tableBundle}. */
export interface TableOptions {
  /** The columns to show, in this order (default: all, in the table's order). */
  columns?: string[];
  /** Significant digits of non-integer numbers (default 4). */
  digits?: number;
  /** Most rows shown; a last line says how many were left out (default 200). */
  maxRows?: number;
  /** A caption above the table. */
  caption?: string;
  /** Per-column formatters (by column name) that replace the default number formatting. */
  format?: Record<string, (value: unknown, row: number) => string>;
}

function isTableData(table: TableInput): table is TableData {
  const candidate = table as Partial<TableData>;
  return typeof candidate.numRows === "number" && Array.isArray(candidate.names) &&
    typeof candidate.columns === "object" && candidate.columns !== null;
}

/** A cell as text: integers as they are, other numbers to `digits` significant digits, NaN as "—". */
export function formatCell(value: unknown, digits = 4): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "—";
    if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
    const magnitude = Math.abs(value);
    if (magnitude < 1e-3 || magnitude >= 1e6) return value.toExponential(digits - 1);
    return String(Number(value.toPrecision(digits)));
  }
  return String(value);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/**
 * The MIME bundle of a table: HTML (what notebook frontends show), Markdown and aligned plain text.
 * Throws when a requested column is missing or the columns differ in length.
 */
export function tableBundle(table: TableInput, options: TableOptions = {}): MediaBundle {
  const columns: Record<string, ArrayLike<unknown>> = isTableData(table)
    ? table.columns
    : table as Record<string, ArrayLike<unknown>>;
  const available = isTableData(table) ? table.names : Object.keys(columns);
  const names = options.columns ?? available;
  for (const name of names) {
    if (!(name in columns)) {
      throw new Error(`zsl: the table has no column "${name}" (columns: ${available.join(", ")})`);
    }
  }
  const lengths = new Set(names.map((name) => columns[name].length));
  if (lengths.size > 1) {
    const detail = names.map((name) => `${name}=${columns[name].length}`).join(", ");
    throw new Error(`zsl: table columns differ in length (${detail}): give columns of one length`);
  }
  const rowCount = lengths.size === 0 ? 0 : [...lengths][0];
  const maxRows = options.maxRows ?? 200;
  const shown = Math.min(rowCount, maxRows);
  const digits = options.digits ?? 4;
  const cells: string[][] = [];
  for (let row = 0; row < shown; row++) {
    cells.push(names.map((name) => {
      const value = columns[name][row];
      const format = options.format?.[name];
      return format ? format(value, row) : formatCell(value, digits);
    }));
  }
  const more = rowCount > shown ? `… ${rowCount - shown} more rows of ${rowCount}` : "";

  const html = [
    "<table>",
    ...(options.caption ? [`<caption>${escapeHtml(options.caption)}</caption>`] : []),
    "<thead><tr>" + names.map((name) => `<th>${escapeHtml(name)}</th>`).join("") + "</tr></thead>",
    "<tbody>",
    ...cells.map((row) => "<tr>" + row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("") + "</tr>"),
    "</tbody>",
    "</table>",
    ...(more ? [`<p>${escapeHtml(more)}</p>`] : []),
  ].join("\n");

  const markdown = [
    ...(options.caption ? [`**${escapeMarkdown(options.caption)}**`, ""] : []),
    "| " + names.map(escapeMarkdown).join(" | ") + " |",
    "| " + names.map(() => "---").join(" | ") + " |",
    ...cells.map((row) => "| " + row.map(escapeMarkdown).join(" | ") + " |"),
    ...(more ? ["", more] : []),
  ].join("\n");

  const widths = names.map((name, j) => Math.max(name.length, ...cells.map((row) => row[j].length)));
  const line = (row: string[]) => row.map((cell, j) => cell.padEnd(widths[j])).join("  ").trimEnd();
  const text = [
    ...(options.caption ? [options.caption] : []),
    line(names),
    line(widths.map((width) => "-".repeat(width))),
    ...cells.map(line),
    ...(more ? [more] : []),
  ].join("\n");

  return { "text/html": html, "text/markdown": markdown, "text/plain": text };
}

/** The MIME bundle of Markdown text (shown rendered in notebooks, as text elsewhere). */
export function markdownBundle(markdown: string): MediaBundle {
  return { "text/markdown": markdown, "text/plain": markdown };
}

type JupyterDisplay = (bundle: unknown, options: { raw: boolean }) => Promise<void>;

/** `Deno.jupyter.display` inside the Deno kernel; null elsewhere (where reading `Deno.jupyter` throws). */
function jupyterDisplay(): JupyterDisplay | null {
  try {
    const jupyter = (Deno as unknown as { jupyter?: { display?: JupyterDisplay } }).jupyter;
    return typeof jupyter?.display === "function" ? jupyter.display.bind(jupyter) : null;
  } catch {
    return null;
  }
}

/** Whether this code runs in the Deno Jupyter kernel (`deno jupyter --kernel`). */
export function inJupyter(): boolean {
  return jupyterDisplay() !== null;
}

/**
 * Shows a MIME bundle: as a notebook output inside the Deno kernel, else its `text/plain` (or
 * `text/markdown`) on stdout.
 */
export async function display(bundle: MediaBundle): Promise<void> {
  const show = jupyterDisplay();
  if (show) {
    await show(bundle, { raw: true });
    return;
  }
  const text = bundle["text/plain"] ?? bundle["text/markdown"];
  console.log(typeof text === "string" ? text : JSON.stringify(text));
}

/** Shows a Vega-Lite chart (see {@linkcode chartBundle}). */
export async function showChart(spec: VegaLiteSpec, options: ChartBundleOptions = {}): Promise<void> {
  await display(await chartBundle(spec, options));
}

/** Shows a table (see {@linkcode tableBundle}). */
export async function showTable(table: TableInput, options: TableOptions = {}): Promise<void> {
  await display(tableBundle(table, options));
}

/** Shows Markdown text. */
export async function showMarkdown(markdown: string): Promise<void> {
  await display(markdownBundle(markdown));
}
