/**
 * Gradient interference (docs/method.md#gradient-interference): how per-example gradients g_ij = ∂ℓ_i/∂θ_j and the one-step
 * update δ add up, from streaming sums (never every per-example gradient at once).
 *
 * With p_ij = g_ij·δ_j (example i's first-order loss change through coordinate j):
 *
 *     D_j     = 1 − |Σ_i g_ij| / Σ_i |g_ij|              per-coordinate gradient interference
 *     D(∇ℓ)   = mean of D_j over the non-embedding coordinates
 *     C_g     = Σ_j |Σ_i p_ij| / Σ_j Σ_i |p_ij|          (per-coordinate path)
 *     C_(u,G) = |Σ_j Σ_i p_ij| / Σ_j |Σ_i p_ij|          (per-coordinate path)
 *     C_(u,g) = Σ_i |Σ_j p_ij| / Σ_i Σ_j |p_ij|          (per-example path)
 *     1 − D(Δ̂ℓ) = |Σ_i Δ̂ℓ_i| / Σ_i |Δ̂ℓ_i| = C_g·C_(u,G) / C_(u,g),   Δ̂ℓ_i = Σ_j p_ij
 *
 * Two kinds of sums feed these. Per coordinate, over every example of the analysis: sumG_j = Σ_i g_ij
 * and sumAbsG_j = Σ_i |g_ij| (with δ_j they give Σ_i p_ij = δ_j·sumG_j and Σ_i |p_ij| = |δ_j|·sumAbsG_j),
 * folded into a {@linkcode CoordinateSums} chunk by chunk (a parameter tensor at a time). Per example:
 * Σ_j p_ij, Σ_j |p_ij|, ‖g_i‖₂², ‖g_i‖₁ ({@linkcode ExampleSums}). The identity above holds exactly in
 * exact arithmetic only because the two paths sum the same p_ij: its left side comes from the
 * per-example path, its right side from both, so checking it checks that the two paths agree.
 *
 * All sums here are float64 with Neumaier compensation.
 *
 * @module
 */
import type { GradientMetrics } from "../../results/gradients.ts";
import { StableSum } from "../../util/stable_sum.ts";

/** Bins of the C_j = 1 − D_j histogram over [0, 1] (the paper's). */
export const COHERENCE_BINS = 100;

/** Default tolerance (absolute, on the scale of 1 − D) of the identity 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g) (float64 sums). */
export const GRADIENT_IDENTITY_TOLERANCE = 1e-9;

/**
 * Per-coordinate sums over the coordinates added so far (every sum over all examples i of the
 * analysis). Build with {@linkcode emptyCoordinateSums}, fill with {@linkcode accumulateCoordinates}.
 */
export interface CoordinateSums {
  /** Coordinates j added (embedding included). */
  coordinates: number;
  /** Σ_j |Σ_i p_ij| = Σ_j |δ_j·sumG_j|. */
  columnAbsP: number;
  /** Σ_j Σ_i |p_ij| = Σ_j |δ_j|·sumAbsG_j. */
  absP: number;
  /** Σ_j Σ_i p_ij = Σ_j δ_j·sumG_j (signed: the per-coordinate side of the identity). */
  p: number;
  /** Σ_j sumG_j² = ‖Σ_i g_i‖² (‖G‖ = √sumGradSq / N). */
  sumGradSq: number;
  /** Σ_j δ_j² = ‖δ‖². */
  deltaSq: number;
  /** Non-embedding coordinates whose D_j is defined (some example has g_ij ≠ 0): the mean's count. */
  dCoordinates: number;
  /** Non-embedding coordinates with g_ij = 0 for every example: D_j = 1 − 0/0 is undefined, left out. */
  dZeroCoordinates: number;
  /** Σ D_j over the `dCoordinates` coordinates. */
  dSum: number;
  /** 100 bins of C_j = 1 − D_j on [0, 1] (bin b is [b/100, (b+1)/100), the last closed); non-embedding only. */
  coherenceHistogram: Float64Array;
}

/** Empty per-coordinate sums. */
export function emptyCoordinateSums(): CoordinateSums {
  return {
    coordinates: 0,
    columnAbsP: 0,
    absP: 0,
    p: 0,
    sumGradSq: 0,
    deltaSq: 0,
    dCoordinates: 0,
    dZeroCoordinates: 0,
    dSum: 0,
    coherenceHistogram: new Float64Array(COHERENCE_BINS),
  };
}

