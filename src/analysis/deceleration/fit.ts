/**
 * Loss deceleration: fits the one-break BNSL to a training-loss curve and derives the break
 * (t_d, L_d, r_d) and the predicted final loss (docs/method.md#loss-deceleration).
 *
 * Least squares: Levenberg–Marquardt from `ml-levenberg-marquardt` (analytic Jacobian) in chunks of
 * 50 iterations, each followed by Gauss–Newton steps with a line search (`gaussNewtonPolish`),
 * until the remaining Gauss–Newton step is < 1e-4 of every parameter's standard error. The library
 * alone has no convergence test and zigzags near the optimum (measured: it needs ~500 iterations,
 * 0.6–0.9 s, for 1e-4 σ on the paper's 14M curve; with the polish, one chunk). Several starts guard
 * against local optima. On the paper's curves this reaches the authors' trust-region optimum (scipy
 * `curve_fit`, dogbox) to ~1e-5 relative; the covariance is scipy's: pinv(JᵀJ) from the SVD of J
 * times SSE/(n − 5).
 *
 * @module
 */
import { levenbergMarquardt } from "npm:ml-levenberg-marquardt@5.1.0";
import { Matrix, SingularValueDecomposition } from "npm:ml-matrix@6.15.1";
import { bnslLogAt, bnslLogGradient, type ParameterVector } from "./bnsl.ts";
import { defaultMinStep, preprocessLossCurve } from "./preprocess.ts";
import { formatWithError } from "../../util/format.ts";

/** The paper's initial guess of the break (steps, at 0.5M tokens a step). */
export const PAPER_D1_GUESS = 6000;

/** The paper's initial sharpness f1⁰. */
export const INITIAL_F1 = 0.3;

/** Fewest fitted points accepted (5 parameters, and enough left over for a residual variance). */
export const MIN_FIT_POINTS = 10;

/** Options of `fitDeceleration`. */
export interface DecelerationOptions {
  /**
   * Apply the paper's preprocessing (log moving average, log-grid subsample) to raw per-step
   * losses first. Default true. With false the points are fitted as given (only `minStep` applies).
   */
  preprocess?: boolean;
  /**
   * Fit only steps > minStep (the first transient). Default: `defaultMinStep(last step)`: the
   * paper's 100 for runs of ≥ 262,144 steps, `T^0.369` (the same share of the log-step axis) for
   * shorter runs.
   */
  minStep?: number;
  /**
   * Initial guess of the break (steps). Default: the paper's 6000 when it lies in the middle
   * third of the fitted log-step range, else the middle of that range (geometric mean of the first
   * and last fitted steps).
   */
  d1Guess?: number;
  /**
   * Also start from breaks at 20, 35, 50, 65 and 80% of the log-step range (slopes from a line fit
   * on each side) and keep the lowest residual. Default true: guards against a local optimum
   * when the break is far from `d1Guess`. The paper's single start is the first of these starts.
   */
  multiStart?: boolean;
  /** Most Levenberg–Marquardt iterations per start. Default 5000. */
  maxIterations?: number;
  /**
   * Smallest relative change of slope, |c1|/c0, that counts as a break. Default 0.1: a curve
   * whose log-log slope changes by less than 10% is reported as not decelerating.
   */
  minSlopeChange?: number;
  /**
   * Largest ratio of the BNSL's squared log-residual to that of a single power law (a line in
   * log-log) that counts as a break. Default 0.5. The paper's curves give 0.02–0.03; pure power
   * laws with noise ≈ 0.7.
   */
  maxResidualRatio?: number;
  /**
   * The run's warmup in steps. A break that is otherwise identified but lies within 2× of the end of the
   * warmup (w/2 ≤ t_d ≤ 2w) is marked `atWarmupEnd` and not identified (docs/method.md#warmup-control).
   * Default none (0: no warmup).
   */
  warmup?: number;
  /**
   * The step at which the curve's x reaches a value, for the warmup rule when x is not the step (the
   * learning-rate area S of `fitLrArea`). Default: x is the step.
   */
  stepAt?: (x: number) => number;
  /** What x is, in the reasons: "steps" (default) or e.g. "S". */
  axis?: string;
  /** Names the input in error messages (a file name). */
  label?: string;
}

