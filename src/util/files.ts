/**
 * Small file helpers: what exists, optional reads, JSON that keeps NaN (as null), directory listings.
 *
 * @module
 */

/** Whether `path` exists (other errors than "not found" are thrown). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The bytes of `path`, or null when it does not exist. */
export async function readFileIfPresent(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * The JSON in `path`, or null when the file does not exist; a file that is not JSON is an error that
 * names it and `fix` (what to do about it).
 */
export async function readJsonIfPresent<T = unknown>(
  path: string,
  fix = "rerun the sweep",
): Promise<T | null> {
  const bytes = await readFileIfPresent(path);
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new Error(`zsl: ${path} is not valid JSON (${(error as Error).message}): ${fix}`);
  }
}

/** The JSON in `path`, or null when it is missing or unreadable (a cache: it is then recomputed). */
export async function readCachedJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/** JSON text with every non-finite number written as null (JSON has no NaN). */
export function jsonWithNulls(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    (_key, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    indent,
  );
}

/** Parsed JSON with every null read back as NaN (the inverse of {@linkcode jsonWithNulls} for numbers). */
export function nullsToNaN(value: unknown): unknown {
  if (value === null) return NaN;
  if (Array.isArray(value)) return value.map(nullsToNaN);
  if (typeof value === "object") {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, nullsToNaN(v)]));
  }
  return value;
}

/** Modification time of `path` in milliseconds, or null when it does not exist. */
export async function modifiedTime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? null;
  } catch {
    return null;
  }
}

/** The entries of a directory sorted by name (none when it does not exist). */
export async function listDirectory(path: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(path)) entries.push(entry);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
