/**
 * One CPU for each of lavapipe's compute workers, during training.
 *
 * lavapipe splits every dispatch over its worker threads (one per CPU) and waits for all of them. When
 * the main thread sleeps and wakes once a training step (a readback, then the next step's recording),
 * Linux's wake-up placement often queues both workers on one vCPU while the other idles. Measured on a
 * 2-core VM (cpu-s, batch 16; per step, summed over the two workers; `/proc/self/task/<tid>/schedstat`):
 * waiting in the run queue 12–21 ms with the machine 21–33% idle, against 2–4 ms when every step is
 * submitted at once, and steps of 35–41 ms instead of 28–30. With each worker pinned to its own CPU the
 * same loop waited 2–3 ms and ran at the batched speed.
 *
 * The workers carry no name of their own, so they are found by what they do: the threads, other than
 * the main one, that ran most between {@linkcode WorkerPinning.start} and {@linkcode WorkerPinning.pin}.
 * Linux only, with `--allow-ffi` for glibc ({@linkcode LIBC_PATHS}); elsewhere nothing happens.
 *
 * @module
 */
import { LIBC_PATHS } from "./dawn_warnings.ts";

const LIBC_SYMBOLS = {
  sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  // Deno refuses to read /proc/self without --allow-all: the thread list comes through glibc.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Bytes of the CPU masks passed to the kernel (1,024 CPUs). */
const MASK_BYTES = 128;

/** A thread is a worker if it ran at least this fraction of the busiest one (lavapipe balances them). */
const WORKER_SHARE = 0.25;

const O_RDONLY_DIRECTORY = 0o200000;

let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    const path = LIBC_PATHS.find((candidate) =>
      Deno.permissions.querySync({ name: "ffi", path: candidate }).state === "granted" &&
      Deno.statSync(candidate).isFile
    );
    if (path !== undefined) libc = Deno.dlopen(path, LIBC_SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/** Whether `ZSL_PIN_WORKERS=0` is set (read only where the variable may be read). */
function pinningTurnedOff(): boolean {
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: "ZSL_PIN_WORKERS" }).state;
    return env === "granted" && Deno.env.get("ZSL_PIN_WORKERS") === "0";
  } catch {
    return false;
  }
}

/** The ids of this process's threads but the main one (the entries of /proc/self/task). */
function threadIds(c: Libc): number[] {
  const fd = c.open(new TextEncoder().encode("/proc/self/task\0"), O_RDONLY_DIRECTORY);
  if (fd < 0) return [];
  const ids: number[] = [];
  const buffer = new Uint8Array(1 << 15);
  const view = new DataView(buffer.buffer);
  try {
    for (;;) {
      const length = Number(c.getdents64(fd, buffer, BigInt(buffer.length)));
      if (length <= 0) break;
      // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, char name[].
      for (let offset = 0; offset < length; offset += view.getUint16(offset + 16, true)) {
        let end = offset + 19;
        while (buffer[end] !== 0) end++;
        const id = Number(new TextDecoder().decode(buffer.subarray(offset + 19, end)));
        if (Number.isInteger(id) && id > 0 && id !== Deno.pid) ids.push(id);
      }
    }
  } finally {
    c.close(fd);
  }
  return ids;
}

/** CPU time (ns) of each thread of this process but the main one, by thread id. */
function threadRunTimes(c: Libc): Map<number, number> {
  const times = new Map<number, number>();
  const timespec = new BigInt64Array(2);
  for (const id of threadIds(c)) {
    // The kernel's CPU clock of thread `id`: MAKE_THREAD_CPUCLOCK(id, CPUCLOCK_SCHED).
    const clock = (~id << 3) | 6;
    if (c.clock_gettime(clock, timespec) === 0) {
      times.set(id, Number(timespec[0]) * 1e9 + Number(timespec[1]));
    }
  }
  return times;
}

/**
 * Finds lavapipe's busiest worker threads and pins each to its own CPU.
 *
 * @example
 * ```ts
 * import { WorkerPinning } from "./affinity.ts";
 * const pinning = WorkerPinning.create();
 * pinning?.start(); // after the first steps (pipeline compilation) …
 * // … a few steps later:
 * pinning?.pin();
 * ```
 */
export class WorkerPinning {
  readonly #libc: Libc;
  #before: Map<number, number> | null = null;

  private constructor(libc: Libc) {
    this.#libc = libc;
  }

  /**
   * A pinning, or null where threads cannot be listed or pinned (not Linux, no FFI to glibc) or where
   * `ZSL_PIN_WORKERS=0` turns it off (a machine whose other work should be free to share the CPUs).
   */
  static create(): WorkerPinning | null {
    if (pinningTurnedOff()) return null;
    const c = openLibc();
    return c ? new WorkerPinning(c) : null;
  }

  /** Starts the window in which the workers are recognised by the CPU time they take. */
  start(): void {
    try {
      this.#before = threadRunTimes(this.#libc);
    } catch {
      this.#before = null; // no pinning: it only ever speeds things up
    }
  }

  /**
   * Pins the threads that ran most since `start`, one per CPU this process may use (at most as
   * many as there are CPUs; none unless there are two such threads). Returns the ids pinned.
   */
  pin(): number[] {
    if (!this.#before) return [];
    const before = this.#before;
    this.#before = null;
    let now: Map<number, number>;
    try {
      now = threadRunTimes(this.#libc);
    } catch {
      return [];
    }
    const ran = [...now]
      .map(([tid, time]) => ({ tid, time: time - (before.get(tid) ?? time) }))
      .sort((a, b) => b.time - a.time);
    const cpus = this.#allowedCpus();
    const busiest = ran[0]?.time ?? 0;
    const workers = ran.filter(({ time }) => busiest > 0 && time >= WORKER_SHARE * busiest)
      .slice(0, cpus.length);
    if (workers.length < 2) return [];
    const pinned: number[] = [];
    workers.forEach(({ tid }, index) => {
      const mask = new Uint8Array(MASK_BYTES);
      const cpu = cpus[index];
      mask[cpu >> 3] |= 1 << (cpu & 7);
      if (this.#libc.sched_setaffinity(tid, BigInt(MASK_BYTES), mask) === 0) pinned.push(tid);
    });
    return pinned;
  }

  /** The CPUs this process may run on, in order. */
  #allowedCpus(): number[] {
    const mask = new Uint8Array(MASK_BYTES);
    if (this.#libc.sched_getaffinity(0, BigInt(MASK_BYTES), mask) !== 0) return [];
    const cpus: number[] = [];
    for (let cpu = 0; cpu < MASK_BYTES * 8; cpu++) {
      if (mask[cpu >> 3] & (1 << (cpu & 7))) cpus.push(cpu);
    }
    return cpus;
  }
}