/** How far from the end of the warmup (a factor either way) a break is taken for the warmup's. */
export const WARMUP_END_FACTOR = 2;

/** Whether a break at step `tD` lies within {@linkcode WARMUP_END_FACTOR}× of the end of a warmup of `warmup` steps. */
export function atWarmupEnd(tD: number, warmup: number | undefined): boolean {
  return warmup !== undefined && warmup > 0 && tD >= warmup / WARMUP_END_FACTOR &&
    tD <= warmup * WARMUP_END_FACTOR;
}

/** ± one standard error of every parameter and derived quantity. */
export interface DecelerationErrors {
  /** σ of b: b·σ(log b). */
  b: number;
  /** σ of c0. */
  c0: number;
  /** σ of c1. */
  c1: number;
  /** σ of log d1. */
  logD1: number;
  /** Delta method: d1·σ(log d1). `tDRange` is the asymmetric interval exp(log d1 ∓ σ). */
  d1: number;
  /** σ of f1. */
  f1: number;
  /** σ of L_d, by the delta method through the covariance. */
  lossD: number;
  /** σ of r_d = c0 + c1, by the delta method (includes their covariance). */
  rateD: number;
  /** σ of L̂_T, by the delta method. */
  predictedFinalLoss: number;
}

/** A series of (step, loss) points. */
export interface LossSeries {
  /** Training steps, increasing. */
  steps: Float64Array;
  /** The loss at each step, same length as `steps`. */
  losses: Float64Array;
}

/** The fit of one loss curve. */
export interface DecelerationFit {
  /** BNSL parameters: L(t) = b·t^−c0·(1 + (t/d1)^(1/f1))^(−c1·f1). */
  b: number;
  /** Minus the log-log slope before the break. */
  c0: number;
  /** Change of the log-log slope at the break; negative when the loss decelerates. */
  c1: number;
  /** The break, in steps (= exp(logD1)). */
  d1: number;
  /** Natural log of the break step, the fitted parameter. */
  logD1: number;
  /** Width of the break in natural-log steps. */
  f1: number;
  /** ± one standard error of each parameter and derived quantity. */
  errors: DecelerationErrors;
  /** Covariance of [log b, c0, c1, log d1, f1]: (JᵀJ)⁻¹ times the residual variance. */
  covariance: number[][];
  /** The deceleration step t_d = d1. */
  tD: number;
  /** exp(log d1 − σ), exp(log d1 + σ). */
  tDRange: [number, number];
  /** Whether t_d lies within the fitted steps. */
  tDInRange: boolean;
  /** L_d = b·t_d^−c0: the pre-break line at t_d. */
  lossD: number;
  /** r_d = c0 + c1: minus the post-break log-log slope. */
  rateD: number;
  /** L̂_T = L_d·(t_d/T)^r_d at the last step T. */
  predictedFinalLoss: number;
  /** L_T: the (smoothed) loss at the last step T. */
  finalLoss: number;
  /** T: the last step. */
  finalStep: number;
  /** sqrt(mean((log L̂ − log L)²)) over the fitted points. */
  rsle: number;
  /** Number of fitted points. */
  nPoints: number;
  /** First and last fitted step. */
  fittedRange: [number, number];
  /** The minStep and d1Guess used. */
  minStep: number;
  /** The initial guess of the break (steps) of the paper's start. */
  d1Guess: number;
  /** Squared log-residual of the BNSL over that of a single power law fitted to the same points. */
  residualRatio: number;
  /** Whether a break that decelerates the loss is identified; when false `reasons` says why. */
  identified: boolean;
  /**
   * The break passes every other rule but lies within 2× of the end of the warmup (`options.warmup`):
   * a break at the warmup end, not identified as the deceleration.
   */
  atWarmupEnd: boolean;
  /** Why the break is not identified, one sentence each; empty when `identified`. */
  reasons: string[];
  /** Whether least squares converged, and its iterations (summed over starts). */
  converged: boolean;
  /** Levenberg–Marquardt iterations summed over all starts (the polish steps not counted). */
  iterations: number;
  /** Sum of squared log residuals. */
  sse: number;
  /** Every point (smoothed and subsampled when preprocessed) and whether it was fitted. */
  curve: LossSeries & { fitted: boolean[] };
  /** The BNSL on 200 log-spaced steps over the fitted range. */
  fitCurve: LossSeries;
  /** Pre-break line b·t^−c0 from the first fitted step to t_d. */
  preBreak: LossSeries;
  /** Post-break line L_d·(t/t_d)^−r_d from t_d to T. */
  postBreak: LossSeries;
}

