/**
 * `SWEEP/results/report.html`: one self-contained page that opens from `file://` without a server. It
 * embeds every figure found in `results/` (the smaller of its SVG and PNG, as a `data:` URI), the tables
 * (the paper's T1, the fitted parameters with ± errors, loss and gradient interference, the joined
 * `runs.arrow`, and any other table there), what was run (the sweep definition, each run's spec, seeds,
 * steps and data), on which adapter, and how long it took (`environment.json`). No script, no external
 * resource; every text from the files is HTML-escaped.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { TableData } from "../io/arrow.ts";
import { readArrow } from "../io/arrow.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { formatDuration } from "../cli/progress.ts";
import { formatWithError } from "../analysis/deceleration/report.ts";
import { join } from "../util/path.ts";
import { BROWN_GENRES } from "../data/brown.ts";
import type { RunSession, SweepEnvironment } from "./results.ts";
import { ENVIRONMENT_FILE, GRADIENT_TABLE, RUNS_TABLE } from "./results.ts";

/** File name of the report in `SWEEP/results/`. */
export const REPORT_FILE = "report.html";

/** Options of {@linkcode sweepReportHtml} and {@linkcode writeSweepReport}. */
export interface SweepReportOptions {
  /** Runs to describe (default: every directory under `SWEEP/runs/` with a `run.json`). */
  runIds?: string[];
  /** Rows shown of a long table before it is cut (the Arrow file has them all). Default 200. */
  maxTableRows?: number;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A number for a table cell: integers as they are, others to 4 significant digits, NaN as "—". */
export function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "—" : String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** Known figures: file base name → caption (the others are named from their file and spec title). */
const FIGURE_CAPTIONS: Record<string, string> = {
  deceleration_f1: "F1 — Loss curves (log–log) with the broken-power-law fit, the two straight segments " +
    "(pre-break line to t_d, then slope −r_d) and the fitted t_d band",
  zsl_f2: "F2 — Loss interference between checkpoints t and 2t: D, M and |ΔL| vs t",
  zsl_f3: "F3 — D–M trajectories over log₂|ΔL| (checkpoints t → 2t)",
  zsl_f4: "F4 — Loss interference of one AdamW step (Δ_t^{t+1}) on the train batch and the eval split",
  zsl_f5: "F5 — Per-coordinate gradient interference D(∇ℓ) vs t",
  zsl_f6: "F6 — Histogram of the per-coordinate coherence C_j = 1 − D_j at each checkpoint",
  zsl_f7: "F7 — Coherences C_g and C_(u,G)/C_(u,g) vs t",
  zsl_f8: "F8 — True Δℓ_i vs first-order predicted Δ̂ℓ_i at each checkpoint, with the line y = x",
  zsl_probe: "Live probe: D, M and |ΔL| measured during training",
};

/** A figure found in `results/`. */
interface FigureFile {
  base: string;
  number: number;
  caption: string;
  mime: string;
  bytes: Uint8Array;
}

async function readOptional(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function readOptionalJson<T>(path: string): Promise<T | null> {
  const bytes = await readOptional(path);
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new Error(`zsl: ${path} is not valid JSON (${(error as Error).message}): rerun the sweep`);
  }
}

async function listDirectory(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(path)) entries.push(entry);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
    const svg = await readOptional(join(resultsDir, `${base}.svg`));
    const png = await readOptional(join(resultsDir, `${base}.png`));
    // The smaller file: a contour plot's SVG runs to megabytes where its PNG is a few hundred kB.
    const useSvg = svg !== null && (png === null || svg.length <= png.length);
    const number = Number(/(?:^|_)f(\d+)$/i.exec(base)?.[1] ?? Infinity);
    const title = specTitle(await readOptionalJson(join(resultsDir, `${base}.vl.json`)).catch(() => null));
    const caption = FIGURE_CAPTIONS[base] ??
      [Number.isFinite(number) ? `F${number}` : base, title].filter(Boolean).join(" — ");
    figures.push({
      base,
      number,
      caption: title && FIGURE_CAPTIONS[base] ? `${caption}. ${title}` : caption,
      mime: useSvg ? "image/svg+xml" : "image/png",
      bytes: useSvg ? svg! : png!,
    });
  }
  return figures.sort((a, b) => a.number - b.number || (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
}

/** A cell: text to escape, a numeric flag for right alignment, an optional class. */
interface Cell {
  text: string;
  numeric?: boolean;
  className?: string;
  /** A link relative to the report (a file beside it). */
  href?: string;
}

function cell(value: unknown): Cell {
  return {
    text: formatCell(value),
    numeric: typeof value === "number" || typeof value === "bigint",
  };
}

function tableHtml(headers: string[], rows: Cell[][], caption = ""): string {
  const head = headers.map((header) => `<th scope="col">${escapeHtml(header)}</th>`).join("");
  const body = rows.map((row) =>
    "<tr>" +
    row.map((c) => {
      const classes = [c.numeric ? "num" : "", c.className ?? ""].filter(Boolean).join(" ");
      const text = c.href
        ? `<a href="${escapeHtml(encodeURI(c.href))}">${escapeHtml(c.text)}</a>`
        : escapeHtml(c.text);
      return `<td${classes ? ` class="${classes}"` : ""}>${text}</td>`;
    }).join("") +
    "</tr>"
  ).join("\n");
  return `<div class="table-wrap"><table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ""}` +
    (headers.length > 0 ? `<thead><tr>${head}</tr></thead>` : "") +
    `\n<tbody>\n${body}\n</tbody></table></div>`;
}

function value(table: TableData, column: string, row: number): unknown {
  const values = table.columns[column];
  return values ? values[row] : undefined;
}

function numberValue(table: TableData, column: string, row: number): number {
  const v = value(table, column, row);
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : NaN;
}

/** A whole Arrow table (its first `maxRows` rows) as HTML, with a note when it was cut. */
function arrowTableHtml(table: TableData, source: string, maxRows: number, columns = table.names): string {
  const shown = Math.min(table.numRows, maxRows);
  const rows: Cell[][] = [];
  for (let row = 0; row < shown; row++) rows.push(columns.map((column) => cell(value(table, column, row))));
  const note = shown < table.numRows
    ? `<p class="note">First ${shown} of ${table.numRows} rows; all of them are in <code>${
      escapeHtml(source)
    }</code>.</p>`
    : "";
  return tableHtml(columns, rows) + note;
}

function rowsOf(table: TableData, column: string, equals: string): number[] {
  const rows: number[] = [];
  for (let row = 0; row < table.numRows; row++) {
    if (String(value(table, column, row)) === equals) rows.push(row);
  }
  return rows;
}

function distinct(table: TableData, column: string): string[] {
  const values = table.columns[column];
  return values ? [...new Set(Array.from(values, (v) => String(v)))] : [];
}

/** The paper's T1 (Model | L_d | t_d | r_d | L̂_T | L_T) and the parameter table with ± errors. */
function decelerationHtml(table: TableData): string {
  const rows = Array.from({ length: table.numRows }, (_, row) => row);
  const mark = (row: number) => (value(table, "identified", row) === true ? "" : " ⚠");
  const pm = (row: number, column: string) =>
    formatWithError(numberValue(table, column, row), numberValue(table, `${column}_err`, row));
  const t1 = tableHtml(
    ["Model", "L_d", "t_d (± 1σ range)", "r_d", "L̂_T", "L_T"],
    rows.map((row) => [
      { text: String(value(table, "name", row)) + mark(row) },
      { text: pm(row, "L_d"), numeric: true },
      {
        text: `${Math.round(numberValue(table, "t_d", row))} (${
          Math.round(numberValue(table, "t_d_min", row))
        }–${Math.round(numberValue(table, "t_d_max", row))})`,
        numeric: true,
      },
      { text: pm(row, "r_d"), numeric: true },
      { text: pm(row, "L_hat_T"), numeric: true },
      { text: numberValue(table, "L_T", row).toFixed(4), numeric: true },
    ]),
    "T1 — deceleration per model",
  );
  const parameters = tableHtml(
    ["Model", "b", "c0", "c1", "log d1", "f1", "RSLE", "points", "steps fitted", "converged"],
    rows.map((row) => [
      { text: String(value(table, "name", row)) + mark(row) },
      ...["b", "c0", "c1", "log_d1", "f1"].map((column) => ({ text: pm(row, column), numeric: true })),
      cell(numberValue(table, "rsle", row)),
      cell(numberValue(table, "n_points", row)),
      {
        text: `${numberValue(table, "first_step", row)}–${numberValue(table, "final_step", row)}`,
        numeric: true,
      },
      cell(value(table, "converged", row)),
    ]),
    "Fitted broken-power-law parameters, ± one standard error",
  );
  const unidentified = rows.filter((row) => value(table, "identified", row) !== true);
  const notes = unidentified.length === 0 ? "" : "<p>⚠ Break not identified (the numbers are the " +
    "least-squares optimum, not a deceleration):</p><ul>" +
    unidentified.map((row) =>
      `<li><b>${escapeHtml(String(value(table, "name", row)))}</b>: ${
        escapeHtml(String(value(table, "reasons", row) ?? ""))
      }</li>`
    ).join("") + "</ul>";
  return `<p class="formula">log L(t) = log b − c0·log t − c1·f1·log(1 + exp((log t − log d1)/f1)); ` +
    `t_d = d1, L_d = b·t_d<sup>−c0</sup>, r_d = c0 + c1, L̂_T = L_d·(t_d/T)<sup>r_d</sup>, ` +
    `L_T = the smoothed loss at the last step T.</p>\n${t1}\n${parameters}\n${notes}`;
}

/** Δ_t^{2t} per model, the window holding t_d marked, and Δ_t^{t+1} mean ± std. */
function interferenceHtml(
  dt2t: TableData | null,
  dt1: TableData | null,
  breaks: Map<string, [number, number]>,
): string {
  const parts: string[] = [];
  const models = [
    ...new Set([...(dt2t ? distinct(dt2t, "model") : []), ...(dt1 ? distinct(dt1, "model") : [])]),
  ];
  for (const model of models) {
    parts.push(`<h3>${escapeHtml(model)}</h3>`);
    const band = breaks.get(model);
    parts.push(
      band
        ? `<p>Deceleration band t_d ± 1σ: ${Math.round(band[0])}–${
          Math.round(band[1])
        } (windows overlapping it are marked ◀).</p>`
        : "<p>No deceleration identified by the fit.</p>",
    );
    if (dt2t) {
      parts.push(tableHtml(
        ["t → 2t", "eval loss at t", "D", "M", "|ΔL|"],
        rowsOf(dt2t, "model", model).map((row) => {
          const t = numberValue(dt2t, "t", row);
          const t2 = numberValue(dt2t, "t2", row);
          const inBand = band !== undefined && t2 >= band[0] && t <= band[1];
          return [
            { text: `${t} → ${t2}${inBand ? " ◀" : ""}`, numeric: true, className: inBand ? "band" : "" },
            cell(numberValue(dt2t, "loss_t", row)),
            cell(numberValue(dt2t, "D", row)),
            cell(numberValue(dt2t, "M", row)),
            cell(numberValue(dt2t, "abs_deltaL", row)),
          ];
        }),
        "Δ_t^{2t}: checkpoints t → 2t on the eval split",
      ));
    }
    const oneStep = dt1 ? rowsOf(dt1, "model", model) : [];
    if (dt1 && oneStep.length > 0) {
      const pm = (row: number, column: string) =>
        `${formatCell(numberValue(dt1, column, row))} ± ${
          formatCell(numberValue(dt1, `${column}_std`, row))
        }`;
      parts.push(tableHtml(
        ["t", "set", "lr", "batches", "D", "M", "|ΔL|"],
        oneStep.map((row) => [
          cell(numberValue(dt1, "t", row)),
          { text: String(value(dt1, "set", row)) },
          cell(numberValue(dt1, "lr", row)),
          cell(numberValue(dt1, "batches", row)),
          { text: pm(row, "D"), numeric: true },
          { text: pm(row, "M"), numeric: true },
          { text: pm(row, "abs_deltaL"), numeric: true },
        ]),
        "Δ_t^{t+1}: one AdamW step from checkpoint t, mean ± std over the unseen batches",
      ));
    }
  }
  return parts.join("\n");
}

/** Per-genre D of Δ_t^{2t}: one row per model and genre, one column per window. */
function genreHtml(groups: TableData, brown: boolean): string {
  const genreRows = rowsOf(groups, "grouping", "genre");
  if (genreRows.length === 0) return "";
  const windows = [...new Set(genreRows.map((row) => numberValue(groups, "t", row)))].sort((a, b) => a - b);
  const rows: Cell[][] = [];
  for (const model of distinct(groups, "model")) {
    const own = genreRows.filter((row) => String(value(groups, "model", row)) === model);
    for (const genre of [...new Set(own.map((row) => String(value(groups, "group", row))))]) {
      const known = brown ? BROWN_GENRES.find((g) => g.id === genre) : undefined;
      const cells: Cell[] = [{ text: model }, { text: known ? `${genre} (${known.name})` : genre }];
      for (const t of windows) {
        const row = own.find((r) =>
          String(value(groups, "group", r)) === genre && numberValue(groups, "t", r) === t
        );
        cells.push(cell(row === undefined ? NaN : numberValue(groups, "D", row)));
      }
      rows.push(cells);
    }
  }
  return tableHtml(
    ["model", "genre", ...windows.map((t) => `D ${t}→${2 * t}`)],
    rows,
    "Δ_t^{2t} destructive interference D per genre (per document: interference_dt_2t_groups.arrow)",
  );
}

/** Columns of `runs.arrow` that describe the run (the rest are measurements). */
const RUN_CONFIG_COLUMNS = [
  "run_id",
  "preset",
  "d_model",
  "n_layers",
  "n_heads",
  "head_dim",
  "vocab_size",
  "seq_len",
  "params_non_embedding",
  "params_total",
  "seed",
  "schedule",
  "peak_lr",
  "warmup",
  "batch",
  "microbatch",
  "tokens_per_step",
  "steps",
  "steps_done",
  "tokens_done",
  "tokenizer",
  "data",
];

function runsHtml(runs: TableData, maxRows: number): string {
  const config = RUN_CONFIG_COLUMNS.filter((column) => runs.columns[column]);
  // Shown under "What was run" already.
  const described = [
    "name",
    "mlp_ratio",
    "data_seed",
    "decay_steps",
    "weight_decay",
    "clip",
    "eval_sequences",
  ];
  const skip = new Set([...config, ...described, "adapter", "software_adapter"]);
  const measured = ["run_id", ...runs.names.filter((column) => !skip.has(column))];
  return `<h3>Configuration</h3>\n${arrowTableHtml(runs, RUNS_TABLE, maxRows, config)}\n` +
    `<h3>Training, deceleration and interference</h3>\n` +
    `<p>Columns <code>dt2t_td_*</code> / <code>dt1_*_td_*</code>: the window t → 2t with t ≤ t_d &lt; 2t ` +
    `(and the one step from that t), only where the break is identified; <code>*_last_*</code>: the last ` +
    `window. Every column is described in the README.</p>\n` +
    arrowTableHtml(runs, RUNS_TABLE, maxRows, measured);
}

type RunInfo = Record<string, unknown>;

function get(object: unknown, ...path: string[]): unknown {
  let current = object;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function whatWasRunHtml(sweep: unknown, runIds: string[], infos: Map<string, RunInfo | null>): string {
  const parts: string[] = [];
  if (sweep) {
    parts.push(
      "<h3>Sweep definition (<code>sweep.json</code>)</h3>",
      `<pre>${escapeHtml(JSON.stringify(sweep, null, 2))}</pre>`,
    );
  }
  const rows: Cell[][] = runIds.map((id) => {
    const info = infos.get(id);
    const model = get(info, "model") ?? get(info, "spec", "config");
    return [
      { text: id },
      { text: String(get(info, "preset") ?? "config file") },
      {
        text: `d ${get(model, "d_model")}, L ${get(model, "n_layers")}, h ${get(model, "n_heads")}, T ${
          get(model, "seq_len")
        }`,
      },
      cell(get(info, "seed")),
      { text: String(get(info, "schedule", "kind") ?? "") },
      cell(get(info, "schedule", "peakLr")),
      cell(get(info, "schedule", "warmup")),
      cell(get(info, "steps")),
      cell(get(info, "batch")),
      cell(get(info, "microbatch")),
      { text: String(get(info, "data", "source") ?? get(info, "spec", "data") ?? "") },
      { text: String(get(info, "tokenizer") ?? "") },
      cell(get(info, "data", "tokens")),
      cell(get(info, "data", "documents")),
      cell(get(info, "data", "trainSequences")),
      cell(get(info, "data", "evalSequences")),
      cell(get(info, "data", "seed")),
      { text: String(get(info, "data", "orderFingerprint") ?? "") },
    ];
  });
  parts.push(
    "<h3>Runs</h3>",
    tableHtml(
      [
        "run",
        "preset",
        "model",
        "seed",
        "schedule",
        "peak lr",
        "warmup",
        "steps",
        "batch",
        "microbatch",
        "data",
        "tokenizer",
        "tokens",
        "documents",
        "train seqs",
        "eval seqs",
        "data seed",
        "order fingerprint",
      ],
      rows,
    ),
  );
  for (const id of runIds) {
    const info = infos.get(id);
    if (!info) continue;
    parts.push(
      `<details><summary>run.json of ${escapeHtml(id)}</summary><pre>${
        escapeHtml(JSON.stringify(info, null, 2))
      }</pre></details>`,
    );
  }
  return parts.join("\n");
}

function adapterText(adapter: unknown): string {
  if (!adapter || typeof adapter !== "object") return "—";
  const a = adapter as Record<string, unknown>;
  return `${a.description || a.device} (${a.vendor}, ${a.backend}${
    a.isSoftware ? ", software: runs on the CPU" : ", hardware"
  })`;
}

function seconds(value: number): Cell {
  return {
    text: Number.isFinite(value) ? `${formatDuration(value)} (${value.toFixed(1)} s)` : "—",
    numeric: true,
  };
}

function environmentHtml(environment: SweepEnvironment | null, infos: Map<string, RunInfo | null>): string {
  const parts: string[] = [];
  if (!environment) {
    parts.push(`<p>No <code>${ENVIRONMENT_FILE}</code>: the analyses were not run by the sweep.</p>`);
  } else {
    const host = environment.host;
    parts.push(tableHtml([], [
      [{ text: "Deno" }, {
        text: `${host.deno.deno} (V8 ${host.deno.v8}, TypeScript ${host.deno.typescript})`,
      }],
      [{ text: "OS" }, { text: `${host.os} ${host.arch}${host.osRelease ? ` ${host.osRelease}` : ""}` }],
      [{ text: "host" }, { text: host.hostname ?? "—" }],
      [{ text: "CPUs" }, { text: String(host.cpus) }],
      [{ text: "memory" }, {
        text: host.memoryBytes ? `${(host.memoryBytes / 2 ** 30).toFixed(1)} GiB` : "—",
      }],
      [{ text: "analysis adapter" }, { text: adapterText(environment.analysisAdapter) }],
      [{ text: "written" }, { text: environment.written }],
    ], "Machine of the analyses"));
    parts.push(tableHtml(
      ["run", "adapter", "steps done", "training (step loop)", "training (sweep sessions)", "sessions"],
      environment.runs.map((run) => {
        const sessionSeconds = run.sessions.reduce((sum: number, s: RunSession) => sum + s.seconds, 0);
        return [
          { text: run.id },
          { text: adapterText(run.adapter ?? get(infos.get(run.id), "adapter")) },
          cell(run.stepsDone),
          seconds(run.trainWallSeconds),
          run.sessions.length > 0 ? seconds(sessionSeconds) : { text: "not trained by the sweep" },
          {
            text: run.sessions.map((s: RunSession) =>
              `${s.started}: steps ${s.firstStep}–${s.lastStep} in ${formatDuration(s.seconds)}`
            ).join("; "),
          },
        ];
      }),
      "Training per run (the sweep's sessions include setup and kernel compilation)",
    ));
    parts.push(tableHtml(
      ["analysis", "time"],
      [
        ...environment.analyses.map((analysis) => [{ text: analysis.what }, seconds(analysis.seconds)]),
        [{ text: "total of the analyses", className: "total" }, seconds(environment.seconds.analyses)],
      ],
      "Analyses",
    ));
    parts.push(
      `<p class="total">Total: ${escapeHtml(formatDuration(environment.seconds.total))} ` +
        `(training ${escapeHtml(formatDuration(environment.seconds.training))}, analyses ${
          escapeHtml(formatDuration(environment.seconds.analyses))
        }).</p>`,
    );
  }
  return parts.join("\n");
}

const STYLE = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --stripe: #f6f7f9; --accent: #2f5d9e; --band: #fff4d6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
  margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 2px solid var(--accent); margin-bottom: 16px; }
h1 { font-size: 1.7em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 1.05em; margin-top: 1.6em; }
.meta, .note, caption { color: var(--muted); }
nav ul { columns: 2; padding-left: 1.2em; }
a { color: var(--accent); }
.table-wrap { overflow-x: auto; margin: 0.6em 0 1.2em; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-style: italic; padding: 4px 0; caption-side: top; }
th, td { border: 1px solid var(--line); padding: 3px 8px; white-space: nowrap; }
th { background: #eef1f6; position: sticky; top: 0; text-align: left; }
tbody tr:nth-child(even) { background: var(--stripe); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.band { background: var(--band); }
figure { margin: 1.2em 0 2em; }
figure img { max-width: min(100%, 1000px); height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); margin-top: 6px; }
pre { background: var(--stripe); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 0.4em 0; }
code { font-size: 0.92em; }
.total { font-weight: 600; }
.formula { font-family: "DejaVu Serif", Georgia, serif; }
`;

/** The report of the sweep in `sweepDir` as one HTML string (reads `sweep.json`, `runs/`, `results/`). */
export async function sweepReportHtml(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const resultsDir = join(sweepDir, "results");
  const maxRows = options.maxTableRows ?? 200;
  const sweep = await readOptionalJson<Record<string, unknown>>(join(sweepDir, "sweep.json"));
  const tables = new Map<string, TableData>();
  for (const entry of await listDirectory(resultsDir)) {
    if (entry.isFile && entry.name.endsWith(".arrow")) {
      tables.set(entry.name, await readArrow(join(resultsDir, entry.name)));
    }
  }
  const runs = tables.get(RUNS_TABLE) ?? null;
  // Sweep order: the runs table's, else the run directories alphabetically.
  let runIds = options.runIds ?? (runs?.columns.run_id ? Array.from(runs.columns.run_id, String) : undefined);
  if (!runIds) {
    runIds = [];
    for (const entry of await listDirectory(join(sweepDir, "runs"))) {
      if (entry.isDirectory && (await readOptional(join(sweepDir, "runs", entry.name, "run.json")))) {
        runIds.push(entry.name);
      }
    }
  }
  const infos = new Map<string, RunInfo | null>();
  for (const id of runIds) {
    infos.set(id, await readOptionalJson<RunInfo>(join(sweepDir, "runs", id, "run.json")));
  }
  const environment = await readOptionalJson<SweepEnvironment>(join(resultsDir, ENVIRONMENT_FILE));
  const figures = await findFigures(resultsDir);

  const deceleration = tables.get("deceleration.arrow") ?? null;
  const dt2t = tables.get("interference_dt_2t.arrow") ?? null;
  const dt1 = tables.get("interference_dt_1.arrow") ?? null;
  const groups = tables.get("interference_dt_2t_groups.arrow") ?? null;
  const gradients = tables.get(GRADIENT_TABLE) ?? null;
  const shown = new Set([
    "deceleration.arrow",
    "interference_dt_2t.arrow",
    "interference_dt_1.arrow",
    "interference_dt_2t_groups.arrow",
    GRADIENT_TABLE,
    RUNS_TABLE,
  ]);
  // One row per batch: summarised by interference_dt_1.arrow, so listed with the files only.
  shown.add("interference_dt_1_batches.arrow");

  const breaks = new Map<string, [number, number]>();
  if (deceleration) {
    for (let row = 0; row < deceleration.numRows; row++) {
      if (value(deceleration, "identified", row) === true) {
        breaks.set(String(value(deceleration, "name", row)), [
          numberValue(deceleration, "t_d_min", row),
          numberValue(deceleration, "t_d_max", row),
        ]);
      }
    }
  }

  // Genre ids are Brown's category letters only when every run trained on Brown.
  const onBrown = [...infos.values()].every((info) => get(info, "data", "source") === "brown");
  const name = String(sweep?.name ?? sweepDir.replace(/\/+$/, "").split("/").pop() ?? "sweep");
  const adapters = [...new Set([...infos.values()].map((info) => adapterText(get(info, "adapter"))))];
  const sections: [string, string, string][] = []; // id, title, html
  if (deceleration) sections.push(["deceleration", "Loss deceleration", decelerationHtml(deceleration)]);
  if (figures.length > 0) {
    sections.push([
      "figures",
      "Figures",
      figures.map((figure) =>
        `<figure id="figure-${escapeHtml(figure.base)}"><img alt="${
          escapeHtml(figure.caption)
        }" src="data:${figure.mime};base64,${Buffer.from(figure.bytes).toString("base64")}"><figcaption>${
          escapeHtml(figure.caption)
        } <span class="note">(<code>${escapeHtml(figure.base)}</code>` +
        `.vl.json / .svg / .png)</span></figcaption></figure>`
      ).join("\n"),
    ]);
  }
  if (dt2t || dt1) {
    sections.push([
      "interference",
      "Zero-sum learning: loss interference",
      "<p>D = 1 − |Σ Δℓ| / Σ |Δℓ|, M = mean |Δℓ|, |ΔL| = M·(1 − D) over predicted tokens.</p>\n" +
      interferenceHtml(dt2t, dt1, breaks) +
      (groups ? `\n<h3>Per genre</h3>\n${genreHtml(groups, onBrown)}` : ""),
    ]);
  }
  if (gradients) {
    sections.push([
      "gradients",
      "Zero-sum learning: gradient interference",
      arrowTableHtml(gradients, GRADIENT_TABLE, maxRows),
    ]);
  }
  if (runs) sections.push(["runs", "Runs (runs.arrow)", runsHtml(runs, maxRows)]);
  sections.push(["what-was-run", "What was run", whatWasRunHtml(sweep, runIds, infos)]);
  sections.push(["environment", "Adapter, machine and time", environmentHtml(environment, infos)]);
  const others = [...tables.entries()].filter(([file]) => !shown.has(file));
  if (others.length > 0) {
    sections.push([
      "other-tables",
      "Other tables",
      others.map(([file, table]) => `<h3>${escapeHtml(file)}</h3>\n${arrowTableHtml(table, file, maxRows)}`)
        .join("\n"),
    ]);
  }
  const files = await listDirectory(resultsDir);
  const fileRows: Cell[][] = [];
  for (const entry of files) {
    if (!entry.isFile || entry.name === REPORT_FILE || entry.name.endsWith(".tmp")) continue;
    const size = (await Deno.stat(join(resultsDir, entry.name))).size;
    fileRows.push([
      { text: entry.name, href: entry.name },
      { text: `${(size / 1024).toFixed(1)} KiB`, numeric: true },
    ]);
  }
  sections.push(["files", "Files in results/", tableHtml(["file", "size"], fileRows)]);

  const total = environment ? ` · total time ${formatDuration(environment.seconds.total)}` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zsl sweep ${escapeHtml(name)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>zsl sweep “${escapeHtml(name)}”</h1>
<p class="meta">${runIds.length} run${runIds.length === 1 ? "" : "s"}: ${
    escapeHtml(runIds.join(", "))
  } · adapter: ${escapeHtml(adapters.join("; "))}${escapeHtml(total)} · report written ${
    escapeHtml(new Date().toISOString())
  }</p>
</header>
<nav><ul>
${sections.map(([id, title]) => `<li><a href="#${id}">${escapeHtml(title)}</a></li>`).join("\n")}
</ul></nav>
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

/** Writes `SWEEP/results/report.html` ({@linkcode sweepReportHtml}) atomically; returns its path. */
export async function writeSweepReport(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const path = join(sweepDir, "results", REPORT_FILE);
  await writeFileAtomic(path, await sweepReportHtml(sweepDir, options));
  return path;
}
