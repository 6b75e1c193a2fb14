/**
 * Compensated float64 sums: the result does not depend on how values were batched, only on their order,
 * and is exact to a few ulps even over millions of values.
 *
 * @module
 */

/**
 * A float64 sum with Neumaier's compensation, in the order values are added.
 *
 * @example
 * ```ts
 * import { StableSum } from "./stable_sum.ts";
 * const sum = new StableSum();
 * for (const value of [1e16, 1, -1e16]) sum.add(value);
 * sum.value; // 1 (a plain float64 sum gives 0)
 * ```
 */
export class StableSum {
  #sum = 0;
  #compensation = 0;

  /** Adds `value`. */
  add(value: number): void {
    const t = this.#sum + value;
    if (Math.abs(this.#sum) >= Math.abs(value)) this.#compensation += (this.#sum - t) + value;
    else this.#compensation += (value - t) + this.#sum;
    this.#sum = t;
  }

  /** The compensated sum. */
  get value(): number {
    return this.#sum + this.#compensation;
  }
}
