/**
 * `SWEEP/results/report.html`: one self-contained page that opens from `file://` without a server. It
 * embeds every figure found in `results/` (the smaller of its SVG and PNG, as a `data:` URI), the tables
 * (the paper's T1, the fitted parameters with ± errors, loss and gradient interference, the loss along the
 * update, the ablations' comparison, the joined `runs.arrow`, and any other table there), what was run (the sweep definition, each run's spec, seeds,
 * steps and data), on which adapter, and how long it took (`environment.json`). It reads only the results
 * layer.
 *
 * @module
 */
import { readArrow, type TableData } from "../io/arrow.ts";
import { ABLATION_AXES, ABLATION_TABLE, type AblationRow } from "../results/ablation.ts";
import { LANDSCAPE_TABLE, type LandscapeRow } from "../results/landscape.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import type { DecelerationBreak, DecelerationRow } from "../results/deceleration.ts";
import {
  DECELERATION_CURVES_TABLE,
  DECELERATION_TABLE,
  decelerationBreaks,
} from "../results/deceleration.ts";
import {
  COHERENCE_HISTOGRAM_TABLE,
  GRADIENT_TABLE,
  type GradientInterferenceRow,
} from "../results/gradients.ts";
import type { Dt1Row, Dt2tGroupRow, Dt2tRow } from "../results/interference.ts";
import {
  brownGenreName,
  DT1_BATCHES_TABLE,
  DT1_TABLE,
  DT2T_GROUPS_TABLE,
  DT2T_TABLE,
} from "../results/interference.ts";
import type { RunSession, SweepEnvironment } from "../results/sweep.ts";
import {
  ENVIRONMENT_FILE,
  readEnvironment,
  readRunInfo,
  readRunsTable,
  readSweepDefinitionJson,
  REPORT_FILE,
  RUNS_TABLE,
  sweepResultsDir,
  sweepRunDir,
} from "../results/sweep.ts";
import { readTableIfPresent } from "../results/table.ts";
import { formatDuration } from "../util/format.ts";
import { listDirectory } from "../util/files.ts";
import { escapeHtml } from "../util/html.ts";
import { join } from "../util/path.ts";
import type { Cell, Section } from "./html.ts";
import {
  arrowTableHtml,
  cell,
  columnsHtml,
  figuresHtml,
  pageHtml,
  tableHtml,
  textTableHtml,
} from "./html.ts";
import { ABLATION_NOTE, LANDSCAPE_NOTE } from "./markdown.ts";
import {
  ablationTable,
  bnslParameterTable,
  DECELERATION_FORMULA,
  dt1Table,
  dt2tTable,
  gradientTable,
  groupBy,
  landscapeTable,
  t1Table,
} from "./tables.ts";

/** Options of {@linkcode sweepReportHtml} and {@linkcode writeSweepReport}. */
export interface SweepReportOptions {
  /** Runs to describe (default: the runs table's, else every directory under `SWEEP/runs/` with a `run.json`). */
  runIds?: string[];
  /** Rows shown of a long table before it is cut (the Arrow file has them all). Default 200. */
  maxTableRows?: number;
}

/** Tables the report shows in sections of their own, or lists with the files only. */
const KNOWN_TABLES = new Set([
  DECELERATION_TABLE.file,
  DECELERATION_CURVES_TABLE.file,
  DT2T_TABLE.file,
  DT2T_GROUPS_TABLE.file,
  DT1_TABLE.file,
  DT1_BATCHES_TABLE.file,
  GRADIENT_TABLE.file,
  COHERENCE_HISTOGRAM_TABLE.file,
  ABLATION_TABLE.file,
  LANDSCAPE_TABLE.file,
  RUNS_TABLE,
]);

/** The runs compared along each ablation axis. */
function ablationHtml(rows: AblationRow[]): string {
  const tables = ABLATION_AXES.map((axis) => rows.filter((row) => row.axis === axis))
    .filter((own) => own.length > 0)
    .map((own) => textTableHtml(ablationTable(own)));
  return `<p>${escapeHtml(ABLATION_NOTE)}</p>\n${tables.join("\n")}`;
}

/** The loss along the update per run. */
function landscapeHtml(rows: LandscapeRow[]): string {
  const perRun = [...groupBy(rows, (row) => row.model)].map(([model, own]) =>
    `<h3>${escapeHtml(model)}</h3>\n${textTableHtml(landscapeTable(own))}`
  );
  return `<p>${escapeHtml(LANDSCAPE_NOTE)}</p>\n${perRun.join("\n")}`;
}

