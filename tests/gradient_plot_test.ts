import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { Random } from "./helpers.ts";
import {
  type CoherenceBinRow,
  coherenceFigureSpec,
  coherenceHistogramFigureSpec,
  gradientInterferenceFigureSpec,
  type GradientMetricRow,
  predictionFigureSpec,
  predictionHistogram2d,
  type PredictionPanel,
  selectPanels,
} from "../src/plot/gradients.ts";
import { unionBand } from "../src/plot/style.ts";
import { chartToSvg } from "../src/plot/render.ts";
import { gradientInterferenceFromMatrices } from "../src/analysis/gradients/metrics.ts";
import type { GradientTableRun } from "../src/analysis/gradients/rows.ts";
import {
  COHERENCE_HISTOGRAM_TABLE,
  exampleTableFile,
  GRADIENT_TABLE,
  writeExampleTable,
} from "../src/results/gradients.ts";
import { readTable } from "../src/results/table.ts";
import { writeGradientResults } from "../src/sweep/analyse.ts";
import { bandExtent, layers, lineLayer, type Spec } from "./figure_helpers.ts";

const STEPS = [1, 2, 4, 8, 16, 32];

/** Two runs, token granularity, plus sequence granularity for the first: D(∇ℓ) rising with t. */
function metricRows(): GradientMetricRow[] {
  const rows: GradientMetricRow[] = [];
  for (const [model, offset] of [["cpu-xs", 0], ["cpu-s", -0.05]] as const) {
    for (const [i, step] of STEPS.entries()) {
      rows.push({
        model,
        step,
        granularity: "token",
        dGrad: 0.5 + 0.07 * i + offset,
        cG: 2 ** -(i + 1),
        cUG: 0.9,
        cUg: 0.6,
      });
      if (model === "cpu-xs") {
        rows.push({
          model,
          step,
          granularity: "sequence",
          dGrad: 0.3 + 0.05 * i,
          cG: 2 ** -i,
          cUG: 0.8,
          cUg: 0.7,
        });
      }
    }
  }
  return rows;
}

function histogramRows(): CoherenceBinRow[] {
  const rows: CoherenceBinRow[] = [];
  for (const model of ["cpu-xs", "cpu-s"]) {
    for (const step of STEPS.slice(0, 3)) {
      for (let b = 0; b < 100; b++) {
        // Coherence mass moving towards 0 as training goes on; most bins empty.
        const count = b < 40 / step ? 100 - b : 0;
        rows.push({ model, step, granularity: "token", binLo: b / 100, binHi: (b + 1) / 100, count });
      }
    }
  }
  return rows;
}

function panels(random: Random): PredictionPanel[] {
  return [4, 8].map((step) => {
    const actual = Float64Array.from({ length: 400 }, () => random.normal() * 0.1 / step);
    return {
      model: "cpu-xs",
      step,
      granularity: "token",
      actual,
      predicted: actual.map((v) => v * 0.9 + 0.01 * random.normal() / step),
    };
  });
}

function marks(svg: string, role: string): number {
  return (svg.match(new RegExp(`aria-roledescription="${role}"`, "g")) ?? []).length;
}

Deno.test("gradient plot: F5 has a log₂ step axis, a line per run and granularity, and the band", async () => {
  const rows = metricRows();
  const spec = gradientInterferenceFigureSpec(rows, { band: [3, 6] });
  const line = lineLayer(spec as unknown as Spec);
  const encoding = line.encoding as Record<string, Spec>;
  assertEquals([encoding.x.field, encoding.y.field, encoding.color.field], ["step", "dGrad", "model"]);
  assertEquals((encoding.x.scale as Spec).base, 2);
  assertEquals(
    (line.data as { values: GradientMetricRow[] }).values.map((row) => row.dGrad),
    rows.map((row) => row.dGrad),
    "D(∇ℓ) of every row on the line, in order",
  );
  assertEquals(bandExtent(spec as unknown as Spec), [3, 6]);
  const json = JSON.stringify(spec);
  assert(json.includes('"type":"log","base":2'), "log₂ x scale");
  assert(json.includes('"strokeDash"'), "token and sequence lines are told apart by dash");
  const svg = await chartToSvg(spec);
  assertEquals(marks(svg, "line mark"), 3, "cpu-xs token, cpu-xs sequence, cpu-s token");
  assert(svg.includes(">Decel.<") && svg.includes("mark-rect"), "the deceleration band");
  for (const text of ["cpu-xs", "cpu-s", "Checkpoint step t"]) assert(svg.includes(`>${text}<`), text);
  // Without a band there is no rect; with one granularity there is no dash legend.
  const plain = gradientInterferenceFigureSpec(rows.filter((r) => r.granularity === "token"));
  assertEquals(bandExtent(plain as unknown as Spec), null);
  assert(!JSON.stringify(plain).includes("strokeDash"));
  assert(!(await chartToSvg(plain)).includes("mark-rect"));
  assertThrows(
    () => gradientInterferenceFigureSpec(rows.map((r) => ({ ...r, dGrad: NaN }))),
    Error,
    "finite D(∇ℓ)",
  );
});