/** The histogram bin of C ∈ [0, 1] (1 goes into the last bin). */
export function coherenceBin(coherence: number): number {
  return Math.min(COHERENCE_BINS - 1, Math.max(0, Math.floor(coherence * COHERENCE_BINS)));
}

function nonFinite(value: number, what: string, j: number): Error {
  return new Error(
    `zsl: ${what}[${j}] is ${value}: gradient interference needs finite gradients and updates ` +
      `(a diverged checkpoint, or a bug upstream)`,
  );
}

/** Coordinates summed in plain float64 before each compensated addition (speed; error ~256·ε per block). */
const BLOCK = 256;

/** The error for an invalid coordinate (the slow path of the loop's one combined check). */
function invalidCoordinate(g: number, a: number, d: number, j: number): Error {
  if (!Number.isFinite(d)) return nonFinite(d, "delta", j);
  if (!Number.isFinite(g)) return nonFinite(g, "sumG", j);
  if (!Number.isFinite(a)) return nonFinite(a, "sumAbsG", j);
  return new Error(`zsl: sumAbsG[${j}] = ${a} < 0: it must be a sum of absolute values`);
}

/**
 * Folds the coordinates of the arrays in; coordinate j enters D(∇ℓ) when `mask[j]` (or, without a
 * mask, when `counted`). Sums run in blocks of {@linkcode BLOCK} coordinates in plain float64, each
 * block added with Neumaier compensation (about 25 ns a coordinate on one 2-core CPU: 10⁸ in 2.5 s).
 */
function accumulateRange(
  into: CoordinateSums,
  sumG: ArrayLike<number>,
  sumAbsG: ArrayLike<number>,
  delta: ArrayLike<number>,
  mask: ArrayLike<boolean> | null,
  counted: boolean,
): void {
  const columnAbsP = new StableSum();
  const absP = new StableSum();
  const p = new StableSum();
  const gradSq = new StableSum();
  const deltaSq = new StableSum();
  const dSum = new StableSum();
  const histogram = into.coherenceHistogram;
  let dCoordinates = 0;
  let dZero = 0;
  const J = sumG.length;
  for (let start = 0; start < J; start += BLOCK) {
    const end = Math.min(J, start + BLOCK);
    let blockP = 0;
    let blockColumnAbsP = 0;
    let blockAbsP = 0;
    let blockGradSq = 0;
    let blockDeltaSq = 0;
    let blockD = 0;
    for (let j = start; j < end; j++) {
      const g = sumG[j];
      const a = sumAbsG[j];
      const d = delta[j];
      // One test for all three: NaN fails every comparison, ±Infinity fails the bound.
      if (!(Math.abs(g) < Infinity && a >= 0 && a < Infinity && Math.abs(d) < Infinity)) {
        throw invalidCoordinate(g, a, d, j);
      }
      const pj = d * g;
      blockP += pj;
      blockColumnAbsP += Math.abs(pj);
      blockAbsP += Math.abs(d) * a;
      blockGradSq += g * g;
      blockDeltaSq += d * d;
      if (!(mask ? mask[j] : counted)) continue;
      if (a === 0) {
        dZero++;
        continue;
      }
      // |Σ g| ≤ Σ |g| holds for sums taken in one order (rounding is monotone); clamp anyway for
      // sums that came from different kernels.
      const coherence = Math.min(1, Math.abs(g) / a);
      blockD += 1 - coherence;
      dCoordinates++;
      histogram[coherenceBin(coherence)]++;
    }
    p.add(blockP);
    columnAbsP.add(blockColumnAbsP);
    absP.add(blockAbsP);
    gradSq.add(blockGradSq);
    deltaSq.add(blockDeltaSq);
    dSum.add(blockD);
  }
  into.coordinates += J;
  into.columnAbsP += columnAbsP.value;
  into.absP += absP.value;
  into.p += p.value;
  into.sumGradSq += gradSq.value;
  into.deltaSq += deltaSq.value;
  into.dSum += dSum.value;
  into.dCoordinates += dCoordinates;
  into.dZeroCoordinates += dZero;
}

function checkSameLength(sumG: ArrayLike<number>, sumAbsG: ArrayLike<number>, delta: ArrayLike<number>) {
  if (sumG.length !== sumAbsG.length || sumG.length !== delta.length) {
    throw new Error(
      `zsl: accumulateCoordinates needs one sumG, sumAbsG and delta value per coordinate, got ` +
        `${sumG.length}, ${sumAbsG.length} and ${delta.length}: pass the same parameter slice of each`,
    );
  }
}

