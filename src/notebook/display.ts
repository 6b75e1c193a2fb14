/**
 * Rich output for Jupyter notebooks on the Deno kernel: Vega-Lite charts as native
 * `application/vnd.vegalite.v5+json` outputs with a PNG beside them (so that classic Notebook, nbconvert's
 * HTML, nbviewer and GitHub, which draw no Vega-Lite, show the chart), sized by the output's metadata;
 * tables as HTML, Markdown and plain text; Markdown with a plain-text rendering. The bundles are plain
 * objects, so they are built and tested anywhere; `display` broadcasts them inside the kernel and prints
 * their text elsewhere (a notebook's code also runs under `deno run`).
 *
 * Why a PNG and no SVG by default: `jupyter nbconvert --to html` prefers `image/svg+xml` to `image/png`
 * and passes it through lxml's HTML cleaner, which drops every SVG element it does not know (paths,
 * groups, text): Debian's nbconvert 6.5 exports such a chart as a blank box of the right size. An
 * untrusted classic Notebook skips SVG anyway (it is not among its safe outputs) and shows the PNG.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { TableData } from "../io/arrow.ts";
import { chartToSvg, svgSize, svgToPng, type VegaLiteSpec } from "../plot/render.ts";

export { svgSize };
import type { TextTable } from "../report/tables.ts";
import { formatCell } from "../util/format.ts";
import { escapeHtml } from "../util/html.ts";

/** A Jupyter MIME bundle: output data by media type (the `data` of a `display_data` message). */
export type MediaBundle = Record<string, unknown>;

/** The `metadata` of a `display_data` message: per media type, e.g. an image's width and height. */
export type MediaMetadata = Record<string, Record<string, unknown>>;

/** An output: its data by media type and its metadata. */
export interface Output {
  /** The data by media type. */
  data: MediaBundle;
  /** Metadata by media type (image sizes). */
  metadata: MediaMetadata;
}

/**
 * The Vega-Lite media type Jupyter frontends render natively (JupyterLab, Notebook 7, VS Code). The
 * specs of `src/plot/` are written against Vega-Lite 6 and use nothing that Vega-Lite 5 lacks; their
 * `$schema` is rewritten to v5 so that a v5 renderer does not warn.
 */
export const VEGA_LITE_MIME = "application/vnd.vegalite.v5+json";

/** The `$schema` of a spec shown under {@linkcode VEGA_LITE_MIME}. */
export const VEGA_LITE_V5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** Options of {@linkcode chartOutput}. */
export interface ChartOutputOptions {
  /**
   * Render the chart to a PNG (resvg, at twice the chart's size, shown at its size) beside the spec, for
   * frontends and exports without a Vega-Lite renderer (classic Notebook, nbconvert, nbviewer, GitHub).
   * Default true; false keeps only the spec and its text line (a smaller notebook).
   */
  images?: boolean;
  /**
   * Also put the SVG in the output (default false: nbconvert's HTML export would pick it over the PNG
   * and strip it to a blank box; see the module's documentation). For frontends that draw SVG and not
   * Vega-Lite, where a vector image is wanted.
   */
  svg?: boolean;
}

/**
 * The output of a Vega-Lite chart: the spec (v5 media type), a PNG of it (sized by the metadata to the
 * chart's width and height, the PNG being drawn at twice that; with `options.svg` the SVG too), and a
 * text line.
 */
export async function chartOutput(spec: VegaLiteSpec, options: ChartOutputOptions = {}): Promise<Output> {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new Error("zsl: chartOutput needs a Vega-Lite spec object (from a *FigureSpec builder of mod.ts)");
  }
  const object = spec as unknown as Record<string, unknown>;
  const titleText = (object.title as { text?: unknown } | undefined)?.text ?? object.title;
  const title = typeof titleText === "string"
    ? titleText
    : Array.isArray(titleText)
    ? titleText.join(" ")
    : "untitled";
  const values = (object.data as { values?: unknown[] } | undefined)?.values;
  const rows = Array.isArray(values) ? `, ${values.length} data rows` : "";
  const data: MediaBundle = {
    [VEGA_LITE_MIME]: { ...structuredClone(object), $schema: VEGA_LITE_V5_SCHEMA },
    "text/plain": `Vega-Lite chart (${title}${rows})`,
  };
  const metadata: MediaMetadata = {};
  if (options.images ?? true) {
    const svg = await chartToSvg(spec);
    data["image/png"] = Buffer.from(await svgToPng(svg, { scale: 2 })).toString("base64");
    const size = svgSize(svg);
    if (size) metadata["image/png"] = { ...size };
    if (options.svg) {
      data["image/svg+xml"] = svg;
      if (size) metadata["image/svg+xml"] = { ...size };
    }
  }
  return { data, metadata };
}

