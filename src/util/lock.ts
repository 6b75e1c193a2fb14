/**
 * One writer per directory: an exclusive OS file lock (`flock` through `Deno.FsFile.tryLock`) on
 * `DIR/.zsl.lock`, held for as long as the writer runs. The operating system releases it when the
 * process ends, however it ends (kill -9 included), so a stale lock never blocks anyone. A second
 * writer refuses at once, naming the holder's pid, before it reads or changes anything else in the
 * directory.
 *
 * @example
 * ```ts
 * import { lockDirectory } from "./lock.ts";
 * const lock = await lockDirectory("runs/a", "run directory", "choose another --out");
 * try {
 *   // … write into runs/a …
 * } finally {
 *   lock.release();
 * }
 * ```
 *
 * @module
 */
import { join } from "./path.ts";

/** The lock file's name inside the locked directory. */
export const LOCK_FILE = ".zsl.lock";

/** Who holds a lock (what the holder writes into the lock file). */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder, when it could be read. */
  host?: string;
  /** ISO time the holder took the lock. */
  since: string;
}

/** A held lock: release it when done (the OS releases it anyway when the process ends). */
export interface DirectoryLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock (idempotent). The lock file stays: deleting it would race with a new writer. */
  release(): void;
}

/** A directory already locked by another process. */
export class LockedError extends Error {
  /** The holder, as its lock file says (null when it could not be read). */
  readonly holder: LockHolder | null;
  /** `message` names the directory, the holder and the fix. */
  constructor(message: string, holder: LockHolder | null) {
    super(message);
    this.name = "LockedError";
    this.holder = holder;
  }
}

function hostName(): string | undefined {
  // Only when granted: asking would prompt in a terminal, and the pid alone names the holder.
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") return undefined;
  return Deno.hostname();
}

async function readHolder(path: string): Promise<LockHolder | null> {
  // The holder writes its pid right after taking the lock; give it a moment when the file is still empty.
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const holder = JSON.parse(await Deno.readTextFile(path));
      if (typeof holder?.pid === "number") return holder as LockHolder;
    } catch {
      // Empty or half-written: try again.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return null;
}

/** Options of {@linkcode lockDirectory}. */
export interface LockOptions {
  /** A shared lock: any number of shared holders at once, but none beside an exclusive one. */
  shared?: boolean;
}

/**
 * Takes the exclusive (or shared) lock of `directory` (which must exist), or throws a
 * {@linkcode LockedError} at once when another process holds it in a conflicting way. `what` names
 * the directory in the message ("run directory", "sweep directory"), `fix` says what to do instead.
 */
export async function lockDirectory(
  directory: string,
  what: string,
  fix: string,
  options: LockOptions = {},
): Promise<DirectoryLock> {
  const path = join(directory, LOCK_FILE);
  let file: Deno.FsFile;
  try {
    // No truncate: the file may hold the current holder's pid, which a refused writer reports.
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (error) {
    throw new Error(`zsl: cannot open the lock file ${path}: ${(error as Error).message}`);
  }
  if (!(await file.tryLock(!options.shared))) {
    file.close();
    const holder = await readHolder(path);
    const who = holder
      ? `pid ${holder.pid}${holder.host ? ` on ${holder.host}` : ""}, since ${holder.since}`
      : "a process that has not written its pid yet";
    throw new LockedError(
      `zsl: the ${what} ${directory} is in use by another zsl process (${who}): ` +
        `wait for it to end or stop it, or ${fix}`,
      holder,
    );
  }
  const holder: LockHolder = { pid: Deno.pid, host: hostName(), since: new Date().toISOString() };
  await file.truncate(0);
  await file.write(new TextEncoder().encode(JSON.stringify(holder) + "\n"));
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
