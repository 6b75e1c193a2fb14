/**
 * The figures and presenters of issue 14 as specs and text: the warmup control (t_d against the warmup, the
 * line t_d = warmup and its 2× band, error bars from the t_d ranges), F1's caption and warmup rules, F1 against
 * the learning-rate area, the noise scale beside D(∇ℓ), and the report's warmup headline.
 */
import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { bandExtent, layers, lineLayer, panels, type Spec, values, yField } from "./figure_helpers.ts";
import { warmupControlFigureSpec, type WarmupPoint } from "../src/plot/warmup.ts";
import { noiseScaleFigureSpec, type NoiseScaleRow } from "../src/plot/gradients.ts";
import {
  decelerationFigure,
  lrAreaFigure,
  noiseScaleRows,
  warmupControlFigure,
  warmupEndNotes,
} from "../src/report/figures.ts";
import { warmupHeadline, warmupMarkdown, warmupSectionHtml } from "../src/report/warmup.ts";
import { t1Table } from "../src/report/tables.ts";
import type { DecelerationCurveRow, DecelerationRow, LrAreaCurveRow } from "../src/results/deceleration.ts";
import type { GradientInterferenceRow } from "../src/results/gradients.ts";
import type { WarmupControlRow, WarmupVerdictRow } from "../src/results/warmup.ts";
import { chartToSvg } from "../src/plot/render.ts";

function encoding(layer: Spec): Record<string, Spec> {
  return layer.encoding as Record<string, Spec>;
}

function markType(layer: Spec): string | undefined {
  return (layer.mark as Spec | undefined)?.type as string | undefined;
}

const POINTS: WarmupPoint[] = [
  { model: "a", warmup: 0, tD: 40, tDMin: 36, tDMax: 44, status: "identified" },
  { model: "a", warmup: 30, tD: 45, tDMin: 40, tDMax: 50, status: "at the warmup end" },
  { model: "b", warmup: 120, tD: 300, tDMin: 280, tDMax: 330, status: "identified" },
];

Deno.test("warmup figure: t_d against the warmup on log axes, error bars, t_d = warmup and its 2× band", async () => {
  const spec = warmupControlFigureSpec(POINTS, {
    lines: [{ model: "a", slope: 0.05, intercept: Math.log(40), warmups: [0, 30] }],
  }) as unknown as Spec;
  const all = layers(spec);
  const band = all.find((layer) => markType(layer) === "area")!;
  const x = encoding(band).x;
  assertEquals([x.field, (x.scale as Spec).type], ["x", "log"]);
  for (const point of values<{ x: number; lo: number; hi: number }>(band)) {
    assertEquals([point.lo, point.hi], [point.x / 2, point.x * 2], "the band spans warmup/2 … 2·warmup");
  }
  const identity = all.find((layer) =>
    markType(layer) === "line" && values(layer)[0]?.tD === values(layer)[0]?.x
  );
  assert(identity, "no line t_d = warmup");
  const bars = all.find((layer) => markType(layer) === "rule")!;
  assertEquals([encoding(bars).y.field, encoding(bars).y2.field], ["lo", "hi"]);
  assertEquals(values<{ lo: number; hi: number }>(bars).map((row) => [row.lo, row.hi]), [[36, 44], [40, 50], [
    280,
    330,
  ]]);
  const points = all.find((layer) => markType(layer) === "point")!;
  // Warmup 0 is drawn at 1 (the same schedule as a 1-step warmup).
  assertEquals(values<{ x: number; tD: number }>(points).map((row) => [row.x, row.tD]), [[1, 40], [30, 45], [
    120,
    300,
  ]]);
  assertEquals((encoding(points).shape.scale as Spec).domain, ["identified", "at the warmup end"]);
  assertEquals(encoding(points).color.field, "model");
  const fitted = all.find((layer) => markType(layer) === "line" && encoding(layer).color !== undefined)!;
  const ends = values<{ x: number; tD: number }>(fitted);
  assertEquals(ends.map((row) => row.x), [1, 30]);
  assert(Math.abs(ends[1].tD - 40 * 30 ** 0.05) < 1e-9, `fitted line at 30: ${ends[1].tD}`);
  assert((await chartToSvg(spec as never)).includes("Warmup steps"), "renders with its axis");
  assertThrows(() => warmupControlFigureSpec([]), Error, "needs at least one break");
});

