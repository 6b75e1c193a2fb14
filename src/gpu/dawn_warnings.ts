/**
 * Dawn's two known start-up warnings, kept out of every command's output.
 *
 * On Vulkan drivers that report unbounded dynamic buffers (lavapipe reports 1,000,000), Dawn prints
 * at its first adapter request, from native code straight to file descriptor 2:
 *
 *     Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
 *     Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
 *
 * No requested limit or Dawn toggle avoids them (they come from enumerating the physical device,
 * before any limit is requested), and zsl uses no dynamic offsets. So, on Linux, file descriptor 2 is
 * pointed at an in-memory file (`memfd_create`) while Dawn enumerates adapters, then restored; what
 * was written meanwhile is written to stderr again, in order, without the lines that match
 * {@linkcode KNOWN_DAWN_WARNINGS} exactly. Everything else (the Vulkan loader's warnings, Mesa's,
 * Dawn's other messages, zsl's own) still comes through. Elsewhere, or without `--allow-ffi` for glibc
 * ({@linkcode LIBC_PATHS}), nothing is filtered.
 *
 * @module
 */

/** The lines filtered, each matched as a whole line. */
export const KNOWN_DAWN_WARNINGS: readonly RegExp[] = [
  /^Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
  /^Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
];

const LIBC_SYMBOLS = {
  dup: { parameters: ["i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/**
 * Where glibc lies on the Linux systems zsl runs on. FFI is granted per library path (deno.json's tasks
 * list these), so the library is opened by its absolute path.
 */
export const LIBC_PATHS: readonly string[] = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
];

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** glibc's functions through FFI, or null where that is not possible (not Linux, no --allow-ffi). */
function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: "ZSL_DAWN_WARNINGS" }).state;
    if (env === "granted" && Deno.env.get("ZSL_DAWN_WARNINGS") === "all") return libc;
    const path = LIBC_PATHS.find((candidate) =>
      Deno.permissions.querySync({ name: "ffi", path: candidate }).state === "granted" &&
      exists(candidate)
    );
    if (path === undefined) return libc;
    libc = Deno.dlopen(path, LIBC_SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/** `text` without the lines that are known Dawn warnings (line ends kept as they were). */
export function withoutKnownDawnWarnings(text: string): string {
  return text.split(/(?<=\n)/).filter((line) => {
    const bare = line.replace(/\r?\n$/, "");
    return !KNOWN_DAWN_WARNINGS.some((pattern) => pattern.test(bare));
  }).join("");
}

const STDERR = 2;
const SEEK_SET = 0;

/** Everything written to the in-memory file `fd`, from its start. */
function readAll(c: Libc, fd: number): Uint8Array {
  if (c.lseek(fd, 0n, SEEK_SET) !== 0n) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  const chunk = new Uint8Array(1 << 16);
  for (;;) {
    const count = Number(c.read(fd, chunk, BigInt(chunk.length)));
    if (count <= 0) break;
    chunks.push(chunk.slice(0, count));
  }
  const all = new Uint8Array(chunks.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of chunks) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

// One capture at a time: overlapping captures would restore each other's descriptors.
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` with file descriptor 2 captured, then writes what was captured to stderr without
 * the known Dawn warnings. Runs `work` as is where capturing is not possible.
 */
export function filterKnownDawnWarnings<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(() => captured(work), () => captured(work));
  queue = run.catch(() => {});
  return run;
}

async function captured<T>(work: () => Promise<T>): Promise<T> {
  const c = openLibc();
  if (!c) return await work();
  const saved = c.dup(STDERR);
  const memory = saved < 0 ? -1 : c.memfd_create(new TextEncoder().encode("zsl-dawn-stderr\0"), 0);
  if (memory < 0 || c.dup2(memory, STDERR) < 0) {
    if (memory >= 0) c.close(memory);
    if (saved >= 0) c.close(saved);
    return await work();
  }
  try {
    return await work();
  } finally {
    c.dup2(saved, STDERR);
    c.close(saved);
    const text = new TextDecoder().decode(readAll(c, memory));
    c.close(memory);
    const kept = withoutKnownDawnWarnings(text);
    const bytes = new TextEncoder().encode(kept);
    for (let written = 0; written < bytes.length;) written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}
