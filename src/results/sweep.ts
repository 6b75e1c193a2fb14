/**
 * The artefacts of a sweep as a whole: where everything lives (`SWEEP/sweep.json`, `SWEEP/runs/<id>/`,
 * `SWEEP/results/`), the training sessions the sweep timed (`RUN/sweep_sessions.json`), where and how long
 * it ran (`results/environment.json`), the joined per-run table (`results/runs.arrow`, built by
 * `src/report/runs_table.ts`), and what the presenters read of a run directory ({@linkcode readRunFacts}).
 *
 * @module
 */
import type { AdapterReport } from "../gpu/device.ts";
export type { AdapterReport };
import type { Columns, TableData } from "../io/arrow.ts";
import { encodeArrow, readArrow } from "../io/arrow.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { listCheckpoints } from "../train/checkpoint.ts";
import { exists, readJsonIfPresent } from "../util/files.ts";
import { join } from "../util/path.ts";

/** `SWEEP/sweep.json`: the sweep definition as run. */
export const SWEEP_DEFINITION_FILE = "sweep.json";
/** `SWEEP/results/runs.arrow`: one row per run (see `src/report/runs_table.ts` for its columns). */
export const RUNS_TABLE = "runs.arrow";
/** `SWEEP/results/environment.json`: machine, adapters and timings ({@linkcode SweepEnvironment}). */
export const ENVIRONMENT_FILE = "environment.json";
/** `SWEEP/results/report.html`: the self-contained report. */
export const REPORT_FILE = "report.html";
/** `RUN/sweep_sessions.json`: the training sessions of a run the sweep timed. */
export const RUN_SESSIONS_FILE = "sweep_sessions.json";

/** `SWEEP/results`. */
export function sweepResultsDir(sweepDir: string): string {
  return join(sweepDir, "results");
}

/** `SWEEP/runs/<id>`. */
export function sweepRunDir(sweepDir: string, id: string): string {
  return join(sweepDir, "runs", id);
}

/** Writes `SWEEP/sweep.json` (the definition, validated by the sweep). */
export async function writeSweepDefinition(sweepDir: string, definition: unknown): Promise<void> {
  await writeJsonAtomic(join(sweepDir, SWEEP_DEFINITION_FILE), definition);
}

/** The JSON of `SWEEP/sweep.json`, or null when there is none (`fix`: what to do when it is not JSON). */
export function readSweepDefinitionJson(sweepDir: string, fix?: string): Promise<unknown> {
  return readJsonIfPresent(join(sweepDir, SWEEP_DEFINITION_FILE), fix);
}

/** One training session of a run as the sweep timed it (a run resumed twice has three). */
export interface RunSession {
  /** When the session started (ISO 8601). */
  started: string;
  /** Wall-clock seconds of the whole `train` call: setup, kernel compilation, steps, checkpoints. */
  seconds: number;
  /** First step trained in the session. */
  firstStep: number;
  /** Last step trained in the session. */
  lastStep: number;
  /** The adapter's description (driver and device). */
  adapter: string;
  /** Whether the adapter is a software (CPU) implementation. */
  software: boolean;
}

/** Appends a session to `runDir/sweep_sessions.json` (one process trains a run at a time). */
export async function recordRunSession(runDir: string, session: RunSession): Promise<void> {
  const sessions = await readRunSessions(runDir);
  sessions.push(session);
  await writeJsonAtomic(join(runDir, RUN_SESSIONS_FILE), { sessions });
}

/** The sessions recorded in `runDir/sweep_sessions.json` (none when the sweep did not train the run). */
export async function readRunSessions(runDir: string): Promise<RunSession[]> {
  const path = join(runDir, RUN_SESSIONS_FILE);
  const parsed = await readJsonIfPresent<{ sessions?: RunSession[] }>(
    path,
    "delete it (it only holds timings)",
  );
  if (parsed === null) return [];
  if (!Array.isArray(parsed.sessions)) {
    throw new Error(`zsl: ${path} has no "sessions" list: delete it (it only holds timings)`);
  }
  return parsed.sessions;
}

/** How long one analysis of the sweep took. */
export interface AnalysisTiming {
  /** What was analysed (as the sweep's progress names it). */
  what: string;
  /** Wall-clock seconds. */
  seconds: number;
}

