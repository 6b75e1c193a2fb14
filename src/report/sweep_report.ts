/**
 * `SWEEP/results/report.html`: one self-contained page that opens from `file://` without a server, and
 * leads with the answer. On the first screen: the paper's T1 and a summary of every run (t_d with the
 * warmup control's verdict, L_d, r_d, loss interference at the break and at the end, gradient
 * interference at the break beside its null). Then the figures found in `results/` (the smaller of each
 * one's SVG and PNG, as a `data:` URI), then the sections of {@linkcode REPORT_SECTIONS} (the fit in full,
 * interference per run, `runs.arrow`, what was run, the machine and the time), any other table of
 * `results/`, and the files. It reads only the results layer.
 *
 * @module
 */
import { readArrow } from "../io/arrow.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { DECELERATION_TABLE, type DecelerationRow } from "../results/deceleration.ts";
import { GRADIENT_TABLE } from "../results/gradients.ts";
import { DT2T_TABLE } from "../results/interference.ts";
import { REPORT_FILE, sweepResultsDir } from "../results/sweep.ts";
import { readWarmupVerdicts } from "../results/warmup_control.ts";
import { readWarmupControl } from "../results/warmup.ts";
import { warmupHeadlineHtml } from "./warmup.ts";
import { type SizedBreak, sizeTrendLines, unigramStageLines } from "./entropy.ts";
import { DATA_STATISTICS_TABLE } from "../results/data_statistics.ts";
import { formatDuration } from "../util/format.ts";
import { listDirectory } from "../util/files.ts";
import { escapeHtml } from "../util/html.ts";
import { join } from "../util/path.ts";
import {
  type Cell,
  columnsHtml,
  foldedHtml,
  pageHtml,
  type Section,
  tableHtml,
  textTableHtml,
} from "./html.ts";
import { overviewTable, runOverviews } from "./overview.ts";
import { infoAt, type ReportContext, reportContext } from "./report_context.ts";
import { adapterText, REPORT_SECTIONS } from "./report_sections.ts";
import { t1Table } from "./tables.ts";

/** Options of {@linkcode sweepReportHtml} and {@linkcode writeSweepReport}. */
export interface SweepReportOptions {
  /** Runs to describe (default: the runs table's, else every directory under `SWEEP/runs/` with a `run.json`). */
  runIds?: string[];
  /** Rows shown of a long table before it is cut (the Arrow file has them all). Default 200. */
  maxTableRows?: number;
}

/** Each run's name in the result tables (`run.json`'s `name`, else its id), in run order. */
function runNames(context: ReportContext): string[] {
  return context.runIds.map((id) => {
    const name = infoAt(context.infos.get(id), "name");
    return typeof name === "string" ? name : id;
  });
}

/** Each fitted run's break with its model size; runs differing only in their model share a group. */
function sizedBreaks(
  context: ReportContext,
  names: string[],
  fits: readonly DecelerationRow[],
): SizedBreak[] {
  const out: SizedBreak[] = [];
  for (const [index, id] of context.runIds.entries()) {
    const info = context.infos.get(id);
    const fit = fits.find((row) => row.name === names[index]);
    const params = infoAt(info, "nonEmbeddingParams");
    const spec = infoAt(info, "spec");
    if (!fit || typeof params !== "number" || typeof spec !== "object" || spec === null) continue;
    const { name: _name, config: _config, out: _out, ...rest } = spec as Record<string, unknown>;
    out.push({
      name: fit.name,
      params,
      group: JSON.stringify(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))),
      lossD: fit.lossD,
      lossDErr: fit.lossDErr,
      identified: fit.identified,
    });
  }
  return out;
}

