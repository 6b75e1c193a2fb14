/**
 * Loss against the cumulative learning rate (docs/method.md#loss-against-cumulative-learning-rate): the
 * same broken power law fitted with the learning-rate area S(t) = Σ_{s≤t} lr(s) in place of the step t
 * (Tissue et al. 2024; Luo et al. 2025). During a linear warmup S grows quadratically in t and afterwards
 * linearly, so a bend that only reflects the schedule straightens on the S axis, and a break in learning
 * stays.
 *
 * The row of step t holds the loss before update t; S counts update t, as the step axis does, so with a
 * constant rate S = LR·t and the S fit is the step fit moved along log S by log LR.
 *
 * @module
 */
import { StableSum } from "../../util/stable_sum.ts";
import type { DecelerationFit, DecelerationOptions } from "./fit.ts";
import { fitDeceleration } from "./fit.ts";
import { defaultMinStep, preprocessLossCurve } from "./preprocess.ts";

/** The learning-rate area of a curve: S at every step 0 … T (S(0) = 0). */
export class LrArea {
  /** S(t) at t = 0 … T. */
  readonly areas: Float64Array;

  /**
   * From the learning rate of every step 1 … T (`lrs[i]` is that of step `steps[i]`). Throws unless the
   * steps are 1 … T in order and every rate is finite and ≥ 0, with one > 0.
   */
  constructor(steps: ArrayLike<number>, lrs: ArrayLike<number>, label = "the curve") {
    if (steps.length !== lrs.length) {
      throw new Error(`zsl: ${label}: ${steps.length} steps but ${lrs.length} learning rates`);
    }
    if (steps.length === 0) throw new Error(`zsl: ${label}: no steps, so no learning-rate area`);
    const areas = new Float64Array(steps.length + 1);
    const sum = new StableSum();
    for (let i = 0; i < steps.length; i++) {
      if (steps[i] !== i + 1) {
        throw new Error(
          `zsl: ${label}: row ${i} is step ${steps[i]}, not ${
            i + 1
          }: S(t) = Σ lr needs the learning rate of ` +
            `every step from 1 (a run's metrics.arrow has them)`,
        );
      }
      if (!(lrs[i] >= 0 && lrs[i] < Infinity)) {
        throw new Error(
          `zsl: ${label}: the learning rate of step ${steps[i]} is ${lrs[i]}: it must be finite, ≥ 0`,
        );
      }
      sum.add(lrs[i]);
      areas[i + 1] = sum.value;
    }
    if (!(areas[steps.length] > 0)) throw new Error(`zsl: ${label}: every learning rate is 0`);
    this.areas = areas;
  }

  /** The last step T. */
  get finalStep(): number {
    return this.areas.length - 1;
  }

  /** S at a (possibly fractional) step in [0, T], linear between whole steps; NaN outside. */
  at(step: number): number {
    if (!(step >= 0 && step <= this.finalStep)) return NaN;
    const below = Math.floor(step);
    if (below === step) return this.areas[below];
    return this.areas[below] + (step - below) * (this.areas[below + 1] - this.areas[below]);
  }

  /** The (fractional) step at which S reaches `area`: the inverse of `at`; NaN outside [0, S(T)]. */
  stepAt(area: number): number {
    const areas = this.areas;
    const last = areas[areas.length - 1];
    // S(T) summed in another order may differ in the last bits.
    if (area > last && area <= last * (1 + 1e-12)) return areas.length - 1;
    if (!(area >= 0 && area <= last)) return NaN;
    let lo = 0;
    let hi = areas.length - 1;
    // The first step whose S reaches `area` (S does not decrease).
    while (lo < hi) {
      const middle = (lo + hi) >> 1;
      if (areas[middle] >= area) hi = middle;
      else lo = middle + 1;
    }
    if (lo === 0 || areas[lo] === area) return lo;
    return lo - 1 + (area - areas[lo - 1]) / (areas[lo] - areas[lo - 1]);
  }
}

/** The fit of a loss curve against S, and where its break lies in steps. */
export interface LrAreaFit {
  /** The broken power law fitted with x = S (its `tD`, `tDRange`, curves and reasons are on the S axis). */
  fit: DecelerationFit;
  /** The curve's S at every step. */
  area: LrArea;
  /** The step at which S reaches the fit's t_d. */
  tDSteps: number;
}

/**
 * Fits the broken power law to a loss curve against S(t) = Σ_{s≤t} lr(s): the same preprocessing on the
 * steps (log moving average, log-grid subsample, the first transient cut at `minStep` steps), then the
 * points' x replaced by S. `options` are `fitDeceleration`'s, `minStep` in steps; the warmup rule applies to
 * the step at which S reaches t_d. The initial break is the middle of the fitted log-S range.
 */
export function fitLrArea(
  steps: ArrayLike<number>,
  losses: ArrayLike<number>,
  lrs: ArrayLike<number>,
  options: Omit<DecelerationOptions, "stepAt" | "axis" | "d1Guess"> = {},
): LrAreaFit {
  const label = options.label ?? "the curve";
  const area = new LrArea(steps, lrs, label);
  if (losses.length !== steps.length) {
    throw new Error(`zsl: ${label}: ${steps.length} steps but ${losses.length} losses`);
  }
  const minStep = options.minStep ?? defaultMinStep(area.finalStep);
  const curve = options.preprocess ?? true ? preprocessLossCurve(steps, losses, minStep) : {
    steps: Float64Array.from(steps),
    losses: Float64Array.from(losses),
    fitted: Array.from(steps, (step) => step > minStep),
  };
  const x = curve.steps.map((step) => area.at(step));
  const fittedX = x.filter((_, k) => curve.fitted[k]);
  // Points are fitted when their S exceeds S(minStep): the same points as the step fit's.
  const fit = fitDeceleration(x, curve.losses, {
    ...options,
    preprocess: false,
    minStep: area.at(Math.min(Math.max(minStep, 0), area.finalStep)),
    d1Guess: fittedX.length > 0 ? Math.sqrt(fittedX[0] * fittedX[fittedX.length - 1]) : undefined,
    stepAt: (value) => area.stepAt(value),
    axis: "S",
  });
  return { fit, area, tDSteps: area.stepAt(fit.tD) };
}