function prefix(label: string | undefined): string {
  return label ? `zsl: ${label}: ` : "zsl: ";
}

/**
 * Checks the raw input: equal lengths, finite non-decreasing steps, finite positive losses. A step may
 * repeat (the authors' subsampling appends the last row even when it is already on the grid, and their
 * fits used both rows): least squares weighs such a point twice and needs nothing else.
 */
function validate(steps: ArrayLike<number>, losses: ArrayLike<number>, label?: string): void {
  const where = prefix(label);
  if (steps.length !== losses.length) {
    throw new Error(`${where}${steps.length} steps but ${losses.length} losses: give one loss per step`);
  }
  if (steps.length === 0) throw new Error(`${where}the loss curve is empty`);
  for (let i = 0; i < steps.length; i++) {
    if (!Number.isFinite(steps[i])) {
      throw new Error(`${where}step at row ${i} is ${steps[i]}: steps must be finite numbers`);
    }
    if (i > 0 && !(steps[i] >= steps[i - 1])) {
      throw new Error(
        `${where}steps must not decrease, but row ${i} has step ${steps[i]} after ${steps[i - 1]}: ` +
          `sort the rows by step`,
      );
    }
  }
  for (let i = 0; i < losses.length; i++) {
    if (!Number.isFinite(losses[i]) || !(losses[i] > 0)) {
      throw new Error(
        `${where}loss at step ${steps[i]} (row ${i}) is ${losses[i]}: losses must be finite and > 0 ` +
          `(a diverged run or a wrong column); drop or repair those rows`,
      );
    }
  }
}

/**
 * Mean of the local log-log slopes (y[k+1]−y[k])/(x[k+1]−x[k]) for k in [from, to), over the pairs
 * whose steps differ (a repeated step has no slope).
 */
function meanSlope(xs: Float64Array, ys: Float64Array, from: number, to: number): number {
  let sum = 0;
  let count = 0;
  for (let k = from; k < to; k++) {
    if (xs[k + 1] === xs[k]) continue;
    sum += (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k]);
    count++;
  }
  return sum / count;
}

/** Least-squares line through points [from, to): slope and intercept. */
function lineFit(xs: Float64Array, ys: Float64Array, from: number, to: number): [number, number] {
  const n = to - from;
  let mx = 0;
  let my = 0;
  for (let k = from; k < to; k++) {
    mx += xs[k];
    my += ys[k];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let k = from; k < to; k++) {
    sxy += (xs[k] - mx) * (ys[k] - my);
    sxx += (xs[k] - mx) ** 2;
  }
  const slope = sxy / sxx;
  return [slope, my - slope * mx];
}

function nearestIndex(xs: Float64Array, x: number): number {
  let best = 0;
  for (let k = 1; k < xs.length; k++) if (Math.abs(xs[k] - x) < Math.abs(xs[best] - x)) best = k;
  return best;
}

/**
 * The paper's initial guess (docs/method.md#fit): i = index nearest log d1⁰; c0⁰ = −mean local slope
 * before i; c1⁰ = −mean local slope from i to the end − c0⁰; b⁰ = exp(log y₀ + c0⁰·log t₀);
 * f1⁰ = 0.3. (The authors' code passes log b⁰ where b⁰ is expected, and drops the last slope;
 * neither changes the optimum.)
 */
