/**
 * The one number format of the tables, reports, notebooks and axis labels (`src/util/format.ts`), and the
 * Vega expression that writes axis and legend labels the same way (`src/plot/style.ts`): checked on the
 * text Vega actually draws.
 *
 * @module
 */
import { assert, assertEquals } from "./asserts.ts";
import {
  formatCell,
  formatNumber,
  formatScientific,
  formatStepRange,
  formatTick,
  formatWithError,
  superscript,
} from "../src/util/format.ts";
import { logTicks, tickLabelExpression, tickLabels } from "../src/plot/style.ts";
import { chartToSvg, type VegaLiteSpec } from "../src/plot/render.ts";

Deno.test("format: plain numbers keep four significant digits, decimal from 10⁻⁴ to 10⁵, m×10ⁿ outside", () => {
  const cases: [number, string][] = [
    [0.07305123, "0.07305"],
    [0.0002267, "0.0002267"],
    [0.001744, "0.001744"],
    [0.5, "0.5000"],
    [9.99996, "10.00"],
    [12345.678, "12350"],
    [123456.7, "1.235×10⁵"],
    [0.000015, "1.500×10⁻⁵"],
    [-3.2e-7, "-3.200×10⁻⁷"],
    [600, "600"],
    [0, "0"],
    [NaN, "—"],
    [Infinity, "∞"],
  ];
  assertEquals(cases.map(([value]) => formatNumber(value)), cases.map(([, text]) => text));
  assertEquals(superscript(-12), "⁻¹²");
  assertEquals(formatScientific(2e-5, 3, true), "2×10⁻⁵");
  assertEquals(formatScientific(1e6, 3, true), "10⁶");
});

Deno.test("format: cells drop trailing zeros but keep the notation; yes/no and — for the rest", () => {
  assertEquals(formatCell(0.5), "0.5");
  assertEquals(formatCell(0.123456), "0.1235");
  assertEquals(formatCell(1.5e-5), "1.5×10⁻⁵");
  assertEquals(formatCell(2e-7), "2×10⁻⁷");
  assertEquals(formatCell(10.0001), "10");
  assertEquals(formatCell(12), "12");
  assertEquals(formatCell(false), "no");
  assertEquals(formatCell(undefined), "—");
  assertEquals(formatCell("cpu-s"), "cpu-s");
});

Deno.test("format: value ± error to the error's second significant digit, one power of ten when small", () => {
  const cases: [number, number, string][] = [
    [0.07305, 4.215e-4, "0.07305 ± 0.00042"],
    [18.42228, 0.1593, "18.42 ± 0.16"],
    [5877.4, 129.8, "5877 ± 130"],
    [0.5123, 0.031, "0.512 ± 0.031"],
    [4.2e-5, 1.1e-6, "(4.20 ± 0.11)×10⁻⁵"],
    [1.2e6, 3e4, "(1.200 ± 0.030)×10⁶"],
    [0.5, -0.02, "0.500 ± 0.020"],
    [1, Infinity, "1.000 ± ∞"],
    [0.3, NaN, "0.3000"],
    [0.3, 0, "0.3000 ± 0"],
    [NaN, 0.1, "—"],
  ];
  assertEquals(cases.map(([v, e]) => formatWithError(v, e)), cases.map(([, , text]) => text));
  assertEquals(formatStepRange(15.4, [0, Infinity]), "15 (0–∞)");
  assertEquals(formatStepRange(39.6, [35.2, 44.5]), "40 (35–45)");
  assertEquals(formatStepRange(1, [0, 8.152484585208771e42]), "1 (0–8.2×10⁴²)");
});

Deno.test("format: axis ticks are decimals or m×10ⁿ, and Vega draws the same labels", async () => {
  const values = [2e-5, 1e-4, 0.001, 0.05, 1, 20, 50000, 2e5, 1e6];
  const expected = ["2×10⁻⁵", "10⁻⁴", "0.001", "0.05", "1", "20", "50000", "2×10⁵", "10⁶"];
  assertEquals(values.map(formatTick), expected);
  const drawn = async (labelExpr: string) => {
    const spec = {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: 600,
      height: 40,
      data: { values: [{ x: 1e-5 }, { x: 2e6 }] },
      mark: "point",
      encoding: {
        x: {
          field: "x",
          type: "quantitative",
          scale: { type: "log" },
          axis: { values, labelExpr, title: null },
        },
      },
    } as unknown as VegaLiteSpec;
    const svg = await chartToSvg(spec);
    return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
  };
  assertEquals(await drawn(tickLabelExpression()), expected, "the generic label expression");
  assertEquals(await drawn(tickLabels(values)), expected, "the labels of known ticks");
});

Deno.test("format: log ticks are 1, 2, 5 × 10ⁿ inside the domain, at least three, at most ten", () => {
  assertEquals(logTicks([0.03, 0.4]), [0.05, 0.1, 0.2]);
  assertEquals(logTicks([6e-4, 0.3]), [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]);
  assertEquals(logTicks([1e-6, 1]), [1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.1, 1]);
  assertEquals(logTicks([0.31, 0.75]), [0.4, 0.5, 0.6, 0.7], "a narrow range gets 1…9 × 10ⁿ");
  assertEquals(logTicks([1, 1]), []);
  for (const domain of [[1e-9, 1e9], [0.2, 0.21], [3, 3000]] as [number, number][]) {
    const ticks = logTicks(domain);
    assert(ticks.length <= 10, `${ticks.length} ticks over ${domain}`);
    assert(ticks.every((t) => t >= domain[0] && t <= domain[1]), `ticks ${ticks} outside ${domain}`);
  }
});
