/**
 * What a section of `report.html` is given, and what a section is. A section of an analysis is one
 * {@linkcode ReportSection} in the list of `report_sections.ts`, in the order a reader needs it: its
 * anchor, its title, the tables it shows, and a function from the {@linkcode ReportContext} (the sweep's
 * runs and its result tables, each read once) to its HTML.
 *
 * @module
 */
import type { TableData } from "../io/arrow.ts";
import type { DecelerationBreak } from "../results/deceleration.ts";
import { DECELERATION_TABLE, decelerationBreaks } from "../results/deceleration.ts";
import type { SweepEnvironment } from "../results/sweep.ts";
import {
  readEnvironment,
  readRunInfo,
  readRunsTable,
  readSweepDefinitionJson,
  sweepResultsDir,
  sweepRunDir,
} from "../results/sweep.ts";
import { readTableIfPresent, type TableSchema } from "../results/table.ts";
import { listDirectory } from "../util/files.ts";
import { join } from "../util/path.ts";

/** A run's `run.json`, as written by the trainer (null when the run has none). */
export type RunInfo = Record<string, unknown>;

/** What every section of the report can read: the sweep's runs and its results. */
export interface ReportContext {
  /** The sweep directory. */
  sweepDir: string;
  /** `SWEEP/results/`. */
  resultsDir: string;
  /** The sweep's name (`sweep.json`, else the directory's name). */
  name: string;
  /** The sweep definition as run (null without `sweep.json`). */
  sweep: Record<string, unknown> | null;
  /** The runs described, in sweep order (their directory names under `SWEEP/runs/`). */
  runIds: string[];
  /** Each run's `run.json` by run id. */
  infos: Map<string, RunInfo | null>;
  /** `runs.arrow` (null when absent). */
  runs: TableData | null;
  /** `environment.json` (null when absent). */
  environment: SweepEnvironment | null;
  /** Each run's identified break by run name (null: none identified); empty without a deceleration fit. */
  breaks: Map<string, DecelerationBreak | null>;
  /** Rows a long table shows before it is cut (the file has them all). */
  maxRows: number;
  /** A result table of `results/`, read once however many sections ask for it (null when absent). */
  table<Row>(schema: TableSchema<Row>): Promise<Row[] | null>;
}

/** A section of the report: what it is called, where it links to, what it shows. */
export interface ReportSection {
  /** Its anchor (`report.html#id`), unique in the page. */
  id: string;
  /** Its heading and its entry in the page's contents. */
  title: string;
  /** The result tables it shows (file names): the report does not show them again under "Other tables". */
  tables?: readonly string[];
  /** Its HTML (null: nothing to show for this sweep, and the section is left out). */
  html(context: ReportContext): Promise<string | null>;
}

/** A value inside a `run.json` by its path of keys (undefined where it is absent). */
export function infoAt(object: unknown, ...path: string[]): unknown {
  let current = object;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * The context of the sweep in `sweepDir`: the runs of `runIds`, else those of `runs.arrow`, else every
 * directory under `SWEEP/runs/` with a `run.json`.
 */
export async function reportContext(
  sweepDir: string,
  options: { runIds?: string[]; maxTableRows?: number } = {},
): Promise<ReportContext> {
  const resultsDir = sweepResultsDir(sweepDir);
  const sweep = await readSweepDefinitionJson(sweepDir) as Record<string, unknown> | null;
  const runs = await readRunsTable(sweepDir);
  let runIds = options.runIds ?? (runs?.columns.run_id ? Array.from(runs.columns.run_id, String) : undefined);
  if (!runIds) {
    runIds = [];
    for (const entry of await listDirectory(join(sweepDir, "runs"))) {
      if (entry.isDirectory && (await readRunInfo(sweepRunDir(sweepDir, entry.name)))) {
        runIds.push(entry.name);
      }
    }
  }
  const infos = new Map<string, RunInfo | null>();
  for (const id of runIds) infos.set(id, await readRunInfo(sweepRunDir(sweepDir, id)));
  const tables = new Map<string, Promise<unknown[] | null>>();
  const table = <Row>(schema: TableSchema<Row>): Promise<Row[] | null> => {
    if (!tables.has(schema.file)) tables.set(schema.file, readTableIfPresent(resultsDir, schema));
    return tables.get(schema.file) as Promise<Row[] | null>;
  };
  return {
    sweepDir,
    resultsDir,
    name: String(sweep?.name ?? sweepDir.replace(/\/+$/, "").split("/").pop() ?? "sweep"),
    sweep,
    runIds,
    infos,
    runs,
    environment: await readEnvironment(sweepDir),
    breaks: decelerationBreaks((await table(DECELERATION_TABLE)) ?? []),
    maxRows: options.maxTableRows ?? 200,
    table,
  };
}
