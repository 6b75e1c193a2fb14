/**
 * The deceleration fits of a set of loss curves as result rows: one {@linkcode DecelerationRow} per model
 * (`deceleration.arrow`), the points figure F1 draws (`deceleration_curves.arrow`), and each model's break.
 *
 * @module
 */
import type { DecelerationBreak, DecelerationCurveRow, DecelerationRow } from "../../results/deceleration.ts";
import type { LossCurve } from "../../results/loss_curves.ts";
import { uniqueNames } from "../../util/names.ts";
import type { DecelerationFit, DecelerationOptions } from "./fit.ts";
import { fitDeceleration } from "./fit.ts";

/** A fitted model: its name and its fit. */
export interface NamedFit {
  /** The model's name: the `name` column, and the row label of the tables. */
  name: string;
  /** Its fit, from `fitDeceleration`. */
  fit: DecelerationFit;
}

/**
 * Fits every curve (names made unique in order: ` #2`, ` #3`, … for repeats). A curve that cannot be
 * fitted is an error naming its file.
 */
export function fitCurves(
  curves: readonly LossCurve[],
  options: Omit<DecelerationOptions, "label"> = {},
): NamedFit[] {
  const names = uniqueNames(curves.map((curve) => curve.name));
  return curves.map((curve, i) => ({
    name: names[i],
    fit: fitDeceleration(curve.steps, curve.losses, { ...options, label: curve.source }),
  }));
}

/** The `deceleration.arrow` row of a fit. */
export function decelerationRow({ name, fit }: NamedFit): DecelerationRow {
  const e = fit.errors;
  return {
    name,
    identified: fit.identified,
    reasons: fit.reasons.join("; "),
    tDInRange: fit.tDInRange,
    nPoints: fit.nPoints,
    minStep: fit.minStep,
    d1Guess: fit.d1Guess,
    firstStep: fit.fittedRange[0],
    finalStep: fit.finalStep,
    b: fit.b,
    bErr: e.b,
    c0: fit.c0,
    c0Err: e.c0,
    c1: fit.c1,
    c1Err: e.c1,
    logD1: fit.logD1,
    logD1Err: e.logD1,
    d1: fit.d1,
    d1Err: e.d1,
    f1: fit.f1,
    f1Err: e.f1,
    tD: fit.tD,
    tDMin: fit.tDRange[0],
    tDMax: fit.tDRange[1],
    lossD: fit.lossD,
    lossDErr: e.lossD,
    rateD: fit.rateD,
    rateDErr: e.rateD,
    predictedFinalLoss: fit.predictedFinalLoss,
    predictedFinalLossErr: e.predictedFinalLoss,
    finalLoss: fit.finalLoss,
    rsle: fit.rsle,
    residualRatio: fit.residualRatio,
    sse: fit.sse,
    converged: fit.converged,
    iterations: fit.iterations,
  };
}

/**
 * The points of F1 of a fit: the smoothed curve, the BNSL and, when the break is identified, the
 * pre-break line up to t_d and the post-break line (points with a non-positive step or loss, which a log
 * axis cannot show, are left out).
 */
export function decelerationCurveRows({ name, fit }: NamedFit): DecelerationCurveRow[] {
  const rows: DecelerationCurveRow[] = [];
  const push = (
    series: DecelerationCurveRow["series"],
    steps: ArrayLike<number>,
    losses: ArrayLike<number>,
  ) => {
    for (let i = 0; i < steps.length; i++) {
      if (steps[i] > 0 && losses[i] > 0) rows.push({ model: name, series, step: steps[i], loss: losses[i] });
    }
  };
  push("smoothed", fit.curve.steps, fit.curve.losses);
  push("fit", fit.fitCurve.steps, fit.fitCurve.losses);
  if (fit.identified) {
    push("pre-break", fit.preBreak.steps, fit.preBreak.losses);
    push("post-break", fit.postBreak.steps, fit.postBreak.losses);
  }
  return rows;
}

/** The break of a fit: t_d and its range when identified, else null. */
export function decelerationBreak(fit: DecelerationFit): DecelerationBreak | null {
  return fit.identified ? { tD: fit.tD, tDRange: fit.tDRange } : null;
}
