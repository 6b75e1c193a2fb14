/**
 * When an analysis may reuse what it cached in a run directory: the one freshness rule of every cache.
 *
 * @module
 */
import { checkpointPath } from "../train/checkpoint.ts";
import { modifiedTime } from "../util/files.ts";
import { join } from "../util/path.ts";

/**
 * Whether the cached `output` exists and is at least as new as the checkpoint of `step` (its
 * `model.safetensors`): a checkpoint rewritten after the cache (a run trained again) invalidates it. The
 * caller also compares the settings the cache was made with.
 */
export async function newerThanCheckpoint(output: string, runDir: string, step: number): Promise<boolean> {
  const made = await modifiedTime(output);
  const source = await modifiedTime(join(checkpointPath(runDir, step), "model.safetensors"));
  return made !== null && source !== null && made >= source;
}