/**
 * Adds coordinates j: sumG_j = Σ_i g_ij, sumAbsG_j = Σ_i |g_ij| (over every example of the analysis)
 * and δ_j. `interference: false` for the embedding (not in D(∇ℓ) nor in the histogram; it still
 * counts in the coherences, ‖G‖ and ‖δ‖). Call once per parameter tensor (or any chunking of the
 * coordinates): the result does not depend on the chunking beyond float64 rounding.
 */
export function accumulateCoordinates(
  into: CoordinateSums,
  sumG: ArrayLike<number>,
  sumAbsG: ArrayLike<number>,
  delta: ArrayLike<number>,
  options: { interference: boolean },
): void {
  checkSameLength(sumG, sumAbsG, delta);
  accumulateRange(into, sumG, sumAbsG, delta, null, options.interference);
}

/** Per-example sums, one entry per example i (all four arrays of length N). */
export interface ExampleSums {
  /** Σ_j p_ij = g_i·δ = Δ̂ℓ_i, the first-order predicted loss change. */
  predicted: Float64Array;
  /** Σ_j |p_ij|. */
  absPredicted: Float64Array;
  /** ‖g_i‖₂². */
  gradSq: Float64Array;
  /** ‖g_i‖₁. */
  gradAbs: Float64Array;
}

/** Per-example sums of N examples, zeroed. */
export function emptyExampleSums(examples: number): ExampleSums {
  return {
    predicted: new Float64Array(examples),
    absPredicted: new Float64Array(examples),
    gradSq: new Float64Array(examples),
    gradAbs: new Float64Array(examples),
  };
}

/**
 * The metrics of gradient interference over N examples and J coordinates: the ones the result table keeps
 * ({@linkcode GradientMetrics}, documented there) and the sums and histogram they come from.
 */
export interface GradientInterference extends GradientMetrics {
  /** Counts of C_j = 1 − D_j in 100 bins over [0, 1] (last bin closed), non-embedding coordinates. */
  coherenceHistogram: number[];
  /** ‖G‖₂ with G = Σ_i g_i / N, the mean gradient. */
  meanGradientNorm: number;
  /** Σ_i Δ̂ℓ_i from the per-example path. */
  sumPredicted: number;
  /** Σ_jΣ_i p_ij from the per-coordinate path (equal to `sumPredicted` up to rounding). */
  sumP: number;
  /** Why some values are NaN (empty when every value is defined). */
  reason: string;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? NaN : numerator / denominator;
}

/** The gradient noise scale of N examples and the unbiased estimates it is the ratio of. */
export interface NoiseScale {
  /** Mean over examples of ‖g_i‖². */
  meanExampleGradSq: number;
  /** tr(Σ) ≈ N/(N − 1)·(mean ‖g_i‖² − ‖G‖²), G the mean gradient. */
  noiseTrace: number;
  /** ‖𝔼g‖² ≈ (N·‖G‖² − mean ‖g_i‖²)/(N − 1). */
  gradSqUnbiased: number;
  /** B_simple = tr(Σ)/‖𝔼g‖² (NaN when the estimate of ‖𝔼g‖² is ≤ 0, or N < 2). */
  bSimple: number;
}

/**
 * The simple gradient noise scale B_simple = tr(Σ)/‖𝔼g‖² of McCandlish et al. (2018), from N examples'
 * mean squared gradient norm mean‖g_i‖² and the squared norm ‖G‖² of their mean gradient G: the unbiased
 * estimators of their appendix A with B_small = 1 and B_big = N (𝔼 mean‖g_i‖² = ‖𝔼g‖² + tr Σ and
 * 𝔼‖G‖² = ‖𝔼g‖² + tr Σ/N for independent examples). The ratio of the two unbiased estimates is itself
 * slightly biased.
 *
 * @example
 * ```ts
 * import { gradientNoiseScale } from "./metrics.ts";
 * // Two examples g = (1, 0) and (0, 1): mean ‖g_i‖² = 1, G = (½, ½), ‖G‖² = ½.
 * gradientNoiseScale(2, 1, 0.5); // { noiseTrace: 1, gradSqUnbiased: 0, bSimple: NaN, … }
 * ```
 */
