/**
 * The sweep's joined results: `SWEEP/results/runs.arrow`, one row per run with its configuration, its
 * training (steps, tokens, wall time, final losses), its deceleration fit (from `deceleration.arrow`) and
 * its interference at the window holding t_d and at the last window (from `interference_dt_2t.arrow`,
 * `interference_dt_1.arrow` and, when it exists, `gradient_interference.arrow`); and
 * `SWEEP/results/environment.json`: where and how long the sweep ran.
 *
 * Every input table is read by column name and may be absent (its columns are then NaN), so the table
 * can be rebuilt from whatever analyses a sweep ran.
 *
 * @module
 */
import type { AdapterReport } from "../gpu/device.ts";
import type { Column, Columns, TableData } from "../io/arrow.ts";
import { encodeArrow, readArrow } from "../io/arrow.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { listCheckpoints } from "../train/checkpoint.ts";
import { uniqueNames } from "../analysis/deceleration/write.ts";
import { join } from "../util/path.ts";

/** File name of the joined per-run table in `SWEEP/results/`. */
export const RUNS_TABLE = "runs.arrow";
/** File name of the environment and timings in `SWEEP/results/`. */
export const ENVIRONMENT_FILE = "environment.json";
/** File name of the gradient-interference table in `SWEEP/results/` (joined when present). */
export const GRADIENT_TABLE = "gradient_interference.arrow";
/** File name, in a run directory, of the training sessions the sweep timed. */
export const RUN_SESSIONS_FILE = "sweep_sessions.json";

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
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const parsed = JSON.parse(text) as { sessions?: RunSession[] };
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
  /** Operating system and architecture (`Deno.build`). */
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

async function readJsonObject(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`zsl: ${path} is not valid JSON (${(error as Error).message}): rerun the sweep`);
  }
}

async function readOptionalTable(path: string): Promise<TableData | null> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return await readArrow(path);
}

/** A value of a table cell as a number (NaN when missing or not numeric). */
function numberAt(table: TableData, column: string, row: number): number {
  const values = table.columns[column];
  if (!values) return NaN;
  const value = values[row];
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1 : 0;
  return NaN;
}

/** A value of a table cell as a string ("" when missing). */
function stringAt(table: TableData, column: string, row: number): string {
  const value = table.columns[column]?.[row];
  return value === null || value === undefined ? "" : String(value);
}

/** Rows of `table` whose `column` equals `value`. */
function rowsWhere(table: TableData, column: string, value: string): number[] {
  const rows: number[] = [];
  for (let row = 0; row < table.numRows; row++) if (stringAt(table, column, row) === value) rows.push(row);
  return rows;
}

/**
 * The row among `rows` for the window holding `tD` (largest `step` ≤ t_d; NaN t_d: none) and the row
 * with the largest step.
 */
function windowRows(
  table: TableData,
  rows: number[],
  stepColumn: string,
  tD: number,
): { atBreak: number | null; last: number | null } {
  let atBreak: number | null = null;
  let last: number | null = null;
  for (const row of rows) {
    const step = numberAt(table, stepColumn, row);
    if (!Number.isFinite(step)) continue;
    if (last === null || step > numberAt(table, stepColumn, last)) last = row;
    if (step <= tD && (atBreak === null || step > numberAt(table, stepColumn, atBreak))) atBreak = row;
  }
  return { atBreak, last };
}

/** Deceleration columns copied from `deceleration.arrow` into `runs.arrow`. */
export const DECELERATION_COLUMNS = [
  "L_d",
  "L_d_err",
  "t_d",
  "t_d_min",
  "t_d_max",
  "r_d",
  "r_d_err",
  "L_hat_T",
  "L_hat_T_err",
  "L_T",
  "rsle",
] as const;

/** Metrics of `interference_dt_2t.arrow` summarised per run (at t_d's window and the last window). */
const DT2T_METRICS = ["D", "M", "abs_deltaL"] as const;
/** Metrics of `interference_dt_1.arrow` summarised per run and set. */
const DT1_METRICS = ["D", "D_std", "M", "abs_deltaL"] as const;
/** Gradient-interference metrics summarised when present (else every numeric column). */
const GRADIENT_METRICS = [
  "d_grad",
  "c_g",
  "c_u_G",
  "c_u_g",
  "one_minus_d_pred",
  "d_pred",
  "m_pred",
  "pearson",
  "sign_agreement",
];
/** Columns of the gradient table that identify a row rather than measure something. */
const GRADIENT_KEYS = new Set([
  "run",
  "model",
  "name",
  "step",
  "t",
  "granularity",
  "params",
  "examples",
  "coordinates",
  "seconds",
]);

