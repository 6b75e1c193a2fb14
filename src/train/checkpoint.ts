/**
 * Checkpoints: `RUN/checkpoints/step-NNNNNNN/` holding `model.safetensors` (OLMo names, F32, out×in),
 * `optimizer.safetensors` (the optimizer's state as `<name>.<state>`: AdamW's `<name>.exp_avg` and
 * `<name>.exp_avg_sq`, the ablation optimizers' own states, src/train/optimizer.ts) and
 * `state.json` (step, lr, data position, seed, config, tokenizer, schedule). A checkpoint directory
 * is written under a temporary name and renamed, so it is either complete or absent.
 *
 * @module
 */
import { join } from "../util/path.ts";
import { ioCause, removeTemporaries } from "../io/atomic.ts";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../io/safetensors.ts";
import type { ParameterLayout } from "../model/parameters.ts";
import { flattenTensors, tensorsOf } from "../model/parameters.ts";

/** What `state.json` holds. */
export interface CheckpointState {
  /** Format version of the checkpoint directory. */
  format: 1;
  /** Optimizer updates done: the checkpoint holds the weights after update `step`. */
  step: number;
  /** Learning rate of the update that produced this step. */
  lr: number;
  /** Tokens trained on so far. */
  tokens: number;
  /** Everything else a resumed run or an analysis needs (config, data, schedule, seed, …). */
  [key: string]: unknown;
}

/** A loaded checkpoint. */
export interface Checkpoint {
  /** The checkpoint directory it was loaded from (`RUN/checkpoints/step-NNNNNNN`). */
  directory: string;
  /** The parsed `state.json` (not validated beyond being JSON). */
  state: CheckpointState;
  /** Parameters, flat in layout order. */
  parameters: Float32Array;
  /**
   * Every tensor of `optimizer.safetensors` by name (`<parameter>.<state>`), whichever optimizer wrote
   * it; absent when the directory has no optimizer file.
   */
  optimizer?: Map<string, Tensor>;
  /**
   * AdamW moments, flat in layout order (absent when the directory has no optimizer file or the
   * optimizer kept no `exp_avg` for some parameter, e.g. Muon's weights).
   */
  expAvg?: Float32Array;
  /** Second moments, like `expAvg`. */
  expAvgSq?: Float32Array;
}

/** Directory name of step `step`'s checkpoint. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(7, "0")}`;
}

/**
 * Steps whose checkpoints are kept for good: every power of two up to `totalSteps`, and `totalSteps`.
 * The trainer also writes periodic and interrupt checkpoints in between; each of those is removed
 * once a later checkpoint is in place (see {@linkcode pruneCheckpoints}).
 */
export function checkpointSteps(totalSteps: number): number[] {
  const steps: number[] = [];
  for (let s = 1; s <= totalSteps; s *= 2) steps.push(s);
  if (steps[steps.length - 1] !== totalSteps) steps.push(totalSteps);
  return steps;
}

/**
 * The first value of `values` that is not finite, as `{ index, value }`, or null. Checkpoints
 * never hold one: a diverged run is stopped before it saves (src/train/trainer.ts).
 */
export function firstNonFinite(values: Float32Array): { index: number; value: number } | null {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return { index: i, value: values[i] };
  }
  return null;
}

/** Where a non-finite value of a flat parameter vector lies: `"blocks.0.att_proj.weight[17]"`. */
export function describeFlatIndex(layout: ParameterLayout, index: number): string {
  const spec = layout.specs.find((s) => index >= s.offset && index < s.offset + s.length);
  return spec ? `${spec.name}[${index - spec.offset}]` : `index ${index}`;
}

/**
 * Writes a checkpoint under `runDir/checkpoints/`: into a temporary directory, renamed into place
 * when complete. On a write error (a full disk) the temporary is removed, no other checkpoint is
 * touched, and the error names the checkpoint and the cause on one line.
 */
export async function saveCheckpoint(
  runDir: string,
  layout: ParameterLayout,
  parameters: Float32Array,
  moments: { expAvg: Float32Array; expAvgSq: Float32Array } | Map<string, Tensor> | null,
  state: CheckpointState,
): Promise<string> {
  const parent = join(runDir, "checkpoints");
  const final = join(parent, checkpointName(state.step));
  const temporary = `${final}.${Deno.pid}.tmp`;
  try {
    await Deno.mkdir(parent, { recursive: true });
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    await Deno.mkdir(temporary);
    const metadata = { format: "pt", step: String(state.step) };
    await Deno.writeFile(
      join(temporary, "model.safetensors"),
      encodeSafetensors(tensorsOf(layout, parameters), metadata),
    );
    if (moments instanceof Map) {
      // An optimizer's state, already named `<parameter>.<state>` (Optimizer.getState).
      await Deno.writeFile(join(temporary, "optimizer.safetensors"), encodeSafetensors(moments, metadata));
    } else if (moments) {
      const entries: [string, Tensor][] = [];
      const avg = tensorsOf(layout, moments.expAvg);
      const avgSq = tensorsOf(layout, moments.expAvgSq);
      for (const spec of layout.specs) {
        entries.push([`${spec.name}.exp_avg`, avg.get(spec.name)!]);
        entries.push([`${spec.name}.exp_avg_sq`, avgSq.get(spec.name)!]);
      }
      await Deno.writeFile(join(temporary, "optimizer.safetensors"), encodeSafetensors(entries, metadata));
    }
    await Deno.writeTextFile(join(temporary, "state.json"), JSON.stringify(state, null, 2) + "\n");
    await Deno.remove(final, { recursive: true }).catch(() => {});
    await Deno.rename(temporary, final);
  } catch (error) {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    throw new Error(
      `zsl: cannot write the checkpoint of step ${state.step} to ${final}: ${ioCause(error)} ` +
        `(its temporary was removed; earlier checkpoints are intact)`,
      { cause: error },
    );
  }
  return final;
}

