/**
 * The loss-interference figures (F2–F4, the probe) as specs: which field each panel draws, the encodings,
 * the band's extent from the fitted t_d ranges, F3's ringed windows; and the figures of result rows
 * (`src/report/figures.ts`) carry the table's values into the right panels. Plotting M in the D panel, or
 * dropping the band, fails here.
 */
import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { bandExtent, layers, lineLayer, panels, type Spec, values, yField } from "./figure_helpers.ts";
import {
  contourGrid,
  interferenceFigureSpec,
  type InterferencePoint,
  oneStepFigureSpec,
  type OneStepPoint,
  probeFigureSpec,
  trajectoryFigureSpec,
} from "../src/plot/interference.ts";
import { chartToSvg } from "../src/plot/render.ts";
import { checkpointPoints, interferenceFigures, oneStepPoints, probePoints } from "../src/report/figures.ts";
import type { Dt1Row, Dt2tRow } from "../src/results/interference.ts";
import type { DecelerationBreak } from "../src/results/deceleration.ts";

const BANDS = new Map<string, [number, number] | null>([["a", [20, 40]], ["b", null]]);

/** Two models' Δ_t^{2t} windows over t = 1 … 128: D rising, M falling. */
function windows(): InterferencePoint[] {
  return ["a", "b"].flatMap((model, m) =>
    Array.from({ length: 8 }, (_, e) => {
      const D = 0.2 + 0.7 * e / 7 - 0.05 * m;
      const M = 0.3 * 0.8 ** e;
      return { model, step: 2 ** e, stepEnd: 2 ** (e + 1), D, M, absDeltaL: M * (1 - D) };
    })
  );
}

function oneStep(): OneStepPoint[] {
  return ["a", "b"].flatMap((model) =>
    Array.from({ length: 8 }, (_, e) =>
      (["train", "eval"] as const).map((set) => ({
        model,
        step: 2 ** e,
        set,
        D: set === "train" ? 0.3 : 0.6,
        DStd: 0.05,
        M: 0.01,
        MStd: 0.02, // a band reaching below 0 on a log axis is cut at the axis
        absDeltaL: 0.007,
        absDeltaLStd: 0.001,
      }))).flat()
  );
}

Deno.test("figures: F2 draws D, M and |ΔL| in that order against the step, the band the union of the fits'", async () => {
  const points = windows();
  const spec = interferenceFigureSpec(points, { bands: BANDS }) as unknown as Spec;
  const [d, m, deltaL] = panels(spec);
  assertEquals([d, m, deltaL].map(yField), ["D", "M", "absDeltaL"]);
  for (const panel of [d, m, deltaL]) {
    const encoding = lineLayer(panel).encoding as Record<string, Spec>;
    assertEquals([encoding.x.field, encoding.color.field], ["step", "model"]);
    assertEquals([(encoding.x.scale as Spec).type, (encoding.x.scale as Spec).base], ["log", 2]);
    assertEquals((encoding.color.scale as Spec).domain, ["a", "b"]);
    assertEquals(bandExtent(panel), [20, 40], "b has no break: the union is a's range");
  }
  assertEquals(((lineLayer(d).encoding as Record<string, Spec>).y.scale as Spec).type, "linear");
  assertEquals(((lineLayer(m).encoding as Record<string, Spec>).y.scale as Spec).type, "log");
  // The D panel draws D (not M): its values are the points' D.
  assertEquals(values<InterferencePoint>(lineLayer(d)).map((p) => p.D), points.map((p) => p.D));
  assertEquals(values<InterferencePoint>(lineLayer(m)).map((p) => p.M), points.map((p) => p.M));
  // Two bands: their union.
  const wide = interferenceFigureSpec(points, { bands: new Map([["a", [20, 40]], ["b", [10, 30]]]) });
  assertEquals(bandExtent(panels(wide as unknown as Spec)[0]), [10, 40]);
  // No break anywhere: no band.
  const plain = interferenceFigureSpec(points, { bands: new Map([["a", null], ["b", null]]) });
  assertEquals(bandExtent(plain as unknown as Spec), null);
  assert((await chartToSvg(spec as never)).includes(">Decel.<"));
  assertThrows(() => interferenceFigureSpec([]), Error, "F2");
});

