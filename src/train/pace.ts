/**
 * When the GPU will finish a training step, from how long the recent ones took: the trainer defers
 * Dawn's polling of a step's readback to shortly before then (src/gpu/ticks.ts), so that the wait
 * wakes the main thread a few times rather than about ten, each wake-up costing lavapipe's workers
 * 100–160 µs of CPU on 2 cores.
 *
 * @module
 */

/** How many recent step durations the estimate looks at (their median). */
const RECENT = 9;

/** Fewer durations than this and there is no estimate (the first steps compile pipelines). */
const MIN_SAMPLES = 3;

/**
 * The pace of the steps the GPU runs in order: each starts when the previous one is done, or when it
 * was submitted if that was later, and takes about as long as the recent ones.
 *
 * @example
 * ```ts
 * const pace = new StepPace();
 * for (const [submitted, done] of [[0, 30], [5, 60], [35, 90], [65, 121]]) {
 *   pace.expectedDone(submitted); // null until three steps were timed
 *   pace.record(submitted, done);
 * }
 * pace.expectedDone(95); // 121 + 30: the previous step's end plus the median duration
 * ```
 */
export class StepPace {
  readonly #durations = new Float64Array(RECENT);
  readonly #sorted = new Float64Array(RECENT);
  #count = 0;
  #lastDone = -Infinity;

  /** When a step submitted at `submittedAt` should be done (`performance.now()` time), or null. */
  expectedDone(submittedAt: number): number | null {
    if (this.#count < MIN_SAMPLES) return null;
    return Math.max(submittedAt, this.#lastDone) + this.medianDuration();
  }

  /** Median of the recent step durations in ms (NaN before any). */
  medianDuration(): number {
    const n = Math.min(this.#count, RECENT);
    if (n === 0) return NaN;
    const sorted = this.#sorted.subarray(0, n);
    sorted.set(this.#durations.subarray(0, n));
    sorted.sort();
    return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** Records a step submitted at `submittedAt` and seen done at `doneAt`. */
  record(submittedAt: number, doneAt: number): void {
    const start = Math.max(submittedAt, this.#lastDone);
    this.#durations[this.#count % RECENT] = Math.max(0, doneAt - start);
    this.#count++;
    this.#lastDone = doneAt;
  }
}