export function paperInitialGuess(xs: Float64Array, ys: Float64Array, logD1Guess: number): ParameterVector {
  const n = xs.length;
  const i = Math.min(Math.max(nearestIndex(xs, logD1Guess), 1), n - 2);
  const c0 = -meanSlope(xs, ys, 0, i);
  const c1 = -meanSlope(xs, ys, i, n - 1) - c0;
  return [ys[0] + c0 * xs[0], c0, c1, logD1Guess, INITIAL_F1];
}

/** A start with the break at `logD1`, slopes from least-squares lines on each side. */
function lineInitialGuess(xs: Float64Array, ys: Float64Array, logD1: number): ParameterVector | null {
  const n = xs.length;
  const i = nearestIndex(xs, logD1);
  if (i < 2 || i > n - 3) return null;
  const [slope0, intercept0] = lineFit(xs, ys, 0, i + 1);
  const [slope1] = lineFit(xs, ys, i, n);
  const c0 = -slope0;
  return [intercept0, c0, -slope1 - c0, logD1, INITIAL_F1];
}

interface Linearisation {
  sse: number;
  /** pinv(JᵀJ) (unscaled covariance). */
  inverse: Matrix;
  /** Gauss–Newton step pinv(JᵀJ)·Jᵀr. */
  step: number[];
  rankDeficient: boolean;
}

function sumSquares(xs: Float64Array, ys: Float64Array, v: ArrayLike<number>): number {
  let sse = 0;
  for (let k = 0; k < xs.length; k++) sse += (ys[k] - bnslLogAt(v, xs[k])) ** 2;
  return sse;
}

/** Jacobian, residuals and the pseudo-inverse of JᵀJ through the SVD of J (as scipy does). */
function linearise(xs: Float64Array, ys: Float64Array, v: ArrayLike<number>): Linearisation {
  const n = xs.length;
  const jacobian = new Matrix(n, 5);
  const residual = new Float64Array(n);
  let sse = 0;
  for (let k = 0; k < n; k++) {
    const gradient = bnslLogGradient(v, xs[k]);
    for (let p = 0; p < 5; p++) jacobian.set(k, p, gradient[p]);
    residual[k] = ys[k] - bnslLogAt(v, xs[k]);
    sse += residual[k] ** 2;
  }
  const svd = new SingularValueDecomposition(jacobian, {
    computeLeftSingularVectors: false,
    autoTranspose: true,
  });
  const singular = svd.diagonal;
  const right = svd.rightSingularVectors;
  const threshold = Number.EPSILON * Math.max(n, 5) * singular[0];
  const inverse = Matrix.zeros(5, 5);
  let rankDeficient = false;
  for (let s = 0; s < singular.length; s++) {
    if (!(singular[s] > threshold)) {
      rankDeficient = true;
      continue;
    }
    const weight = 1 / singular[s] ** 2;
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 5; b++) {
        inverse.set(a, b, inverse.get(a, b) + weight * right.get(a, s) * right.get(b, s));
      }
    }
  }
  const gradient = new Array(5).fill(0);
  for (let k = 0; k < n; k++) {
    for (let p = 0; p < 5; p++) gradient[p] += jacobian.get(k, p) * residual[k];
  }
  const step = new Array(5).fill(0);
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) step[a] += inverse.get(a, b) * gradient[b];
  return { sse, inverse, step, rankDeficient };
}

/** Converged when the remaining Gauss–Newton step is < 1e-4 of every parameter's standard error. */
const STEP_TOLERANCE_SIGMAS = 1e-4;
/** Iterations per chunk of the library's LM between convergence tests. */
const CHUNK = 50;
/** Smallest f1 (a kink); f1 ≤ 0 would describe the same curves with the segments swapped. */
const MIN_F1 = 1e-4;

interface LmResult {
  v: ParameterVector;
  sse: number;
  iterations: number;
  converged: boolean;
}

