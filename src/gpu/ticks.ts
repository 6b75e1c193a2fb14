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
 * @module
 */

const PATCHED = Symbol.for("zsl.throttledImmediates");

type Callback = (...args: unknown[]) => void;
type ImmediateGlobals = {
  setImmediate?: (callback: Callback, ...args: unknown[]) => unknown;
  clearImmediate?: (handle: unknown) => void;
  [PATCHED]?: boolean;
};

/**
 * Replaces the global `setImmediate` (the one Dawn's tick uses) by one that runs the first
 * `burstTicks` immediates of a wait at once and defers each later one by a timer whose delay grows
 * with the wait (a sixteenth of its time so far, from 1 ms up to `maxDelayMs`): a short wait keeps its
 * latency, a long one adds at most about 6% or `maxDelayMs` to it, and a wait of W ms runs tens of
 * ticks rather than 100·W. A wait ends when no immediate was scheduled or run for `gapMs`.
 * Idempotent; `clearImmediate` accepts both kinds of handle.
 */
export function throttleImmediates(burstTicks = 4, maxDelayMs = 4, gapMs = 20): void {
  const globals = globalThis as unknown as ImmediateGlobals;
  const immediate = globals.setImmediate;
  const clear = globals.clearImmediate;
  if (globals[PATCHED] || typeof immediate !== "function") return;
  let waitStart = -Infinity;
  let ticks = 0;
  // Last time an immediate was scheduled or ran: a deferred tick that runs late is still the
  // same wait.
  let last = -Infinity;
  globals.setImmediate = (callback: Callback, ...args: unknown[]) => {
    const now = performance.now();
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
