/**
 * The notebooks under `notebooks/`: committed without outputs, their code type-checks, and each one runs
 * headless with the Deno kernel (`jupyter nbconvert --execute`) without an error, showing at least one
 * native Vega-Lite chart and a table. The first three executions share one tiny sweep, which the first
 * notebook trains into a temporary `ZSL_SWEEP` directory; the ablations' notebook trains its own tiny sweep
 * into a temporary `ZSL_ABLATION_SWEEP` directory. Also the notebook helpers of
 * `src/notebook/` (bundles, tables, which sweep a notebook opens).
 *
 * This file opens no GPU device itself: it spawns Jupyter, and spawning a process right after a Dawn
 * device is destroyed crashes or hangs the parent (measured with `npm:webgpu@0.6.2`).
 *
 * @module
 */
import { assert, assertEquals, assertThrows } from "./asserts.ts";
import type { VegaLiteSpec } from "../src/plot/render.ts";
import {
  ABLATION_SWEEP_ENV,
  chartOutput,
  markdownBundle,
  markdownToText,
  openNotebookSweep,
  svgSize,
  SWEEP_ENV,
  tableBundle,
  TINY_SWEEP_NAME,
  tinySweep,
  VEGA_LITE_MIME,
  VEGA_LITE_V5_SCHEMA,
} from "../src/notebook/mod.ts";
import { formatCell } from "../src/util/format.ts";
import { join } from "../src/util/path.ts";

const NOTEBOOKS_DIR = new URL("../notebooks/", import.meta.url).pathname;
const MOD_URL = new URL("../mod.ts", import.meta.url).href;
const NOTEBOOKS = [
  "01-loss-deceleration.ipynb",
  "02-zero-sum-learning.ipynb",
  "03-gradient-interference.ipynb",
  "04-ablations.ipynb",
];
const SETUP_HELP = "install them with `deno run -A scripts/setup.ts --tests` (as root on Debian/Ubuntu)";

interface NotebookCell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: {
    output_type: string;
    data?: Record<string, unknown>;
    metadata?: Record<string, Record<string, unknown>>;
    ename?: string;
    evalue?: string;
  }[];
}

interface Notebook {
  cells: NotebookCell[];
  metadata: { kernelspec?: { name?: string } };
}

async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path)) as Notebook;
}

function sourceOf(cell: NotebookCell): string {
  return textOf(cell.source);
}

/** A multi-line string of a notebook file: nbformat stores it as one string or as a list of lines. */
function textOf(value: unknown): string {
  return Array.isArray(value) ? value.join("") : String(value);
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  return { success: output.success, stdout, text: stdout + decoder.decode(output.stderr) };
}

Deno.test("notebooks: each committed notebook uses the Deno kernel and has its outputs cleared", async () => {
  const found = [];
  for await (const entry of Deno.readDir(NOTEBOOKS_DIR)) {
    if (entry.name.endsWith(".ipynb")) found.push(entry.name);
  }
  assertEquals(found.sort(), [...NOTEBOOKS].sort(), "notebooks/ holds other notebooks than the tested ones");
  for (const name of NOTEBOOKS) {
    const notebook = await readNotebook(join(NOTEBOOKS_DIR, name));
    assertEquals(notebook.metadata.kernelspec?.name, "deno", `${name}: kernelspec is not "deno"`);
    const code = notebook.cells.filter((cell) => cell.cell_type === "code");
    assert(code.length > 0, `${name} has no code cells`);
    for (const [index, cell] of code.entries()) {
      const where = `${name}, code cell ${index + 1}`;
      assertEquals(cell.outputs ?? [], [], `${where} has outputs: clear them before committing`);
      assertEquals(cell.execution_count ?? null, null, `${where} has an execution count: clear outputs`);
    }
    const firstCode = sourceOf(code[0]);
    assert(firstCode.includes('from "../mod.ts"'), `${name}: the first code cell must import ../mod.ts`);
  }
});

