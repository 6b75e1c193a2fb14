/**
 * The pieces of `report.html`: escaped tables (from text tables, result rows or any Arrow table), the
 * figures of a results directory embedded as `data:` URIs, and the page around the sections. No script,
 * no external resource; every text from the files is HTML-escaped.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { TableData } from "../io/arrow.ts";
import { svgSize } from "../plot/render.ts";
import { escapeHtml } from "../util/html.ts";
import { formatCell } from "../util/format.ts";
import { listDirectory, readFileIfPresent, readJsonIfPresent } from "../util/files.ts";
import { join } from "../util/path.ts";
import type { TextTable } from "./tables.ts";

/** A cell: text to escape, a numeric flag for right alignment, an optional class and link. */
export interface Cell {
  /** The text shown (escaped). */
  text: string;
  /** Right-aligned, tabular digits. */
  numeric?: boolean;
  /** A CSS class (`band`, `total`). */
  className?: string;
  /** A link relative to the report (a file beside it). */
  href?: string;
}

/** A cell of any value: numbers formatted by `formatCell` and right-aligned. */
export function cell(value: unknown): Cell {
  return { text: formatCell(value), numeric: typeof value === "number" || typeof value === "bigint" };
}

/**
 * An HTML table of cells, with an optional caption, in a horizontally scrolling wrapper (a table wider
 * than the page scrolls inside it). With `rowHeaders` the first cell of each row is a row header.
 */
export function tableHtml(headers: string[], rows: Cell[][], caption = "", rowHeaders = false): string {
  const head = headers.map((header) => `<th scope="col">${escapeHtml(header)}</th>`).join("");
  const body = rows.map((row) =>
    "<tr>" +
    row.map((c, index) => {
      // Long text (an adapter's name, a list of sessions) wraps instead of widening the table.
      const classes = [c.numeric ? "num" : "", c.text.length > 40 ? "long" : "", c.className ?? ""]
        .filter(Boolean).join(" ");
      const text = c.href
        ? `<a href="${escapeHtml(encodeURI(c.href))}">${escapeHtml(c.text)}</a>`
        : escapeHtml(c.text);
      const tag = rowHeaders && index === 0 ? 'th scope="row"' : "td";
      return `<${tag}${classes ? ` class="${classes}"` : ""}>${text}</${tag.slice(0, 2)}>`;
    }).join("") +
    "</tr>"
  ).join("\n");
  return `<div class="table-wrap"><table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ""}` +
    (headers.length > 0 ? `<thead><tr>${head}</tr></thead>` : "") +
    `\n<tbody>\n${body}\n</tbody></table></div>`;
}

/** A text table (`tables.ts`) as HTML: numeric columns right-aligned, highlighted rows marked `band`. */
export function textTableHtml(table: TextTable): string {
  return tableHtml(
    table.headers,
    table.rows.map((row, r) =>
      row.map((text, c) => ({
        text,
        numeric: table.numeric?.[c] ?? false,
        className: table.highlight?.[r] && c === 0 ? "band" : "",
      }))
    ),
    table.caption ?? "",
    table.rowHeaders ?? false,
  );
}

/** `html` folded in a `<details>` element whose summary line is `summary` (escaped). */
export function foldedHtml(summary: string, html: string, open = false): string {
  return `<details${open ? " open" : ""}><summary>${escapeHtml(summary)}</summary>\n${html}\n</details>`;
}

/** Columns of a table (their first `maxRows` rows) as HTML, with a note naming `source` when cut. */
export function columnsHtml(
  headers: string[],
  rowCount: number,
  valueAt: (column: string, row: number) => unknown,
  source: string,
  maxRows: number,
): string {
  const shown = Math.min(rowCount, maxRows);
  const rows: Cell[][] = [];
  for (let row = 0; row < shown; row++) rows.push(headers.map((column) => cell(valueAt(column, row))));
  const note = shown < rowCount
    ? `<p class="note">First ${shown} of ${rowCount} rows; all of them are in <code>${
      escapeHtml(source)
    }</code>.</p>`
    : "";
  return tableHtml(headers, rows) + note;
}

/** A whole Arrow table (its first `maxRows` rows) as HTML. */
export function arrowTableHtml(
  table: TableData,
  source: string,
  maxRows: number,
  columns = table.names,
): string {
  return columnsHtml(columns, table.numRows, (column, row) => table.columns[column]?.[row], source, maxRows);
}

/** Known figures: file base name → caption (the others are named from their file and spec title). */
const FIGURE_CAPTIONS: Record<string, string> = {
  deceleration_f1: "F1 — Loss curves (log–log) with the broken-power-law fit, the two straight segments " +
    "(pre-break line to t_d, then slope −r_d) and the fitted t_d band",
  zsl_f2: "F2 — Loss interference between checkpoints t and 2t: D, M and |ΔL| vs t",
  zsl_f3: "F3 — D–M trajectories over log₂|ΔL| (checkpoints t → 2t)",
  zsl_f4: "F4 — Loss interference of one optimizer step (Δ_t^{t+1}) on the train batch and the eval split",
  zsl_f5: "F5 — Per-coordinate gradient interference D(∇ℓ) vs t",
  zsl_f6: "F6 — Histogram of the per-coordinate coherence C_j = 1 − D_j at each checkpoint",
  zsl_f7: "F7 — Coherences C_g and C_(u,G)/C_(u,g) vs t",
  zsl_f8: "F8 — True Δℓ_i vs first-order predicted Δ̂ℓ_i at each checkpoint, with the line y = x",
  zsl_probe: "Live probe: D, M and |ΔL| measured during training",
  deceleration_f1_lr_area: "F1 against S — Loss against the cumulative learning rate S = Σ lr, with the " +
    "broken-power-law fit against S and its t_d band",
  warmup_control: "Warmup control — t_d against the warmup (log–log), t_d = warmup dashed, within 2× shaded",
  gradient_noise_scale: "Gradient noise scale B_simple beside D(∇ℓ) vs t, the run's batch dotted",
};