function controlRow(
  group: string,
  warmup: number,
  tD: number,
  breakFound: boolean,
  atEnd = false,
): WarmupControlRow {
  return {
    group,
    run: `${group}_w${warmup}`,
    warmup,
    breakFound,
    identified: breakFound && !atEnd,
    atWarmupEnd: atEnd,
    tD,
    tDMin: tD * 0.9,
    tDMax: tD * 1.1,
    tDOverWarmup: warmup > 0 ? tD / warmup : NaN,
    tDLrArea: NaN,
    identifiedLrArea: false,
    reasons: "",
  };
}

function verdictRow(
  group: string,
  verdict: WarmupVerdictRow["verdict"],
  warmups: string,
  why: string,
): WarmupVerdictRow {
  return {
    group,
    runs: warmups.split(",").length,
    warmups,
    breaks: 2,
    slope: 0.9,
    slopeErr: 0.1,
    intercept: 1,
    chi2PerDof: NaN,
    tDChange: 0.5,
    verdict,
    why,
  };
}

Deno.test("warmup figure from the tables: breaks found are drawn, runs without one are not", () => {
  const rows = [
    controlRow("a", 0, 10, false),
    controlRow("a", 8, 20, true, true),
    controlRow("a", 32, 70, true),
    controlRow("b", 8, 15, false),
  ];
  const spec = warmupControlFigure(rows, [
    verdictRow("a", "follows the warmup", "0, 8, 32", ""),
  ]) as unknown as Spec;
  const points = layers(spec).find((layer) => markType(layer) === "point")!;
  assertEquals(
    values<{ model: string; warmup: number; status: string }>(points).map((
      row,
    ) => [row.model, row.warmup, row.status]),
    [["a", 8, "at the warmup end"], ["a", 32, "identified"]],
  );
  const fitted = layers(spec).find((layer) =>
    markType(layer) === "line" && encoding(layer).color !== undefined
  )!;
  assertEquals(
    values<{ x: number }>(fitted).map((row) => row.x),
    [8, 32],
    "the line spans the warmups that break",
  );
  assertEquals((encoding(points).color.scale as Spec).domain, ["a", "b"], "every model keeps its colour");
});

/** A fit row with only what the figures read set. */
function fitRow(name: string, extra: Partial<DecelerationRow>): DecelerationRow {
  return {
    name,
    identified: true,
    atWarmupEnd: false,
    tD: 100,
    tDMin: 90,
    tDMax: 110,
    warmup: NaN,
    lrAreaAtWarmup: NaN,
    identifiedLrArea: false,
    tDLrArea: NaN,
    tDLrAreaMin: NaN,
    tDLrAreaMax: NaN,
    ...extra,
  } as DecelerationRow;
}

function curve(model: string, x: "step" | "lrArea", scale = 1): (DecelerationCurveRow & LrAreaCurveRow)[] {
  return [1, 10, 100, 1000].map((t) => ({
    model,
    series: "smoothed" as const,
    step: t * scale,
    lrArea: t * scale,
    loss: 5 * t ** -0.2,
    ...(x === "step" ? {} : {}),
  }));
}

Deno.test("F1: a break at the warmup end is named in the caption, not banded, and the warmup ends are drawn", () => {
  const rows = [
    fitRow("early", { identified: false, atWarmupEnd: true, tD: 44, warmup: 30 }),
    fitRow("late", { identified: true, tD: 300, tDMin: 280, tDMax: 320, warmup: 30 }),
    fitRow("file", { identified: true, tD: 200, tDMin: 150, tDMax: 250 }),
  ];
  const notes = warmupEndNotes(rows);
  assertEquals(
    notes[0],
    "⚠ Break at the warmup end (t_d within 2× of the warmup), not drawn as deceleration: early (t_d 44, warmup 30).",
  );
  const spec = decelerationFigure(
    [...curve("early", "step"), ...curve("late", "step"), ...curve("file", "step")],
    rows,
  ) as unknown as Spec;
  assertEquals((spec.title as Spec).subtitle, notes);
  assertEquals(bandExtent(spec), [150, 320], "the band: identified breaks only");
  const rules = layers(spec).find((layer) => markType(layer) === "rule")!;
  assertEquals(values(rules), [{ model: "early", step: 30 }, { model: "late", step: 30 }]);
  assertEquals(encoding(rules).x.field, "step");
  // Without warmup-end breaks: no caption, no title (as before).
  assertEquals((decelerationFigure(curve("file", "step"), [rows[2]]) as unknown as Spec).title, undefined);
});