Deno.test("notebooks: the code cells type-check against mod.ts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-notebooks-check-" });
  try {
    const files = [];
    for (const name of NOTEBOOKS) {
      const notebook = await readNotebook(join(NOTEBOOKS_DIR, name));
      // One module per notebook, cells in order, as the kernel runs them (top-level await included).
      const code = notebook.cells.filter((cell) => cell.cell_type === "code").map(sourceOf).join("\n\n");
      const file = join(dir, name.replace(/\.ipynb$/, ".ts"));
      await Deno.writeTextFile(file, code.replaceAll('"../mod.ts"', JSON.stringify(MOD_URL)) + "\n");
      files.push(file);
    }
    const config = new URL("../deno.json", import.meta.url).pathname;
    const result = await run(Deno.execPath(), ["check", "--quiet", "--config", config, ...files]);
    assert(result.success, `deno check of the notebooks' code failed:\n${result.text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "notebooks: each executes headless with the Deno kernel, with charts and tables and no error",
  // Jupyter's kernel manager and the Deno kernel are other processes; nothing here leaks.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const version = await run("jupyter", ["nbconvert", "--version"]).catch(() => null);
    assert(version?.success, `jupyter nbconvert is not installed: ${SETUP_HELP}`);
    const kernels = await run("jupyter", ["kernelspec", "list", "--json"]);
    assert(
      kernels.success && JSON.parse(kernels.stdout)?.kernelspecs?.deno,
      `Jupyter has no "deno" kernel: ${SETUP_HELP}, or run \`deno jupyter --install\``,
    );
    const dir = await Deno.makeTempDir({ prefix: "zsl-notebooks-" });
    try {
      // Not created: the first notebook trains the tiny sweep into it, the others reuse it.
      const env = { [SWEEP_ENV]: join(dir, "sweep"), [ABLATION_SWEEP_ENV]: join(dir, "ablation-sweep") };
      for (const name of NOTEBOOKS) {
        await t.step(name, async () => {
          const started = performance.now();
          const result = await run("jupyter", [
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=600",
            "--ExecutePreprocessor.kernel_name=deno",
            "--output-dir",
            dir,
            join(NOTEBOOKS_DIR, name),
          ], env);
          assert(result.success, `jupyter nbconvert --execute ${name} failed:\n${result.text.slice(-6000)}`);
          const executed = await readNotebook(join(dir, name));
          const outputs = executed.cells.flatMap((cell) => cell.outputs ?? []);
          const errors = outputs.filter((output) => output.output_type === "error");
          assertEquals(
            errors.map((error) => `${error.ename}: ${error.evalue}`),
            [],
            `${name} has error outputs`,
          );
          const data = outputs.map((output) => output.data ?? {});
          const chartOutputs = outputs.filter((output) => VEGA_LITE_MIME in (output.data ?? {}));
          const charts = chartOutputs.map((output) => output.data!);
          assert(charts.length > 0, `${name} shows no ${VEGA_LITE_MIME} chart`);
          for (const output of chartOutputs) {
            const chart = output.data!;
            const spec = chart[VEGA_LITE_MIME] as Record<string, unknown>;
            assertEquals(spec.$schema, VEGA_LITE_V5_SCHEMA, `${name}: a chart's $schema is not Vega-Lite 5`);
            // Frontends without Vega-Lite (classic Notebook, nbconvert, nbviewer, GitHub) show the PNG, at
            // the chart's size; an SVG would be nbconvert's choice, and its HTML cleaner blanks it.
            assert(textOf(chart["image/png"]).startsWith("iVBORw0KGgo"), `${name}: a chart has no PNG`);
            assert(!("image/svg+xml" in chart), `${name}: a chart carries an SVG, which nbconvert blanks`);
            const size = output.metadata?.["image/png"];
            assert(Number(size?.width) > 0 && Number(size?.height) > 0, `${name}: a chart's PNG has no size`);
          }
          // nbconvert's HTML (what nbviewer and a shared export show): every chart an image at its size.
          const html = await run("jupyter", [
            "nbconvert",
            "--to",
            "html",
            "--output-dir",
            dir,
            join(dir, name),
          ]);
          assert(html.success, `jupyter nbconvert --to html ${name} failed:\n${html.text.slice(-3000)}`);
          const page = await Deno.readTextFile(join(dir, name.replace(/\.ipynb$/, ".html")));
          const images = [
            ...page.matchAll(/<img src="data:image\/png;base64,[^"]{100,}"\s*width=(\d+)\s*height=(\d+)/g),
          ];
          assertEquals(
            images.length,
            charts.length,
            `${name}: charts shown as sized images in nbconvert's HTML`,
          );
          assert(
            !page.includes('<svg class="marks"'),
            `${name}: nbconvert's HTML holds a (blanked) chart SVG`,
          );
          // Markdown outputs (tables carry HTML, Markdown and their own aligned text).
          for (
            const bundle of data.filter((bundle) => "text/markdown" in bundle && !("text/html" in bundle))
          ) {
            assertEquals(textOf(bundle["text/plain"]), markdownToText(textOf(bundle["text/markdown"])));
          }
          const tables = data.filter((bundle) => textOf(bundle["text/html"] ?? "").includes("<table>"));
          assert(tables.length > 0, `${name} shows no table`);
          console.log(
            `${name}: ${((performance.now() - started) / 1000).toFixed(1)} s, ${charts.length} charts, ` +
              `${tables.length} tables`,
          );
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("notebook helpers: tables as HTML, Markdown and text; cells formatted; bad columns named", () => {
  const bundle = tableBundle(
    { model: ["a<b", "c|d"], loss: Float64Array.of(2.345678, NaN), step: Int32Array.of(1, 2048) },
    { caption: "Losses & steps", digits: 3 },
  );
  const html = String(bundle["text/html"]);
  assert(html.includes("<caption>Losses &amp; steps</caption>"), html);
  assert(html.includes("<td>a&lt;b</td><td>2.35</td><td>1</td>"), html);
  assert(html.includes("<td>c|d</td><td>—</td><td>2048</td>"), html);
  assert(String(bundle["text/markdown"]).includes("| c\\|d | — | 2048 |"), String(bundle["text/markdown"]));
  assertEquals(String(bundle["text/plain"]).split("\n")[1], "model  loss  step");
  const long = tableBundle({ i: Int32Array.from({ length: 5 }, (_, i) => i) }, { maxRows: 2 });
  assert(String(long["text/plain"]).endsWith("… 3 more rows of 5"), String(long["text/plain"]));
  assertThrows(() => tableBundle({ a: [1] }, { columns: ["b"] }), Error, 'no column "b" (columns: a)');
  assertThrows(() => tableBundle({ a: [1, 2], b: [1] }), Error, "differ in length (a=2, b=1)");
  assertEquals(formatCell(0.000012344), "1.234×10⁻⁵");
  assertEquals(formatCell(12345.678, 3), "12300");
  assertEquals(formatCell(true), "yes");
  assertEquals(formatCell(10n), "10");
  assertEquals(formatCell(null), "—");
});

Deno.test("notebook helpers: a chart output holds the spec as Vega-Lite 5 and a PNG, sized (an SVG on request)", async () => {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Two points" },
    width: 200,
    height: 100,
    data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] },
    mark: "point",
    encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
  } as unknown as VegaLiteSpec;
  const { data, metadata } = await chartOutput(spec);
  const shown = data[VEGA_LITE_MIME] as Record<string, unknown>;
  assertEquals(shown.$schema, VEGA_LITE_V5_SCHEMA);
  assertEquals(shown.data, { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] });
  assertEquals(
    (spec as unknown as Record<string, unknown>).$schema,
    "https://vega.github.io/schema/vega-lite/v6.json",
  );
  assertEquals(data["text/plain"], "Vega-Lite chart (Two points, 2 data rows)");
  assert(!("image/svg+xml" in data), "an SVG by default (nbconvert's HTML would show it blank)");
  const withSvg = await chartOutput(spec, { svg: true });
  const svg = String(withSvg.data["image/svg+xml"]);
  assert(svg.startsWith("<svg"), "no SVG in the output asked for one");
  // The PNG is drawn at twice the chart's size and shown at the chart's size.
  const png = Uint8Array.from(atob(String(data["image/png"])), (c) => c.charCodeAt(0));
  const view = new DataView(png.buffer);
  const size = svgSize(svg)!;
  assert(size.width > 200 && size.height > 100, `SVG ${size.width}×${size.height}`);
  assertEquals([view.getUint32(16), view.getUint32(20)], [
    Math.round(2 * size.width),
    Math.round(2 * size.height),
  ]);
  assertEquals(metadata["image/png"], size);
  assertEquals(withSvg.metadata["image/svg+xml"], size);
  const bare = await chartOutput(spec, { images: false });
  assert(
    !("image/svg+xml" in bare.data) && !("image/png" in bare.data),
    "images rendered when not asked for",
  );
  assertEquals(bare.metadata, {});
});

Deno.test("notebook helpers: Markdown outputs carry a plain-text rendering; text tables show as tables", () => {
  const markdown = "## Sweep **tiny** in `/tmp/x`\n\n- [METHOD](docs/method.md): D \\| M, _rises_";
  const bundle = markdownBundle(markdown);
  assertEquals(bundle["text/markdown"], markdown);
  assertEquals(bundle["text/plain"], "Sweep tiny in /tmp/x\n\n- METHOD (docs/method.md): D | M, rises");
  const table = tableBundle({ caption: "T", headers: ["Model", "L_d"], rows: [["a", "1.0 ± 0.1"]] });
  assert(String(table["text/html"]).includes("<caption>T</caption>"));
  assert(String(table["text/html"]).includes("<td>a</td><td>1.0 ± 0.1</td>"), String(table["text/html"]));
});

Deno.test("notebook helpers: which sweep a notebook opens, and the errors that say what to do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-notebook-sweep-" });
  const previous = Deno.env.get(SWEEP_ENV);
  try {
    assertEquals(tinySweep().name, TINY_SWEEP_NAME);
    assertEquals(tinySweep().models.length, 2);

    // A finished sweep of another name is read as it is: nothing trained.
    const finished = join(dir, "finished");
    await Deno.mkdir(join(finished, "results"), { recursive: true });
    await Deno.writeTextFile(
      join(finished, "sweep.json"),
      JSON.stringify({ name: "mine", models: ["cpu-xs", "cpu-s"] }),
    );
    await Deno.writeTextFile(join(finished, "results", "deceleration.arrow"), "");
    Deno.env.set(SWEEP_ENV, finished);
    const opened = await openNotebookSweep({ defaultDir: join(dir, "unused"), log: () => {} });
    assertEquals(opened.source, "env");
    assertEquals(opened.computed, false);
    assertEquals(opened.definition.name, "mine");
    assertEquals(opened.runs, [
      { id: "cpu-xs", dir: join(finished, "runs", "cpu-xs") },
      { id: "cpu-s", dir: join(finished, "runs", "cpu-s") },
    ]);

    // Another sweep without a result the notebook needs: finish it, or point elsewhere.
    const error = await openNotebookSweep({ defaultDir: dir, needs: ["interference_dt_2t.arrow"] })
      .then(() => null, (e: Error) => e);
    assert(error?.message.includes("has no results/interference_dt_2t.arrow"), String(error));
    assert(error?.message.includes("deno task sweep --sweep"), String(error));

    // A relative ZSL_SWEEP would resolve against the notebook's folder, not where Jupyter started.
    Deno.env.set(SWEEP_ENV, "sweeps/default");
    const relative = await openNotebookSweep({ defaultDir: dir }).then(() => null, (e: Error) => e);
    assert(relative?.message.includes("give an absolute one"), String(relative));

    // A directory holding something else is not trained into.
    const other = join(dir, "other");
    await Deno.mkdir(other);
    await Deno.writeTextFile(join(other, "notes.txt"), "mine");
    Deno.env.delete(SWEEP_ENV);
    const notSweep = await openNotebookSweep({ defaultDir: other }).then(() => null, (e: Error) => e);
    assert(notSweep?.message.includes("is not a sweep directory"), String(notSweep));
  } finally {
    if (previous === undefined) Deno.env.delete(SWEEP_ENV);
    else Deno.env.set(SWEEP_ENV, previous);
    await Deno.remove(dir, { recursive: true });
  }
});
