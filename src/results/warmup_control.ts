/**
 * The warmup control's verdicts, as the report's summary reads them: for each run, whether its break
 * follows the learning-rate warmup. This is the contract between the warmup-control analysis (which
 * compares runs that differ only in their warmup, and writes the verdicts) and the presenters (which show
 * one beside every t_d): the analysis writes {@linkcode WARMUP_VERDICTS_TABLE} with
 * `writeTable(resultsDir, WARMUP_VERDICTS_TABLE, rows)`, one row per run of each group it compared; the
 * presenters call {@linkcode readWarmupVerdicts}, and a sweep without the table reads as "no warmup
 * control in this sweep".
 *
 * @module
 */
import { readTableIfPresent, type TableSchema, tableSchema } from "./table.ts";

/** What the warmup control says about a run's break. */
export type WarmupVerdict = "follows the warmup" | "independent of the warmup" | "undetermined";

/** The verdicts, in the order of {@linkcode WarmupVerdict}. */
export const WARMUP_VERDICTS: readonly WarmupVerdict[] = [
  "follows the warmup",
  "independent of the warmup",
  "undetermined",
];

/**
 * One row of `warmup_verdicts.arrow`: a run, the group of runs it was compared with (the same in
 * everything but the warmup) and the group's verdict. Every run of a group carries the group's verdict.
 */
export interface WarmupVerdictRow {
  /** `run` (utf8): the run's name, as `name` in `deceleration.arrow`. */
  run: string;
  /** `group` (utf8): the runs compared, named for a reader (e.g. "cpu-s, seed 0"). */
  group: string;
  /** `warmup` (float64, steps): this run's warmup. */
  warmup: number;
  /** `verdict` (utf8): one of {@linkcode WARMUP_VERDICTS}. */
  verdict: WarmupVerdict;
  /** `detail` (utf8): the numbers behind the verdict, one short line (e.g. "slope 0.93 ± 0.12, 4 warmups"). */
  detail: string;
}

/** `warmup_verdicts.arrow` in `SWEEP/results/`: one {@linkcode WarmupVerdictRow} per run compared. */
export const WARMUP_VERDICTS_TABLE: TableSchema<WarmupVerdictRow> = tableSchema("warmup_verdicts.arrow", {
  run: ["run", "string"],
  group: ["group", "string"],
  warmup: ["warmup", "float64"],
  verdict: ["verdict", "string"],
  detail: ["detail", "string"],
});

/**
 * The verdicts of the sweep whose results are in `resultsDir`, by run name; null when the sweep has no
 * warmup control (no `warmup_verdicts.arrow`). A verdict that is not one of {@linkcode WARMUP_VERDICTS} is
 * an error naming the file.
 */
export async function readWarmupVerdicts(resultsDir: string): Promise<Map<string, WarmupVerdictRow> | null> {
  const rows = await readTableIfPresent(resultsDir, WARMUP_VERDICTS_TABLE);
  if (rows === null) return null;
  for (const row of rows) {
    if (!WARMUP_VERDICTS.includes(row.verdict)) {
      throw new Error(
        `zsl: ${WARMUP_VERDICTS_TABLE.file} gives run ${row.run} the verdict "${row.verdict}", which is not ` +
          `one of ${WARMUP_VERDICTS.map((v) => `"${v}"`).join(", ")}: rerun the warmup-control analysis`,
      );
    }
  }
  return new Map(rows.map((row) => [row.run, row]));
}