Deno.test("F1 against S: x is the learning-rate area, the band the fits' t_d ranges in S", () => {
  const rows = [
    fitRow("a", {
      identifiedLrArea: true,
      tDLrArea: 0.1,
      tDLrAreaMin: 0.08,
      tDLrAreaMax: 0.12,
      warmup: 20,
      lrAreaAtWarmup: 0.011,
    }),
    fitRow("b", { identifiedLrArea: false, tDLrArea: 0.5, tDLrAreaMin: 0.1, tDLrAreaMax: 5 }),
  ];
  const spec = lrAreaFigure(
    [...curve("a", "lrArea", 1e-3), ...curve("b", "lrArea", 1e-3)],
    rows,
  ) as unknown as Spec;
  const line = lineLayer(spec);
  assertEquals(encoding(line).x.field, "lrArea");
  assert(
    String(encoding(line).x.title).startsWith("Cumulative learning rate"),
    String(encoding(line).x.title),
  );
  assertEquals(bandExtent(spec), [0.08, 0.12]);
  const rules = layers(spec).find((layer) => markType(layer) === "rule")!;
  assertEquals(values(rules), [{ model: "a", lrArea: 0.011 }]);
});

/** A gradient row with only what the noise-scale figure reads set. */
function gradientRow(
  run: string,
  step: number,
  granularity: string,
  bSimple: number,
): GradientInterferenceRow {
  return {
    run,
    step,
    granularity,
    dGrad: 0.9,
    bSimple,
    bSimpleTokens: granularity === "token" ? bSimple : bSimple * 63,
    batchExamples: granularity === "token" ? 16 * 63 : 16,
    batchTokens: 16 * 63,
  } as GradientInterferenceRow;
}

Deno.test("noise-scale figure: D(∇ℓ) beside B_simple on a log axis, the run's batch as a rule in its unit", () => {
  const rows: NoiseScaleRow[] = [1, 2, 4, 8].flatMap((step) => [
    { model: "a", step, granularity: "sequence", dGrad: 0.8 + step / 100, bSimple: 4 * step, batch: 16 },
    { model: "b", step, granularity: "sequence", dGrad: 0.9, bSimple: step === 1 ? NaN : 10, batch: 32 },
  ]);
  const spec = noiseScaleFigureSpec(rows, { band: [2, 3], unit: "sequences" }) as unknown as Spec;
  const [left, right] = panels(spec);
  assertEquals([yField(left), yField(right)], ["dGrad", "bSimple"]);
  const y = encoding(lineLayer(right)).y;
  assertEquals((y.scale as Spec).type, "log");
  assertEquals(y.title, "B_simple (sequences)");
  assertEquals(values(lineLayer(right)).length, 7, "the checkpoint without a finite B_simple is left out");
  const batch = layers(right).find((layer) => markType(layer) === "rule")!;
  assertEquals(values(batch), [{ model: "a", bSimple: 16 }, { model: "b", bSimple: 32 }]);
  assertEquals([bandExtent(left), bandExtent(right)], [[2, 3], [2, 3]]);
  assertThrows(
    () => noiseScaleFigureSpec(rows.map((row) => ({ ...row, bSimple: NaN }))),
    Error,
    "positive, finite B_simple",
  );
  // From the table: sequences when every row is, else tokens (B of sequence rows × T − 1).
  const sequences = noiseScaleRows([gradientRow("a", 1, "sequence", 5)]);
  assertEquals([sequences.unit, sequences.rows[0].bSimple, sequences.rows[0].batch], ["sequences", 5, 16]);
  const mixed = noiseScaleRows([gradientRow("a", 1, "sequence", 5), gradientRow("a", 1, "token", 400)]);
  assertEquals(mixed.unit, "tokens");
  assertEquals(mixed.rows.map((row) => [row.bSimple, row.batch]), [[315, 1008], [400, 1008]]);
});

