/**
 * The deceleration report of a set of runs: fits, `deceleration.arrow`, `deceleration.md` and figure
 * F1, written only after every fit succeeded (so a bad input leaves nothing half-written).
 *
 * @module
 */
import { encodeArrow } from "../../io/arrow.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import { decelerationFigureSpec } from "../../plot/deceleration.ts";
import { renderChartToMemory, writeRenderedChart } from "../../plot/render.ts";
import { join } from "../../util/path.ts";
import { readLossCurve } from "./curves.ts";
import { fitDeceleration } from "./fit.ts";
import type { DecelerationOptions } from "./fit.ts";
import { decelerationColumns, decelerationMarkdown } from "./report.ts";
import type { NamedFit } from "./report.ts";

/** Names made unique by suffixing repeats with ` #2`, ` #3`, …. */
export function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name} #${count}`;
  });
}

/**
 * Fits every input (run directories or step/loss Arrow or CSV files) and writes the report into
 * `out`: `deceleration.arrow`, `deceleration.md`, `deceleration_f1.{vl.json,svg,png}`.
 */
export async function writeDecelerationReport(
  inputs: string[],
  out: string,
  options: Pick<DecelerationOptions, "preprocess" | "minStep" | "d1Guess"> = {},
): Promise<{ models: NamedFit[]; files: string[] }> {
  const preprocess = options.preprocess ?? true;
  const curves = [];
  for (const path of inputs) curves.push(await readLossCurve(path));
  const names = uniqueNames(curves.map((curve) => curve.name));
  const models: NamedFit[] = curves.map((curve, i) => ({
    name: names[i],
    fit: fitDeceleration(curve.steps, curve.losses, { ...options, preprocess, label: curve.source }),
  }));
  const preamble = "Inputs: " + curves.map((curve, i) => `${names[i]} (${curve.source})`).join(", ") + ". " +
    (preprocess
      ? "Preprocessing: log moving average (base 1.2) of the per-step loss, log-grid subsample."
      : "Points fitted as given (no preprocessing).") +
    ` Fitted steps: > ${[...new Set(models.map((m) => m.fit.minStep))].join(" / ")}.`;
  const arrowBytes = encodeArrow(decelerationColumns(models));
  const markdown = decelerationMarkdown(models, preamble);
  const figure = await renderChartToMemory(decelerationFigureSpec(models));
  const arrowPath = join(out, "deceleration.arrow");
  const markdownPath = join(out, "deceleration.md");
  const figurePaths = await writeRenderedChart(figure, join(out, "deceleration_f1"));
  await writeFileAtomic(markdownPath, markdown);
  await writeFileAtomic(arrowPath, arrowBytes);
  return { models, files: [arrowPath, markdownPath, figurePaths.vegaLite, figurePaths.svg, figurePaths.png] };
}
