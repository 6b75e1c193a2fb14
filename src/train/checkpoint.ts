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

/** Steps that get a checkpoint: every power of two up to `totalSteps`, and `totalSteps`. */
export function checkpointSteps(totalSteps: number): number[] {
  const steps: number[] = [];
  for (let s = 1; s <= totalSteps; s *= 2) steps.push(s);
  if (steps[steps.length - 1] !== totalSteps) steps.push(totalSteps);
  return steps;
}

/** Writes a checkpoint atomically under `runDir/checkpoints/`. */
export async function saveCheckpoint(
  runDir: string,
  layout: ParameterLayout,
  parameters: Float32Array,
  moments: { expAvg: Float32Array; expAvgSq: Float32Array } | Map<string, Tensor> | null,
  state: CheckpointState,
): Promise<string> {
  const parent = join(runDir, "checkpoints");
  await Deno.mkdir(parent, { recursive: true });
  const final = join(parent, checkpointName(state.step));
  const temporary = `${final}.${Deno.pid}.tmp`;
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
  return final;
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

/** Removes checkpoint directories left half-written under temporary names by a killed run. */
export async function removeStaleTemporaries(runDir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(join(runDir, "checkpoints"))) {
      if (entry.name.endsWith(".tmp")) {
        await Deno.remove(join(runDir, "checkpoints", entry.name), { recursive: true });
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Path of step `step`'s checkpoint in `runDir`. */
export function checkpointPath(runDir: string, step: number): string {
  return join(runDir, "checkpoints", checkpointName(step));
}

/** Loads a checkpoint directory (with its optimizer state when present). */
export async function loadCheckpoint(directory: string, layout: ParameterLayout): Promise<Checkpoint> {
  const read = async (name: string) => {
    try {
      return await Deno.readFile(join(directory, name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  };
  const stateBytes = await read("state.json");
  const modelBytes = await read("model.safetensors");
  if (!stateBytes || !modelBytes) {
    throw new Error(`zsl: ${directory} is not a checkpoint (it needs state.json and model.safetensors)`);
  }
  const state = JSON.parse(new TextDecoder().decode(stateBytes)) as CheckpointState;
  const model = decodeSafetensors(modelBytes, join(directory, "model.safetensors"));
  const parameters = flattenTensors(layout, model.tensors, join(directory, "model.safetensors"));
  const optimizerBytes = await read("optimizer.safetensors");
  if (!optimizerBytes) return { directory, state, parameters };
  const optimizer = decodeSafetensors(optimizerBytes, join(directory, "optimizer.safetensors"));
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
