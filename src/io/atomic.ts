/**
 * Atomic file writes: write to a temporary name beside the target, then rename, so that a killed
 * process never leaves a truncated file under the final name.
 *
 * @module
 */
import { dirname } from "../util/path.ts";

/** Writes `data` to `path` atomically, creating the parent directory if needed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(temporary, data);
    else await Deno.writeFile(temporary, data);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Writes `value` as indented JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Creates `directory` (and parents) and checks that files can be created in it, with an error that
 * names the directory and the fix.
 */
export async function ensureWritableDirectory(directory: string): Promise<void> {
  try {
    await Deno.mkdir(directory, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw new Error(`zsl: cannot create output directory ${directory}: ${(error as Error).message}`);
    }
  }
  const probe = `${directory}/.zsl-write-probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (error) {
    throw new Error(
      `zsl: output directory ${directory} is not writable (${(error as Error).message}): ` +
        `choose another --out or fix its permissions`,
    );
  }
}
