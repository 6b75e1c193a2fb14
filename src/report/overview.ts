/**
 * The answer of a sweep in one table, one column per run: where the loss decelerates (t_d, with the
 * warmup control's verdict), the loss and rate there (L_d, r_d), loss interference at the window holding
 * the break and at the last window (D, M, |ΔL|), and gradient interference at the checkpoint before the
 * break (D(∇ℓ) beside its null at the same number of examples, docs/method.md#reading-d-against-its-null,
 * and C_g). `report.html` shows it right under T1.
 *
 * @module
 */
import type { DecelerationRow } from "../results/deceleration.ts";
import type { GradientInterferenceRow } from "../results/gradients.ts";
import type { Dt2tRow } from "../results/interference.ts";
import type { RunWarmupVerdict } from "../results/warmup_control.ts";
import { formatNumber, formatStepRange, formatWithError } from "../util/format.ts";
import { breakAndLastRows } from "./runs_table.ts";
import { interferenceNull, type TextTable } from "./tables.ts";

/** What the overview of one run is made of: rows of the result tables, picked for the run. */
export interface RunOverview {
  /** The run's name, as in the result tables. */
  run: string;
  /** Its deceleration fit (null: not fitted). */
  fit: DecelerationRow | null;
  /** Its LR warmup in steps (NaN: unknown). */
  warmup: number;
  /** The warmup control's verdict (null: the run was not compared; undefined: no control in the sweep). */
  verdict: RunWarmupVerdict | null | undefined;
  /** Δ_t^{2t} at the window t ≤ t_d < 2t (null: no identified break, or no such window). */
  breakWindow: Dt2tRow | null;
  /** Δ_t^{2t} at the last window. */
  lastWindow: Dt2tRow | null;
  /** Gradient interference at the last checkpoint t ≤ t_d (token examples when both were measured). */
  breakGradients: GradientInterferenceRow | null;
  /** Whether the run's gradient interference was measured at all. */
  gradientsMeasured: boolean;
}

/** What {@linkcode runOverviews} reads: the result tables of a sweep (null: the analysis did not run). */
export interface OverviewInput {
  /** The runs in report order (their names in the result tables). */
  runs: readonly string[];
  /** `deceleration.arrow`. */
  fits: readonly DecelerationRow[] | null;
  /** `interference_dt_2t.arrow`. */
  dt2t: readonly Dt2tRow[] | null;
  /** `gradient_interference.arrow`. */
  gradients: readonly GradientInterferenceRow[] | null;
  /** `warmup_verdicts.arrow` by run (null: the sweep has no warmup control). */
  verdicts: Map<string, RunWarmupVerdict> | null;
  /** Each run's warmup in steps. */
  warmups: Map<string, number>;
}

/** Each run's overview: the rows of the result tables at its break and at the end. */
export function runOverviews(input: OverviewInput): RunOverview[] {
  return input.runs.map((run) => {
    const fit = input.fits?.find((row) => row.name === run) ?? null;
    // "At the break" only where the fit identifies one: an unidentified t_d is no deceleration.
    const tD = fit?.identified ? fit.tD : NaN;
    const windows = breakAndLastRows(
      input.dt2t?.filter((row) => row.model === run) ?? [],
      (row) => row.t,
      tD,
    );
    const own = input.gradients?.filter((row) => row.run === run) ?? [];
    const granularity = own.some((row) => row.granularity === "token") ? "token" : own[0]?.granularity;
    const gradients = breakAndLastRows(
      own.filter((row) => row.granularity === granularity),
      (row) => row.step,
      tD,
    );
    return {
      run,
      fit,
      warmup: input.warmups.get(run) ?? NaN,
      verdict: input.verdicts === null ? undefined : input.verdicts.get(run) ?? null,
      breakWindow: windows.atBreak,
      lastWindow: windows.last,
      breakGradients: gradients.atBreak,
      gradientsMeasured: own.length > 0,
    };
  });
}

function verdictText(overview: RunOverview): string {
  if (overview.verdict === undefined) return "no warmup control in this sweep";
  if (overview.verdict === null) return "not compared";
  return overview.verdict.detail
    ? `${overview.verdict.verdict} (${overview.verdict.detail})`
    : overview.verdict.verdict;
}

function window(row: Dt2tRow | null, fit: DecelerationRow | null, last: boolean): string {
  if (row) return `${row.t} → ${row.t2}`;
  if (!last && fit && !fit.identified) return "no break identified";
  return "—";
}

/**
 * The overview as a text table, one column per run and one row per quantity (rows of analyses the sweep
 * did not run are left out).
 */
export function overviewTable(overviews: readonly RunOverview[]): TextTable {
  const rows: string[][] = [];
  const add = (label: string, cell: (overview: RunOverview) => string) =>
    rows.push([label, ...overviews.map(cell)]);
  const value = (number: number | undefined) => formatNumber(number ?? NaN);
  if (overviews.some((o) => o.fit)) {
    add(
      "t_d, steps (±1σ)",
      (o) =>
        !o.fit
          ? "—"
          : o.fit.identified
          ? formatStepRange(o.fit.tD, [o.fit.tDMin, o.fit.tDMax])
          : `not identified ⚠ (best fit ${Math.round(o.fit.tD)})`,
    );
  }
  add("LR warmup, steps", (o) => value(o.warmup));
  if (overviews.every((o) => o.verdict === undefined)) add("warmup control: none in this sweep", () => "—");
  else add("warmup control", verdictText);
  if (overviews.some((o) => o.fit)) {
    add("L_d, nats", (o) => o.fit ? formatWithError(o.fit.lossD, o.fit.lossDErr) : "—");
    add("r_d", (o) => o.fit ? formatWithError(o.fit.rateD, o.fit.rateDErr) : "—");
  }
  if (overviews.some((o) => o.lastWindow)) {
    add("break window t → 2t (Δ_t^{2t})", (o) => window(o.breakWindow, o.fit, false));
    add("D at the break", (o) => value(o.breakWindow?.D));
    add("M at the break, nats", (o) => value(o.breakWindow?.M));
    add("|ΔL| at the break, nats", (o) => value(o.breakWindow?.absDeltaL));
    add("last window t → 2t", (o) => window(o.lastWindow, o.fit, true));
    add("D at the last window", (o) => value(o.lastWindow?.D));
    add("M at the last window, nats", (o) => value(o.lastWindow?.M));
    add("|ΔL| at the last window, nats", (o) => value(o.lastWindow?.absDeltaL));
  }
  if (overviews.some((o) => o.gradientsMeasured)) {
    add("gradients at checkpoint t ≤ t_d", (o) => {
      const row = o.breakGradients;
      if (row) return `${row.step} (N = ${row.examples} ${row.granularity}s)`;
      return o.gradientsMeasured && o.fit && !o.fit.identified ? "no break identified" : "—";
    });
    add("D(∇ℓ) (noise gives 1 − 1/√N)", (o) => {
      const row = o.breakGradients;
      return row ? `${value(row.dGrad)} (noise ${value(interferenceNull(row.examples))})` : "—";
    });
    add("C_g", (o) => value(o.breakGradients?.cG));
  }
  return {
    caption: "Summary per run: the break, and loss and gradient interference at the break and at the end",
    headers: ["", ...overviews.map((o) => o.run)],
    rows,
    numeric: [false, ...overviews.map(() => true)],
    rowHeaders: true,
  };
}