/** T1 and the parameter table, with a note for each fit whose break is not identified. */
function decelerationHtml(rows: DecelerationRow[]): string {
  const unidentified = rows.filter((row) => !row.identified);
  const notes = unidentified.length === 0 ? "" : "<p>⚠ Break not identified (the numbers are the " +
    "least-squares optimum, not a deceleration):</p><ul>" +
    unidentified.map((row) => `<li><b>${escapeHtml(row.name)}</b>: ${escapeHtml(row.reasons)}</li>`).join(
      "",
    ) +
    "</ul>";
  return `<p class="formula">${escapeHtml(DECELERATION_FORMULA)}</p>\n` +
    `${textTableHtml(t1Table(rows))}\n${textTableHtml(bnslParameterTable(rows))}\n${notes}`;
}

/** Δ_t^{2t} per model, the window holding t_d marked, and Δ_t^{t+1} mean ± std. */
function interferenceHtml(
  dt2t: Dt2tRow[],
  dt1: Dt1Row[],
  breaks: Map<string, DecelerationBreak | null>,
): string {
  const parts: string[] = [];
  const windows = groupBy(dt2t, (row) => row.model);
  const steps = groupBy(dt1, (row) => row.model, [...windows.keys()]);
  for (const [model, oneStep] of steps) {
    const band = breaks.get(model);
    parts.push(`<h3>${escapeHtml(model)}</h3>`);
    parts.push(
      band
        ? `<p>Deceleration band t_d ± 1σ: ${Math.round(band.tDRange[0])}–${
          Math.round(band.tDRange[1])
        } (windows overlapping it are marked ◀).</p>`
        : "<p>No deceleration identified by the fit.</p>",
    );
    const own = windows.get(model) ?? [];
    if (own.length > 0) parts.push(textTableHtml(dt2tTable(own, band)));
    if (oneStep.length > 0) parts.push(textTableHtml(dt1Table(oneStep)));
  }
  return parts.join("\n");
}

/** Per-genre D of Δ_t^{2t}: one row per model and genre, one column per window. */
function genreHtml(groups: Dt2tGroupRow[], brown: boolean): string {
  const genreRows = groups.filter((row) => row.grouping === "genre");
  if (genreRows.length === 0) return "";
  const windows = [...new Set(genreRows.map((row) => row.t))].sort((a, b) => a - b);
  const rows: Cell[][] = [];
  for (const [model, own] of groupBy(genreRows, (row) => row.model)) {
    for (const [genre, cells] of groupBy(own, (row) => row.group)) {
      const name = brown ? brownGenreName(genre) : undefined;
      rows.push([
        { text: model },
        { text: name ? `${genre} (${name})` : genre },
        ...windows.map((t) => cell(cells.find((row) => row.t === t)?.D ?? NaN)),
      ]);
    }
  }
  return tableHtml(
    ["model", "genre", ...windows.map((t) => `D ${t}→${2 * t}`)],
    rows,
    "Δ_t^{2t} destructive interference D per genre (per document: interference_dt_2t_groups.arrow)",
  );
}

/** The gradient metrics per run, and the whole table. */
function gradientHtml(rows: GradientInterferenceRow[], maxRows: number): string {
  const perRun = [...groupBy(rows, (row) => row.run)].map(([run, own]) =>
    `<h3>${escapeHtml(run)}</h3>\n${textTableHtml(gradientTable(own))}`
  );
  const columns = Object.keys(GRADIENT_TABLE.columns);
  const all = columnsHtml(
    columns,
    rows.length,
    (column, row) => rows[row][GRADIENT_TABLE.columns[column][0]],
    GRADIENT_TABLE.file,
    maxRows,
  );
  return `${perRun.join("\n")}\n<h3>${escapeHtml(GRADIENT_TABLE.file)}</h3>\n${all}`;
}