function stepConverged(lin: Linearisation, n: number): boolean {
  const variance = lin.sse / Math.max(n - 5, 1);
  for (let p = 0; p < 5; p++) {
    const sigma = Math.sqrt(lin.inverse.get(p, p) * variance);
    if (!(Math.abs(lin.step[p]) <= STEP_TOLERANCE_SIGMAS * sigma)) return false;
  }
  return true;
}

/**
 * Gauss–Newton steps with a line search from `v`. Neither plain Gauss–Newton nor the library's LM
 * converges fast here: on the smoothed curves the residuals are systematic, the neglected
 * second-order term doubles the curvature along the (f1, log d1) valley, and every Gauss–Newton
 * step overshoots by ~2× and flips sign (the library, which keeps every step, zigzags and gains
 * only ~3× per 50 iterations on the paper's 14M curve). Minimising along the step through a
 * parabola on α ∈ {0, ½, 1} removes the overshoot.
 */
function gaussNewtonPolish(
  xs: Float64Array,
  ys: Float64Array,
  start: ParameterVector,
): { v: ParameterVector; lin: Linearisation } {
  let v = start;
  let lin = linearise(xs, ys, v);
  const along = (alpha: number): [number, ParameterVector] => {
    const trial = v.map((value, p) => value + alpha * lin.step[p]) as ParameterVector;
    return [trial[4] >= MIN_F1 ? sumSquares(xs, ys, trial) : Infinity, trial];
  };
  for (let iteration = 0; iteration < 50 && !lin.rankDeficient; iteration++) {
    if (stepConverged(lin, xs.length)) break;
    const s0 = lin.sse;
    const half = along(0.5);
    const full = along(1);
    let best = half[0] <= full[0] ? half : full;
    const curvature = 2 * (full[0] - 2 * half[0] + s0);
    if (curvature > 0 && Number.isFinite(curvature)) {
      const slope = full[0] - s0 - curvature;
      const alpha = Math.min(Math.max(-slope / (2 * curvature), 1 / 64), 2);
      const vertex = along(alpha);
      if (vertex[0] < best[0]) best = vertex;
    }
    for (let alpha = 0.25; !(best[0] < s0) && alpha > 1e-4; alpha /= 2) {
      const trial = along(alpha);
      if (trial[0] < best[0]) best = trial;
    }
    if (!(best[0] < s0)) break;
    v = best[1];
    lin = linearise(xs, ys, v);
  }
  return { v, lin };
}

function runLevenbergMarquardt(
  xs: Float64Array,
  ys: Float64Array,
  start: ParameterVector,
  maxIterations: number,
): LmResult {
  const xArray = Array.from(xs);
  const yArray = Array.from(ys);
  let v: ParameterVector = [...start];
  let sse = sumSquares(xs, ys, v);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && Number.isFinite(sse)) {
    const result = levenbergMarquardt(
      { x: xArray, y: yArray },
      (p: number[]) => (x: number) => bnslLogAt(p, x),
      {
        initialValues: v,
        jacobianFunction: (p: number[]) => (x: number) => bnslLogGradient(p, x),
        maxIterations: Math.min(CHUNK, maxIterations - iterations),
        errorTolerance: 0,
        damping: 1e-2,
        minValues: [-Infinity, -Infinity, -Infinity, -Infinity, MIN_F1],
        maxValues: [Infinity, Infinity, Infinity, Infinity, Infinity],
      },
    );
    iterations += result.iterations;
    const previous = sse;
    if (result.parameterError < sse) v = result.parameterValues.slice(0, 5) as ParameterVector;
    const polished = gaussNewtonPolish(xs, ys, v);
    v = polished.v;
    sse = polished.lin.sse;
    if (!polished.lin.rankDeficient && stepConverged(polished.lin, xs.length)) {
      converged = true;
      break;
    }
    // No progress over a whole chunk: stalled at a degenerate optimum (e.g. c1 → 0, where the
    // break location no longer matters) or at a flat valley.
    if (!(sse < previous * (1 - 1e-12))) {
      converged = polished.lin.rankDeficient;
      break;
    }
  }
  return { v, sse, iterations, converged };
}