/** A growing table: columns created on first use, filled with NaN / "" for earlier rows. */
class RowBuilder {
  readonly numbers = new Map<string, number[]>();
  readonly strings = new Map<string, string[]>();
  readonly booleans = new Map<string, boolean[]>();
  readonly order: string[] = [];
  rows = 0;

  #column<T>(map: Map<string, T[]>, name: string, fill: T): T[] {
    let column = map.get(name);
    if (!column) {
      if (this.order.includes(name)) throw new Error(`zsl: runs table column ${name} has two types`);
      column = new Array<T>(this.rows).fill(fill);
      map.set(name, column);
      this.order.push(name);
    }
    return column;
  }

  number(name: string, value: number): void {
    this.#column(this.numbers, name, NaN)[this.rows] = value;
  }

  string(name: string, value: string): void {
    this.#column(this.strings, name, "")[this.rows] = value;
  }

  boolean(name: string, value: boolean): void {
    this.#column(this.booleans, name, false)[this.rows] = value;
  }

  /** Ends the current row: columns it did not set get NaN / "" / false. */
  next(): void {
    this.rows++;
    for (const column of this.numbers.values()) if (column.length < this.rows) column.push(NaN);
    for (const column of this.strings.values()) if (column.length < this.rows) column.push("");
    for (const column of this.booleans.values()) if (column.length < this.rows) column.push(false);
  }

  columns(): Columns {
    const out: Columns = {};
    for (const name of this.order) {
      const column: Column = this.numbers.has(name)
        ? Float64Array.from(this.numbers.get(name)!)
        : this.strings.get(name) ?? this.booleans.get(name)!;
      out[name] = column;
    }
    return out;
  }
}

/** Everything `runs.arrow` needs from one run directory. */
interface RunFacts {
  id: string;
  name: string;
  info: Record<string, unknown>;
  stepsDone: number;
  tokensDone: number;
  trainWallSeconds: number;
  finalTrainLoss: number;
  finalEvalLoss: number;
  sessions: RunSession[];
}

async function readRunFacts(sweepDir: string, id: string): Promise<RunFacts> {
  const runDir = join(sweepDir, "runs", id);
  const info = await readJsonObject(join(runDir, "run.json"));
  if (!info) {
    throw new Error(
      `zsl: run ${id} has no ${join(runDir, "run.json")}: train it first (deno task sweep --out ${sweepDir})`,
    );
  }
  const checkpoints = await listCheckpoints(runDir);
  const metrics = await readOptionalTable(join(runDir, "metrics.arrow"));
  let trainWallSeconds = NaN;
  let tokensDone = NaN;
  let finalTrainLoss = NaN;
  let finalEvalLoss = NaN;
  if (metrics && metrics.numRows > 0) {
    const last = metrics.numRows - 1;
    trainWallSeconds = numberAt(metrics, "wall_seconds", last);
    tokensDone = numberAt(metrics, "tokens", last);
    finalTrainLoss = numberAt(metrics, "train_loss", last);
    for (let row = last; row >= 0; row--) {
      const value = numberAt(metrics, "eval_loss", row);
      if (Number.isFinite(value)) {
        finalEvalLoss = value;
        break;
      }
    }
  }
  return {
    id,
    name: typeof info.name === "string" ? info.name : id,
    info,
    stepsDone: checkpoints.at(-1) ?? 0,
    tokensDone,
    trainWallSeconds,
    finalTrainLoss,
    finalEvalLoss,
    sessions: await readRunSessions(runDir),
  };
}