/** A figure found in a results directory. */
interface FigureFile {
  base: string;
  number: number;
  caption: string;
  mime: string;
  bytes: Uint8Array;
  /** The chart's size in CSS pixels (its SVG's; the PNG has twice as many pixels), when known. */
  size: { width: number; height: number } | null;
}

function specTitle(spec: unknown): string {
  const title = (spec as { title?: unknown } | null)?.title;
  if (typeof title === "string") return title;
  if (title && typeof title === "object" && typeof (title as { text?: unknown }).text === "string") {
    return (title as { text: string }).text;
  }
  return "";
}

/** Every chart in `resultsDir` (a `.svg` or `.png`), F1…F8 first in number order, then the others. */
async function findFigures(resultsDir: string): Promise<FigureFile[]> {
  const entries = await listDirectory(resultsDir);
  const bases = [
    ...new Set(
      entries.filter((e) => e.isFile && /\.(svg|png)$/.test(e.name)).map((e) => e.name.slice(0, -4)),
    ),
  ];
  const figures: FigureFile[] = [];
  for (const base of bases) {
    const svg = await readFileIfPresent(join(resultsDir, `${base}.svg`));
    const png = await readFileIfPresent(join(resultsDir, `${base}.png`));
    // The smaller file: a contour plot's SVG runs to megabytes where its PNG is a few hundred kB.
    const useSvg = svg !== null && (png === null || svg.length <= png.length);
    const number = Number(/(?:^|_)f(\d+)$/i.exec(base)?.[1] ?? Infinity);
    const title = specTitle(await readJsonIfPresent(join(resultsDir, `${base}.vl.json`)).catch(() => null));
    const caption = FIGURE_CAPTIONS[base] ??
      [Number.isFinite(number) ? `F${number}` : base, title].filter(Boolean).join(" — ");
    figures.push({
      base,
      number,
      caption: title && FIGURE_CAPTIONS[base] ? `${caption}. ${title}` : caption,
      mime: useSvg ? "image/svg+xml" : "image/png",
      bytes: useSvg ? svg! : png!,
      size: svg ? svgSize(new TextDecoder().decode(svg.subarray(0, 4096))) : null,
    });
  }
  return figures.sort((a, b) => a.number - b.number || (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
}

/**
 * The figures of `resultsDir` as `<figure>` elements with the image inline ("" when there are none),
 * each at its chart's own size (a PNG has twice the pixels) and at most the page's width.
 */
export async function figuresHtml(resultsDir: string): Promise<string> {
  return (await findFigures(resultsDir)).map((figure) =>
    `<figure id="figure-${escapeHtml(figure.base)}"><img alt="${escapeHtml(figure.caption)}"${
      figure.size
        ? ` width="${Math.round(figure.size.width)}" height="${Math.round(figure.size.height)}"`
        : ""
    } src="data:${figure.mime};base64,${Buffer.from(figure.bytes).toString("base64")}"><figcaption>${
      escapeHtml(figure.caption)
    } <span class="note">(<code>${escapeHtml(figure.base)}</code>` +
    `.vl.json / .svg / .png)</span></figcaption></figure>`
  ).join("\n");
}

const STYLE = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --stripe: #f6f7f9; --accent: #2f5d9e; --band: #fff4d6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
  margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 2px solid var(--accent); margin-bottom: 8px; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.1em; }
header .meta { font-size: 13px; margin: 0 0 6px; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
#summary h2 { margin-top: 0.6em; }
h3 { font-size: 1.05em; margin-top: 1.6em; }
.meta, .note, caption { color: var(--muted); }
nav { font-size: 13px; color: var(--muted); margin-bottom: 4px; }
nav a { margin-right: 0.9em; white-space: nowrap; }
a { color: var(--accent); }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 0.4em 0 1em; }
.side-by-side { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
.side-by-side .table-wrap { max-width: 100%; }
th[scope="row"] { background: #f3f5f9; font-weight: 500; position: static; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-style: italic; padding: 4px 0; caption-side: top; }
th, td { border: 1px solid var(--line); padding: 2px 8px; white-space: nowrap; line-height: 1.4; }
td.long { white-space: normal; min-width: 18em; }
th { background: #eef1f6; position: sticky; top: 0; text-align: left; }
tbody tr:nth-child(even) { background: var(--stripe); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.band { background: var(--band); }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); margin-top: 6px; }
pre { background: var(--stripe); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 0.4em 0; }
details > summary { cursor: pointer; color: var(--accent); }
code { font-size: 0.92em; }
.total { font-weight: 600; }
.formula { font-family: "DejaVu Serif", Georgia, serif; }
`;

/** A section of the page: its anchor id, its title and its HTML. */
export type Section = [id: string, title: string, html: string];

/** The whole page: title, a header line (`meta`, escaped), a table of contents and the sections. */
export function pageHtml(title: string, heading: string, meta: string, sections: readonly Section[]): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(heading)}</h1>
<p class="meta">${escapeHtml(meta)}</p>
<nav>${sections.map(([id, title]) => `<a href="#${id}">${escapeHtml(title)}</a>`).join("\n")}</nav>
</header>
${
    sections.map(([id, title, html]) =>
      `<section id="${id}">\n<h2>${escapeHtml(title)}</h2>\n${html}\n</section>`
    ).join("\n")
  }
</main>
</body>
</html>
`;
}
