/**
 * Throttling of the event-loop ticks that drive Dawn's asynchronous work.
 *
 * dawn.node (`npm:webgpu`) completes `mapAsync`, `createComputePipelineAsync` and
 * `onSubmittedWorkDone` by rescheduling a tick with the global `setImmediate` for as long as any of
 * them is pending, and every tick creates a new N-API function for its callback. Left alone, a wait
 * of milliseconds runs about 10⁵ ticks a second: the spinning takes a CPU core from the software
 * rasteriser, and the functions pile up. When a collection frees them, Deno's main thread runs, per
 * freed object, a linear search and a removal in one vector of 48-byte entries (read off the
 * disassembly under `perf`: by its shape the release of N-API references), quadratic in their
 * number: on Deno 2.9 that `memmove` took 30% of a training run's CPU, and single steps stalled for
 * 5–240 s, longer the more the machine was loaded. With the throttle below: 0.3%, and no stall.
 *
 * Each tick still wakes the main thread, and on a 2-core VM a wake-up with Dawn's event processing
 * costs 100–160 µs of CPU taken from lavapipe's workers (about 9 ticks, 1.4 ms, a cpu-s training
 * step). A caller that knows when the work it waits for will be done says so with
 * {@linkcode deferTicksUntil}: the ticks before then become one timer.
 *
 * @module
 */

const PATCHED = Symbol.for("zsl.throttledImmediates");
// Shared through the global object, so that every copy of this module (imported by different URLs)
// steers the one throttle that is installed.
const DEFERRAL = Symbol.for("zsl.throttledImmediates.notBefore");

type Callback = (...args: unknown[]) => void;
type ImmediateGlobals = {
  setImmediate?: (callback: Callback, ...args: unknown[]) => unknown;
  clearImmediate?: (handle: unknown) => void;
  [PATCHED]?: boolean;
  [DEFERRAL]?: { notBefore: number };
};

function deferral(globals: ImmediateGlobals): { notBefore: number } {
  return (globals[DEFERRAL] ??= { notBefore: -Infinity });
}

/**
 * Defers the ticks that would run before `time` (a `performance.now()` value, at most 10 s ahead) to
 * `time`: for a wait whose end is known roughly, such as the readback of a training step queued
 * behind another of known duration. The tick due then finds the work done or goes on with the
 * rest of the wait's schedule (timers, no burst). Without the throttle installed it has no effect.
 *
 * @example
 * ```ts
 * import { deferTicksUntil } from "./ticks.ts";
 * declare const staging: GPUBuffer, expectedMs: number;
 * deferTicksUntil(performance.now() + 0.8 * expectedMs); // the GPU needs about expectedMs more
 * await staging.mapAsync(0x0001);
 * ```
 */
export function deferTicksUntil(time: number): void {
  deferral(globalThis as unknown as ImmediateGlobals).notBefore = Math.min(time, performance.now() + 10_000);
}

/**
 * Replaces the global `setImmediate` (the one Dawn's tick uses) by one that runs the first
 * `burstTicks` immediates of a wait at once and defers each later one by a timer whose delay grows
 * with the wait (a sixteenth of its time so far, from 1 ms up to `maxDelayMs`): a short wait keeps its
 * latency, a long one adds at most about 6% or `maxDelayMs` to it, and a wait of W ms runs tens of
 * ticks rather than 100·W. A wait ends when no immediate was scheduled or run for `gapMs`. Ticks
 * due before a time set by {@linkcode deferTicksUntil} run at that time instead, without a burst.
 * Idempotent; `clearImmediate` accepts both kinds of handle.
 */
export function throttleImmediates(burstTicks = 4, maxDelayMs = 4, gapMs = 20): void {
  const globals = globalThis as unknown as ImmediateGlobals;
  const immediate = globals.setImmediate;
  const clear = globals.clearImmediate;
  if (globals[PATCHED] || typeof immediate !== "function") return;
  const deferred = deferral(globals);
  let waitStart = -Infinity;
  let ticks = 0;
  // Last time an immediate was scheduled or ran: a deferred tick that runs late is still the
  // same wait.
  let last = -Infinity;
  globals.setImmediate = (callback: Callback, ...args: unknown[]) => {
    const now = performance.now();
    if (now < deferred.notBefore) {
      // One timer stands in for the wait's burst; the ticks after it follow the schedule of the
      // wait so far (its start kept), since the work is known to be nearly done.
      if (now - last > gapMs) waitStart = now;
      ticks = Math.max(ticks, burstTicks);
      last = deferred.notBefore;
      const runLater = () => {
        last = performance.now();
        callback(...args);
      };
      return { zslTimer: setTimeout(runLater, deferred.notBefore - now) };
    }
    if (now - last > gapMs) {
      waitStart = now;
      ticks = 0;
    }
    last = now;
    ticks++;
    if (ticks <= burstTicks) return immediate(callback, ...args);
    const run = () => {
      last = performance.now();
      callback(...args);
    };
    const delay = Math.min(maxDelayMs, Math.max(1, (now - waitStart) / 16));
    return { zslTimer: setTimeout(run, delay) };
  };
  globals.clearImmediate = (handle: unknown) => {
    if (handle !== null && typeof handle === "object" && "zslTimer" in handle) {
      clearTimeout((handle as { zslTimer: number }).zslTimer);
    } else {
      clear?.(handle);
    }
  };
  globals[PATCHED] = true;
}