/** A table to show: an Arrow table read back, a text table of `src/report/tables.ts`, or named columns. */
export type TableInput = TableData | TextTable | Record<string, ArrayLike<unknown>>;

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

function isTextTable(table: TableInput): table is TextTable {
  const candidate = table as Partial<TextTable>;
  return Array.isArray(candidate.headers) && Array.isArray(candidate.rows);
}

function isTableData(table: TableInput): table is TableData {
  const candidate = table as Partial<TableData>;
  return typeof candidate.numRows === "number" && Array.isArray(candidate.names) &&
    typeof candidate.columns === "object" && candidate.columns !== null;
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/**
 * The MIME bundle of a table: HTML (what notebook frontends show), Markdown and aligned plain text. A
 * text table keeps its caption unless `options.caption` replaces it. Throws when a requested column is
 * missing or the columns differ in length.
 */
export function tableBundle(table: TableInput, options: TableOptions = {}): MediaBundle {
  if (isTextTable(table)) {
    const columns = Object.fromEntries(
      table.headers.map((header, j) => [header, table.rows.map((row) => row[j])]),
    );
    return tableBundle(columns, { caption: table.caption, ...options });
  }
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

/**
 * Markdown as plain text, for the `text/plain` of a Markdown output: headings, emphasis, code marks and
 * escapes removed, links written as "text (address)".
 */
export function markdownToText(markdown: string): string {
  return markdown
    .replace(/^#{1,6}\s+/gm, "")
    .replace(/\[([^\]]*)\]\(([^)]*)\)/g, "$1 ($2)")
    .replace(/(\*\*|__)(.+?)\1/g, "$2")
    .replace(/(^|[^\w*])[*_]([^*_\n]+)[*_](?=[^\w*]|$)/g, "$1$2")
    .replace(/`([^`]*)`/g, "$1")
    .replace(/\\([\\`*_{}\[\]()#+\-.!|])/g, "$1");
}

/** The MIME bundle of Markdown text: rendered in notebooks, its plain-text rendering elsewhere. */
export function markdownBundle(markdown: string): MediaBundle {
  return { "text/markdown": markdown, "text/plain": markdownToText(markdown) };
}

type JupyterBroadcast = (type: string, content: Record<string, unknown>) => Promise<void>;

/** `Deno.jupyter.broadcast` inside the Deno kernel; null elsewhere (where reading `Deno.jupyter` throws). */
function jupyterBroadcast(): JupyterBroadcast | null {
  try {
    const jupyter = (Deno as unknown as { jupyter?: { broadcast?: JupyterBroadcast } }).jupyter;
    return typeof jupyter?.broadcast === "function" ? jupyter.broadcast.bind(jupyter) : null;
  } catch {
    return null;
  }
}

/** Whether this code runs in the Deno Jupyter kernel (`deno jupyter --kernel`). */
export function inJupyter(): boolean {
  return jupyterBroadcast() !== null;
}

/**
 * Shows an output: as a notebook `display_data` with its metadata inside the Deno kernel, else its
 * `text/plain` (or `text/markdown`) on stdout.
 */
export async function display({ data, metadata }: Output): Promise<void> {
  const broadcast = jupyterBroadcast();
  if (broadcast) {
    await broadcast("display_data", { data, metadata, transient: {} });
    return;
  }
  const text = data["text/plain"] ?? data["text/markdown"];
  console.log(typeof text === "string" ? text : JSON.stringify(text));
}

/** Shows a Vega-Lite chart (see {@linkcode chartOutput}). */
export async function showChart(spec: VegaLiteSpec, options: ChartOutputOptions = {}): Promise<void> {
  await display(await chartOutput(spec, options));
}

/** Shows a table (see {@linkcode tableBundle}). */
export async function showTable(table: TableInput, options: TableOptions = {}): Promise<void> {
  await display({ data: tableBundle(table, options), metadata: {} });
}

/** Shows Markdown text (see {@linkcode markdownBundle}). */
export async function showMarkdown(markdown: string): Promise<void> {
  await display({ data: markdownBundle(markdown), metadata: {} });
}
