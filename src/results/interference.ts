/**
 * The loss-interference artefacts (docs/method.md#loss-interference).
 *
 * Per sweep, in `SWEEP/results/` (or `--out`): `interference_dt_2t.arrow`, `interference_dt_2t_groups.arrow`,
 * `interference_dt_1.arrow`, `interference_dt_1_batches.arrow` (one model column, so that several runs share
 * a file; the schemas below), `interference.md`, and figures F2–F4 (`zsl_f2`, `zsl_f3`, `zsl_f4`) and, for
 * runs trained with a live probe, `zsl_probe`.
 *
 * Per run, the cache in `RUN/interference/`: `losses_step-NNNNNNN.arrow` (the eval split's per-token losses of
 * a checkpoint: {@linkcode writeTokenLosses}), `one_step_step-NNNNNNN.json` (the per-batch one-step rows
 * with the settings they were made with) and `eval_set.json` (which tokens the loss files are of).
 *
 * Units: D and M are per predicted token; M, ΔL and losses are in nats; t and steps are optimizer steps.
 *
 * @module
 */
import { BROWN_GENRES } from "../data/brown.ts";
import { decodeArrow, encodeArrow } from "../io/arrow.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { jsonWithNulls, nullsToNaN, readCachedJson } from "../util/files.ts";
import { join } from "../util/path.ts";
import { type TableSchema, tableSchema } from "./table.ts";

/** `interference.md`: the tables of every model in Markdown. */
export const INTERFERENCE_MARKDOWN = "interference.md";

/** Base names of the loss-interference figures. */
export const INTERFERENCE_FIGURES = {
  /** F2: D, M and |ΔL| of Δ_t^{2t} against t. */
  checkpoints: "zsl_f2",
  /** F3: D–M trajectories over log₂|ΔL|. */
  trajectories: "zsl_f3",
  /** F4: the one-step Δ_t^{t+1} quantities. */
  oneStep: "zsl_f4",
  /** The live probe's D, M, |ΔL| during training. */
  probe: "zsl_probe",
} as const;

/** One row of `interference_dt_2t.arrow`: loss interference between checkpoints t and 2t on the eval split. */
export interface Dt2tRow {
  /** `model` (utf8): the run's name. */
  model: string;
  /** `t` (int32, steps): the earlier checkpoint. */
  t: number;
  /** `t2` (int32, steps): the later checkpoint, 2t. */
  t2: number;
  /** `D` (float64): destructive interference 1 − |Σ Δℓ| / Σ |Δℓ| (NaN when undefined). */
  D: number;
  /** `M` (float64, nats): mean absolute per-token loss change Σ |Δℓ| / n. */
  M: number;
  /** `deltaL` (float64, nats): signed change of the mean eval loss, 2t minus t. */
  deltaL: number;
  /** `abs_deltaL` (float64, nats): |deltaL| = M·(1 − D). */
  absDeltaL: number;
  /** `n` (float64): predicted eval tokens counted. */
  n: number;
  /** `loss_t` (float64, nats): mean eval loss at t. */
  lossT: number;
  /** `loss_t2` (float64, nats): mean eval loss at 2t. */
  lossT2: number;
  /** Why D (or everything) is NaN (not stored: empty when read back). */
  reason?: string;
}

/** `interference_dt_2t.arrow`: one {@linkcode Dt2tRow} per model and pair (t, 2t). */
export const DT2T_TABLE: TableSchema<Dt2tRow> = tableSchema("interference_dt_2t.arrow", {
  model: ["model", "string"],
  t: ["t", "int32"],
  t2: ["t2", "int32"],
  D: ["D", "float64"],
  M: ["M", "float64"],
  deltaL: ["deltaL", "float64"],
  abs_deltaL: ["absDeltaL", "float64"],
  n: ["n", "float64"],
  loss_t: ["lossT", "float64"],
  loss_t2: ["lossT2", "float64"],
});

/** One row of `interference_dt_2t_groups.arrow`: Δ_t^{2t} over the tokens of one group. */
export interface Dt2tGroupRow {
  /** `model` (utf8): the run's name. */
  model: string;
  /** `t` (int32, steps): the earlier checkpoint (the window is t → 2t). */
  t: number;
  /** `grouping` (utf8): "genre" or "document". */
  grouping: string;
  /** `group` (utf8): the group's name (genre id, document name; "none" for tokens of no group). */
  group: string;
  /** `n` (float64): predicted tokens of the group. */
  n: number;
  /** `D` (float64). */
  D: number;
  /** `M` (float64, nats). */
  M: number;
  /** `deltaL` (float64, nats). */
  deltaL: number;
  /** Why D is NaN (not stored). */
  reason?: string;
}

