/**
 * The warmup control (docs/method.md#warmup-control): does a model's break follow its warmup? From runs that
 * differ only in warmup, the slope of log t_d against log max(w, 1) (warmup 0 and 1 are the same schedule:
 * the first update already takes the peak rate), and how far t_d moves across the warmups.
 *
 * The rule ({@linkcode WARMUP_RULE}):
 *
 * - **follows the warmup**: slope ≥ 0.5 and more than 2 standard errors above 0;
 * - **independent of the warmup**: every run breaks, |slope| ≤ 2 standard errors or ≤ 0.16 (a move of 25%
 *   over a factor 4 in warmup), and t_d moves by at most 25% from that of the longest warmup;
 * - **undetermined** otherwise: one warmup only, breaks at fewer than two warmups, or numbers between the two.
 *
 * A "break" here is a fitted break that passes every identification rule, or all of them but the warmup-end
 * rule (a break at the warmup end is exactly what the control measures).
 *
 * @module
 */
import type { DecelerationRow } from "../../results/deceleration.ts";
import type { WarmupControlRow, WarmupVerdict, WarmupVerdictRow } from "../../results/warmup.ts";

/** The thresholds of the verdict. */
export const WARMUP_RULE = {
  /** Smallest slope of log t_d on log warmup that counts as following the warmup. */
  followsMinSlope: 0.5,
  /** Standard errors the slope must lie from 0 (follows) or within (independent). */
  sigmas: 2,
  /** Largest relative change of t_d from that of the longest warmup for "independent". */
  independentMaxChange: 0.25,
  /**
   * Largest |slope| that is flat whatever its standard error: log 1.25 / log 4, t_d moving by 25% over a
   * factor 4 in warmup. The fit's errors of t_d are one curve's; the seed moves t_d by far more (up to ±45%
   * in docs/warmup-study.md), so a slope this small is no evidence of following the warmup even when it
   * lies several of those errors from 0.
   */
  flatMaxSlope: Math.log(1.25) / Math.log(4),
  /** Smallest log-space error of a t_d (a floor on the weights). */
  minLogError: 0.01,
} as const;

/** A run of a warmup control: its model, its warmup and its fit. */
export interface WarmupControlInput {
  /** The model: runs that differ only in warmup share it. */
  group: string;
  /** The run's warmup in steps. */
  warmup: number;
  /** Its `deceleration.arrow` row (its `name` is the run). */
  fit: DecelerationRow;
}

/** The rows of `warmup_control.arrow`, grouped by model in order of first appearance, then by warmup. */
export function warmupControlRows(inputs: readonly WarmupControlInput[]): WarmupControlRow[] {
  const order = [...new Set(inputs.map((input) => input.group))];
  const sorted = [...inputs].sort((a, b) =>
    order.indexOf(a.group) - order.indexOf(b.group) || a.warmup - b.warmup
  );
  return sorted.map(({ group, warmup, fit }) => {
    if (!(Number.isInteger(warmup) && warmup >= 0)) {
      throw new Error(`zsl: run ${fit.name} has warmup ${warmup}: a warmup is a whole number of steps ≥ 0`);
    }
    return {
      group,
      run: fit.name,
      warmup,
      breakFound: fit.identified || fit.atWarmupEnd,
      identified: fit.identified,
      atWarmupEnd: fit.atWarmupEnd,
      tD: fit.tD,
      tDMin: fit.tDMin,
      tDMax: fit.tDMax,
      tDOverWarmup: warmup > 0 ? fit.tD / warmup : NaN,
      tDLrArea: fit.tDLrArea,
      identifiedLrArea: fit.identifiedLrArea,
      reasons: fit.reasons,
    };
  });
}

/** A weighted line log t_d = intercept + slope·log max(w, 1). */
export interface WarmupSlope {
  /** The slope. */
  slope: number;
  /** Its standard error: from the t_d errors, times sqrt(χ²/dof) when that exceeds 1 (scatter beyond them). */
  slopeErr: number;
  /** log t_d at warmup ≤ 1. */
  intercept: number;
  /** χ² per degree of freedom (NaN with two points). */
  chi2PerDof: number;
}

/**
 * Weighted least squares of y = log t_d on x = log max(w, 1), each point weighted by 1/σ² with σ = half the
 * width of its log t_d range (at least {@linkcode WARMUP_RULE}.minLogError). NaN values when fewer than two
 * distinct x.
 */
export function warmupSlope(
  points: readonly { warmup: number; tD: number; tDMin: number; tDMax: number }[],
): WarmupSlope {
  const xs = points.map((point) => Math.log(Math.max(point.warmup, 1)));
  const ys = points.map((point) => Math.log(point.tD));
  const ws = points.map((point) => {
    const sigma = (Math.log(point.tDMax) - Math.log(point.tDMin)) / 2;
    return 1 / Math.max(Number.isFinite(sigma) ? sigma : Infinity, WARMUP_RULE.minLogError) ** 2;
  });
  const none = { slope: NaN, slopeErr: NaN, intercept: NaN, chi2PerDof: NaN };
  if (new Set(xs).size < 2) return none;
  const total = ws.reduce((a, b) => a + b, 0);
  const mx = xs.reduce((sum, x, k) => sum + ws[k] * x, 0) / total;
  const my = ys.reduce((sum, y, k) => sum + ws[k] * y, 0) / total;
  let sxx = 0;
  let sxy = 0;
  for (let k = 0; k < xs.length; k++) {
    sxx += ws[k] * (xs[k] - mx) ** 2;
    sxy += ws[k] * (xs[k] - mx) * (ys[k] - my);
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const chi2 = xs.reduce((sum, x, k) => sum + ws[k] * (ys[k] - intercept - slope * x) ** 2, 0);
  const dof = xs.length - 2;
  const chi2PerDof = dof > 0 ? chi2 / dof : NaN;
  const scale = dof > 0 ? Math.max(1, Math.sqrt(chi2PerDof)) : 1;
  return { slope, slopeErr: scale / Math.sqrt(sxx), intercept, chi2PerDof };
}

function steps(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value)) : "—";
}

