import { assert, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { decelerationCurveRows, decelerationRow, fitDeceleration } from "../src/analysis/deceleration/mod.ts";
import {
  chartFonts,
  chartToSvg,
  modelColors,
  renderChart,
  renderChartToMemory,
  type VegaLiteSpec,
} from "../src/plot/mod.ts";
import { decelerationBand, decelerationFigure } from "../src/report/figures.ts";
import { bandExtent, layers, type Spec, values } from "./figure_helpers.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Uint8Array): [number, number] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return [view.getUint32(16), view.getUint32(20)];
}

function svgSize(svg: string): [number, number] {
  const match = svg.match(/<svg[^>]* width="([\d.]+)" height="([\d.]+)"/);
  assert(match, "SVG has a width and height");
  return [Number(match[1]), Number(match[2])];
}

function fixtureModels() {
  return ["14M", "144M"].map((model) => {
    const fixture = JSON.parse(
      Deno.readTextFileSync(new URL(`./fixtures/bnsl/${model}.json`, import.meta.url)),
    );
    return {
      name: model,
      fit: fitDeceleration(fixture.steps, fixture.smoothed_loss, { preprocess: false, minStep: 100 }),
    };
  });
}

Deno.test("plot: renderChart writes the spec, SVG and PNG of any Vega-Lite chart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-plot-" });
  try {
    const spec: VegaLiteSpec = {
      width: 200,
      height: 100,
      data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] },
      mark: "line",
      encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
    };
    const paths = await renderChart(spec, `${dir}/sub/chart`);
    assertEquals(paths, {
      vegaLite: `${dir}/sub/chart.vl.json`,
      svg: `${dir}/sub/chart.svg`,
      png: `${dir}/sub/chart.png`,
    });
    assertEquals(JSON.parse(await Deno.readTextFile(paths.vegaLite)), spec);
    assertEquals(Object.getOwnPropertySymbols((spec.data as { values: object[] }).values[0]), []); // not mutated
    const svg = await Deno.readTextFile(paths.svg);
    assert(svg.startsWith("<svg") && svg.includes("mark-line"));
    const png = await Deno.readFile(paths.png);
    assertEquals(Array.from(png.slice(0, 8)), PNG_SIGNATURE);
    const [width, height] = pngSize(png);
    const [svgWidth, svgHeight] = svgSize(svg);
    assertEquals(width, Math.round(2 * svgWidth));
    assertEquals(height, Math.round(2 * svgHeight));
    // Atomic writes leave no temporary files behind.
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name).sort(), [
      "chart.png",
      "chart.svg",
      "chart.vl.json",
    ]);
    await assertRejects(
      () => chartToSvg({ mark: "nonsense" } as unknown as VegaLiteSpec),
      Error,
      /zsl: invalid Vega-Lite spec/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plot: text is drawn with a system DejaVu Sans or the bundled Roboto", async () => {
  const fonts = await chartFonts();
  assert(fonts.files.length > 0);
  assert(fonts.origin === "system" ? fonts.family === "DejaVu Sans" : fonts.family === "Roboto");
  const bundled = await chartFonts(true);
  assertEquals(bundled.family, "Roboto");
  const bytes = await Deno.readFile(bundled.files[0]);
  assertEquals(Array.from(bytes.slice(0, 4)), [0, 1, 0, 0]); // a TrueType font
  // Labels are rasterised: a chart with text has more dark pixels than the same chart without.
  const withText: VegaLiteSpec = {
    width: 120,
    height: 40,
    data: { values: [{ label: "Deceleration" }] },
    mark: { type: "text", fontSize: 20 },
    encoding: { text: { field: "label" } },
    config: { view: { stroke: null } },
  };
  const a = await renderChartToMemory(withText, { bundledFont: true });
  const b = await renderChartToMemory({ ...withText, data: { values: [{ label: "" }] } }, {
    bundledFont: true,
  });
  assert(a.png.length > b.png.length + 200, `PNG with text ${a.png.length} B, without ${b.png.length} B`);
});

Deno.test("plot: figure F1 has the curves, fits, segments, band and legend of two models", async () => {
  const models = fixtureModels();
  const rows = models.map(decelerationRow);
  const curves = models.flatMap(decelerationCurveRows);
  const band = decelerationBand(rows)!;
  assert(Math.abs(band[0] - models[0].fit.tDRange[0]) < 1e-9, "band starts at the smallest t_d range end");
  assert(Math.abs(band[1] - models[1].fit.tDRange[1]) < 1e-9, "band ends at the largest t_d range end");
  const spec = decelerationFigure(curves, rows);
  assertEquals(bandExtent(spec as unknown as Spec), band, "the band spans the fitted t_d ranges");
  // Each line layer draws one series of the points, step on x and loss on y, both log.
  const lineLayers = layers(spec as unknown as Spec).filter((layer) =>
    (layer.mark as Spec | undefined)?.type === "line"
  );
  assertEquals(lineLayers.map((layer) => (layer.transform as { filter: string }[])[0].filter), [
    "datum.series === 'smoothed'",
    "datum.series === 'fit'",
    "datum.series === 'pre-break' || datum.series === 'post-break'",
  ]);
  for (const layer of lineLayers) {
    const encoding = layer.encoding as Record<string, Spec>;
    assertEquals([encoding.x.field, encoding.y.field, encoding.color.field], ["step", "loss", "model"]);
    assertEquals([(encoding.x.scale as Spec).type, (encoding.y.scale as Spec).type], ["log", "log"]);
  }
  assertEquals(values(spec as unknown as Spec).length, curves.length, "every point of both models");
  const rendered = await renderChartToMemory(spec);
  const svg = rendered.svg;
  // 2 models × (smoothed, fit, pre-break + post-break) line groups; the band's rect and label.
  const lines = svg.match(/<path[^>]*aria-roledescription="line mark"/g) ?? [];
  assert(lines.length >= 8, `expected ≥ 8 line paths, got ${lines.length}`);
  assert(svg.includes("mark-rect"), "the deceleration band");
  for (const text of ["Decel.", "14M", "144M", "Train steps", "Loss", "Model"]) {
    assert(svg.includes(`>${text}<`), `SVG shows "${text}"`);
  }
  for (const color of modelColors(2)) assert(svg.includes(color), `colour ${color}`);
  const dotted = svg.match(/stroke-dasharray="2,2"/g) ?? [];
  assertEquals(dotted.length, 4, "two dotted segments per model");
  assertEquals(Array.from(rendered.png.slice(0, 8)), PNG_SIGNATURE);
  const [width, height] = pngSize(rendered.png);
  assert(width > 600 && width < 1400 && height > 800 && height < 1600, `PNG ${width}×${height}`);
  assert(rendered.png.length > 20_000 && rendered.png.length < 2_000_000, `PNG ${rendered.png.length} B`);

  // Without an identified break there are no segments and no band.
  const unidentified = models.map((m) => ({ ...m, fit: { ...m.fit, identified: false } }));
  const plainSpec = decelerationFigure(
    unidentified.flatMap(decelerationCurveRows),
    unidentified.map(decelerationRow),
  );
  assertEquals(bandExtent(plainSpec as unknown as Spec), null);
  const plain = await chartToSvg(plainSpec);
  assert(!plain.includes("Decel.") && !plain.includes('stroke-dasharray="2,2"'));
});

Deno.test("plot: one distinct colour per model", () => {
  const colors = modelColors(6);
  assertEquals(new Set(colors).size, 6);
  assertThrows(() => modelColors(2, "category10"), Error, /not a continuous Vega colour scheme/);
});