/** The first section: T1, then one column per run of what the sweep found, and what is not identified. */
async function summaryHtml(context: ReportContext): Promise<string | null> {
  const fits = await context.table(DECELERATION_TABLE);
  const dt2t = await context.table(DT2T_TABLE);
  const gradients = await context.table(GRADIENT_TABLE);
  if (!fits && !dt2t && !gradients) return null;
  const names = runNames(context);
  // The analyses' own names first (they may differ from run.json's when a sweep was renamed).
  const tableNames = [
    ...new Set([...(fits ?? []).map((row) => row.name), ...(dt2t ?? []).map((row) => row.model)]),
  ];
  const runs = tableNames.length > 0 ? tableNames : names;
  const warmups = new Map<string, number>();
  for (const [index, id] of context.runIds.entries()) {
    const warmup = infoAt(context.infos.get(id), "schedule", "warmup");
    if (typeof warmup === "number") warmups.set(names[index], warmup);
  }
  const overviews = runOverviews({
    runs,
    fits,
    dt2t,
    gradients,
    verdicts: await readWarmupVerdicts(context.resultsDir),
    warmups,
  });
  const parts: string[] = [];
  // The first lines say plainly whether the breaks follow the warmup (docs/method.md#warmup-control).
  const control = await readWarmupControl(context.resultsDir);
  if (control) parts.push(...warmupHeadlineHtml(control));
  // Then whether the breaks sit at the end of the unigram stage (L_d beside the data's H1 and H2).
  const statistics = await context.table(DATA_STATISTICS_TABLE);
  if (statistics && fits) {
    for (const line of unigramStageLines(statistics, fits)) {
      parts.push(`<p class="headline">${escapeHtml(line)}</p>`);
    }
  }
  // And whether L_d falls with model size, the paper's pattern.
  if (fits) {
    for (const line of sizeTrendLines(sizedBreaks(context, names, fits))) {
      parts.push(`<p class="headline">${escapeHtml(line)}</p>`);
    }
  }
  if (fits) parts.push(textTableHtml(t1Table(fits)));
  parts.push(textTableHtml(overviewTable(overviews)));
  const unidentified = (fits ?? []).filter((row) => !row.identified);
  if (unidentified.length > 0) {
    parts.push(
      `<p class="note">⚠ No break identified for ${
        unidentified.map((row) => `<b>${escapeHtml(row.name)}</b> (${escapeHtml(row.reasons)})`).join("; ")
      }: its T1 numbers are a least-squares optimum, not a deceleration.</p>`,
    );
  }
  return parts.join("\n");
}

/** The tables of `results/` no section shows, each folded (first `maxRows` rows). */
async function otherTablesHtml(context: ReportContext, known: Set<string>): Promise<string | null> {
  const parts: string[] = [];
  for (const entry of await listDirectory(context.resultsDir)) {
    if (!entry.isFile || !entry.name.endsWith(".arrow") || known.has(entry.name)) continue;
    const table = await readArrow(join(context.resultsDir, entry.name));
    parts.push(foldedHtml(
      `${entry.name}: ${table.numRows} rows, ${table.names.length} columns`,
      columnsHtml(
        table.names,
        table.numRows,
        (column, row) => table.columns[column]?.[row],
        entry.name,
        context.maxRows,
      ),
    ));
  }
  return parts.length > 0 ? parts.join("\n") : null;
}

/** The files of `results/` with their sizes, folded. */
async function filesHtml(context: ReportContext): Promise<string> {
  const rows: Cell[][] = [];
  for (const entry of await listDirectory(context.resultsDir)) {
    if (!entry.isFile || entry.name === REPORT_FILE || entry.name.endsWith(".tmp")) continue;
    const size = (await Deno.stat(join(context.resultsDir, entry.name))).size;
    rows.push([{ text: entry.name, href: entry.name }, {
      text: `${(size / 1024).toFixed(1)} KiB`,
      numeric: true,
    }]);
  }
  return foldedHtml(`${rows.length} files`, tableHtml(["file", "size"], rows));
}

/** The report of the sweep in `sweepDir` as one HTML string (reads `sweep.json`, `runs/`, `results/`). */
export async function sweepReportHtml(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const context = await reportContext(sweepDir, options);
  const sections: Section[] = [];
  const summary = await summaryHtml(context);
  if (summary) sections.push(["summary", "Summary", summary]);
  const known = new Set<string>();
  for (const section of REPORT_SECTIONS) {
    for (const file of section.tables ?? []) known.add(file);
    const html = await section.html(context);
    if (html !== null) sections.push([section.id, section.title, html]);
  }
  const others = await otherTablesHtml(context, known);
  if (others) sections.push(["other-tables", "Other tables", others]);
  sections.push(["files", "Files in results/", await filesHtml(context)]);

  const adapters = [
    ...new Set([...context.infos.values()].map((info) => adapterText(infoAt(info, "adapter")))),
  ];
  // Training is summed over every session; analyses are timed only where they ran (a rerun reads cached ones).
  const total = context.environment
    ? ` · training ${formatDuration(context.environment.seconds.training)}, analyses ` +
      `${formatDuration(context.environment.seconds.analyses)} (in the session that wrote this report)`
    : "";
  const count = context.runIds.length;
  const meta = `${count} run${count === 1 ? "" : "s"}: ${context.runIds.join(", ")} · adapter: ` +
    `${adapters.join("; ")}${total} · report written ${new Date().toISOString()}`;
  return pageHtml(`zsl sweep ${context.name}`, `zsl sweep “${context.name}”`, meta, sections);
}

/** Writes `SWEEP/results/report.html` ({@linkcode sweepReportHtml}) atomically; returns its path. */
export async function writeSweepReport(sweepDir: string, options: SweepReportOptions = {}): Promise<string> {
  const path = join(sweepResultsDir(sweepDir), REPORT_FILE);
  await writeFileAtomic(path, await sweepReportHtml(sweepDir, options));
  return path;
}
