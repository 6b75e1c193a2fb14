/**
 * The warmup control's verdict for each run, as the report's summary shows it beside every t_d. The
 * warmup-control analysis writes one verdict per group of runs that differ only in their warmup
 * (`warmup_verdict.arrow`) and the runs of each group (`warmup_control.arrow`, src/results/warmup.ts);
 * {@linkcode readWarmupVerdicts} joins the two by group, so that every run compared carries its group's
 * verdict. A sweep without those tables, or whose models each trained with one warmup, reads as "no warmup
 * control in this sweep".
 *
 * @module
 */
import { readWarmupControl, WARMUP_VERDICT_TABLE, WARMUP_VERDICTS } from "./warmup.ts";
import type { WarmupVerdict } from "./warmup.ts";

/** A run, the group of runs it was compared with (the same in everything but the warmup) and its verdict. */
export interface RunWarmupVerdict {
  /** The run's name, as `name` in `deceleration.arrow`. */
  run: string;
  /** The group of runs compared (`group` in the warmup tables). */
  group: string;
  /** This run's warmup in steps. */
  warmup: number;
  /** The group's verdict: one of {@linkcode WARMUP_VERDICTS}. */
  verdict: WarmupVerdict;
  /** Why, in one short line (the verdict row's `why`). */
  detail: string;
}

/**
 * The verdicts of the sweep whose results are in `resultsDir`, by run name; null when the sweep has no
 * warmup control. A verdict that is not one of {@linkcode WARMUP_VERDICTS} is an error naming the file.
 */
export async function readWarmupVerdicts(resultsDir: string): Promise<Map<string, RunWarmupVerdict> | null> {
  const control = await readWarmupControl(resultsDir);
  if (control === null) return null;
  for (const row of control.verdicts) {
    if (!WARMUP_VERDICTS.includes(row.verdict)) {
      throw new Error(
        `zsl: ${WARMUP_VERDICT_TABLE.file} gives group ${row.group} the verdict "${row.verdict}", which is ` +
          `not one of ${WARMUP_VERDICTS.map((v) => `"${v}"`).join(", ")}: rerun the sweep's analyses`,
      );
    }
  }
  // A group of one warmup is no control: its runs read as "no warmup control in this sweep".
  const byGroup = new Map(control.verdicts.filter((row) => row.runs > 1).map((row) => [row.group, row]));
  const verdicts = new Map<string, RunWarmupVerdict>();
  for (const row of control.rows) {
    const group = byGroup.get(row.group);
    if (!group) continue;
    verdicts.set(row.run, {
      run: row.run,
      group: row.group,
      warmup: row.warmup,
      verdict: group.verdict,
      detail: group.why,
    });
  }
  return verdicts.size > 0 ? verdicts : null;
}