function field(object: unknown, ...path: string[]): unknown {
  let value = object;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function asNumber(value: unknown): number {
  return typeof value === "number" ? value : NaN;
}

function asString(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
}

/**
 * One row per run of `runIds` (directories under `SWEEP/runs/`), in that order: configuration, training,
 * deceleration, loss interference and, when `gradient_interference.arrow` exists, gradient interference.
 *
 * Columns: `run_id`, `name`, `preset` ("" for a config file), `d_model`, `n_layers`, `n_heads`,
 * `head_dim`, `vocab_size`, `seq_len`, `mlp_ratio`, `params_non_embedding`, `params_total`, `seed`,
 * `data_seed`, `schedule`, `peak_lr`, `warmup`, `decay_steps`, `weight_decay`, `clip`, `batch`,
 * `microbatch`, `tokens_per_step`, `steps`, `steps_done`, `tokens_done`, `tokenizer`, `data`,
 * `eval_sequences`, `adapter`, `software_adapter`, `train_wall_seconds` (the step loop, summed over
 * sessions), `train_sweep_seconds` (the sweep's `train` calls: setup and compilation included; NaN when
 * the sweep did not train it), `final_train_loss`, `final_eval_loss`; then `identified` and
 * {@linkcode DECELERATION_COLUMNS} from `deceleration.arrow`; then Δ_t^{2t} at the window t → 2t with
 * t ≤ t_d < 2t (`dt2t_td_t`, `dt2t_td_D`, `dt2t_td_M`, `dt2t_td_abs_deltaL`; NaN unless the break is
 * identified) and at the last window (`dt2t_last_*`); Δ_t^{t+1} from the checkpoint t ≤ t_d and the last
 * one, per set (`dt1_td_t`, `dt1_{train,eval}_td_{D,D_std,M,abs_deltaL}`, `dt1_last_t`,
 * `dt1_{train,eval}_last_*`); and gradient interference the same way (`grad[_<granularity>]_td_<metric>`,
 * `grad[_<granularity>]_last_<metric>`, with `grad_td_step` and `grad_last_step`).
 */
export async function sweepRunColumns(sweepDir: string, runIds: string[]): Promise<Columns> {
  const resultsDir = join(sweepDir, "results");
  const facts: RunFacts[] = [];
  for (const id of runIds) facts.push(await readRunFacts(sweepDir, id));
  const deceleration = await readOptionalTable(join(resultsDir, "deceleration.arrow"));
  const dt2t = await readOptionalTable(join(resultsDir, "interference_dt_2t.arrow"));
  const dt1 = await readOptionalTable(join(resultsDir, "interference_dt_1.arrow"));
  const gradients = await readOptionalTable(join(resultsDir, GRADIENT_TABLE));
  // The analyses name each run by its run.json name, made unique in run order as the deceleration writer does.
  const keys = uniqueNames(facts.map((run) => run.name));
  const table = new RowBuilder();
  for (const [index, run] of facts.entries()) {
    const info = run.info;
    const model = (field(info, "model") ?? field(info, "spec", "config") ?? {}) as Record<string, unknown>;
    const dModel = asNumber(model.d_model);
    const nHeads = asNumber(model.n_heads);
    const seqLen = asNumber(model.seq_len);
    const batch = asNumber(info.batch ?? field(info, "spec", "batch"));
    const adapter = info.adapter as AdapterReport | undefined;
    table.string("run_id", run.id);
    table.string("name", run.name);
    table.string("preset", asString(info.preset));
    table.number("d_model", dModel);
    table.number("n_layers", asNumber(model.n_layers));
    table.number("n_heads", nHeads);
    table.number("head_dim", dModel / nHeads);
    table.number("vocab_size", asNumber(model.vocab_size));
    table.number("seq_len", seqLen);
    table.number("mlp_ratio", asNumber(model.mlp_ratio));
    table.number("params_non_embedding", asNumber(info.nonEmbeddingParams));
    table.number("params_total", asNumber(info.totalParams));
    table.number("seed", asNumber(info.seed ?? field(info, "spec", "seed")));
    table.number("data_seed", asNumber(field(info, "data", "seed")));
    table.string("schedule", asString(field(info, "schedule", "kind") ?? field(info, "spec", "schedule")));
    table.number("peak_lr", asNumber(field(info, "schedule", "peakLr")));
    table.number("warmup", asNumber(field(info, "schedule", "warmup")));
    table.number("decay_steps", asNumber(field(info, "schedule", "decaySteps")));
    table.number("weight_decay", asNumber(field(info, "adamw", "weightDecay")));
    table.number("clip", asNumber(field(info, "adamw", "maxNorm")));
    table.number("batch", batch);
    table.number("microbatch", asNumber(info.microbatch));
    table.number("tokens_per_step", batch * seqLen);
    table.number("steps", asNumber(info.steps ?? field(info, "spec", "steps")));
    table.number("steps_done", run.stepsDone);
    table.number("tokens_done", run.tokensDone);
    table.string("tokenizer", asString(info.tokenizer ?? field(info, "data", "tokenizer")));
    table.string("data", asString(field(info, "spec", "data") ?? field(info, "data", "source")));
    table.number("eval_sequences", asNumber(field(info, "data", "evalSequences")));
    table.string("adapter", adapter ? adapter.description || adapter.device : "");
    table.boolean("software_adapter", adapter?.isSoftware ?? false);
    table.number("train_wall_seconds", run.trainWallSeconds);
    table.number(
      "train_sweep_seconds",
      run.sessions.length > 0 ? run.sessions.reduce((sum, session) => sum + session.seconds, 0) : NaN,
    );
    table.number("final_train_loss", run.finalTrainLoss);
    table.number("final_eval_loss", run.finalEvalLoss);

    const key = keys[index];
    const fitRow = deceleration ? rowsWhere(deceleration, "name", key)[0] : undefined;
    const identified = fitRow !== undefined && deceleration!.columns.identified?.[fitRow] === true;
    table.boolean("identified", identified);
    for (const column of DECELERATION_COLUMNS) {
      table.number(column, fitRow === undefined ? NaN : numberAt(deceleration!, column, fitRow));
    }
    // Interference "at the break" only where the fit found one: an unidentified t_d is no deceleration.
    const tD = identified ? numberAt(deceleration!, "t_d", fitRow!) : NaN;

    const dt2tRows = dt2t ? windowRows(dt2t, rowsWhere(dt2t, "model", key), "t", tD) : null;
    for (const [label, row] of [["td", dt2tRows?.atBreak], ["last", dt2tRows?.last]] as const) {
      const has = row !== null && row !== undefined;
      table.number(`dt2t_${label}_t`, has ? numberAt(dt2t!, "t", row) : NaN);
      for (const metric of DT2T_METRICS) {
        table.number(`dt2t_${label}_${metric}`, has ? numberAt(dt2t!, metric, row) : NaN);
      }
    }

    const sets = ["train", "eval"] as const;
    const dt1Rows = new Map(
      sets.map((set) => [
        set,
        dt1
          ? windowRows(
            dt1,
            rowsWhere(dt1, "model", key).filter((r) => stringAt(dt1, "set", r) === set),
            "t",
            tD,
          )
          : null,
      ]),
    );
    for (const label of ["td", "last"] as const) {
      const pick = (set: (typeof sets)[number]) => {
        const rows = dt1Rows.get(set);
        return label === "td" ? rows?.atBreak ?? null : rows?.last ?? null;
      };
      const anyRow = pick("train") ?? pick("eval");
      table.number(`dt1_${label}_t`, anyRow === null ? NaN : numberAt(dt1!, "t", anyRow));
      for (const set of sets) {
        const row = pick(set);
        for (const metric of DT1_METRICS) {
          table.number(`dt1_${set}_${label}_${metric}`, row === null ? NaN : numberAt(dt1!, metric, row));
        }
      }
    }

    if (gradients) addGradientColumns(table, gradients, run, key, tD);
    table.next();
  }
  return table.columns();
}

/** Gradient-interference columns of one run, tolerant of the table's exact layout (read by name). */
function addGradientColumns(table: RowBuilder, gradients: TableData, run: RunFacts, key: string, tD: number) {
  const keyColumn = ["run", "model", "name"].find((column) =>
    gradients.columns[column] &&
    [key, run.id, run.name].some((value) => rowsWhere(gradients, column, value).length > 0)
  );
  const stepColumn = ["step", "t"].find((column) => gradients.columns[column]);
  if (!keyColumn || !stepColumn) return;
  const rows = [key, run.id, run.name]
    .map((value) => rowsWhere(gradients, keyColumn, value))
    .find((found) => found.length > 0)!;
  const known = GRADIENT_METRICS.filter((name) => gradients.columns[name]);
  const chosen = known.length > 0
    ? known
    : gradients.names.filter((name) =>
      !GRADIENT_KEYS.has(name) && ["number", "bigint"].includes(typeof gradients.columns[name][rows[0]])
    );
  const hasGranularity = Boolean(gradients.columns.granularity);
  const granularities = hasGranularity
    ? [...new Set(rows.map((row) => stringAt(gradients, "granularity", row)))]
    : [""];
  for (const granularity of granularities) {
    const prefix = granularity ? `grad_${granularity}` : "grad";
    const own = hasGranularity
      ? rows.filter((row) => stringAt(gradients, "granularity", row) === granularity)
      : rows;
    const { atBreak, last } = windowRows(gradients, own, stepColumn, tD);
    for (const [label, row] of [["td", atBreak], ["last", last]] as const) {
      table.number(`${prefix}_${label}_step`, row === null ? NaN : numberAt(gradients, stepColumn, row));
      for (const metric of chosen) {
        table.number(`${prefix}_${label}_${metric}`, row === null ? NaN : numberAt(gradients, metric, row));
      }
    }
  }
}

/** Writes `SWEEP/results/runs.arrow` ({@linkcode sweepRunColumns}) atomically; returns its path. */
export async function writeRunsTable(sweepDir: string, runIds: string[]): Promise<string> {
  const path = join(sweepDir, "results", RUNS_TABLE);
  await writeFileAtomic(path, encodeArrow(await sweepRunColumns(sweepDir, runIds)));
  return path;
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

/** Writes `SWEEP/results/environment.json` ({@linkcode sweepEnvironment}); returns its path. */
export async function writeEnvironment(
  sweepDir: string,
  runIds: string[],
  options: { analysisAdapter?: AdapterReport | null; analyses?: AnalysisTiming[] } = {},
): Promise<string> {
  const path = join(sweepDir, "results", ENVIRONMENT_FILE);
  await writeJsonAtomic(path, await sweepEnvironment(sweepDir, runIds, options));
  return path;
}
