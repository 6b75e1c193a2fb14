/**
 * Atomic file writes: write to a temporary name beside the target, then rename, so that a killed
 * process never leaves a truncated file under the final name.
 *
 * @module
 */
import { dirname } from "../util/path.ts";

/**
 * The cause of a failed file operation in a few words: the OS message without the path Deno appends
 * (`No space left on device (os error 28)`), since the messages built from it name the path already.
 */
export function ioCause(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/:\s*(open|write|writefile|rename|mkdir|remove|copy|read)\s+'.*$/s, "").trim();
}

/** A write that failed: the message names the path and the cause on one line. */
export class WriteError extends Error {
  /** The path that could not be written. */
  readonly path: string;
  /** The message is `zsl: cannot write <path>: <cause><detail>`. */
  constructor(path: string, cause: unknown, detail = "") {
    super(`zsl: cannot write ${path}: ${ioCause(cause)}${detail}`, { cause });
    this.name = "WriteError";
    this.path = path;
  }
}

/**
 * Writes `data` to `path` atomically, creating the parent directory if needed. On failure (a full
 * disk, a read-only directory) the temporary is removed, `path` keeps its old contents, and a
 * {@linkcode WriteError} names the path and the cause.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(temporary, data);
    else await Deno.writeFile(temporary, data);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new WriteError(path, error);
  }
}

/** Whether `name` is one of the temporaries zsl writes (`X.<pid>.<id>.tmp`, `X.<pid>.tmp`, write probes). */
export function isTemporaryName(name: string): boolean {
  return name.endsWith(".tmp") || name.startsWith(".zsl-write-probe-");
}

/**
 * Removes the temporaries a killed process left in `directory` (not recursive). Call it only while
 * holding the directory's lock (src/util/lock.ts): another live writer's temporaries look the same.
 * Returns the names removed.
 */
export async function removeTemporaries(directory: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (!isTemporaryName(entry.name)) continue;
      await Deno.remove(`${directory}/${entry.name}`, { recursive: true });
      removed.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

/** Writes `value` as indented JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Creates `directory` (and parents) if needed, with an error that names the directory. */
export async function createDirectory(directory: string): Promise<void> {
  try {
    await Deno.mkdir(directory, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw new Error(`zsl: cannot create output directory ${directory}: ${(error as Error).message}`);
    }
  }
}

/**
 * Creates `directory` (and parents) and checks that files can be created in it, with an error that
 * names the directory and the fix.
 */
export async function ensureWritableDirectory(directory: string): Promise<void> {
  await createDirectory(directory);
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
