/**
 * Throttling of the event-loop ticks that drive Dawn's asynchronous work.
 *
 * dawn.node (`npm:webgpu`) completes `mapAsync`, `createComputePipelineAsync` and
 * `onSubmittedWorkDone` by rescheduling a tick with the global `setImmediate` for as long as any of
 * them is pending, and every tick allocates native-backed objects. A wait of seconds (a lavapipe
 * dispatch, a cold shader compile) thus runs about 10⁵ ticks a second: the spinning takes a CPU
 * core from the software rasteriser (waits ran 2–4× longer on 2 cores) and leaves garbage that is
 * slow to finalise (under `deno test`, whose collector runs rarely, one collection stalled a test
 * file for minutes).
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
 * Replaces the global `setImmediate` (the one Dawn's tick uses) by one that, once immediates have
 * kept the event loop busy for `burstMs`, defers each by a 1 ms timer instead: short waits keep
 * their latency, long ones poll at most about 1000 times a second. `gapMs` without an immediate
 * being scheduled or run ends the burst. Idempotent; `clearImmediate` accepts both kinds of handle.
 */
export function throttleImmediates(burstMs = 10, gapMs = 5): void {
  const globals = globalThis as unknown as ImmediateGlobals;
  const immediate = globals.setImmediate;
  const clear = globals.clearImmediate;
  if (globals[PATCHED] || typeof immediate !== "function") return;
  let burstStart = -Infinity;
  // Last time an immediate was scheduled or ran: a deferred tick that runs late is still the
  // same burst.
  let last = -Infinity;
  globals.setImmediate = (callback: Callback, ...args: unknown[]) => {
    const now = performance.now();
    if (now - last > gapMs) burstStart = now;
    last = now;
    if (now - burstStart < burstMs) return immediate(callback, ...args);
    const run = () => {
      last = performance.now();
      callback(...args);
    };
    return { zslTimer: setTimeout(run, 1) };
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
