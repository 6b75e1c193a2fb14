/**
 * The per-run metrics table `metrics.arrow`: one row per optimizer step. It is rewritten atomically
 * at each flush, so a killed run keeps every row flushed before the kill and never a truncated file.
 *
 * Columns: `step` (int32), `tokens` (tokens trained on after the step), `lr`, `train_loss` (the
 * global-batch mean before the step's update), `grad_norm` (before clipping), `wall_seconds`
 * (since the run started, summed over resumed sessions), `eval_loss` (NaN where not evaluated), and
 * any extra columns registered by probes (NaN where not measured).
 *
 * @module
 */
import { readArrow, writeArrow } from "../io/arrow.ts";
import type { Columns } from "../io/arrow.ts";

/** One row of metrics; extra numeric fields become columns. */
export interface MetricsRow {
  /** Optimizer step (1-based): the row describes the update that produced this step. */
  step: number;
  /** Tokens trained on after the step (`step · batch · seq_len`). */
  tokens: number;
  /** Learning rate of the step's update. */
  lr: number;
  /** Mean token loss (nats) of the step's global batch, before its update. */
  train_loss: number;
  /** Global L2 norm of the gradient, before clipping. */
  grad_norm: number;
  /** Seconds since the run started, summed over resumed sessions. */
  wall_seconds: number;
  /** Mean token loss on the eval split after the step; NaN or absent where not evaluated. */
  eval_loss?: number;
  /** Extra columns (probes); NaN in the table where a row has no value. */
  [column: string]: number | undefined;
}

const BASE_COLUMNS = ["step", "tokens", "lr", "train_loss", "grad_norm", "wall_seconds", "eval_loss"];

/** Metrics of a run, kept in memory and flushed to `path`. */
export class MetricsLog {
  /** The `metrics.arrow` file `flush` writes. */
  readonly path: string;
  /** Every row so far, in step order; `flush` writes them all. */
  rows: MetricsRow[] = [];
  #columns = new Set(BASE_COLUMNS);
  #lastFlush = 0;

  /** An empty log for `path`; nothing is read or written until `flush` (see `resume` to continue a file). */
  constructor(path: string) {
    this.path = path;
  }

  /** Loads the rows of an existing metrics file with step ≤ `upToStep` (resume). */
  static async resume(path: string, upToStep: number): Promise<MetricsLog> {
    const log = new MetricsLog(path);
    try {
      await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return log;
      throw error;
    }
    // An unreadable file is an error, not an empty log: the next flush would overwrite its rows.
    const table = await readArrow(path);
    for (const name of table.names) log.#columns.add(name);
    for (let i = 0; i < table.numRows; i++) {
      const row: Record<string, number> = {};
      for (const name of table.names) row[name] = Number(table.columns[name][i] ?? NaN);
      if (row.step <= upToStep) log.rows.push(row as MetricsRow);
    }
    return log;
  }

  /** Adds a row. */
  append(row: MetricsRow): void {
    for (const key of Object.keys(row)) this.#columns.add(key);
    this.rows.push(row);
  }

  /** Sets `column` of the row of `step` (e.g. an eval loss measured after the row was added). */
  set(step: number, column: string, value: number): void {
    this.#columns.add(column);
    for (let i = this.rows.length - 1; i >= 0; i--) {
      if (this.rows[i].step === step) {
        this.rows[i][column] = value;
        return;
      }
    }
  }

  /** The table's columns. */
  columns(): Columns {
    const columns: Columns = {};
    for (const name of this.#columns) {
      if (name === "step") columns.step = Int32Array.from(this.rows, (row) => row.step);
      else columns[name] = Float64Array.from(this.rows, (row) => row[name] ?? NaN);
    }
    return columns;
  }

  /** Writes the table atomically; with `minIntervalMs`, only if that long has passed since the last flush. */
  async flush(minIntervalMs = 0): Promise<void> {
    const now = performance.now();
    if (minIntervalMs > 0 && now - this.#lastFlush < minIntervalMs) return;
    this.#lastFlush = now;
    await writeArrow(this.path, this.columns());
  }
}