export function gradientNoiseScale(
  examples: number,
  meanExampleGradSq: number,
  meanGradSq: number,
): NoiseScale {
  const N = examples;
  if (!(N >= 2)) return { meanExampleGradSq, noiseTrace: NaN, gradSqUnbiased: NaN, bSimple: NaN };
  const noiseTrace = N / (N - 1) * (meanExampleGradSq - meanGradSq);
  const gradSqUnbiased = (N * meanGradSq - meanExampleGradSq) / (N - 1);
  return {
    meanExampleGradSq,
    noiseTrace,
    gradSqUnbiased,
    bSimple: gradSqUnbiased > 0 ? noiseTrace / gradSqUnbiased : NaN,
  };
}

/** erf(x) to ~1e-7 (Abramowitz and Stegun 7.1.26). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 -
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** E|X| for X ~ Normal(mean, sd²) (the folded normal's mean). */
function meanAbsNormal(mean: number, sd: number): number {
  if (sd === 0) return Math.abs(mean);
  return sd * Math.sqrt(2 / Math.PI) * Math.exp(-(mean * mean) / (2 * sd * sd)) +
    mean * erf(mean / (sd * Math.SQRT2));
}

/**
 * The D(∇ℓ) that a gradient noise scale implies when every coordinate has the same signal-to-noise ratio
 * r = |𝔼g_j|/σ_j = 1/√B_simple and Gaussian per-example gradients (docs/method.md#gradient-noise-scale):
 * 1 − D_j ≈ 𝔼|ḡ_j|/𝔼|g_ij| with ḡ_j the mean of N examples, which is √(π/(2B)) for N ≫ B and 1/√N (the
 * null) for N ≪ B.
 *
 * @example
 * ```ts
 * import { gaussianInterference } from "./metrics.ts";
 * gaussianInterference(1e6, 256); // ≈ 1 − 1/√256 = 0.9375: far fewer examples than B, D is at its null
 * ```
 */
export function gaussianInterference(bSimple: number, examples: number): number {
  if (!(bSimple > 0) || !(examples >= 1)) return NaN;
  const r = 1 / Math.sqrt(bSimple);
  return 1 - meanAbsNormal(r, 1 / Math.sqrt(examples)) / meanAbsNormal(r, 1);
}

/**
 * The final metrics from the per-coordinate and per-example sums. Throws when there are no examples or
 * no coordinates, when the arrays of `examples` differ in length, and when the identity
 * 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g) fails beyond `tolerance` (absolute, default 1e-9; a GPU path whose
 * sums are float32 passes a looser one). Undefined ratios (δ = 0, all-zero gradients, every Δ̂ℓ_i = 0)
 * are NaN with `reason` saying why, and the identity is then not checked (`identityError` NaN).
 */
