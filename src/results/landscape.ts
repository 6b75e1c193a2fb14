/**
 * The loss along the update (docs/method.md#loss-along-the-update): per-token losses at θ_t + α·δ, δ the one
 * step of the run's own optimizer from checkpoint t, for α = ±k/25·s.
 *
 * Per sweep, in `SWEEP/results/` (or `--out`): `landscape.arrow` (one model column, so that several runs
 * share a file; the schema below), `landscape.md`, and one figure per run, `zsl_landscape_<run>` (a line per
 * checkpoint; {@linkcode landscapeFigureName}).
 *
 * Per run, the cache in `RUN/landscape/`: `landscape_step-NNNNNNN.json` (the rows of one checkpoint with the
 * settings they were made with).
 *
 * Units: α in steps δ (α = 1: the real step); losses, ΔL and M in nats per predicted token.
 *
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { jsonWithNulls, nullsToNaN, readCachedJson } from "../util/files.ts";
import { join } from "../util/path.ts";
import { type TableSchema, tableSchema } from "./table.ts";

/** `landscape.md`: the summary table of every run in Markdown. */
export const LANDSCAPE_MARKDOWN = "landscape.md";

/** Base name of the landscape figure of run `model` (characters outside `[A-Za-z0-9._-]` become `-`). */
export function landscapeFigureName(model: string): string {
  return `zsl_landscape_${model.replace(/[^A-Za-z0-9._-]/g, "-")}`;
}

/** One row of `landscape.arrow`: the losses of one token set at θ_t + α·δ. */
export interface LandscapeRow {
  /** `model` (utf8): the run's name. */
  model: string;
  /** `t` (int32, steps): the checkpoint stepped from. */
  t: number;
  /** `set` (utf8): "train" (the batch δ was taken on) or "eval" (an eval batch). */
  set: "train" | "eval";
  /** `k` (int32): α = k/25·scale; 0 is θ_t itself. */
  k: number;
  /** `alpha` (float64): the multiple of δ added to θ_t. */
  alpha: number;
  /** `scale` (float64): s of α = ±k/25·s. */
  scale: number;
  /** `lr` (float64): learning rate of the step δ (lr(t), the peak where that is 0). */
  lr: number;
  /** `loss` (float64, nats): mean per-token loss of the set at θ_t + α·δ. */
  loss: number;
  /** `deltaL` (float64, nats): loss − the loss at θ_t (0 at α = 0). */
  deltaL: number;
  /** `D` (float64): destructive interference of Δℓ(α) = ℓ(θ_t + α·δ) − ℓ(θ_t) (NaN at α = 0). */
  D: number;
  /** `M` (float64, nats): mean |Δℓ(α)|. */
  M: number;
  /** `n` (float64): predicted tokens of the set. */
  n: number;
}

/** `landscape.arrow`: one {@linkcode LandscapeRow} per model, checkpoint, set and α, ascending in α. */
export const LANDSCAPE_TABLE: TableSchema<LandscapeRow> = tableSchema("landscape.arrow", {
  model: ["model", "string"],
  t: ["t", "int32"],
  set: ["set", "string"],
  k: ["k", "int32"],
  alpha: ["alpha", "float64"],
  scale: ["scale", "float64"],
  lr: ["lr", "float64"],
  loss: ["loss", "float64"],
  deltaL: ["deltaL", "float64"],
  D: ["D", "float64"],
  M: ["M", "float64"],
  n: ["n", "float64"],
});

/** The per-run cache directory of the landscape, `RUN/landscape`. */
export function landscapeDir(runDir: string): string {
  return join(runDir, "landscape");
}

/** `landscape_step-NNNNNNN.json`: the landscape rows of checkpoint `step`. */
export function landscapeCacheFile(step: number): string {
  return `landscape_step-${String(step).padStart(7, "0")}.json`;
}

/** A landscape cache file: the settings its rows were made with, and the rows (no model column). */
export interface LandscapeCache {
  /** Settings (α grid, learning rate, optimizer, token sets): a change recomputes the rows. */
  settings: unknown;
  /** The rows of one checkpoint. */
  rows: Omit<LandscapeRow, "model">[];
}

/** Writes a landscape cache file atomically (NaN written as null). */
export async function writeLandscapeCache(path: string, cache: LandscapeCache): Promise<void> {
  await writeFileAtomic(path, jsonWithNulls(cache));
}

/** Reads a landscape cache file (null read back as NaN), or null when it is missing or unreadable. */
export async function readLandscapeCache(path: string): Promise<LandscapeCache | null> {
  const cached = await readCachedJson(path) as LandscapeCache | null;
  if (!cached || !Array.isArray(cached.rows)) return null;
  return {
    settings: cached.settings,
    rows: cached.rows.map((row) => nullsToNaN(row) as LandscapeCache["rows"][number]),
  };
}