/**
 * Removes the checkpoints before `latest` that are not in `keep` (the periodic and interrupt
 * checkpoints a later one replaces). Call it only once `latest` is in place.
 */
export async function pruneCheckpoints(runDir: string, keep: Set<number>, latest: number): Promise<void> {
  for (const step of await listCheckpoints(runDir)) {
    if (step < latest && !keep.has(step)) {
      await Deno.remove(checkpointPath(runDir, step), { recursive: true });
    }
  }
}

/** Steps of the complete checkpoints in `runDir`, ascending. */
export async function listCheckpoints(runDir: string): Promise<number[]> {
  const steps: number[] = [];
  try {
    for await (const entry of Deno.readDir(join(runDir, "checkpoints"))) {
      const match = entry.isDirectory ? entry.name.match(/^step-(\d+)$/) : null;
      if (match) steps.push(Number(match[1]));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return steps.sort((a, b) => a - b);
}

/**
 * Removes what a killed run left under temporary names: half-written checkpoint directories and the
 * temporaries of `metrics.arrow`, `run.json` and `config.json`. Only while holding the run
 * directory's lock: a live writer's temporaries look the same. Returns the paths removed.
 */
export async function removeStaleTemporaries(runDir: string): Promise<string[]> {
  const top = await removeTemporaries(runDir);
  const checkpoints = await removeTemporaries(join(runDir, "checkpoints"));
  return [
    ...top.map((name) => join(runDir, name)),
    ...checkpoints.map((name) => join(runDir, "checkpoints", name)),
  ];
}

/** Path of step `step`'s checkpoint in `runDir`. */
export function checkpointPath(runDir: string, step: number): string {
  return join(runDir, "checkpoints", checkpointName(step));
}

/** A checkpoint that cannot be used: its message names the file and the problem. */
export class CheckpointError extends Error {
  /** The checkpoint directory. */
  readonly directory: string;
  /** `message` names the file and the problem. */
  constructor(directory: string, message: string) {
    super(message);
    this.name = "CheckpointError";
    this.directory = directory;
  }
}

/**
 * Loads a checkpoint directory (with its optimizer state when present). A missing, truncated or
 * corrupt file, or weights or moments that are not finite, give a {@linkcode CheckpointError}
 * naming the file.
 */
export async function loadCheckpoint(directory: string, layout: ParameterLayout): Promise<Checkpoint> {
  const read = async (name: string) => {
    try {
      return await Deno.readFile(join(directory, name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw new CheckpointError(directory, `zsl: cannot read ${join(directory, name)}: ${ioCause(error)}`);
    }
  };
  const fail = (message: string): never => {
    throw new CheckpointError(directory, `zsl: checkpoint ${directory} is unusable: ${message}`);
  };
  const stateBytes = await read("state.json");
  const modelBytes = await read("model.safetensors");
  if (!stateBytes || !modelBytes) {
    throw new CheckpointError(
      directory,
      `zsl: ${directory} is not a checkpoint (it needs state.json and model.safetensors)`,
    );
  }
  let state: CheckpointState;
  try {
    state = JSON.parse(new TextDecoder().decode(stateBytes));
  } catch (error) {
    return fail(`state.json is not valid JSON (${(error as Error).message}); it was truncated or damaged`);
  }
  if (typeof state !== "object" || state === null || !Number.isInteger(state.step)) {
    return fail(`state.json has no integer "step"`);
  }
  const decode = (bytes: Uint8Array, name: string) => {
    try {
      return decodeSafetensors(bytes, join(directory, name));
    } catch (error) {
      return fail((error as Error).message.replace(/^zsl: /, ""));
    }
  };
  const checkFinite = (values: Float32Array, what: string) => {
    const bad = firstNonFinite(values);
    if (bad) {
      fail(
        `its ${what} hold ${bad.value} at ${describeFlatIndex(layout, bad.index)}: the run had diverged ` +
          `when it was written; use an earlier checkpoint`,
      );
    }
  };
  const model = decode(modelBytes, "model.safetensors");
  const parameters = flattenTensors(layout, model.tensors, join(directory, "model.safetensors"));
  checkFinite(parameters, "weights");
  const optimizerBytes = await read("optimizer.safetensors");
  if (!optimizerBytes) return { directory, state, parameters };
  const optimizer = decode(optimizerBytes, "optimizer.safetensors");
  for (const [name, tensor] of optimizer.tensors) {
    const bad = firstNonFinite(tensor.data);
    if (bad) {
      fail(
        `its optimizer state ${name} holds ${bad.value} at [${bad.index}]: the run had diverged when it ` +
          `was written; use an earlier checkpoint`,
      );
    }
  }
  const complete = (suffix: string) =>
    layout.specs.every((spec) => optimizer.tensors.has(`${spec.name}.${suffix}`));
  if (!complete("exp_avg") || !complete("exp_avg_sq")) {
    return { directory, state, parameters, optimizer: optimizer.tensors };
  }
  const pick = (suffix: string) =>
    flattenTensors(
      layout,
      new Map(
        layout.specs.map((spec) => [spec.name, optimizer.tensors.get(`${spec.name}.${suffix}`)!])
          .filter(([, tensor]) => tensor !== undefined) as [string, Tensor][],
      ),
      `${join(directory, "optimizer.safetensors")} (${suffix})`,
    );
  return {
    directory,
    state,
    parameters,
    optimizer: optimizer.tensors,
    expAvg: pick("exp_avg"),
    expAvgSq: pick("exp_avg_sq"),
  };
}