/** `interference_dt_2t_groups.arrow`: one {@linkcode Dt2tGroupRow} per model, pair and group. */
export const DT2T_GROUPS_TABLE: TableSchema<Dt2tGroupRow> = tableSchema("interference_dt_2t_groups.arrow", {
  model: ["model", "string"],
  t: ["t", "int32"],
  grouping: ["grouping", "string"],
  group: ["group", "string"],
  n: ["n", "float64"],
  D: ["D", "float64"],
  M: ["M", "float64"],
  deltaL: ["deltaL", "float64"],
});

/** One row of `interference_dt_1.arrow`: one step of the run's optimizer from checkpoint t, mean ± std over the batches. */
export interface Dt1Row {
  /** `model` (utf8): the run's name. */
  model: string;
  /** `t` (int32, steps): the checkpoint stepped from. */
  t: number;
  /** `set` (utf8): "train" (the batch stepped on) or "eval" (the eval split). */
  set: "train" | "eval";
  /** `lr` (float64): learning rate of the step (that of the first batch). */
  lr: number;
  /** `batches` (float64): batch rows summarised (non-finite values are left out of means and stds). */
  batches: number;
  /** `D` (float64): mean D over batches. */
  D: number;
  /** `D_std` (float64): sample standard deviation of D (0 for one batch). */
  DStd: number;
  /** `M` (float64, nats): mean M. */
  M: number;
  /** `M_std` (float64, nats). */
  MStd: number;
  /** `deltaL` (float64, nats): mean of the signed ΔL. */
  deltaL: number;
  /** `deltaL_std` (float64, nats). */
  deltaLStd: number;
  /** `abs_deltaL` (float64, nats): mean of |ΔL| (not |mean ΔL|). */
  absDeltaL: number;
  /** `abs_deltaL_std` (float64, nats). */
  absDeltaLStd: number;
}

/** `interference_dt_1.arrow`: one {@linkcode Dt1Row} per model, checkpoint and set. */
export const DT1_TABLE: TableSchema<Dt1Row> = tableSchema("interference_dt_1.arrow", {
  model: ["model", "string"],
  t: ["t", "int32"],
  set: ["set", "string"],
  lr: ["lr", "float64"],
  batches: ["batches", "float64"],
  D: ["D", "float64"],
  D_std: ["DStd", "float64"],
  M: ["M", "float64"],
  M_std: ["MStd", "float64"],
  deltaL: ["deltaL", "float64"],
  deltaL_std: ["deltaLStd", "float64"],
  abs_deltaL: ["absDeltaL", "float64"],
  abs_deltaL_std: ["absDeltaLStd", "float64"],
});

/** One row of `interference_dt_1_batches.arrow`: one unseen batch of the one-step analysis. */
export interface Dt1BatchRow {
  /** `model` (utf8): the run's name. */
  model: string;
  /** `t` (int32, steps): the checkpoint stepped from. */
  t: number;
  /** `set` (utf8): "train" or "eval". */
  set: "train" | "eval";
  /** `batch` (int32): index k of the unseen batch. */
  batch: number;
  /** `batch_step` (int32): the training step batch k would have been (the run's last step + 1 + k). */
  batchStep: number;
  /** `lr` (float64). */
  lr: number;
  /** `D` (float64). */
  D: number;
  /** `M` (float64, nats). */
  M: number;
  /** `deltaL` (float64, nats): after minus before. */
  deltaL: number;
  /** `n` (float64): predicted tokens counted. */
  n: number;
  /** `loss_before` (float64, nats): mean loss of the set before the step. */
  lossBefore: number;
  /** `grad_norm` (float64): gradient norm of the batch before clipping. */
  gradNorm: number;
}

/** `interference_dt_1_batches.arrow`: one {@linkcode Dt1BatchRow} per model, checkpoint, set and batch. */
export const DT1_BATCHES_TABLE: TableSchema<Dt1BatchRow> = tableSchema("interference_dt_1_batches.arrow", {
  model: ["model", "string"],
  t: ["t", "int32"],
  set: ["set", "string"],
  batch: ["batch", "int32"],
  batch_step: ["batchStep", "int32"],
  lr: ["lr", "float64"],
  D: ["D", "float64"],
  M: ["M", "float64"],
  deltaL: ["deltaL", "float64"],
  n: ["n", "float64"],
  loss_before: ["lossBefore", "float64"],
  grad_norm: ["gradNorm", "float64"],
});

