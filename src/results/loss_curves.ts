/**
 * What the analyses read of a run's training curves: the training loss of a run directory (its
 * `metrics.arrow`, name from `run.json`) or of a two-column Arrow or CSV file of step and loss, and the
 * live loss-interference probe's columns (`probe_D`, `probe_M`, `probe_deltaL`) of a run trained with
 * `--probe-every`.
 *
 * @module
 */
import { decodeArrow, numericColumn, readArrow, type TableData } from "../io/arrow.ts";
import { basename, extname, join } from "../util/path.ts";

/** A loss curve read from disk. */
export interface LossCurve {
  /** The model's name: `name` in the run's `run.json`, else the directory or file base name. */
  name: string;
  /** The file the numbers came from. */
  source: string;
  /** Training steps as read (not yet validated nor sorted). */
  steps: Float64Array;
  /** Training loss at each step, same length as `steps`. */
  losses: Float64Array;
  /** The learning rate of each step's update (a run's `lr` column; absent for curve files). */
  lrs?: Float64Array;
  /** The run's warmup in steps (from `run.json`; absent for curve files). */
  warmup?: number;
}

const STEP_NAMES = ["step", "steps"];
const LOSS_NAMES = ["train_loss", "loss", "smoothed_loss"];

function pickColumns(table: TableData, source: string): [string, string] {
  const lower = table.names.map((name) => name.toLowerCase());
  const find = (candidates: string[]) => {
    for (const candidate of candidates) {
      const index = lower.indexOf(candidate);
      if (index >= 0) return table.names[index];
    }
    return undefined;
  };
  const step = find(STEP_NAMES);
  const loss = find(LOSS_NAMES);
  if (step && loss) return [step, loss];
  if (table.names.length === 2) return [table.names[0], table.names[1]];
  throw new Error(
    `zsl: ${source} has columns ${table.names.join(", ")}: expected "step" and "train_loss" (or "loss"), ` +
      `or exactly two columns (step, loss)`,
  );
}

/** Parses CSV text of step and loss: an optional header, comma/semicolon/tab separated. */
export function parseLossCsv(text: string, source: string): { steps: Float64Array; losses: Float64Array } {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
  if (lines.length === 0) throw new Error(`zsl: ${source} is empty: expected rows of step,loss`);
  const split = (line: string) => line.split(/[,;\t]/).map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
  let stepColumn = 0;
  let lossColumn = 1;
  let first = 0;
  const header = split(lines[0]);
  if (header.some((cell) => cell !== "" && !Number.isFinite(Number(cell)))) {
    first = 1;
    const lower = header.map((cell) => cell.toLowerCase());
    const step = lower.findIndex((cell) => STEP_NAMES.includes(cell));
    const loss = LOSS_NAMES.map((name) => lower.indexOf(name)).find((index) => index >= 0);
    if (step >= 0 && loss !== undefined) {
      stepColumn = step;
      lossColumn = loss;
    } else if (header.length !== 2) {
      throw new Error(
        `zsl: ${source} has header "${lines[0]}": expected columns "step" and "loss" (or "train_loss"), ` +
          `or exactly two columns (step, loss)`,
      );
    }
  }
  const steps: number[] = [];
  const losses: number[] = [];
  for (let i = first; i < lines.length; i++) {
    const cells = split(lines[i]);
    const step = Number(cells[stepColumn]);
    const loss = Number(cells[lossColumn]);
    if (
      cells.length <= Math.max(stepColumn, lossColumn) || cells[stepColumn] === "" || !Number.isFinite(step)
    ) {
      throw new Error(
        `zsl: ${source} line ${i + 1} ("${lines[i]}") has no numeric step: fix or remove that line`,
      );
    }
    if (cells[lossColumn] === "" || Number.isNaN(loss)) {
      throw new Error(
        `zsl: ${source} line ${i + 1} ("${lines[i]}") has no numeric loss: fix or remove that line`,
      );
    }
    steps.push(step);
    losses.push(loss);
  }
  return { steps: Float64Array.from(steps), losses: Float64Array.from(losses) };
}

/** The name and warmup a run directory's `run.json` gives (each undefined when absent). */
async function readRunNameAndWarmup(directory: string): Promise<{ name?: string; warmup?: number }> {
  const path = join(directory, "run.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
  }
  let info: { name?: unknown; schedule?: { warmup?: unknown } } | null;
  try {
    info = JSON.parse(text);
  } catch (error) {
    throw new Error(`zsl: ${path} is not valid JSON (${(error as Error).message}): fix or remove it`);
  }
  const name = info?.name;
  const warmup = info?.schedule?.warmup;
  return {
    name: typeof name === "string" && name.length > 0 ? name : undefined,
    warmup: typeof warmup === "number" && warmup >= 0 ? warmup : undefined,
  };
}