/** The machine the results were made on. */
export interface HostDescription {
  /** `Deno.version`: deno, v8, typescript. */
  deno: { deno: string; v8: string; typescript: string };
  /** Operating system (`Deno.build.os`). */
  os: string;
  /** CPU architecture. */
  arch: string;
  /** Kernel release, when `--allow-sys=osRelease` was granted (else null). */
  osRelease: string | null;
  /** Host name, when `--allow-sys=hostname` was granted (else null). */
  hostname: string | null;
  /** Logical CPUs (`navigator.hardwareConcurrency`). */
  cpus: number;
  /** Total memory in bytes, when `--allow-sys=systemMemoryInfo` was granted (else null). */
  memoryBytes: number | null;
}

/** One run's adapter and timings in `environment.json`. */
export interface RunEnvironment {
  /** The run's id (its directory name under `runs/`). */
  id: string;
  /** The adapter the run (last) trained on, from its `run.json`. */
  adapter: AdapterReport | null;
  /** Steps trained (the last checkpoint). */
  stepsDone: number;
  /** Training wall time of the step loop, summed over sessions (`wall_seconds` of `metrics.arrow`). */
  trainWallSeconds: number;
  /** The sweep's sessions of the run (absent when it was trained outside the sweep). */
  sessions: RunSession[];
}

/** What `environment.json` holds. */
export interface SweepEnvironment {
  /** When the file was written (ISO 8601). */
  written: string;
  /** The machine the analyses ran on. */
  host: HostDescription;
  /** The adapter the analyses used (null when none needed one). */
  analysisAdapter: AdapterReport | null;
  /** Per run: adapter, steps and training times. */
  runs: RunEnvironment[];
  /** Each analysis and its wall time. */
  analyses: AnalysisTiming[];
  /** Totals in seconds: training (sessions where recorded, else the step loops), analyses, both. */
  seconds: { training: number; analyses: number; total: number };
}

function sysPermitted(kind: "hostname" | "osRelease" | "systemMemoryInfo"): boolean {
  // Query first: calling without the permission would prompt on a terminal and stall a sweep.
  try {
    return Deno.permissions.querySync({ name: "sys", kind }).state === "granted";
  } catch {
    return false;
  }
}

/** Describes this machine with what the granted permissions allow (never prompts). */
export function describeHost(): HostDescription {
  return {
    deno: { ...Deno.version },
    os: Deno.build.os,
    arch: Deno.build.arch,
    osRelease: sysPermitted("osRelease") ? Deno.osRelease() : null,
    hostname: sysPermitted("hostname") ? Deno.hostname() : null,
    cpus: navigator.hardwareConcurrency,
    memoryBytes: sysPermitted("systemMemoryInfo") ? Deno.systemMemoryInfo().total : null,
  };
}

/** Writes `SWEEP/results/environment.json`; returns its path. */
export async function writeEnvironment(sweepDir: string, environment: SweepEnvironment): Promise<string> {
  const path = join(sweepResultsDir(sweepDir), ENVIRONMENT_FILE);
  await writeJsonAtomic(path, environment);
  return path;
}

/** Reads `SWEEP/results/environment.json` (null when the sweep's analyses did not write one). */
export function readEnvironment(sweepDir: string): Promise<SweepEnvironment | null> {
  return readJsonIfPresent<SweepEnvironment>(join(sweepResultsDir(sweepDir), ENVIRONMENT_FILE));
}

/** Writes `SWEEP/results/runs.arrow` (its columns vary with the analyses run); returns its path. */
export async function writeRunsTable(sweepDir: string, columns: Columns): Promise<string> {
  const path = join(sweepResultsDir(sweepDir), RUNS_TABLE);
  await writeFileAtomic(path, encodeArrow(columns));
  return path;
}

/** Reads `SWEEP/results/runs.arrow` (null when it does not exist). */
export async function readRunsTable(sweepDir: string): Promise<TableData | null> {
  const path = join(sweepResultsDir(sweepDir), RUNS_TABLE);
  return (await exists(path)) ? await readArrow(path) : null;
}