Deno.test("report: the warmup headline says plainly whether the break follows the warmup", () => {
  const none = warmupHeadline({
    rows: [controlRow("cpu-xs", 30, 44, true, true), controlRow("cpu-s", 30, 37, true, true)],
    verdicts: [
      verdictRow("cpu-xs", "undetermined", "30", "one warmup only"),
      verdictRow("cpu-s", "undetermined", "30", "one warmup only"),
    ],
  });
  assert(none[0].startsWith("No warmup control:"), none[0]);
  // Without a control the section is its headline; the tables are folded (the section opens the report).
  const folded = warmupSectionHtml({
    rows: [controlRow("cpu-xs", 30, 44, true, true)],
    verdicts: [verdictRow("cpu-xs", "undetermined", "30", "one warmup only")],
  });
  assert(folded.indexOf("<details>") < folded.indexOf("<table>"), "a table outside <details>");
  assertEquals(
    none[1],
    "The break of cpu-xs_w30 and cpu-s_w30 lies within 2× of the end of the warmup: it is not shown as deceleration.",
  );
  const control = {
    rows: [controlRow("a", 0, 10, false), controlRow("a", 30, 70, true)],
    verdicts: [
      verdictRow("a", "follows the warmup", "0, 30", "slope 0.90 ± 0.10"),
      verdictRow("b", "independent of the warmup", "0, 8", "slope 0.01 ± 0.05"),
      verdictRow("c", "undetermined", "0, 8", "a break at no warmup of 2"),
      verdictRow("d", "undetermined", "30", "one warmup only"),
    ],
  };
  assertEquals(warmupHeadline(control), [
    "The break follows the warmup for a (slope 0.90 ± 0.10): it marks the end of the warmup, not the paper's deceleration.",
    "The break is independent of the warmup for b (slope 0.01 ± 0.05).",
    "Whether the break follows the warmup is undetermined for c (a break at no warmup of 2).",
    "1 model trained with one warmup only: d.",
  ]);
  const markdown = warmupMarkdown(control);
  assert(
    markdown.startsWith("# Warmup control\n\nThe break follows the warmup for a"),
    markdown.slice(0, 80),
  );
  assert(markdown.includes("| a | 0, 30 | 2/2 | 0.90 ± 0.10 | 50% | follows the warmup |"), markdown);
  const html = warmupSectionHtml(control);
  assert(html.indexOf("follows the warmup for a") < html.indexOf("<table>"), "the headline comes first");
  assert(html.includes('href="#figure-warmup_control"'), "links the figure");
});

Deno.test("T1: t_d against S beside t_d in steps, ⚠ where a fit is not identified or at the warmup end", () => {
  const table = t1Table([
    fitRow("a", {
      lossD: 2,
      lossDErr: 0.1,
      rateD: 0.1,
      rateDErr: 0.01,
      predictedFinalLoss: 1.5,
      predictedFinalLossErr: 0.1,
      finalLoss: 1.5,
      tDLrArea: 0.125,
      tDLrAreaMin: 0.12,
      tDLrAreaMax: 0.13,
      identifiedLrArea: true,
      lrAreaAtTD: 0.0996,
    }),
    fitRow("b", {
      identified: false,
      atWarmupEnd: true,
      lossD: 2,
      lossDErr: 0.1,
      rateD: 0.1,
      rateDErr: 0.01,
      predictedFinalLoss: 1,
      predictedFinalLossErr: 0.1,
      finalLoss: 1,
      lrAreaAtTD: NaN,
    }),
  ]);
  assertEquals(table.headers.slice(-2), ["t_d in S", "S(t_d)"]);
  assertEquals(table.rows[0].slice(-2), ["0.125 (0.120–0.130)", "0.0996"]);
  assertEquals([table.rows[1][0], ...table.rows[1].slice(-2)], ["b ⚠ warmup end", "—", "—"]);
});