/** The verdict of one model's runs (all of one group), by {@linkcode WARMUP_RULE}. */
export function warmupVerdict(group: string, rows: readonly WarmupControlRow[]): WarmupVerdictRow {
  const warmups = [...new Set(rows.map((row) => row.warmup))].sort((a, b) => a - b);
  const breaks = rows.filter((row) => row.breakFound);
  const fit = warmupSlope(breaks);
  const longest = breaks.reduce<WarmupControlRow | null>(
    (best, row) => (best === null || row.warmup > best.warmup ? row : best),
    null,
  );
  const tDChange = longest && breaks.length > 1
    ? Math.max(...breaks.map((row) => Math.abs(row.tD / longest.tD - 1)))
    : NaN;
  const base = {
    group,
    runs: rows.length,
    warmups: warmups.join(", "),
    breaks: breaks.length,
    ...fit,
    tDChange,
  };
  const verdict = (verdict: WarmupVerdict, why: string): WarmupVerdictRow => ({ ...base, verdict, why });
  const { followsMinSlope, sigmas, independentMaxChange, flatMaxSlope } = WARMUP_RULE;
  if (warmups.length < 2) {
    const atEnd = rows.filter((row) => row.atWarmupEnd).length;
    return verdict(
      "undetermined",
      `one warmup only (${warmups.join(", ")} steps): no control` +
        (atEnd > 0 ? `; the break lies within 2× of the warmup end` : ""),
    );
  }
  // Warmups 0 and 1 are one schedule (the first update takes the peak rate): no control between them.
  if (new Set(warmups.map((warmup) => Math.max(warmup, 1))).size < 2) {
    return verdict(
      "undetermined",
      `warmups ${warmups.join(" and ")} are the same schedule (the first update takes the peak rate): ` +
        `no control; compare with a longer warmup`,
    );
  }
  const breakWarmups = new Set(breaks.map((row) => Math.max(row.warmup, 1)));
  if (breakWarmups.size < 2) {
    return verdict(
      "undetermined",
      `a break at ${breaks.length === 0 ? "no" : "only one"} warmup of ${warmups.length}` +
        (breaks.length > 0
          ? `: warmup ${breaks[0].warmup}, t_d = ${steps(breaks[0].tD)}${
            breaks[0].atWarmupEnd ? ", at the warmup end" : ""
          }`
          : ""),
    );
  }
  const slopeText = `slope ${fit.slope.toFixed(2)} ± ${fit.slopeErr.toFixed(2)}`;
  const changeText = `t_d moves by ${(100 * tDChange).toFixed(0)}%`;
  if (fit.slope >= followsMinSlope && fit.slope > sigmas * fit.slopeErr) {
    return verdict("follows the warmup", `${slopeText} (≥ ${followsMinSlope}, > ${sigmas} s.e. from 0)`);
  }
  const missing = rows.filter((row) => !row.breakFound).map((row) => row.warmup);
  const withinErrors = Math.abs(fit.slope) <= sigmas * fit.slopeErr;
  const flat = withinErrors || Math.abs(fit.slope) <= flatMaxSlope;
  if (flat && tDChange <= independentMaxChange && missing.length === 0) {
    const flatText = withinErrors ? `within ${sigmas} s.e. of 0` : `|slope| ≤ ${flatMaxSlope.toFixed(2)}`;
    return verdict(
      "independent of the warmup",
      `${slopeText} (${flatText}), ${changeText} (≤ ${100 * independentMaxChange}%)`,
    );
  }
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`no break at warmup ${missing.join(", ")}`);
  if (!flat) {
    problems.push(
      `${slopeText}: neither ≥ ${followsMinSlope} nor within ${sigmas} s.e. of 0 or ${
        flatMaxSlope.toFixed(2)
      }`,
    );
  } else if (fit.slope >= followsMinSlope) problems.push(`${slopeText}: not ${sigmas} s.e. from 0`);
  else problems.push(`${slopeText}`);
  if (tDChange > independentMaxChange) problems.push(`${changeText} (> ${100 * independentMaxChange}%)`);
  return verdict("undetermined", problems.join("; "));
}

/** The rows of `warmup_verdict.arrow`: one per model of `rows`, in order of first appearance. */
export function warmupVerdicts(rows: readonly WarmupControlRow[]): WarmupVerdictRow[] {
  const groups = new Map<string, WarmupControlRow[]>();
  for (const row of rows) groups.set(row.group, [...groups.get(row.group) ?? [], row]);
  return [...groups].map(([group, own]) => warmupVerdict(group, own));
}
