/**
 * Loss interference (docs/method.md#loss-interference): how the per-token loss changes between two models add up.
 *
 * For N tokens with changes Δℓ_i = ℓ_i(after) − ℓ_i(before):
 *
 *     D = 1 − |Σ Δℓ_i| / Σ |Δℓ_i|     (0: every change has the same sign; → 1: they cancel)
 *     M = Σ |Δℓ_i| / N                 (mean magnitude of the changes)
 *     ΔL = Σ Δℓ_i / N                  (the signed change of the mean loss; |ΔL| = M·(1 − D))
 *
 * Sums run in float64 in index order with Neumaier compensation, so a result does not depend on how
 * the tokens were batched and is exact to a few ulps of float64 even for millions of tokens.
 *
 * @module
 */
import { StableSum } from "../../util/stable_sum.ts";

/** D, M and ΔL of one set of tokens. */
export interface Interference {
  /** Destructive interference 1 − |Σ Δℓ| / Σ |Δℓ| (NaN with `reason` when undefined). */
  D: number;
  /** Mean absolute change Σ |Δℓ| / n (NaN when n = 0). */
  M: number;
  /** Signed mean change Σ Δℓ / n (negative: the mean loss fell). */
  deltaL: number;
  /** Tokens counted. */
  n: number;
  /** Why D (or everything) is NaN: no tokens, all changes zero, or a non-finite loss. */
  reason?: string;
}

/** The result of {@linkcode lossInterference}: the totals, and per group when labels were given. */
export interface InterferenceResult extends Interference {
  /** Per group label, in order of first appearance (only with `groups`). */
  groups?: Map<number | string, Interference>;
}

/** Relative tolerance of the identity |ΔL| = M·(1 − D), checked on every result. */
export const IDENTITY_TOLERANCE = 1e-9;

/** Running sums of one group: Σ Δℓ, Σ |Δℓ|, n, and the first non-finite change met. */
class Accumulator {
  signed = new StableSum();
  absolute = new StableSum();
  n = 0;
  bad: string | null = null;

  add(change: number, index: number): void {
    this.n++;
    if (!Number.isFinite(change)) {
      this.bad ??= `the loss change at token ${index} is ${change} (a non-finite loss)`;
      return;
    }
    this.signed.add(change);
    this.absolute.add(Math.abs(change));
  }

  result(): Interference {
    return interferenceFromSums(this.signed.value, this.absolute.value, this.n, this.bad ?? undefined);
  }
}

/**
 * D, M and ΔL from the sums S = Σ Δℓ and A = Σ |Δℓ| over n tokens. Checks |ΔL| = M·(1 − D) to
 * {@linkcode IDENTITY_TOLERANCE}. With n = 0, or A = 0 (every change zero: D is 0/0), or a
 * non-finite loss (`nonFinite`), the undefined values are NaN and `reason` says why.
 */
export function interferenceFromSums(
  signed: number,
  absolute: number,
  n: number,
  nonFinite?: string,
): Interference {
  if (n === 0) return { D: NaN, M: NaN, deltaL: NaN, n, reason: "no tokens" };
  if (nonFinite) return { D: NaN, M: NaN, deltaL: NaN, n, reason: nonFinite };
  const M = absolute / n;
  const deltaL = signed / n;
  if (absolute === 0) {
    return { D: NaN, M, deltaL, n, reason: "every loss change is zero, so D = 1 − 0/0 is undefined" };
  }
  // |S| ≤ A holds exactly for exact sums; rounding can push it past by an ulp.
  const D = Math.max(0, 1 - Math.abs(signed) / absolute);
  const identity = M * (1 - D);
  if (Math.abs(Math.abs(deltaL) - identity) > IDENTITY_TOLERANCE * Math.max(M, Number.MIN_VALUE)) {
    throw new Error(
      `zsl: loss interference identity violated: |ΔL| = ${Math.abs(deltaL)} but M·(1 − D) = ${identity} ` +
        `(D ${D}, M ${M}, n ${n}); this is a bug`,
    );
  }
  return { D, M, deltaL, n };
}

/**
 * Loss interference between two equal-length arrays of per-token losses (`before[i]` and
 * `after[i]` are the same token), and per group when `groups[i]` labels each token (a Brown genre,
 * a document id…). Group results weighted by their n add back up to the totals: ΔL = Σ n_g·ΔL_g / n
 * and M = Σ n_g·M_g / n.
 *
 * @example
 * ```ts
 * import { lossInterference } from "./mod.ts";
 * const { D, M, deltaL } = lossInterference([2, 2, 2, 2], [1, 3, 1.5, 2.5]); // D = 1, M = 0.75, ΔL = 0
 * ```
 */
export function lossInterference(
  before: ArrayLike<number>,
  after: ArrayLike<number>,
  groups?: ArrayLike<number | string>,
): InterferenceResult {
  if (before.length !== after.length) {
    throw new Error(
      `zsl: loss interference needs the same tokens before and after, got ${before.length} and ${after.length} ` +
        `losses: evaluate both models on the same token set`,
    );
  }
  if (groups && groups.length !== before.length) {
    throw new Error(
      `zsl: ${groups.length} group labels for ${before.length} tokens: give one label per token`,
    );
  }
  const total = new Accumulator();
  const perGroup = groups ? new Map<number | string, Accumulator>() : null;
  for (let i = 0; i < before.length; i++) {
    const change = after[i] - before[i];
    total.add(change, i);
    if (perGroup) {
      const label = groups![i];
      let accumulator = perGroup.get(label);
      if (!accumulator) perGroup.set(label, accumulator = new Accumulator());
      accumulator.add(change, i);
    }
  }
  const result: InterferenceResult = total.result();
  if (perGroup) {
    result.groups = new Map([...perGroup].map(([label, accumulator]) => [label, accumulator.result()]));
  }
  return result;
}

/** Mean and standard deviation (sample, n − 1; 0 for one value) of the finite values; NaN when none. */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number; count: number } {
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite.push(values[i]);
  if (finite.length === 0) return { mean: NaN, std: NaN, count: 0 };
  const sum = new StableSum();
  for (const value of finite) sum.add(value);
  const mean = sum.value / finite.length;
  if (finite.length === 1) return { mean, std: 0, count: 1 };
  const squares = new StableSum();
  for (const value of finite) squares.add((value - mean) ** 2);
  return { mean, std: Math.sqrt(squares.value / (finite.length - 1)), count: finite.length };
}