function logSpaced(from: number, to: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const a = Math.log(from);
  const b = Math.log(to);
  for (let k = 0; k < count; k++) out[k] = Math.exp(a + ((b - a) * k) / (count - 1));
  out[0] = from;
  out[count - 1] = to;
  return out;
}

function quadraticForm(covariance: Matrix, gradient: number[]): number {
  let total = 0;
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < 5; b++) total += gradient[a] * covariance.get(a, b) * gradient[b];
  }
  return Math.sqrt(Math.max(total, 0));
}

function formatStep(step: number): string {
  return step >= 100 ? String(Math.round(step)) : step.toPrecision(3);
}

/** The default initial break for fitted steps [first, last] (see `DecelerationOptions.d1Guess`). */
export function defaultD1Guess(firstStep: number, lastStep: number): number {
  const lo = Math.log(firstStep);
  const hi = Math.log(lastStep);
  const third = (hi - lo) / 3;
  const paper = Math.log(PAPER_D1_GUESS);
  return paper >= lo + third && paper <= hi - third ? PAPER_D1_GUESS : Math.exp((lo + hi) / 2);
}

/**
 * Fits the loss-deceleration BNSL to a loss curve.
 *
 * By default `losses` are raw per-step training losses: they are smoothed and subsampled as in the
 * paper, then the points with step > minStep are fitted. With `preprocess: false` they are fitted
 * as given (a repeated step counts as two points). Throws (with the fix in the message) on decreasing steps, non-finite or
 * non-positive losses, or fewer than 10 points to fit. A fit whose break cannot be identified
 * (a pure power law, a break outside the data, a bend wider than the data, a curve that steepens)
 * is returned with `identified: false` and the reasons.
 */