function stripExtension(path: string): string {
  const base = basename(path);
  const extension = extname(base);
  return extension ? base.slice(0, -extension.length) : base;
}

/**
 * Reads a loss curve from a run directory (`metrics.arrow` with columns `step` and `train_loss`;
 * the name from `run.json`'s `name`), or from an Arrow (`.arrow`, `.feather`, `.ipc`) or CSV file of
 * step and loss (the name from the file's base name).
 */
export async function readLossCurve(path: string): Promise<LossCurve> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new Error(
      `zsl: ${path} does not exist (${(error as Error).message}): give a run directory with metrics.arrow, ` +
        `or an Arrow or CSV file of step, loss`,
    );
  }
  if (info.isDirectory) {
    const metrics = join(path, "metrics.arrow");
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(metrics);
    } catch (error) {
      throw new Error(
        `zsl: ${path} is a directory without a readable metrics.arrow (${(error as Error).message}): ` +
          `give a run directory written by the trainer, or an Arrow or CSV file of step, loss`,
      );
    }
    const table = decodeArrow(bytes, metrics);
    const [stepName, lossName] = pickColumns(table, metrics);
    const run = await readRunNameAndWarmup(path);
    const name = run.name ?? basename(path.replace(/\/+$/, ""));
    let steps = numericColumn(table, stepName, metrics);
    let losses = numericColumn(table, lossName, metrics);
    let lrs = table.columns["lr"] ? numericColumn(table, "lr", metrics) : undefined;
    if (table.columns["eval_loss"]) {
      // Rows that only carry an evaluation (no training loss, e.g. an eval before step 1) are not
      // part of the training curve; a missing training loss anywhere else is an error later.
      const evalLoss = numericColumn(table, "eval_loss", metrics);
      const keep = Array.from(losses.keys()).filter((i) =>
        !(Number.isNaN(losses[i]) && Number.isFinite(evalLoss[i]))
      );
      if (keep.length < losses.length) {
        steps = Float64Array.from(keep, (i) => steps[i]);
        losses = Float64Array.from(keep, (i) => losses[i]);
        if (lrs) lrs = Float64Array.from(keep, (i) => lrs![i]);
      }
    }
    return {
      name,
      source: metrics,
      steps,
      losses,
      ...(lrs ? { lrs } : {}),
      ...(run.warmup !== undefined ? { warmup: run.warmup } : {}),
    };
  }
  const extension = extname(path).toLowerCase();
  if (extension === ".csv" || extension === ".tsv" || extension === ".txt") {
    const { steps, losses } = parseLossCsv(await Deno.readTextFile(path), path);
    return { name: stripExtension(path), source: path, steps, losses };
  }
  const bytes = await Deno.readFile(path);
  let table: TableData;
  try {
    table = decodeArrow(bytes, path);
  } catch (error) {
    throw new Error(
      `${(error as Error).message} (expected an Arrow IPC file, or a .csv of step, loss)`,
    );
  }
  const [stepName, lossName] = pickColumns(table, path);
  return {
    name: stripExtension(path),
    source: path,
    steps: numericColumn(table, stepName, path),
    losses: numericColumn(table, lossName, path),
  };
}

/** A run's live-probe series: D, M and ΔL between consecutive probes, at each probe's step. */
export interface ProbeSeries {
  /** The run's name. */
  name: string;
  /** Training step of each probe (rows of `metrics.arrow`; NaN columns on steps without a probe). */
  steps: Float64Array;
  /** `probe_D`: D over the interval ending at each probe. */
  D: Float64Array;
  /** `probe_M` (nats): M over the interval ending at each probe. */
  M: Float64Array;
  /** `probe_deltaL` (nats): the signed ΔL over the interval ending at each probe. */
  deltaL: Float64Array;
}

/**
 * The live-probe columns of a run's `metrics.arrow` when it was trained with `--probe-every` and measured
 * something (null otherwise, and when the file cannot be read).
 */
export async function readProbeSeries(runDir: string, name: string): Promise<ProbeSeries | null> {
  try {
    const path = join(runDir, "metrics.arrow");
    const table = await readArrow(path);
    if (!table.columns.probe_D) return null;
    const series = {
      name,
      steps: numericColumn(table, "step", path),
      D: numericColumn(table, "probe_D", path),
      M: numericColumn(table, "probe_M", path),
      deltaL: numericColumn(table, "probe_deltaL", path),
    };
    return series.M.some(Number.isFinite) ? series : null;
  } catch {
    return null;
  }
}
