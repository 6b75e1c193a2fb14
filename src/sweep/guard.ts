/**
 * What a sweep checks before it writes anything into its directory: one sweep process per directory
 * (an OS file lock; SLURM array tasks share it, each training its own run), `--only` naming runs the
 * sweep has, and, for every run that already has a directory, that the run's stored definition is the
 * one requested now: a rerun whose settings changed is refused naming the differences, unless told to
 * start those runs afresh (`--restart-changed`).
 *
 * @module
 */
import { createDirectory, ensureWritableDirectory } from "../io/atomic.ts";
import { join } from "../util/path.ts";
import type { DirectoryLock } from "../util/lock.ts";
import { lockDirectory } from "../util/lock.ts";
import { validateConfig } from "../model/config.ts";
import { runIdentity, runOptimizerOptions } from "../train/trainer.ts";
import { resolveRun } from "../train/run.ts";
import type { TrainOptions } from "../train/trainer.ts";
import type { SweepDefinition } from "./definition.ts";
import { expandSweep } from "./definition.ts";

/**
 * Locks a sweep directory (creating it): exclusively for a whole sweep, shared for one SLURM array
 * task (`--only <id> --train-only`), so that array tasks run side by side but never beside a whole
 * sweep. Throws at once, naming the holder's pid, when another sweep holds it.
 */
export async function lockSweep(sweepDir: string, shared = false): Promise<DirectoryLock> {
  await createDirectory(sweepDir);
  const lock = await lockDirectory(sweepDir, "sweep directory", "choose another --out", { shared });
  try {
    await ensureWritableDirectory(sweepDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

/** Throws when `only` names a run the sweep does not have (before anything is written). */
export function checkOnly(definition: SweepDefinition, only: string[] | undefined): void {
  const all = expandSweep(definition).map((run) => run.id);
  const unknown = (only ?? []).filter((id) => !all.includes(id));
  if (unknown.length > 0) {
    throw new Error(
      `zsl: --only names run(s) ${unknown.join(", ")} that the sweep does not have; its runs: ${
        all.join(", ")
      }`,
    );
  }
}

/** A run whose stored definition differs from the requested one. */
export interface ChangedRun {
  /** The run's id. */
  id: string;
  /** Its directory. */
  runDir: string;
  /** `path: stored → requested`, one entry per differing field. */
  differences: string[];
}

/** `path: a → b` for every leaf where `saved` and `wanted` differ (objects compared field by field). */
export function differences(saved: unknown, wanted: unknown, path = ""): string[] {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  if (isObject(saved) && isObject(wanted)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(wanted)])];
    return keys.flatMap((key) => differences(saved[key], wanted[key], path ? `${path}.${key}` : key));
  }
  const show = (value: unknown) => value === undefined ? "(none)" : JSON.stringify(value);
  return JSON.stringify(saved) === JSON.stringify(wanted)
    ? []
    : [`${path || "(all)"}: ${show(saved)} → ${show(wanted)}`];
}

/** The training-defining fields of a run (what run.json stores), with the data's path left out. */
function comparable(identity: Record<string, unknown>): Record<string, unknown> {
  const data = identity.data as Record<string, unknown> | undefined;
  // The data's path may be written differently (relative, moved); its fingerprints stay compared.
  return { ...identity, data: data ? { ...data, source: undefined } : data };
}

/**
 * The runs (with their resolved options) whose directory holds a run.json that defines another run
 * than the one requested now.
 */
export async function findChangedRuns(
  runs: {
    id: string;
    options: Pick<
      TrainOptions,
      "runDir" | "model" | "adamw" | "steps" | "batch" | "microbatch" | "schedule" | "seed" | "data"
    >;
  }[],
): Promise<ChangedRun[]> {
  const changed: ChangedRun[] = [];
  for (const { id, options } of runs) {
    const path = join(options.runDir, "run.json");
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
    }
    let stored: Record<string, unknown>;
    try {
      stored = JSON.parse(text);
    } catch (error) {
      throw new Error(
        `zsl: ${path} is not valid JSON (${(error as Error).message}): delete run ${id}'s directory ` +
          `${options.runDir} to train it afresh`,
      );
    }
    const wanted = comparable(
      runIdentity(options, validateConfig(options.model), runOptimizerOptions(options)),
    );
    // `optimizer` is absent for AdamW: a run that had another optimizer differs too.
    const keys = new Set([...Object.keys(wanted), "optimizer"]);
    const saved = comparable(Object.fromEntries([...keys].map((key) => [key, stored[key]])));
    const found = differences(saved, wanted);
    if (found.length > 0) changed.push({ id, runDir: options.runDir, differences: found });
  }
  return changed;
}

/**
 * Refuses changed runs (naming every difference), or with `restart` removes their directories so that
 * they train afresh. Returns the ids restarted.
 */
export async function handleChangedRuns(changed: ChangedRun[], restart: boolean): Promise<string[]> {
  if (changed.length === 0) return [];
  if (!restart) {
    const list = changed.map((run) => `${run.id} (${run.differences.join("; ")})`).join(", ");
    throw new Error(
      `zsl: the sweep's definition changed for run(s) already trained: ${list}; their results would ` +
        `not match sweep.json: restore the definition, use another --out, or pass --restart-changed to ` +
        `delete those runs and train them afresh`,
    );
  }
  for (const run of changed) {
    // Under the run's own lock: a trainer still writing there makes this refuse instead.
    const lock = await lockDirectory(
      run.runDir,
      "run directory",
      "wait for it to end before --restart-changed",
    );
    try {
      await Deno.remove(run.runDir, { recursive: true });
    } finally {
      lock.release();
    }
  }
  return changed.map((run) => run.id);
}

/**
 * {@linkcode findChangedRuns} and {@linkcode handleChangedRuns} for the runs of `definition` (all, or
 * `only`) that already have a run.json in `sweepDir`, resolving only those.
 */
export async function guardSweepRuns(
  definition: SweepDefinition,
  sweepDir: string,
  options: { only?: string[]; restartChanged?: boolean } = {},
): Promise<string[]> {
  const runs = [];
  for (const run of expandSweep(definition)) {
    if (options.only && !options.only.includes(run.id)) continue;
    const out = join(sweepDir, "runs", run.id);
    if (!(await Deno.stat(join(out, "run.json")).then(() => true, () => false))) continue;
    runs.push({ id: run.id, options: (await resolveRun({ ...run.spec, out })).options });
  }
  return await handleChangedRuns(await findChangedRuns(runs), options.restartChanged ?? false);
}