/** The heading of a Brown genre of the `group` column ("a" → "press: reportage"); undefined for others. */
export function brownGenreName(id: string): string | undefined {
  return BROWN_GENRES.find((genre) => genre.id === id)?.name;
}

/** The per-run cache directory of the loss-interference analysis, `RUN/interference`. */
export function interferenceDir(runDir: string): string {
  return join(runDir, "interference");
}

/** `losses_step-NNNNNNN.arrow`: the eval split's per-token losses of checkpoint `step`. */
export function tokenLossFile(step: number): string {
  return `losses_step-${String(step).padStart(7, "0")}.arrow`;
}

/** `one_step_step-NNNNNNN.json`: the one-step rows of checkpoint `step`. */
export function oneStepFile(step: number): string {
  return `one_step_step-${String(step).padStart(7, "0")}.json`;
}

/** `eval_set.json`: which eval tokens the cached loss files are of. */
export const EVAL_SET_FILE = "eval_set.json";

/** The per-token losses of a token set, with what each predicted token is. */
export interface TokenLosses {
  /** Loss of each predicted token (nats), [sequences·(T − 1)] row-major. */
  losses: Float32Array;
  /** Tokens per sequence (T). */
  seqLen: number;
  /** Document id of each predicted token. */
  documents: Uint32Array;
  /** Genre id of each predicted token (−1: none). */
  genres: Int32Array;
}

/**
 * Writes a loss file atomically: one row per predicted token, `seq` (uint32, row of the token set), `pos`
 * (uint32, position s, predicting token s+1), `loss` (float32, nats), `document` (uint32) and `genre`
 * (int32, −1 for none) of the predicted token.
 */
export async function writeTokenLosses(path: string, values: TokenLosses): Promise<void> {
  const { losses, documents, genres } = values;
  const perSequence = values.seqLen - 1;
  if (losses.length !== documents.length || losses.length !== genres.length) {
    throw new Error(`zsl: ${losses.length} losses for a token set of ${documents.length} predicted tokens`);
  }
  const seq = new Uint32Array(losses.length);
  const pos = new Uint32Array(losses.length);
  for (let i = 0; i < losses.length; i++) {
    seq[i] = Math.floor(i / perSequence);
    pos[i] = i % perSequence;
  }
  await writeFileAtomic(path, encodeArrow({ seq, pos, loss: losses, document: documents, genre: genres }));
}

/** Reads the `loss` column of a loss file, checking it has `expected` rows (when given). */
export async function readTokenLosses(path: string, expected?: number): Promise<Float32Array> {
  const table = decodeArrow(await Deno.readFile(path), path);
  const column = table.columns.loss;
  if (!column) throw new Error(`zsl: ${path} has no "loss" column: it is not a token-loss file`);
  if (expected !== undefined && table.numRows !== expected) {
    throw new Error(`zsl: ${path} has ${table.numRows} tokens, expected ${expected}`);
  }
  return Float32Array.from(column as ArrayLike<number>);
}

/** A one-step cache file: the settings its rows were made with, and the rows (no model column). */
export interface OneStepCache {
  /** Settings (batches, learning rate, clip, optimizer, eval set): a change recomputes the rows. */
  settings: unknown;
  /** Two rows (train, eval) per unseen batch. */
  rows: Omit<Dt1BatchRow, "model">[];
}

/** Writes a one-step cache file (NaN written as null). */
export async function writeOneStepCache(path: string, cache: OneStepCache): Promise<void> {
  await writeFileAtomic(path, jsonWithNulls(cache));
}

/** Reads a one-step cache file (null read back as NaN), or null when it is missing or unreadable. */
export async function readOneStepCache(path: string): Promise<OneStepCache | null> {
  const cached = await readCachedJson(path) as OneStepCache | null;
  if (!cached) return null;
  return {
    settings: cached.settings,
    rows: (cached.rows ?? []).map((row) => nullsToNaN(row) as OneStepCache["rows"][number]),
  };
}

/** The eval set the loss files of a run are of: sequence count and a fingerprint of the tokens. */
export interface EvalSetKey {
  /** Sequences. */
  sequences: number;
  /** Fingerprint of the tokens. */
  fingerprint: string;
}

/** Reads `RUN/interference/eval_set.json` (null when missing or unreadable). */
export async function readEvalSetKey(cacheDir: string): Promise<unknown> {
  return await readCachedJson(join(cacheDir, EVAL_SET_FILE));
}

/** Writes `RUN/interference/eval_set.json`. */
export async function writeEvalSetKey(cacheDir: string, key: EvalSetKey): Promise<void> {
  await writeJsonAtomic(join(cacheDir, EVAL_SET_FILE), key);
}
