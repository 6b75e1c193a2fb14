/**
 * Rendering Vega-Lite charts to files: the spec (`<base>.vl.json`), SVG from Vega's headless view
 * (`<base>.svg`) and PNG through resvg (`<base>.png`). Generic: every figure of the toolkit goes
 * through `renderChart`.
 *
 * Permissions: SVG needs none. PNG loads resvg's native addon: `--allow-ffi`, and
 * `--allow-sys=cpus,networkInterfaces,hostname` (its loader calls `process.report.getReport()` to
 * tell glibc from musl), plus `--allow-read` and `--allow-write` for the fonts (see `fonts.ts`).
 *
 * @module
 */
import * as vega from "npm:vega@6.4.0";
import { compile, type TopLevelSpec } from "npm:vega-lite@6.5.0";
import { writeFileAtomic } from "../io/atomic.ts";
import { chartFonts } from "./fonts.ts";

/** A Vega-Lite specification. */
export type VegaLiteSpec = TopLevelSpec;

/** Options of the PNG rasteriser. */
export interface PngOptions {
  /** Pixels per SVG unit. Default 2. */
  scale?: number;
  /** Use the bundled Roboto even where DejaVu Sans is installed (identical pixels everywhere). */
  bundledFont?: boolean;
}

/** A chart rendered in memory. */
export interface RenderedChart {
  /** The Vega-Lite spec, indented JSON. */
  vegaLite: string;
  /** The SVG document from Vega's headless view. */
  svg: string;
  /** PNG bytes rasterised from `svg` by resvg. */
  png: Uint8Array;
}

/** The files `renderChart` wrote. */
export interface ChartFiles {
  /** Path of the spec, `<base>.vl.json`. */
  vegaLite: string;
  /** Path of the SVG, `<base>.svg`. */
  svg: string;
  /** Path of the PNG, `<base>.png`. */
  png: string;
}

/** Width and height of an SVG document from its root element's attributes (null when absent). */
export function svgSize(svg: string): { width: number; height: number } | null {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const width = Number(/\bwidth="([\d.]+)"/.exec(root)?.[1]);
  const height = Number(/\bheight="([\d.]+)"/.exec(root)?.[1]);
  return width > 0 && height > 0 ? { width, height } : null;
}

/** Renders a Vega-Lite spec to SVG with Vega's headless view (no browser, no canvas). */
export async function chartToSvg(spec: VegaLiteSpec): Promise<string> {
  let compiled;
  try {
    // Vega tags the data objects it ingests; work on a copy so the caller's spec stays as it was.
    compiled = compile(structuredClone(spec)).spec;
  } catch (error) {
    throw new Error(`zsl: invalid Vega-Lite spec: ${(error as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

type ResvgModule = typeof import("npm:@resvg/resvg-js@2.6.2");
let resvgModule: Promise<ResvgModule> | null = null;

function loadResvg(): Promise<ResvgModule> {
  if (!resvgModule) {
    resvgModule = import("npm:@resvg/resvg-js@2.6.2").catch((error) => {
      resvgModule = null;
      const message = (error as Error).message;
      if (error instanceof Deno.errors.NotCapable || /Requires (sys|ffi)/.test(message)) {
        throw new Error(
          `zsl: rendering PNG loads resvg's native addon, which needs --allow-read (Deno's npm cache), ` +
            `--allow-ffi and --allow-sys=cpus,networkInterfaces,hostname: ${message}`,
        );
      }
      throw new Error(`zsl: cannot load @resvg/resvg-js to render PNG: ${message}`);
    });
  }
  return resvgModule;
}

/** Rasterises SVG text to PNG bytes with resvg, drawing text with `chartFonts()`. */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Uint8Array> {
  const { Resvg } = await loadResvg();
  const fonts = await chartFonts(options.bundledFont ?? false);
  const resvg = new Resvg(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles: fonts.files,
      defaultFontFamily: fonts.family,
      sansSerifFamily: fonts.family,
    },
    fitTo: { mode: "zoom", value: options.scale ?? 2 },
    background: "white",
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Renders a spec to its JSON, SVG and PNG in memory (nothing written). */
export async function renderChartToMemory(
  spec: VegaLiteSpec,
  options: PngOptions = {},
): Promise<RenderedChart> {
  const svg = await chartToSvg(spec);
  const png = await svgToPng(svg, options);
  return { vegaLite: JSON.stringify(spec, null, 2) + "\n", svg, png };
}

/** The three paths of a chart with base path `basePath`. */
export function chartPaths(basePath: string): ChartFiles {
  return { vegaLite: `${basePath}.vl.json`, svg: `${basePath}.svg`, png: `${basePath}.png` };
}

/** Writes a rendered chart to `<base>.vl.json`, `<base>.svg`, `<base>.png`, each atomically. */
export async function writeRenderedChart(rendered: RenderedChart, basePath: string): Promise<ChartFiles> {
  const paths = chartPaths(basePath);
  await writeFileAtomic(paths.vegaLite, rendered.vegaLite);
  await writeFileAtomic(paths.svg, rendered.svg);
  await writeFileAtomic(paths.png, rendered.png);
  return paths;
}

/**
 * Renders a Vega-Lite spec and writes `<basePath>.vl.json`, `<basePath>.svg` and `<basePath>.png`.
 * Everything is rendered before the first file is written, and each file is written atomically,
 * so a failure leaves no partial file.
 */
export async function renderChart(
  spec: VegaLiteSpec,
  basePath: string,
  options: PngOptions = {},
): Promise<ChartFiles> {
  return writeRenderedChart(await renderChartToMemory(spec, options), basePath);
}