Deno.test("gradient plot: F7 has two panels with log₂ y scales of C_g and C_(u,G)/C_(u,g)", async () => {
  const spec = coherenceFigureSpec(metricRows(), { band: [3, 6] }) as unknown as { hconcat: Spec[] };
  assertEquals(spec.hconcat.length, 2);
  assertEquals(
    spec.hconcat.map((panel) => (lineLayer(panel).encoding as Record<string, Spec>).y.field),
    ["cG", "ratio"],
    "C_g left, C_(u,G)/C_(u,g) right",
  );
  for (const panel of spec.hconcat) assertEquals(bandExtent(panel), [3, 6]);
  const json = JSON.stringify(spec);
  const logScales = json.match(/"type":"log","base":2/g) ?? [];
  // Per panel: the step axis (line, points, band rect, band text) and the y axis (line, points).
  assert(logScales.length >= 4, `log₂ scales: ${logScales.length}`);
  for (const field of ['"field":"cG"', '"field":"ratio"']) {
    const y = json.match(
      new RegExp(`"y":\\{${field},"type":"quantitative","title":"[^"]*","scale":\\{"type":"log","base":2`),
    );
    assert(y, `${field} on a log₂ y axis`);
  }
  const svg = await chartToSvg(spec as never);
  assertEquals(marks(svg, "line mark"), 6, "3 lines per panel");
  assert(svg.includes(">C_g<") && svg.includes(">C_(u,G) / C_(u,g)<"), "the two y axes");
  // The ratio column is C_(u,G)/C_(u,g) of the rows.
  const data = (spec.hconcat[1] as { layer: { data?: { values: { ratio: number }[] } }[] }).layer
    .find((layer) => layer.data?.values?.[0]?.ratio !== undefined)!.data!.values;
  assert(Math.abs(data[0].ratio - 0.9 / 0.6) < 1e-12);
  assertThrows(() => coherenceFigureSpec(metricRows().map((r) => ({ ...r, cG: 0, cUG: NaN }))), Error, "F7");
});

Deno.test("gradient plot: F6 is a heatmap of C_j bins per checkpoint, one facet per run", async () => {
  const rows = histogramRows();
  const spec = coherenceHistogramFigureSpec(rows);
  const json = JSON.stringify(spec);
  assert(json.includes('"x":{"field":"step","type":"ordinal"'), "checkpoints on an ordinal axis");
  assert(json.includes('"scale":{"type":"log","scheme":"viridis"}'), "log colour of the fraction");
  const facet = (spec as unknown as { facet: Spec }).facet;
  assertEquals(facet.field, "model");
  const encoding = ((spec as unknown as { spec: Spec }).spec.encoding) as Record<string, Spec>;
  assertEquals([encoding.y.field, encoding.y2.field, encoding.color.field], ["binLo", "binHi", "fraction"]);
  const cells =
    (spec as unknown as { data: { values: { model: string; step: number; fraction: number }[] } }).data
      .values;
  assertEquals(cells.length, rows.filter((r) => r.count > 0).length);
  // Fractions of each checkpoint add up to 1.
  const total = cells.filter((c) => c.model === "cpu-s" && c.step === 2).reduce((a, c) => a + c.fraction, 0);
  assert(Math.abs(total - 1) < 1e-12, `fractions sum to ${total}`);
  const svg = await chartToSvg(spec);
  assert(svg.includes(">cpu-xs<") && svg.includes(">cpu-s<"), "one facet per run");
  assert(svg.includes(">C_j = 1 − D_j<"));
  assertEquals(marks(svg, "rect mark"), cells.length, "one rect per non-empty bin");
  assertThrows(() => coherenceHistogramFigureSpec(rows.map((r) => ({ ...r, count: 0 }))), Error, "F6");
});

