import { assert, assertWithin } from "./asserts.ts";
import { deferTicksUntil, throttleImmediates } from "../src/gpu/ticks.ts";

type Immediate = (callback: () => void) => unknown;

/** Runs a self-rescheduling immediate (as Dawn's tick is) for `ms`; returns how many times it ran. */
function spin(ms: number): Promise<number> {
  const setImmediate = (globalThis as unknown as { setImmediate: Immediate }).setImmediate;
  const start = performance.now();
  let ticks = 0;
  return new Promise((resolve) => {
    const tick = () => {
      ticks++;
      if (performance.now() - start < ms) setImmediate(tick);
      else resolve(ticks);
    };
    setImmediate(tick);
  });
}

Deno.test("throttled immediates: a 200 ms wait runs tens of ticks, not 10⁴", async () => {
  throttleImmediates();
  throttleImmediates(); // idempotent: a second call must not stack another layer of delays
  // Unthrottled, Deno runs 10⁴–10⁵ immediates in 200 ms; each of Dawn's creates an N-API function, and
  // freeing 10⁵ of them stalled training for minutes (src/gpu/ticks.ts). Burst of 4, then delays of
  // 1 ms growing to 4 ms: about 70 ticks when the timers are on time, fewer under load.
  const ticks = await spin(200);
  assertWithin(ticks, 120, "ticks in a 200 ms wait");
  assert(ticks >= 5, `the first ticks of a wait run at once and the rest on timers: got ${ticks}`);
  // A new wait after a pause starts with its burst again: a short wait keeps its latency.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const start = performance.now();
  const short = await spin(0);
  assert(short === 1, `a wait that ends at once runs one tick, got ${short}`);
  assertWithin(performance.now() - start, 50, "ms for a one-tick wait after a pause");
});

Deno.test("throttled immediates: ticks before a deferral's time run once, at that time", async () => {
  throttleImmediates();
  const setImmediate = (globalThis as unknown as { setImmediate: Immediate }).setImmediate;
  await new Promise((resolve) => setTimeout(resolve, 50)); // a new wait
  const start = performance.now();
  deferTicksUntil(start + 60);
  const first = await new Promise<number>((resolve) => setImmediate(() => resolve(performance.now())));
  // Timers may fire a little early or late; never the 10⁴ immediates of 60 ms, nor a burst at once.
  assert(first - start >= 55, `the first tick ran ${(first - start).toFixed(1)} ms after a 60 ms deferral`);
  assertWithin(first - start, 200, "ms to the deferred tick");
  // After the deferred tick the wait goes on on timers (no burst), and a deferral in the past is none.
  const after = await spin(20);
  assertWithin(after, 25, "ticks in the 20 ms after a deferred tick");
  deferTicksUntil(performance.now() - 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const t0 = performance.now();
  assert((await spin(0)) === 1, "a wait that ends at once runs one tick");
  assertWithin(performance.now() - t0, 50, "ms for a one-tick wait after an expired deferral");
});