/** Columns of `runs.arrow` that describe the run (the rest are measurements). */
const RUN_CONFIG_COLUMNS = [
  "run_id",
  "preset",
  "arch",
  "optimizer",
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

/** One line per run of what it was: preset, sizes, seed, schedule, steps, batch and data. */
const RUN_DESCRIPTION: [string, (info: RunInfo | null) => Cell][] = [
  ["preset", (info) => ({ text: String(get(info, "preset") ?? "config file") })],
  ["model", (info) => {
    const model = get(info, "model") ?? get(info, "spec", "config");
    const size = (key: string) => get(model, key);
    return {
      text: `d ${size("d_model")}, L ${size("n_layers")}, h ${size("n_heads")}, T ${size("seq_len")}`,
    };
  }],
  ["seed", (info) => cell(get(info, "seed"))],
  ["schedule", (info) => ({ text: String(get(info, "schedule", "kind") ?? "") })],
  ["peak lr", (info) => cell(get(info, "schedule", "peakLr"))],
  ["warmup", (info) => cell(get(info, "schedule", "warmup"))],
  ["steps", (info) => cell(get(info, "steps"))],
  ["batch", (info) => cell(get(info, "batch"))],
  ["microbatch", (info) => cell(get(info, "microbatch"))],
  ["data", (info) => ({ text: String(get(info, "data", "source") ?? get(info, "spec", "data") ?? "") })],
  ["tokenizer", (info) => ({ text: String(get(info, "tokenizer") ?? "") })],
  ["tokens", (info) => cell(get(info, "data", "tokens"))],
  ["documents", (info) => cell(get(info, "data", "documents"))],
  ["train seqs", (info) => cell(get(info, "data", "trainSequences"))],
  ["eval seqs", (info) => cell(get(info, "data", "evalSequences"))],
  ["data seed", (info) => cell(get(info, "data", "seed"))],
  ["order fingerprint", (info) => ({ text: String(get(info, "data", "orderFingerprint") ?? "") })],
];

function whatWasRunHtml(sweep: unknown, runIds: string[], infos: Map<string, RunInfo | null>): string {
  const parts: string[] = [];
  if (sweep) {
    parts.push(
      "<h3>Sweep definition (<code>sweep.json</code>)</h3>",
      `<pre>${escapeHtml(JSON.stringify(sweep, null, 2))}</pre>`,
    );
  }
  const rows = runIds.map((
    id,
  ) => [{ text: id }, ...RUN_DESCRIPTION.map(([, describe]) => describe(infos.get(id) ?? null))]);
  parts.push("<h3>Runs</h3>", tableHtml(["run", ...RUN_DESCRIPTION.map(([header]) => header)], rows));
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
  if (!environment) {
    return `<p>No <code>${ENVIRONMENT_FILE}</code>: the analyses were not run by the sweep.</p>`;
  }
  const host = environment.host;
  const sessionSeconds = (sessions: RunSession[]) => sessions.reduce((sum, s) => sum + s.seconds, 0);
  return [
    tableHtml([], [
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
    ], "Machine of the analyses"),
    tableHtml(
      ["run", "adapter", "steps done", "training (step loop)", "training (sweep sessions)", "sessions"],
      environment.runs.map((run) => [
        { text: run.id },
        { text: adapterText(run.adapter ?? get(infos.get(run.id), "adapter")) },
        cell(run.stepsDone),
        seconds(run.trainWallSeconds),
        run.sessions.length > 0
          ? seconds(sessionSeconds(run.sessions))
          : { text: "not trained by the sweep" },
        {
          text: run.sessions.map((s) =>
            `${s.started}: steps ${s.firstStep}–${s.lastStep} in ${formatDuration(s.seconds)}`
          )
            .join("; "),
        },
      ]),
      "Training per run (the sweep's sessions include setup and kernel compilation)",
    ),
    tableHtml(
      ["analysis", "time"],
      [
        ...environment.analyses.map((analysis) => [{ text: analysis.what }, seconds(analysis.seconds)]),
        [{ text: "total of the analyses", className: "total" }, seconds(environment.seconds.analyses)],
      ],
      "Analyses",
    ),
    `<p class="total">Total: ${escapeHtml(formatDuration(environment.seconds.total))} ` +
    `(training ${escapeHtml(formatDuration(environment.seconds.training))}, analyses ${
      escapeHtml(formatDuration(environment.seconds.analyses))
    }).</p>`,
  ].join("\n");
}

/** The report of the sweep in `sweepDir` as one HTML string (reads `sweep.json`, `runs/`, `results/`). */
export async function sweepReportHtml(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const resultsDir = sweepResultsDir(sweepDir);
  const maxRows = options.maxTableRows ?? 200;
  const sweep = await readSweepDefinitionJson(sweepDir) as Record<string, unknown> | null;
  const runs = await readRunsTable(sweepDir);
  // Sweep order: the runs table's, else the run directories alphabetically.
  let runIds = options.runIds ?? (runs?.columns.run_id ? Array.from(runs.columns.run_id, String) : undefined);
  if (!runIds) {
    runIds = [];
    for (const entry of await listDirectory(join(sweepDir, "runs"))) {
      if (
        entry.isDirectory && (await readRunInfo(sweepRunDir(sweepDir, entry.name)))
      ) {
        runIds.push(entry.name);
      }
    }
  }
  const infos = new Map<string, RunInfo | null>();
  for (const id of runIds) {
    infos.set(id, await readRunInfo(sweepRunDir(sweepDir, id)));
  }
  const environment = await readEnvironment(sweepDir);
  const deceleration = await readTableIfPresent(resultsDir, DECELERATION_TABLE);
  const dt2t = await readTableIfPresent(resultsDir, DT2T_TABLE);
  const dt1 = await readTableIfPresent(resultsDir, DT1_TABLE);
  const groups = await readTableIfPresent(resultsDir, DT2T_GROUPS_TABLE);
  const gradients = await readTableIfPresent(resultsDir, GRADIENT_TABLE);
  const ablation = await readTableIfPresent(resultsDir, ABLATION_TABLE);
  const landscape = await readTableIfPresent(resultsDir, LANDSCAPE_TABLE);
  const breaks = decelerationBreaks(deceleration ?? []);

  // Genre ids are Brown's category letters only when every run trained on Brown.
  const onBrown = [...infos.values()].every((info) => get(info, "data", "source") === "brown");
  const name = String(sweep?.name ?? sweepDir.replace(/\/+$/, "").split("/").pop() ?? "sweep");
  const adapters = [...new Set([...infos.values()].map((info) => adapterText(get(info, "adapter"))))];
  const sections: Section[] = [];
  if (deceleration) sections.push(["deceleration", "Loss deceleration", decelerationHtml(deceleration)]);
  const figures = await figuresHtml(resultsDir);
  if (figures) sections.push(["figures", "Figures", figures]);
  if (dt2t || dt1) {
    sections.push([
      "interference",
      "Zero-sum learning: loss interference",
      "<p>D = 1 − |Σ Δℓ| / Σ |Δℓ|, M = mean |Δℓ|, |ΔL| = M·(1 − D) over predicted tokens.</p>\n" +
      interferenceHtml(dt2t ?? [], dt1 ?? [], breaks) +
      (groups ? `\n<h3>Per genre</h3>\n${genreHtml(groups, onBrown)}` : ""),
    ]);
  }
  if (gradients) {
    sections.push([
      "gradients",
      "Zero-sum learning: gradient interference",
      gradientHtml(gradients, maxRows),
    ]);
  }
  if (landscape) sections.push(["landscape", "Loss along the update", landscapeHtml(landscape)]);
  if (ablation) {
    sections.push(["ablations", "Ablations: optimizers and architectures compared", ablationHtml(ablation)]);
  }
  if (runs) sections.push(["runs", "Runs (runs.arrow)", runsHtml(runs, maxRows)]);
  sections.push(["what-was-run", "What was run", whatWasRunHtml(sweep, runIds, infos)]);
  sections.push(["environment", "Adapter, machine and time", environmentHtml(environment, infos)]);
  const files = await listDirectory(resultsDir);
  const others: string[] = [];
  for (const entry of files) {
    if (!entry.isFile || !entry.name.endsWith(".arrow") || KNOWN_TABLES.has(entry.name)) continue;
    const table = await readArrow(join(resultsDir, entry.name));
    others.push(`<h3>${escapeHtml(entry.name)}</h3>\n${arrowTableHtml(table, entry.name, maxRows)}`);
  }
  if (others.length > 0) sections.push(["other-tables", "Other tables", others.join("\n")]);
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
  const meta = `${runIds.length} run${runIds.length === 1 ? "" : "s"}: ${runIds.join(", ")} · adapter: ` +
    `${adapters.join("; ")}${total} · report written ${new Date().toISOString()}`;
  return pageHtml(`zsl sweep ${name}`, `zsl sweep “${name}”`, meta, sections);
}

/** Writes `SWEEP/results/report.html` ({@linkcode sweepReportHtml}) atomically; returns its path. */
export async function writeSweepReport(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const path = join(sweepResultsDir(sweepDir), REPORT_FILE);
  await writeFileAtomic(path, await sweepReportHtml(sweepDir, options));
  return path;
}