Deno.test("gradient plot: F8 bins Δℓ vs Δ̂ℓ on ranges fitted to the values and draws y = x in every facet", async () => {
  const random = new Random(3);
  const histogram = predictionHistogram2d([0.5, -1, 2, NaN, 0.1], [0.4, -0.8, 3, 1, 0.2], {
    bins: 10,
    quantile: 1,
  });
  // All values from −1 to 3, widened by 5% of the width on each side; the same range on both axes.
  assertEquals(histogram.domain.map((v) => Number(v.toFixed(12))), [-1.2, 3.2]);
  assertEquals([histogram.n, histogram.clipped], [4, 0]);
  assertEquals(histogram.cells.reduce((a, c) => a + c.count, 0), 4);
  for (const cell of histogram.cells) {
    assert(
      cell.x0 >= -1.2 - 1e-12 && cell.x1 <= 3.2 + 1e-12 && cell.y0 >= -1.2 - 1e-12 && cell.y1 <= 3.2 + 1e-12,
    );
    assert(Math.abs(cell.x1 - cell.x0 - 0.44) < 1e-12 && Math.abs(cell.y1 - cell.y0 - 0.44) < 1e-12);
  }
  // (x = 3, y = 2): x in bin 9 (from 2.76), y in bin 7 (from 1.88).
  assert(histogram.cells.some((c) => Math.abs(c.x0 - 2.76) < 1e-12 && Math.abs(c.y0 - 1.88) < 1e-12));
  // A smaller quantile leaves the outliers out of the range and counts them in the edge bins.
  const clipped = predictionHistogram2d([0.1, 0.2, -0.1, 100], [0.1, 0.1, -0.2, 0.3], { quantile: 0.75 });
  assertEquals(clipped.domain.map((v) => Number(v.toFixed(12))), [-0.115, 0.215]);
  assertEquals(clipped.clipped, 2);
  // Points in one corner: the axes follow them, not zero (no symmetric range about 0).
  const corner = predictionHistogram2d([-0.2, -0.15, -0.1], [-0.19, -0.16, -0.12], { quantile: 1 });
  assert(corner.domain[0] > -0.21 && corner.domain[1] < -0.09, `domain ${corner.domain}`);
  assertEquals(predictionHistogram2d([0, 0], [0, 0]).domain, [-1, 1], "all-zero changes still get a range");
  assertThrows(() => predictionHistogram2d([1], [1, 2]), Error, "1 predicted and 2 actual");

  const input = panels(random);
  const spec = predictionFigureSpec(input);
  // The y = x layer: a line through the diagonal points of each facet, on the same x and y fields as the cells.
  const [cellsLayer, diagonalLayer] = layers((spec as unknown as { spec: Spec }).spec);
  const cellEncoding = cellsLayer.encoding as Record<string, Spec>;
  const lineEncoding = diagonalLayer.encoding as Record<string, Spec>;
  assertEquals([cellEncoding.x.field, cellEncoding.y.field], ["x0", "y0"]);
  assertEquals([lineEncoding.x.field, lineEncoding.y.field], ["x0", "y0"]);
  assertEquals(cellEncoding.x.title, "True Δℓ_i");
  assertEquals((diagonalLayer.mark as Spec).type, "line");
  const json = JSON.stringify(spec);
  assert(
    json.includes(`"filter":"datum.kind === 'diagonal'"`) && json.includes('"strokeDash":[4,3]'),
    "y = x layer",
  );
  assert(
    json.includes('"resolve":{"scale":{"x":"independent","y":"independent"}}'),
    "each facet its own range",
  );
  const values =
    (spec as unknown as { data: { values: { panel: string; kind: string; x0: number; y0: number }[] } })
      .data.values;
  for (const [i, panel] of ["t = 4", "t = 8"].entries()) {
    const diagonal = values.filter((v) => v.panel === panel && v.kind === "diagonal");
    const [lo, hi] = predictionHistogram2d(input[i].predicted, input[i].actual).domain;
    assertEquals(diagonal.map((v) => [v.x0, v.y0]), [[lo, lo], [hi, hi]], "y = x over the facet");
    // The cells put the true change on x and the prediction on y.
    const cells = values.filter((v) => v.panel === panel && v.kind === "cell");
    const expected = predictionHistogram2d(input[i].predicted, input[i].actual).cells;
    assertEquals(cells.map((c) => [c.x0, c.y0]), expected.map((c) => [c.x0, c.y0]));
  }
  const svg = await chartToSvg(spec);
  assertEquals(marks(svg, "line mark"), 2, "one y = x line per facet");
  for (const text of ["t = 4", "t = 8", "True Δℓ_i", "Predicted Δ̂ℓ_i = g_i·δ"]) {
    assert(svg.includes(`>${text}<`), text);
  }
  assertThrows(() => predictionFigureSpec([]), Error, "F8");

  // Ten checkpoints of a run: six drawn, the first, the last and the one nearest the band among them.
  const many: PredictionPanel[] = Array.from({ length: 10 }, (_, e) => ({ ...input[0], step: 2 ** e }));
  assertEquals(selectPanels(many, 6).map((panel) => panel.step), [1, 4, 16, 32, 128, 512], "spread by rank");
  const picked = selectPanels(many, 6, [80, 100]).map((panel) => panel.step);
  assertEquals(picked, [1, 4, 16, 64, 128, 512], "the checkpoint nearest the band replaces its neighbour");
  assertEquals(selectPanels(many, 20).length, 10);
  const wide = predictionFigureSpec(many, { band: [40, 50] }) as unknown as { columns: number; title: Spec };
  assertEquals(wide.columns, 6, "one row per run");
  assert(String(wide.title.subtitle).includes("6 of 10 checkpoints shown"), String(wide.title.subtitle));
  assertEquals(unionBand([null, [3, 5], undefined, [4, 9]]), [3, 9]);
  assertEquals(unionBand([null]), null);
});