export function fitDeceleration(
  steps: ArrayLike<number>,
  losses: ArrayLike<number>,
  options: DecelerationOptions = {},
): DecelerationFit {
  const where = prefix(options.label);
  validate(steps, losses, options.label);
  const lastStep = steps[steps.length - 1];
  const minStep = options.minStep ?? defaultMinStep(lastStep);
  if (!Number.isFinite(minStep)) throw new Error(`${where}minStep must be a finite number, got ${minStep}`);

  let curve: DecelerationFit["curve"];
  if (options.preprocess ?? true) {
    for (let i = 0; i < steps.length; i++) {
      if (!Number.isInteger(steps[i])) {
        throw new Error(
          `${where}step ${steps[i]} (row ${i}) is not an integer: the paper's preprocessing needs the raw ` +
            `per-step loss; fit already smoothed or subsampled points with preprocess: false (--no-preprocess)`,
        );
      }
    }
    curve = preprocessLossCurve(steps, losses, minStep);
  } else {
    const keep: number[] = [];
    for (let i = 0; i < steps.length; i++) if (steps[i] > 0) keep.push(i);
    curve = {
      steps: Float64Array.from(keep, (i) => steps[i]),
      losses: Float64Array.from(keep, (i) => losses[i]),
      fitted: keep.map((i) => steps[i] > minStep),
    };
  }
  const fittedIndex: number[] = [];
  curve.fitted.forEach((f, k) => f && fittedIndex.push(k));
  const n = fittedIndex.length;
  if (n < MIN_FIT_POINTS) {
    throw new Error(
      `${where}only ${n} points with step > ${minStep} to fit (need ≥ ${MIN_FIT_POINTS}): ` +
        `the run is too short, or lower --min-step`,
    );
  }
  const xs = Float64Array.from(fittedIndex, (k) => Math.log(curve.steps[k]));
  const ys = Float64Array.from(fittedIndex, (k) => Math.log(curve.losses[k]));
  const firstFitted = curve.steps[fittedIndex[0]];
  const finalStep = curve.steps[fittedIndex[n - 1]];
  const finalLoss = curve.losses[fittedIndex[n - 1]];

  const d1Guess = options.d1Guess ?? defaultD1Guess(firstFitted, finalStep);
  if (!(d1Guess > 0)) throw new Error(`${where}d1Guess must be a positive step, got ${d1Guess}`);
  const maxIterations = options.maxIterations ?? 5000;

  const starts: ParameterVector[] = [paperInitialGuess(xs, ys, Math.log(d1Guess))];
  if (options.multiStart ?? true) {
    for (const fraction of [0.2, 0.35, 0.5, 0.65, 0.8]) {
      const start = lineInitialGuess(xs, ys, xs[0] + fraction * (xs[n - 1] - xs[0]));
      if (start) starts.push(start);
    }
  }
  let best: LmResult | null = null;
  let iterations = 0;
  for (const start of starts) {
    if (!start.every(Number.isFinite)) continue;
    const result = runLevenbergMarquardt(xs, ys, start, maxIterations);
    iterations += result.iterations;
    if (!Number.isFinite(result.sse)) continue;
    // Prefer a converged fit; among those the lowest residual.
    if (
      !best || (result.converged && !best.converged) ||
      (result.converged === best.converged && result.sse < best.sse * (1 - 1e-12))
    ) best = result;
  }
  if (!best) throw new Error(`${where}the BNSL fit produced no finite result from any start`);

  const v = best.v;
  const lin = linearise(xs, ys, v);
  const variance = lin.sse / (n - 5);
  const covarianceMatrix = lin.inverse.mul(variance);
  const covariance = covarianceMatrix.to2DArray();
  const sigma = (p: number) => (lin.rankDeficient ? Infinity : Math.sqrt(covarianceMatrix.get(p, p)));

  const [logB, c0, c1, logD1, f1] = v;
  const b = Math.exp(logB);
  const tD = Math.exp(logD1);
  const lossD = Math.exp(logB - c0 * logD1);
  const rateD = c0 + c1;
  const logT = Math.log(finalStep);
  const predictedFinalLoss = lossD * Math.exp(rateD * (logD1 - logT));
  const derived = (
    gradient: number[],
  ) => (lin.rankDeficient ? Infinity : quadraticForm(covarianceMatrix, gradient));
  const errors: DecelerationErrors = {
    b: b * sigma(0),
    c0: sigma(1),
    c1: sigma(2),
    logD1: sigma(3),
    d1: tD * sigma(3),
    f1: sigma(4),
    lossD: lossD * derived([1, -logD1, 0, -c0, 0]),
    rateD: derived([0, 1, 1, 0, 0]),
    predictedFinalLoss: predictedFinalLoss * derived([1, -logT, logD1 - logT, c1, 0]),
  };
  const tDRange: [number, number] = [Math.exp(logD1 - errors.logD1), Math.exp(logD1 + errors.logD1)];
  const tDInRange = tD >= firstFitted && tD <= finalStep;
  const rsle = Math.sqrt(lin.sse / n);

  const [plSlope, plIntercept] = lineFit(xs, ys, 0, n);
  let powerLawSse = 0;
  for (let k = 0; k < n; k++) powerLawSse += (ys[k] - plIntercept - plSlope * xs[k]) ** 2;
  const reasons: string[] = [];
  const minSlopeChange = options.minSlopeChange ?? 0.1;
  const maxResidualRatio = options.maxResidualRatio ?? 0.5;
  if (f1 <= 1.01 * MIN_F1) {
    reasons.push(`f1 ran to its lower bound ${MIN_F1}: a kink fitted to a few points, not a break`);
  } else if (!best.converged) {
    reasons.push(`least squares did not converge in ${maxIterations} iterations`);
  }
  if (!(lin.sse <= maxResidualRatio * powerLawSse)) {
    reasons.push(
      `a single power law fits nearly as well (the break removes only ` +
        `${(100 * (1 - lin.sse / powerLawSse)).toFixed(0)}% of its squared log-residual, ` +
        `< ${(100 * (1 - maxResidualRatio)).toFixed(0)}%)`,
    );
  }
  if (lin.rankDeficient) {
    reasons.push("the data do not determine all five parameters (rank-deficient Jacobian)");
  }
  if (!(c1 < 0)) {
    reasons.push(
      `c1 = ${c1.toPrecision(3)} ≥ 0: the curve does not flatten after the break (no deceleration)`,
    );
  } else {
    if (!(Math.abs(c1) >= minSlopeChange * Math.abs(c0))) {
      reasons.push(
        `the log-log slope changes by only ${(100 * Math.abs(c1 / c0)).toPrecision(2)}% ` +
          `(|c1|/c0 < ${minSlopeChange}): a single power law describes the curve`,
      );
    }
    if (!(Math.abs(c1) > 3 * errors.c1)) {
      reasons.push(
        `the slope change c1 = ${formatWithError(c1, errors.c1)} is not significant`,
      );
    }
  }
  const axis = options.axis ?? "steps";
  if (!tDInRange) {
    reasons.push(
      `t_d = ${formatStep(tD)} lies outside the fitted ${axis} ` +
        `[${formatStep(firstFitted)}, ${formatStep(finalStep)}]`,
    );
  } else if (!(tDRange[0] >= firstFitted && tDRange[1] <= finalStep)) {
    reasons.push(
      `t_d is not located: its ±1σ range [${formatStep(tDRange[0])}, ${formatStep(tDRange[1])}] ` +
        `extends beyond the fitted ${axis}`,
    );
  }
  // The slope goes from 10% to 90% of its change over 2·ln 9·f1 in log-steps.
  const bendWidth = 2 * Math.log(9) * f1;
  if (bendWidth > xs[n - 1] - xs[0]) {
    reasons.push(
      `the bend (f1 = ${f1.toPrecision(3)}) spans a factor ${
        Math.exp(bendWidth).toPrecision(3)
      } in ${axis}, ` +
        `more than the fitted range: a gradual curvature, not a break`,
    );
  }
  // Checked last: only a break that passes every other rule can be the warmup's rather than none.
  const breakStep = options.stepAt ? options.stepAt(tD) : tD;
  const warmupEnd = reasons.length === 0 && atWarmupEnd(breakStep, options.warmup);
  if (warmupEnd) {
    const w = options.warmup!;
    reasons.push(
      `at the warmup end: t_d = ${
        formatStep(breakStep)
      } steps lies within ${WARMUP_END_FACTOR}× of the end of ` +
        `the ${w}-step warmup ([${formatStep(w / WARMUP_END_FACTOR)}, ${
          formatStep(w * WARMUP_END_FACTOR)
        }]), ` +
        `where the learning rate stops rising: compare runs with other warmups (docs/method.md#warmup-control)`,
    );
  }

  const fitSteps = logSpaced(firstFitted, finalStep, 200);
  const preSteps = Float64Array.of(firstFitted, tD);
  const postSteps = Float64Array.of(tD, finalStep);
  return {
    b,
    c0,
    c1,
    d1: tD,
    logD1,
    f1,
    errors,
    covariance,
    tD,
    tDRange,
    tDInRange,
    lossD,
    rateD,
    predictedFinalLoss,
    finalLoss,
    finalStep,
    rsle,
    nPoints: n,
    fittedRange: [firstFitted, finalStep],
    minStep,
    d1Guess,
    residualRatio: lin.sse / powerLawSse,
    identified: reasons.length === 0,
    atWarmupEnd: warmupEnd,
    reasons,
    converged: best.converged,
    iterations,
    sse: lin.sse,
    curve,
    fitCurve: { steps: fitSteps, losses: fitSteps.map((t) => Math.exp(bnslLogAt(v, Math.log(t)))) },
    preBreak: { steps: preSteps, losses: preSteps.map((t) => b * t ** -c0) },
    postBreak: { steps: postSteps, losses: postSteps.map((t) => lossD * (t / tD) ** -rateD) },
  };
}
