/**
 * `SWEEP/results/runs.arrow`: one row per run joining its configuration, its training (steps, tokens, wall
 * time, final losses), its deceleration fit and its interference at the window holding t_d and at the last
 * window. Everything is read through the results layer; a table the sweep did not write leaves its
 * columns NaN, so the table can be rebuilt from whatever analyses a sweep ran.
 *
 * @module
 */
import type { Column, Columns } from "../io/arrow.ts";
import { DECELERATION_TABLE, type DecelerationRow } from "../results/deceleration.ts";
import { GRADIENT_TABLE, type GradientInterferenceRow } from "../results/gradients.ts";
import { DT1_TABLE, type Dt1Row, DT2T_TABLE, type Dt2tRow } from "../results/interference.ts";
import type { AdapterReport, RunFacts } from "../results/sweep.ts";
import { readRunFacts, sweepResultsDir, writeRunsTable } from "../results/sweep.ts";
import { readTableIfPresent, type TableSchema } from "../results/table.ts";
import { uniqueNames } from "../util/names.ts";

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
  "t_d_S",
  "S_at_t_d",
] as const;

/** Metrics of `interference_dt_2t.arrow` summarised per run (at t_d's window and the last window). */
const DT2T_METRICS = ["D", "M", "abs_deltaL"] as const;
/** Metrics of `interference_dt_1.arrow` summarised per run and set. */
const DT1_METRICS = ["D", "D_std", "M", "abs_deltaL"] as const;
/** Gradient-interference metrics summarised per run and granularity. */
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
  "b_simple",
  "b_simple_tokens",
  "batch_examples",
] as const;

/** The value of a row under its column name (the schema says which field holds it). */
function valueOf<Row>(schema: TableSchema<Row>, row: Row, column: string): number {
  return Number(row[schema.columns[column][0]]);
}

/** A growing table: columns created on first use, filled with NaN / "" / false for earlier rows. */
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

/**
 * The row among `rows` for the window holding `tD` (the largest step ≤ t_d; none for a NaN t_d, which is
 * how an unidentified break is passed) and the row of the last step.
 */