Deno.test("gradient plot: writeGradientResults writes the tables and figures F5–F8", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-gradient-report-" });
  try {
    const random = new Random(17);
    const results: GradientTableRun[] = [];
    for (const name of ["cpu-xs", "cpu-s"]) {
      const runDir = `${dir}/runs/${name}`;
      const checkpoints = [];
      for (const step of [1, 2, 4]) {
        const g = Array.from({ length: 6 }, () => Float64Array.from({ length: 8 }, () => random.normal()));
        const delta = Float64Array.from({ length: 8 }, () => 0.01 * random.normal());
        const metrics = gradientInterferenceFromMatrices(g, delta);
        const predicted = g.map((row) => row.reduce((a, v, j) => a + v * delta[j], 0));
        await writeExampleTable(`${runDir}/gradients/${exampleTableFile(step, "token")}`, {
          sequence: [0, 0, 0, 1, 1, 1],
          position: [0, 1, 2, 0, 1, 2],
          predicted,
          actual: predicted.map((v) => v + 0.001 * random.normal()),
          absPredicted: predicted.map(Math.abs),
          gradSq: predicted.map(() => 1),
          gradAbs: predicted.map(() => 1),
        });
        checkpoints.push({ ...metrics, step, granularity: "token", lr: 1e-3, seconds: 1, agreement: null });
      }
      results.push({ name, runDir, checkpoints });
    }
    const out = `${dir}/results`;
    await Deno.mkdir(out, { recursive: true });
    const written = await writeGradientResults([], results, out, {
      breaks: new Map([["cpu-xs", { tD: 2, tDRange: [1.5, 3] }], ["cpu-s", null]]),
    });
    const names = written.map((path) => path.slice(out.length + 1)).sort();
    assertEquals(
      names,
      [
        "gradient_coherence_histogram.arrow",
        "gradient_interference.arrow",
        "gradients.md",
        ...["zsl_f5", "zsl_f6", "zsl_f7", "zsl_f8", "gradient_noise_scale"].flatMap((f) => [
          `${f}.png`,
          `${f}.svg`,
          `${f}.vl.json`,
        ]),
      ].sort(),
    );
    const rows = await readTable(out, GRADIENT_TABLE);
    assertEquals(rows.map((r) => `${r.run}@${r.step}`), [
      "cpu-xs@1",
      "cpu-xs@2",
      "cpu-xs@4",
      "cpu-s@1",
      "cpu-s@2",
      "cpu-s@4",
    ]);
    assertEquals((await readTable(out, COHERENCE_HISTOGRAM_TABLE)).length, 600);
    assertEquals(
      bandExtent(JSON.parse(await Deno.readTextFile(`${out}/zsl_f5.vl.json`))),
      [1.5, 3],
      "cpu-xs's band",
    );
    assert((await Deno.readTextFile(`${out}/zsl_f5.svg`)).includes(">Decel.<"), "F5 shades cpu-xs's band");
    assertEquals(marks(await Deno.readTextFile(`${out}/zsl_f8.svg`), "line mark"), 6, "y = x in 6 facets");
    const png = await Deno.readFile(`${out}/zsl_f8.png`);
    assertEquals(Array.from(png.slice(1, 4)), [0x50, 0x4e, 0x47]);
    // Without per-example tables F8 is left out; the rest is written.
    await Deno.remove(`${dir}/runs`, { recursive: true });
    await Deno.mkdir(`${dir}/again`);
    const again = await writeGradientResults([], results, `${dir}/again`, { breaks: new Map() });
    assert(!again.some((path) => path.includes("zsl_f8")) && again.some((p) => p.endsWith("zsl_f7.svg")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