export function finishGradientInterference(
  coords: CoordinateSums,
  examples: ExampleSums,
  options: { tolerance?: number } = {},
): GradientInterference {
  const tolerance = options.tolerance ?? GRADIENT_IDENTITY_TOLERANCE;
  const N = examples.predicted.length;
  if (N === 0) {
    throw new Error("zsl: gradient interference of 0 examples is undefined: give at least one example");
  }
  for (const key of ["absPredicted", "gradSq", "gradAbs"] as const) {
    if (examples[key].length !== N) {
      throw new Error(
        `zsl: example sums differ in length (predicted ${N}, ${key} ${examples[key].length}): ` +
          `give one value per example in each`,
      );
    }
  }
  if (coords.coordinates === 0) {
    throw new Error("zsl: no coordinates were accumulated: call accumulateCoordinates before finishing");
  }
  const sumPredicted = new StableSum();
  const sumAbsPredicted = new StableSum();
  const absPExamples = new StableSum();
  const exampleNorms = new StableSum();
  const exampleSquares = new StableSum();
  for (let i = 0; i < N; i++) {
    const value = examples.predicted[i];
    if (!Number.isFinite(value)) throw nonFinite(value, "predicted", i);
    sumPredicted.add(value);
    sumAbsPredicted.add(Math.abs(value));
    absPExamples.add(examples.absPredicted[i]);
    exampleNorms.add(Math.sqrt(examples.gradSq[i]));
    exampleSquares.add(examples.gradSq[i]);
  }
  const reasons: string[] = [];
  if (coords.absP === 0) {
    reasons.push(
      coords.deltaSq === 0
        ? "δ = 0, so every p_ij = 0 and the coherences are 0/0"
        : "every gradient is 0, so every p_ij = 0 and the coherences are 0/0",
    );
  } else if (coords.columnAbsP === 0) {
    reasons.push("Σ_i p_ij = 0 for every coordinate, so C_(u,G) is 0/0");
  }
  if (sumAbsPredicted.value === 0) reasons.push("every Δ̂ℓ_i = 0, so D(Δ̂ℓ) is 0/0");
  if (coords.dCoordinates === 0) {
    reasons.push(
      coords.dZeroCoordinates > 0
        ? "every non-embedding gradient coordinate is 0, so D(∇ℓ) is undefined"
        : "no non-embedding coordinates were added, so D(∇ℓ) is undefined",
    );
  }
  const cG = ratio(coords.columnAbsP, coords.absP);
  const cUG = ratio(Math.abs(coords.p), coords.columnAbsP);
  const cUg = ratio(sumAbsPredicted.value, absPExamples.value);
  const oneMinusDPredicted = ratio(Math.abs(sumPredicted.value), sumAbsPredicted.value);
  const right = cG * cUG / cUg;
  const left = oneMinusDPredicted;
  const identityError = Math.abs(left - right);
  if (identityError > tolerance) {
    throw new Error(
      `zsl: gradient interference identity violated: 1 − D(Δ̂ℓ) = ${left} (per example) but ` +
        `C_g·C_(u,G)/C_(u,g) = ${right} (difference ${identityError.toExponential(3)} > ${tolerance}; ` +
        `Σ_i Δ̂ℓ_i = ${sumPredicted.value}, Σ_j Σ_i p_ij = ${coords.p}, Σ|p| per coordinate ${coords.absP}, ` +
        `per example ${absPExamples.value}): the per-coordinate and per-example sums disagree`,
    );
  }
  return {
    examples: N,
    coordinates: coords.coordinates,
    dGrad: ratio(coords.dSum, coords.dCoordinates),
    dGradCoordinates: coords.dCoordinates,
    dGradZeroCoordinates: coords.dZeroCoordinates,
    coherenceHistogram: Array.from(coords.coherenceHistogram),
    cG,
    cUG,
    cUg,
    oneMinusDPredicted,
    dPredicted: 1 - oneMinusDPredicted,
    mPredicted: sumAbsPredicted.value / N,
    identityError,
    deltaNorm: Math.sqrt(coords.deltaSq),
    meanGradientNorm: Math.sqrt(coords.sumGradSq) / N,
    meanExampleGradNorm: exampleNorms.value / N,
    ...gradientNoiseScale(N, exampleSquares.value / N, coords.sumGradSq / (N * N)),
    sumPredicted: sumPredicted.value,
    sumP: coords.p,
    reason: reasons.join("; "),
  };
}

/**
 * Gradient interference of explicit per-example gradients: `g[i]` is example i's gradient (all N rows
 * of length J) and `delta` the update (length J). Columns flagged false in `interference` (default: all
 * true) are left out of D(∇ℓ) and its histogram (use it for the embedding's columns). For tests and
 * small CPU checks: it holds all of g.
 *
 * @example
 * ```ts
 * import { gradientInterferenceFromMatrices } from "./mod.ts";
 * const m = gradientInterferenceFromMatrices([[1, -2], [0.5, 1], [-1, 0.5]], [0.1, -0.2]);
 * // m.cG ≈ 0.157895, m.cUg ≈ 0.894737, m.cUG = 1, m.oneMinusDPredicted ≈ 0.176471
 * ```
 */
export function gradientInterferenceFromMatrices(
  g: ArrayLike<number>[],
  delta: ArrayLike<number>,
  options: { interference?: ArrayLike<boolean> } = {},
): GradientInterference {
  const N = g.length;
  if (N === 0) {
    throw new Error("zsl: gradient interference of 0 examples is undefined: give at least one gradient row");
  }
  const J = delta.length;
  for (let i = 0; i < N; i++) {
    if (g[i].length !== J) {
      throw new Error(
        `zsl: gradient row ${i} has ${g[i].length} coordinates but δ has ${J}: ` +
          `every row of g needs one value per coordinate of δ`,
      );
    }
  }
  const mask = options.interference;
  if (mask && mask.length !== J) {
    throw new Error(
      `zsl: the interference mask has ${mask.length} entries for ${J} coordinates: give one per column`,
    );
  }
  const sumG = new Float64Array(J);
  const sumAbsG = new Float64Array(J);
  for (let j = 0; j < J; j++) {
    const signed = new StableSum();
    const absolute = new StableSum();
    for (let i = 0; i < N; i++) {
      signed.add(g[i][j]);
      absolute.add(Math.abs(g[i][j]));
    }
    sumG[j] = signed.value;
    sumAbsG[j] = absolute.value;
  }
  const examples = emptyExampleSums(N);
  for (let i = 0; i < N; i++) {
    const predicted = new StableSum();
    const absPredicted = new StableSum();
    const gradSq = new StableSum();
    const gradAbs = new StableSum();
    const row = g[i];
    for (let j = 0; j < J; j++) {
      const p = row[j] * delta[j];
      predicted.add(p);
      absPredicted.add(Math.abs(p));
      gradSq.add(row[j] * row[j]);
      gradAbs.add(Math.abs(row[j]));
    }
    examples.predicted[i] = predicted.value;
    examples.absPredicted[i] = absPredicted.value;
    examples.gradSq[i] = gradSq.value;
    examples.gradAbs[i] = gradAbs.value;
  }
  const coords = emptyCoordinateSums();
  accumulateRange(coords, sumG, sumAbsG, delta, mask ?? null, true);
  return finishGradientInterference(coords, examples);
}

