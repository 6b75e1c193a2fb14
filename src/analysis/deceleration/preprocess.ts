/**
 * The paper's preprocessing of a raw per-step training-loss curve (docs/method.md#preprocessing): a log moving
 * average over the row index, a log-spaced subsample of the steps, and the cut of the first
 * transient steps.
 *
 * @module
 */

/** The paper's moving-average base: row j averages rows floor(j / 1.2) … j (about the last 1/6). */
export const LOG_MOVING_AVERAGE_BASE = 1.2;

/** The paper's coarsest subsampling period: 10^3 steps. */
export const MAX_SUBSAMPLE_EXPONENT = 3;

/** The paper's first transient (Kaplan et al. 2020), for runs of 262,144 steps. */
export const PAPER_MIN_STEP = 100;

/** The paper's run length (steps). */
export const PAPER_RUN_STEPS = 262_144;

/**
 * Log moving average over the row index: `s[j] = mean(x[floor(j/base) .. j])`, both ends included.
 * The window grows with j (the last ~1/6 of the rows for base 1.2), so early rows are barely
 * smoothed and late rows, whose loss changes slowly, are smoothed over thousands of steps.
 */
export function logMovingAverage(values: ArrayLike<number>, base = LOG_MOVING_AVERAGE_BASE): Float64Array {
  if (!(base > 1)) throw new Error(`zsl: log moving average base must be > 1, got ${base}`);
  const n = values.length;
  // Prefix sums in float64: for 262k rows of losses ≈ 3–10 the rounding error is ~1e-11 relative.
  const prefix = new Float64Array(n + 1);
  for (let j = 0; j < n; j++) prefix[j + 1] = prefix[j] + values[j];
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const start = Math.floor(j / base);
    out[j] = (prefix[j + 1] - prefix[start]) / (j + 1 - start);
  }
  return out;
}

/** The first row of the log moving-average window of row `j`. */
export function movingAverageWindowStart(j: number, base = LOG_MOVING_AVERAGE_BASE): number {
  return Math.floor(j / base);
}

/** floor(log10(s)) for s > 0, exact at powers of ten. */
function decimalExponent(step: number): number {
  let exponent = Math.floor(Math.log10(step));
  if (10 ** (exponent + 1) <= step) exponent += 1;
  else if (10 ** exponent > step) exponent -= 1;
  return exponent;
}

/**
 * Whether `step` is on the paper's log grid: `step % 10^min(floor(log10 step) − 1, 3) == 0`, i.e.
 * every step below 100, every 10th below 1000, every 100th below 10^4, every 1000th after.
 * Steps ≤ 0 are never on it (they have no place on a log axis). Below 10 the period would be
 * 10^-1: every integer step is kept (the authors' float `%` drops steps 1–9 by rounding, which is
 * why their published curves start at step 10; it does not change the fit, which starts later).
 */
export function onLogGrid(step: number, maxExponent = MAX_SUBSAMPLE_EXPONENT): boolean {
  if (!(step > 0) || !Number.isInteger(step)) return false;
  const exponent = Math.max(0, Math.min(decimalExponent(step) - 1, maxExponent));
  return step % 10 ** exponent === 0;
}

/** Indices of the rows kept by the log-grid subsample: the rows on the grid plus the last row. */
export function logGridIndices(steps: ArrayLike<number>, maxExponent = MAX_SUBSAMPLE_EXPONENT): number[] {
  const kept: number[] = [];
  for (let i = 0; i < steps.length; i++) if (onLogGrid(steps[i], maxExponent)) kept.push(i);
  // The authors append the last row unconditionally; when it is already on the grid that would
  // duplicate it, so it is added only once here.
  const last = steps.length - 1;
  if (last >= 0 && kept[kept.length - 1] !== last && steps[last] > 0) kept.push(last);
  return kept;
}

/**
 * The default `minStep` (first transient cut): the paper's 100 steps for runs of 262,144 steps or
 * more; for shorter runs the same fraction of the log-step axis, `T^(ln 100 / ln 262144)`
 * (≈ T^0.369: 70 steps for T = 100k, 39 for 20k, 23 for 5k, 13 for 1k), at least 1.
 */
export function defaultMinStep(lastStep: number): number {
  if (!(lastStep > 1)) return 1;
  if (lastStep >= PAPER_RUN_STEPS) return PAPER_MIN_STEP;
  const exponent = Math.log(PAPER_MIN_STEP) / Math.log(PAPER_RUN_STEPS);
  return Math.max(1, Math.round(lastStep ** exponent));
}

/** A loss curve after preprocessing. */
export interface PreprocessedCurve {
  /** Every subsampled step (the points plotted), increasing. */
  steps: Float64Array;
  /** The smoothed loss at those steps. */
  losses: Float64Array;
  /** For each point, whether it is fitted (step > minStep). */
  fitted: boolean[];
}

/**
 * Smooths (`logMovingAverage`) then subsamples (`logGridIndices`) a raw per-step curve, and marks
 * the points with step > `minStep` as fitted. Inputs must already be validated (sorted, finite).
 */
export function preprocessLossCurve(
  steps: ArrayLike<number>,
  losses: ArrayLike<number>,
  minStep: number,
): PreprocessedCurve {
  const smoothed = logMovingAverage(losses);
  const indices = logGridIndices(steps);
  const outSteps = new Float64Array(indices.length);
  const outLosses = new Float64Array(indices.length);
  const fitted: boolean[] = [];
  indices.forEach((row, k) => {
    outSteps[k] = steps[row];
    outLosses[k] = smoothed[row];
    fitted.push(steps[row] > minStep);
  });
  return { steps: outSteps, losses: outLosses, fitted };
}