Deno.test("figures: F3 rings the windows that overlap each model's own band, over log₂|ΔL| contours", async () => {
  const points = windows();
  const spec = trajectoryFigureSpec(points, { bands: BANDS, grid: [12, 9] }) as unknown as Spec;
  const [grid, line, rings] = spec.layer as Spec[];
  assertEquals(values(grid).length, 12 * 9);
  const encoding = line.encoding as Record<string, Spec>;
  assertEquals([encoding.x.field, encoding.y.field, encoding.order.field], ["D", "M", "order"]);
  assertEquals((rings.transform as { filter: string }[])[0].filter, "datum.window");
  const rows = values<{ model: string; step: number; window: boolean }>(line);
  // a's windows t → 2t that overlap [20, 40]: 16 → 32 and 32 → 64; b has no band, so none.
  assertEquals(rows.filter((r) => r.window).map((r) => `${r.model}@${r.step}`), ["a@16", "a@32"]);
  const svg = await chartToSvg(spec as never);
  assert(svg.includes(">t=1<") && svg.includes(">t=128<"), "start and end labelled");
  // End labels in the right half of the plot go left of their point, so that none runs off the plot.
  const labelled = values<{ label: string; D: number; right: boolean }>(line).filter((row) => row.label);
  assertEquals(labelled.map((row) => row.right), labelled.map((row) => row.D > 0.5));
  const rightLabels = (spec.layer as Spec[]).filter((layer) =>
    JSON.stringify(layer.transform ?? "").includes("&& datum.right")
  );
  assert(rightLabels.length > 0 && rightLabels.every((layer) => (layer.mark as Spec).align === "right"));
  const cells = contourGrid([0, 1], [0.01, 1], [10, 5]);
  assertEquals(cells.length, 50);
  // The top-left cell: D ≈ 0.05, M ≈ 0.63: log₂(0.95·0.63) ≈ −0.74 → level −1.
  assertEquals(cells.find((cell) => cell.D === 0 && Math.abs(cell.M2 - 1) < 1e-12)!.level, -1);
});

Deno.test("figures: F4 has a row per set, D, M, |ΔL| with ±std areas cut at a log axis' end", () => {
  const spec = oneStepFigureSpec(oneStep(), { bands: BANDS }) as unknown as Spec;
  const rows = spec.vconcat as Spec[];
  assertEquals(rows.length, 2);
  const all = panels(spec);
  assertEquals(all.map(yField), ["D", "M", "absDeltaL", "D", "M", "absDeltaL"]);
  assertEquals(values<OneStepPoint>(lineLayer(all[0])).every((p) => p.set === "train"), true);
  assertEquals(values<OneStepPoint>(lineLayer(all[3])).every((p) => p.set === "eval"), true);
  for (const panel of all) assertEquals(bandExtent(panel), [20, 40]);
  const area = (panel: Spec) =>
    (panel.layer as Spec[]).find((layer) => (layer.mark as Spec | undefined)?.type === "area")!;
  const mArea = area(all[1]);
  assertEquals((mArea.encoding as Record<string, Spec>).y2.field, "hi");
  const transforms = JSON.stringify(mArea.transform);
  assert(transforms.includes("datum.M - datum.MStd") && transforms.includes("max(datum.lo"), transforms);
  assert(!JSON.stringify(area(all[0]).transform).includes("max(datum.lo"), "D is linear: no cut");
  // |ΔL| = 0.007 ± 0.00699: the band's lower end (10⁻⁵) does not drag the log axis down to it.
  const narrow = oneStep().map((point) => ({ ...point, absDeltaLStd: 0.00699 }));
  const deltaL = panels(oneStepFigureSpec(narrow) as unknown as Spec)[2];
  const domain = ((lineLayer(deltaL).encoding as Record<string, Spec>).y.scale as Spec).domain as number[];
  assert(domain[0] >= 0.007 / 1.5 - 1e-12, `|ΔL| axis from ${domain[0]}`);
});

/** The text of every label Vega draws in `spec`. */
async function drawnTexts(spec: Spec): Promise<string[]> {
  const svg = await chartToSvg(spec as never);
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
}