/** How well the first-order predictions Δ̂ℓ_i match the true loss changes Δℓ_i. */
export interface PredictionAgreement {
  /** Pairs used (both values finite). */
  n: number;
  /** Pearson correlation of Δ̂ℓ and Δℓ (NaN for n < 2 or a constant side). */
  pearson: number;
  /** Spearman rank correlation (ties get their average rank; NaN as Pearson's). */
  spearman: number;
  /** Least-squares slope through 0 of Δℓ on Δ̂ℓ: Σ Δ̂ℓ·Δℓ / Σ Δ̂ℓ² (1: the prediction has the right size). */
  slope: number;
  /** Fraction of pairs with sign(Δ̂ℓ_i) = sign(Δℓ_i). */
  signAgreement: number;
  /** Median of |Δ̂ℓ_i − Δℓ_i| / |Δℓ_i| over the pairs with Δℓ_i ≠ 0 (NaN when there are none). */
  medianRelativeError: number;
}

function pearsonOf(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return NaN;
  const sx = new StableSum();
  const sy = new StableSum();
  for (let i = 0; i < n; i++) {
    sx.add(x[i]);
    sy.add(y[i]);
  }
  const mx = sx.value / n;
  const my = sy.value / n;
  const sxy = new StableSum();
  const sxx = new StableSum();
  const syy = new StableSum();
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy.add(dx * dy);
    sxx.add(dx * dx);
    syy.add(dy * dy);
  }
  const denominator = Math.sqrt(sxx.value * syy.value);
  return denominator === 0 ? NaN : Math.max(-1, Math.min(1, sxy.value / denominator));
}

/** Ranks 1…n of `values`, ties sharing their average rank. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    const rank = (start + end + 1) / 2; // mean of the 1-based ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Agreement of predicted Δ̂ℓ_i with the true Δℓ_i: Pearson and Spearman correlations, least-squares
 * slope through 0 (Δℓ ≈ slope·Δ̂ℓ), sign agreement, and the median relative error |Δ̂ − Δ|/|Δ|. Pairs
 * where either value is not finite are left out (`n` counts the rest).
 */
export function predictionAgreement(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
): PredictionAgreement {
  if (predicted.length !== actual.length) {
    throw new Error(
      `zsl: ${predicted.length} predicted and ${actual.length} actual loss changes: ` +
        `give one of each per example, in the same order`,
    );
  }
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < predicted.length; i++) {
    if (Number.isFinite(predicted[i]) && Number.isFinite(actual[i])) {
      x.push(predicted[i]);
      y.push(actual[i]);
    }
  }
  const n = x.length;
  const xy = new StableSum();
  const xx = new StableSum();
  let sameSign = 0;
  const relative: number[] = [];
  for (let i = 0; i < n; i++) {
    xy.add(x[i] * y[i]);
    xx.add(x[i] * x[i]);
    if (Math.sign(x[i]) === Math.sign(y[i])) sameSign++;
    if (y[i] !== 0) relative.push(Math.abs(x[i] - y[i]) / Math.abs(y[i]));
  }
  return {
    n,
    pearson: pearsonOf(x, y),
    spearman: pearsonOf(averageRanks(x), averageRanks(y)),
    slope: ratio(xy.value, xx.value),
    signAgreement: n === 0 ? NaN : sameSign / n,
    medianRelativeError: median(relative),
  };
}