/** A value of a table cell as a number (NaN when missing or not numeric; booleans as 0/1). */
export function numberAt(table: TableData, column: string, row: number): number {
  const values = table.columns[column];
  if (!values) return NaN;
  const value = values[row];
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return NaN;
}

/** The contents of a run directory's `run.json` (written by the trainer), or null when it has none. */
export function readRunInfo(runDir: string): Promise<Record<string, unknown> | null> {
  return readJsonIfPresent<Record<string, unknown>>(join(runDir, "run.json"));
}

/** What the presenters read of a run directory: its `run.json`, checkpoints, metrics and sessions. */
export interface RunFacts {
  /** The run's id (its directory name). */
  id: string;
  /** Its name (`run.json`'s `name`, else the id). */
  name: string;
  /** The contents of `run.json`. */
  info: Record<string, unknown>;
  /** The last checkpoint's step (0 without checkpoints). */
  stepsDone: number;
  /** Tokens trained on (`tokens` of the last metrics row). */
  tokensDone: number;
  /** The step loop's wall time summed over sessions (`wall_seconds` of the last metrics row). */
  trainWallSeconds: number;
  /** The last training loss. */
  finalTrainLoss: number;
  /** The last evaluation loss. */
  finalEvalLoss: number;
  /** The sweep's sessions of the run. */
  sessions: RunSession[];
}

/** The facts of `SWEEP/runs/<id>`; a run without `run.json` is an error that says to train it. */
export async function readRunFacts(sweepDir: string, id: string): Promise<RunFacts> {
  const runDir = sweepRunDir(sweepDir, id);
  const info = await readRunInfo(runDir);
  if (!info) {
    throw new Error(
      `zsl: run ${id} has no ${join(runDir, "run.json")}: train it first (deno task sweep --out ${sweepDir})`,
    );
  }
  const metricsPath = join(runDir, "metrics.arrow");
  const metrics = (await exists(metricsPath)) ? await readArrow(metricsPath) : null;
  const facts: RunFacts = {
    id,
    name: typeof info.name === "string" ? info.name : id,
    info,
    stepsDone: (await listCheckpoints(runDir)).at(-1) ?? 0,
    tokensDone: NaN,
    trainWallSeconds: NaN,
    finalTrainLoss: NaN,
    finalEvalLoss: NaN,
    sessions: await readRunSessions(runDir),
  };
  if (metrics && metrics.numRows > 0) {
    const last = metrics.numRows - 1;
    facts.trainWallSeconds = numberAt(metrics, "wall_seconds", last);
    facts.tokensDone = numberAt(metrics, "tokens", last);
    facts.finalTrainLoss = numberAt(metrics, "train_loss", last);
    for (let row = last; row >= 0; row--) {
      const value = numberAt(metrics, "eval_loss", row);
      if (Number.isFinite(value)) {
        facts.finalEvalLoss = value;
        break;
      }
    }
  }
  return facts;
}

/** The environment and timings of a sweep's runs and analyses (see {@linkcode SweepEnvironment}). */
export async function sweepEnvironment(
  sweepDir: string,
  runIds: string[],
  options: { analysisAdapter?: AdapterReport | null; analyses?: AnalysisTiming[] } = {},
): Promise<SweepEnvironment> {
  const runs: RunEnvironment[] = [];
  for (const id of runIds) {
    const facts = await readRunFacts(sweepDir, id);
    runs.push({
      id,
      adapter: (facts.info.adapter as AdapterReport | undefined) ?? null,
      stepsDone: facts.stepsDone,
      trainWallSeconds: facts.trainWallSeconds,
      sessions: facts.sessions,
    });
  }
  const analyses = options.analyses ?? [];
  const training = runs.reduce(
    (sum, run) =>
      sum +
      (run.sessions.length > 0
        ? run.sessions.reduce((total, session) => total + session.seconds, 0)
        : Number.isFinite(run.trainWallSeconds)
        ? run.trainWallSeconds
        : 0),
    0,
  );
  const analysisSeconds = analyses.reduce((sum, analysis) => sum + analysis.seconds, 0);
  return {
    written: new Date().toISOString(),
    host: describeHost(),
    analysisAdapter: options.analysisAdapter ?? null,
    runs,
    analyses,
    seconds: { training, analyses: analysisSeconds, total: training + analysisSeconds },
  };
}