Deno.test("figures: log axes read as decimals or m×10ⁿ, and the band's label sits above the plot", async () => {
  const small = windows().map((point) => ({
    ...point,
    M: point.M / 1000,
    absDeltaL: point.absDeltaL / 1000,
  }));
  const specs = [
    interferenceFigureSpec(small, { bands: BANDS }),
    trajectoryFigureSpec(small, { bands: BANDS, grid: [6, 5] }),
    oneStepFigureSpec(oneStep().map((p) => ({ ...p, M: p.M / 100, MStd: p.MStd / 100 })), { bands: BANDS }),
  ] as unknown as Spec[];
  for (const spec of specs) {
    const texts = await drawnTexts(spec);
    const exponents = texts.filter((text) => /^-?\d+(\.\d+)?e[-+]?\d+$/.test(text));
    assertEquals(exponents, [], `labels in e-notation in "${JSON.stringify(spec.title)}"`);
    assert(texts.some((text) => text.includes("×10")), `no m×10ⁿ label in ${texts.join(" | ")}`);
  }
  const label = layers(panels(specs[0])[0]).find((layer) =>
    (layer.mark as Spec | undefined)?.type === "text"
  )!;
  const mark = label.mark as Spec;
  assert(mark.baseline === "bottom" && Number(mark.dy) < 0, `"Decel." at ${JSON.stringify(mark)}`);
});

Deno.test("figures: the probe's figure skips points without a measurement and draws thin lines", () => {
  const points = probePoints([{
    name: "a",
    steps: Float64Array.from([8, 16, 24, 32]),
    D: Float64Array.from([NaN, 0.2, 0.5, 0.9]),
    M: Float64Array.from([NaN, 0.3, 0.2, 0.2]),
    deltaL: Float64Array.from([NaN, -0.2, -0.1, 0.02]),
  }]);
  const spec = probeFigureSpec(points, { bands: BANDS }) as unknown as Spec;
  const [d] = panels(spec);
  assertEquals(values<InterferencePoint>(lineLayer(d)).map((p) => p.step), [16, 24, 32]);
  assertEquals((lineLayer(d).mark as Spec).strokeWidth, 1.2);
  assert(
    !(d.layer as Spec[]).some((layer) => (layer.mark as Spec | undefined)?.type === "point"),
    "no points",
  );
  assertEquals(bandExtent(d), [20, 40]);
});

Deno.test("figures: from result rows, the table's values reach the right panels and the fit's band", () => {
  const dt2t: Dt2tRow[] = [1, 2, 4, 8].map((t, i) => ({
    model: "run",
    t,
    t2: 2 * t,
    D: 0.1 * (i + 1),
    M: 0.5 / (i + 1),
    deltaL: -0.05 * (i + 1),
    absDeltaL: 0.05 * (i + 1),
    n: 100,
    lossT: 3,
    lossT2: 2.9,
  }));
  const dt1: Dt1Row[] = dt2t.map((row) => ({
    model: "run",
    t: row.t,
    set: "eval",
    lr: 1e-3,
    batches: 2,
    D: row.D / 2,
    DStd: 0.01,
    M: row.M / 2,
    MStd: 0.01,
    deltaL: -0.01,
    deltaLStd: 0.001,
    absDeltaL: 0.01,
    absDeltaLStd: 0.001,
  }));
  const breaks = new Map<string, DecelerationBreak | null>([["run", { tD: 3, tDRange: [2.5, 3.6] }]]);
  const figures = new Map(interferenceFigures({ models: ["run"], dt2t, dt1, breaks, probes: [] }));
  assertEquals([...figures.keys()], ["zsl_f2", "zsl_f3", "zsl_f4"]);
  const f2 = panels(figures.get("zsl_f2") as unknown as Spec);
  assertEquals(values<InterferencePoint>(lineLayer(f2[0])).map((p) => p.D), dt2t.map((row) => row.D));
  assertEquals(values<InterferencePoint>(lineLayer(f2[1])).map((p) => p.M), dt2t.map((row) => row.M));
  assertEquals(
    values<InterferencePoint>(lineLayer(f2[2])).map((p) => p.absDeltaL),
    dt2t.map((r) => Math.abs(r.deltaL)),
  );
  assertEquals(values<InterferencePoint>(lineLayer(f2[0])).map((p) => p.step), [1, 2, 4, 8]);
  assertEquals(bandExtent(f2[0]), [2.5, 3.6]);
  const f4 = panels(figures.get("zsl_f4") as unknown as Spec);
  assertEquals(values<OneStepPoint>(lineLayer(f4[0])).map((p) => p.D), dt1.map((row) => row.D));
  assertEquals(checkpointPoints(dt2t)[0].stepEnd, 2);
  assertEquals(oneStepPoints(dt1)[0].step, 1);
  // No windows, no one-step rows: no figures.
  assertEquals(interferenceFigures({ models: ["run"], dt2t: [], dt1: [], breaks, probes: [] }), []);
});
