/**
 * The deceleration fits of a set of loss curves as result rows: one {@linkcode DecelerationRow} per model
 * (`deceleration.arrow`), the points figure F1 draws (`deceleration_curves.arrow`), and each model's break.
 *
 * @module
 */
import type {
  DecelerationBreak,
  DecelerationCurveRow,
  DecelerationRow,
  LrAreaCurveRow,
} from "../../results/deceleration.ts";
import type { LossCurve } from "../../results/loss_curves.ts";
import { uniqueNames } from "../../util/names.ts";
import type { DecelerationFit, DecelerationOptions } from "./fit.ts";
import { fitDeceleration } from "./fit.ts";
import { fitLrArea, type LrAreaFit } from "./lr_area.ts";

/** A fitted model: its name and its fit. */
export interface NamedFit {
  /** The model's name: the `name` column, and the row label of the tables. */
  name: string;
  /** Its fit, from `fitDeceleration`. */
  fit: DecelerationFit;
  /** The run's warmup in steps (undefined: unknown). */
  warmup?: number;
  /** The fit against the learning-rate area S (`fitLrArea`); null when there is none. */
  lrArea?: LrAreaFit | null;
  /** Why there is no fit against S (no learning rates, or the fit failed). */
  lrAreaReason?: string;
}

/**
 * Fits every curve (names made unique in order: ` #2`, ` #3`, … for repeats) against the step, with the
 * curve's warmup for the warmup rule, and, where the curve has its learning rates, against the learning-rate
 * area S. A curve that cannot be fitted against the step is an error naming its file; one that cannot be
 * fitted against S gets the reason.
 */
export function fitCurves(
  curves: readonly LossCurve[],
  options: Omit<DecelerationOptions, "label" | "warmup" | "stepAt" | "axis"> = {},
): NamedFit[] {
  const names = uniqueNames(curves.map((curve) => curve.name));
  return curves.map((curve, i) => {
    const settings = { ...options, label: curve.source, warmup: curve.warmup };
    const fit = fitDeceleration(curve.steps, curve.losses, settings);
    let lrArea: LrAreaFit | null = null;
    let lrAreaReason = "the curve has no learning rates (a curve file, not a run directory)";
    if (curve.lrs) {
      try {
        const { d1Guess: _, ...rest } = settings;
        lrArea = fitLrArea(curve.steps, curve.losses, curve.lrs, rest);
        lrAreaReason = "";
      } catch (error) {
        lrAreaReason = (error as Error).message.replace(/^zsl: /, "");
      }
    }
    return { name: names[i], fit, warmup: curve.warmup, lrArea, lrAreaReason };
  });
}

/** The `deceleration.arrow` row of a fit. */
export function decelerationRow({ name, fit, warmup, lrArea, lrAreaReason }: NamedFit): DecelerationRow {
  const e = fit.errors;
  const s = lrArea?.fit;
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
    warmup: warmup ?? NaN,
    atWarmupEnd: fit.atWarmupEnd,
    lrAreaFinal: lrArea ? lrArea.area.at(lrArea.area.finalStep) : NaN,
    lrAreaAtTD: lrArea ? lrArea.area.at(fit.tD) : NaN,
    lrAreaAtWarmup: lrArea && warmup !== undefined ? lrArea.area.at(warmup) : NaN,
    tDLrArea: s?.tD ?? NaN,
    tDLrAreaMin: s?.tDRange[0] ?? NaN,
    tDLrAreaMax: s?.tDRange[1] ?? NaN,
    tDLrAreaSteps: lrArea?.tDSteps ?? NaN,
    lossDLrArea: s?.lossD ?? NaN,
    rateDLrArea: s?.rateD ?? NaN,
    rateDLrAreaErr: s?.errors.rateD ?? NaN,
    rsleLrArea: s?.rsle ?? NaN,
    identifiedLrArea: s?.identified ?? false,
    reasonsLrArea: s ? s.reasons.join("; ") : lrAreaReason ?? "no fit against S",
  };
}

/** A fit's lines as (series, x, loss) points, x its own axis (non-positive x or loss left out). */
function fitLines(
  fit: DecelerationFit,
): { series: DecelerationCurveRow["series"]; x: number; loss: number }[] {
  const points: { series: DecelerationCurveRow["series"]; x: number; loss: number }[] = [];
  const push = (series: DecelerationCurveRow["series"], xs: ArrayLike<number>, losses: ArrayLike<number>) => {
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] > 0 && losses[i] > 0) points.push({ series, x: xs[i], loss: losses[i] });
    }
  };
  push("smoothed", fit.curve.steps, fit.curve.losses);
  push("fit", fit.fitCurve.steps, fit.fitCurve.losses);
  if (fit.identified) {
    push("pre-break", fit.preBreak.steps, fit.preBreak.losses);
    push("post-break", fit.postBreak.steps, fit.postBreak.losses);
  }
  return points;
}

/**
 * The points of F1 of a fit: the smoothed curve, the BNSL and, when the break is identified, the
 * pre-break line up to t_d and the post-break line (points with a non-positive step or loss, which a log
 * axis cannot show, are left out).
 */
export function decelerationCurveRows({ name, fit }: NamedFit): DecelerationCurveRow[] {
  return fitLines(fit).map(({ series, x, loss }) => ({ model: name, series, step: x, loss }));
}

/** The points of F1's view against S of a fit against S, as {@linkcode decelerationCurveRows} (none without one). */
export function lrAreaCurveRows({ name, lrArea }: NamedFit): LrAreaCurveRow[] {
  if (!lrArea) return [];
  return fitLines(lrArea.fit).map(({ series, x, loss }) => ({ model: name, series, lrArea: x, loss }));
}

/** The break of a fit: t_d and its range when identified, else null. */
export function decelerationBreak(fit: DecelerationFit): DecelerationBreak | null {
  return fit.identified ? { tD: fit.tD, tDRange: fit.tDRange } : null;
}
