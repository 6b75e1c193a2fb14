/**
 * The warmup control as the presenters show it: the headline that opens the report (does the break follow
 * the warmup, per model), `warmup_control.md`, and the report's first section.
 *
 * @module
 */
import type { WarmupControl, WarmupVerdictRow } from "../results/warmup.ts";
import { WARMUP_FIGURE, WARMUP_VERDICTS } from "../results/warmup.ts";
import { escapeHtml } from "../util/html.ts";
import { textTableHtml } from "./html.ts";
import { markdownTable } from "./markdown.ts";
import { warmupControlTable, warmupVerdictTable } from "./tables.ts";

/** The rule of the verdicts in one sentence (docs/method.md#warmup-control). */
export const WARMUP_RULE_TEXT: string =
  "Verdict (docs/method.md#warmup-control): the weighted slope of log t_d on log max(warmup, 1) over the " +
  "runs that break; it follows the warmup when the slope is ≥ 0.5 and 2 standard errors above 0, and is " +
  "independent of it when every run breaks, the slope is within 2 standard errors of 0 or of size ≤ 0.16 " +
  "(25% over a factor 4 in warmup) and t_d moves by " +
  "at most 25% from that of the longest warmup. A break within 2× of the end of its warmup is not shown as " +
  "deceleration (⚠ warmup end).";

function list(names: string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * The report's first lines: plainly, whether each model's break follows the warmup. One sentence per
 * verdict that some model has; with no control in the sweep (one warmup per model), a sentence saying so
 * and how many breaks lie at the warmup end.
 */
export function warmupHeadline(control: WarmupControl): string[] {
  const { rows, verdicts } = control;
  if (verdicts.length === 0) return [];
  // A model with one warmup has no control (its `warmups` lists one value).
  const controlled = verdicts.filter((row) => row.warmups.includes(","));
  const lines: string[] = [];
  if (controlled.length === 0) {
    const atEnd = rows.filter((row) => row.atWarmupEnd).map((row) => row.run);
    lines.push(
      "No warmup control: every model trained with one warmup, so a break cannot be told apart from the end " +
        'of the warmup. Add "warmups" to the sweep (for example [30, 8, 0]) to measure it.',
    );
    if (atEnd.length > 0) {
      lines.push(
        `The break of ${
          list(atEnd)
        } lies within 2× of the end of the warmup: it is not shown as deceleration.`,
      );
    }
    return lines;
  }
  const byVerdict = (verdict: string) => controlled.filter((row) => row.verdict === verdict);
  const describe = (rows: WarmupVerdictRow[]) => list(rows.map((row) => `${row.group} (${row.why})`));
  for (const verdict of WARMUP_VERDICTS) {
    const own = byVerdict(verdict);
    if (own.length === 0) continue;
    if (verdict === "follows the warmup") {
      lines.push(
        `The break follows the warmup for ${describe(own)}: it marks the end of the warmup, not the ` +
          `paper's deceleration.`,
      );
    } else if (verdict === "independent of the warmup") {
      lines.push(`The break is independent of the warmup for ${describe(own)}.`);
    } else {
      lines.push(`Whether the break follows the warmup is undetermined for ${describe(own)}.`);
    }
  }
  const single = verdicts.length - controlled.length;
  if (single > 0) {
    lines.push(
      `${single} model${single === 1 ? "" : "s"} trained with one warmup only: ` +
        `${list(verdicts.filter((row) => !controlled.includes(row)).map((row) => row.group))}.`,
    );
  }
  return lines;
}

/** `warmup_control.md`: the headline, the rule, the verdicts and the runs. */
export function warmupMarkdown(control: WarmupControl): string {
  return [
    "# Warmup control",
    "",
    ...warmupHeadline(control).flatMap((line) => [line, ""]),
    WARMUP_RULE_TEXT,
    "",
    ...markdownTable(warmupVerdictTable(control.verdicts)),
    "",
    ...markdownTable(warmupControlTable(control.rows)),
    "",
  ].join("\n");
}

/**
 * The report's warmup section: the headline (unless the page shows it already, `headline: false`), then with
 * a control the verdict table and a link to the figure; the rule and the per-run table folded under them.
 */
export function warmupSectionHtml(control: WarmupControl, options: { headline?: boolean } = {}): string {
  const controlled = control.verdicts.some((row) => row.warmups.includes(","));
  const figure = control.rows.some((row) => row.breakFound)
    ? `<p>Figure: <a href="#figure-${WARMUP_FIGURE}">t_d against the warmup</a>.</p>`
    : "";
  return [
    ...(options.headline === false ? [] : warmupHeadlineHtml(control)),
    controlled ? textTableHtml(warmupVerdictTable(control.verdicts)) : "",
    controlled ? figure : "",
    `<details><summary>The rule${controlled ? "" : ", the verdicts"} and the runs</summary>`,
    `<p class="note">${escapeHtml(WARMUP_RULE_TEXT)}</p>`,
    controlled ? "" : textTableHtml(warmupVerdictTable(control.verdicts)),
    textTableHtml(warmupControlTable(control.rows)),
    controlled ? "" : figure,
    "</details>",
  ].filter(Boolean).join("\n");
}

/** {@linkcode warmupHeadline} as the paragraphs that open the report. */
export function warmupHeadlineHtml(control: WarmupControl): string[] {
  return warmupHeadline(control).map((line) => `<p class="headline"><b>${escapeHtml(line)}</b></p>`);
}