export function breakAndLastRows<Row>(
  rows: readonly Row[],
  stepOf: (row: Row) => number,
  tD: number,
): { atBreak: Row | null; last: Row | null } {
  let atBreak: Row | null = null;
  let last: Row | null = null;
  for (const row of rows) {
    const step = stepOf(row);
    if (!Number.isFinite(step)) continue;
    if (last === null || step > stepOf(last)) last = row;
    if (step <= tD && (atBreak === null || step > stepOf(atBreak))) atBreak = row;
  }
  return { atBreak, last };
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

/** The configuration and training columns of one run. */
function addRunColumns(table: RowBuilder, run: RunFacts): void {
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
  table.string("arch", asString(model.arch ?? "olmo"));
  // run.json names the optimizer only for the ablations' (AdamW runs read as before).
  table.string("optimizer", asString(field(info, "optimizer", "kind") ?? "adamw"));
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
}

/** The interference of one run at the window holding `tD` and at the last window. */
function addInterferenceColumns(table: RowBuilder, dt2t: Dt2tRow[] | null, dt1: Dt1Row[] | null, tD: number) {
  const windows = dt2t ? breakAndLastRows(dt2t, (row) => row.t, tD) : null;
  for (const [label, row] of [["td", windows?.atBreak], ["last", windows?.last]] as const) {
    table.number(`dt2t_${label}_t`, row ? row.t : NaN);
    for (const metric of DT2T_METRICS) {
      table.number(`dt2t_${label}_${metric}`, row ? valueOf(DT2T_TABLE, row, metric) : NaN);
    }
  }
  const sets = ["train", "eval"] as const;
  const steps = new Map(
    sets.map((
      set,
    ) => [set, dt1 ? breakAndLastRows(dt1.filter((row) => row.set === set), (row) => row.t, tD) : null]),
  );
  for (const label of ["td", "last"] as const) {
    const pick = (set: (typeof sets)[number]) => {
      const rows = steps.get(set);
      return label === "td" ? rows?.atBreak ?? null : rows?.last ?? null;
    };
    const anyRow = pick("train") ?? pick("eval");
    table.number(`dt1_${label}_t`, anyRow === null ? NaN : anyRow.t);
    for (const set of sets) {
      const row = pick(set);
      for (const metric of DT1_METRICS) {
        table.number(`dt1_${set}_${label}_${metric}`, row === null ? NaN : valueOf(DT1_TABLE, row, metric));
      }
    }
  }
}

/** The gradient interference of one run per granularity, at the checkpoint t ≤ t_d and at the last one. */
function addGradientColumns(table: RowBuilder, rows: GradientInterferenceRow[], tD: number) {
  const granularities = [...new Set(rows.map((row) => row.granularity))];
  for (const granularity of granularities) {
    const own = rows.filter((row) => row.granularity === granularity);
    const { atBreak, last } = breakAndLastRows(own, (row) => row.step, tD);
    for (const [label, row] of [["td", atBreak], ["last", last]] as const) {
      table.number(`grad_${granularity}_${label}_step`, row === null ? NaN : row.step);
      for (const metric of GRADIENT_METRICS) {
        table.number(
          `grad_${granularity}_${label}_${metric}`,
          row === null ? NaN : valueOf(GRADIENT_TABLE, row, metric),
        );
      }
    }
  }
}

/**
 * One row per run of `runIds` (directories under `SWEEP/runs/`), in that order: configuration, training,
 * deceleration, loss interference and, when `gradient_interference.arrow` exists, gradient interference.
 *
 * Columns: `run_id`, `name`, `preset` ("" for a config file), `arch`, `optimizer`, `d_model`, `n_layers`, `n_heads`,
 * `head_dim`, `vocab_size`, `seq_len`, `mlp_ratio`, `params_non_embedding`, `params_total`, `seed`,
 * `data_seed`, `schedule`, `peak_lr`, `warmup`, `decay_steps`, `weight_decay`, `clip`, `batch`,
 * `microbatch`, `tokens_per_step`, `steps`, `steps_done`, `tokens_done`, `tokenizer`, `data`,
 * `eval_sequences`, `adapter`, `software_adapter`, `train_wall_seconds` (the step loop, summed over
 * sessions), `train_sweep_seconds` (the sweep's `train` calls: setup and compilation included; NaN when
 * the sweep did not train it), `final_train_loss`, `final_eval_loss`; then `identified`, `at_warmup_end` and
 * {@linkcode DECELERATION_COLUMNS} from `deceleration.arrow`; then Δ_t^{2t} at the window t → 2t with
 * t ≤ t_d < 2t (`dt2t_td_t`, `dt2t_td_D`, `dt2t_td_M`, `dt2t_td_abs_deltaL`; NaN unless the break is
 * identified) and at the last window (`dt2t_last_*`); Δ_t^{t+1} from the checkpoint t ≤ t_d and the last
 * one, per set (`dt1_td_t`, `dt1_{train,eval}_td_{D,D_std,M,abs_deltaL}`, `dt1_last_t`,
 * `dt1_{train,eval}_last_*`); and gradient interference the same way per granularity
 * (`grad_<granularity>_td_<metric>`, `grad_<granularity>_last_<metric>`, with `grad_<granularity>_td_step`
 * and `grad_<granularity>_last_step`).
 */
export async function sweepRunColumns(sweepDir: string, runIds: string[]): Promise<Columns> {
  const resultsDir = sweepResultsDir(sweepDir);
  const facts: RunFacts[] = [];
  for (const id of runIds) facts.push(await readRunFacts(sweepDir, id));
  const deceleration = await readTableIfPresent(resultsDir, DECELERATION_TABLE);
  const dt2t = await readTableIfPresent(resultsDir, DT2T_TABLE);
  const dt1 = await readTableIfPresent(resultsDir, DT1_TABLE);
  const gradients = await readTableIfPresent(resultsDir, GRADIENT_TABLE);
  // The analyses name each run by its run.json name, made unique in run order as the deceleration fit does.
  const keys = uniqueNames(facts.map((run) => run.name));
  const table = new RowBuilder();
  for (const [index, run] of facts.entries()) {
    addRunColumns(table, run);
    const key = keys[index];
    const fit: DecelerationRow | undefined = deceleration?.find((row) => row.name === key);
    const identified = fit?.identified === true;
    table.boolean("identified", identified);
    table.boolean("at_warmup_end", fit?.atWarmupEnd === true);
    for (const column of DECELERATION_COLUMNS) {
      table.number(column, fit === undefined ? NaN : valueOf(DECELERATION_TABLE, fit, column));
    }
    // Interference "at the break" only where the fit found one: an unidentified t_d is no deceleration.
    const tD = identified ? fit!.tD : NaN;
    addInterferenceColumns(
      table,
      dt2t?.filter((row) => row.model === key) ?? null,
      dt1?.filter((row) => row.model === key) ?? null,
      tD,
    );
    if (gradients) {
      const own = [key, run.id, run.name].map((name) => gradients.filter((row) => row.run === name))
        .find((rows) => rows.length > 0);
      if (own) addGradientColumns(table, own, tD);
    }
    table.next();
  }
  return table.columns();
}

/** Builds and writes `SWEEP/results/runs.arrow` ({@linkcode sweepRunColumns}); returns its path. */
export async function writeSweepRunsTable(sweepDir: string, runIds: string[]): Promise<string> {
  return await writeRunsTable(sweepDir, await sweepRunColumns(sweepDir, runIds));
}

/** Readable names of the configuration and training columns of `runs.arrow`. */
const RUN_COLUMN_LABELS: Record<string, string> = {
  run_id: "run",
  name: "name",
  preset: "preset",
  d_model: "width d_model",
  n_layers: "layers",
  n_heads: "heads",
  head_dim: "head width",
  vocab_size: "vocabulary",
  seq_len: "sequence length",
  mlp_ratio: "MLP ratio",
  params_non_embedding: "parameters, non-embedding",
  params_total: "parameters, total",
  seed: "seed",
  data_seed: "data seed",
  schedule: "schedule",
  peak_lr: "peak learning rate",
  warmup: "warmup, steps",
  decay_steps: "decay, steps",
  weight_decay: "weight decay",
  clip: "gradient clipping",
  batch: "batch, sequences",
  microbatch: "microbatch",
  tokens_per_step: "tokens per step",
  steps: "steps",
  steps_done: "steps done",
  tokens_done: "tokens done",
  tokenizer: "tokenizer",
  data: "data",
  eval_sequences: "eval sequences",
  adapter: "adapter",
  software_adapter: "software adapter",
  train_wall_seconds: "training, step loop, s",
  train_sweep_seconds: "training, sweep sessions, s",
  final_train_loss: "final train loss",
  final_eval_loss: "final eval loss",
  identified: "break identified",
  L_d: "L_d",
  L_d_err: "L_d error",
  t_d: "t_d",
  t_d_min: "t_d − 1σ",
  t_d_max: "t_d + 1σ",
  r_d: "r_d",
  r_d_err: "r_d error",
  L_hat_T: "L̂_T",
  L_hat_T_err: "L̂_T error",
  L_T: "L_T",
  rsle: "RSLE",
};

/** Readable names of the metrics that `runs.arrow` summarises at the break and at the end. */
const METRIC_LABELS: Record<string, string> = {
  t: "checkpoint t",
  step: "checkpoint t",
  D: "D",
  D_std: "std of D",
  M: "M",
  abs_deltaL: "|ΔL|",
  d_grad: "D(∇ℓ)",
  c_g: "C_g",
  c_u_G: "C_(u,G)",
  c_u_g: "C_(u,g)",
  one_minus_d_pred: "1 − D(Δ̂ℓ)",
  d_pred: "D(Δ̂ℓ)",
  m_pred: "M(Δ̂ℓ)",
  pearson: "Pearson r of Δℓ on Δ̂ℓ",
  sign_agreement: "sign agreement",
};

/**
 * A readable name of a column of `runs.arrow` (`dt2t_td_abs_deltaL` → "Δ_t^{2t} at the break: |ΔL|",
 * `grad_token_last_d_grad` → "gradients (tokens) at the end: D(∇ℓ)");
 * a column it does not know keeps its own name.
 */
export function runsColumnLabel(column: string): string {
  if (column in RUN_COLUMN_LABELS) return RUN_COLUMN_LABELS[column];
  const where = (label: string) => (label === "td" ? "at the break" : "at the end");
  const metric = (name: string) => METRIC_LABELS[name] ?? name;
  let match = /^dt2t_(td|last)_(.+)$/.exec(column);
  if (match) return `Δ_t^{2t} ${where(match[1])}: ${metric(match[2])}`;
  match = /^dt1_(td|last)_t$/.exec(column);
  if (match) return `Δ_t^{t+1} ${where(match[1])}: checkpoint t`;
  match = /^dt1_(train|eval)_(td|last)_(.+)$/.exec(column);
  if (match) return `Δ_t^{t+1} on ${match[1]} ${where(match[2])}: ${metric(match[3])}`;
  match = /^grad_([a-z]+)_(td|last)_(.+)$/.exec(column);
  if (match) return `gradients (${match[1]}s) ${where(match[2])}: ${metric(match[3])}`;
  return column;
}

/** The columns of `runs.arrow` in groups a reader looks for (configuration, training, fit, …), in order. */
export function runsColumnGroups(columns: readonly string[]): [title: string, columns: string[]][] {
  const training = new Set([
    "steps_done",
    "tokens_done",
    "adapter",
    "software_adapter",
    "train_wall_seconds",
    "train_sweep_seconds",
    "final_train_loss",
    "final_eval_loss",
  ]);
  const deceleration = new Set(["identified", ...DECELERATION_COLUMNS]);
  const groups: [string, (column: string) => boolean][] = [
    ["Training", (column) => training.has(column)],
    ["Deceleration fit", (column) => deceleration.has(column)],
    ["Loss interference at the break and at the end", (column) => /^dt(2t|1)_/.test(column)],
    ["Gradient interference at the break and at the end", (column) => column.startsWith("grad_")],
    ["Configuration", (column) => column in RUN_COLUMN_LABELS],
  ];
  const out: [string, string[]][] = [...groups.map(([title]) => [title, []] as [string, string[]]), [
    "Other columns",
    [],
  ]];
  for (const column of columns) {
    if (column === "run_id") continue;
    const index = groups.findIndex(([, test]) => test(column));
    out[index < 0 ? groups.length : index][1].push(column);
  }
  return out.filter(([, own]) => own.length > 0);
}
