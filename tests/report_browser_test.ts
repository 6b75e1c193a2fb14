/**
 * The report in a real browser: Debian's headless Chromium (tests/chromium.ts) opens a page of known
 * geometry (the harness's own check), then a tiny sweep's report.html, measures where its parts lie
 * and takes screenshots. With `ZSL_SCREENSHOTS=DIR` the screenshots are kept there.
 *
 * @module
 */
import { assert, assertEquals } from "./asserts.ts";
import { type Box, HeadlessChromium, pngSize } from "./chromium.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { join } from "../src/util/path.ts";

/** The window of every check: a laptop screen. */
const SCREEN = { width: 1280, height: 900 };

/** Where screenshots go: `ZSL_SCREENSHOTS` when set, else a temporary folder removed at the end. */
async function screenshotFolder(): Promise<{ dir: string; keep: boolean }> {
  const kept = Deno.env.get("ZSL_SCREENSHOTS");
  if (kept) {
    await Deno.mkdir(kept, { recursive: true });
    return { dir: kept, keep: true };
  }
  return { dir: await Deno.makeTempDir({ prefix: "zsl-screenshots-" }), keep: false };
}

function describe(box: Box): string {
  return `top ${box.top}, bottom ${box.bottom}, left ${box.left}, width ${box.width}`;
}

Deno.test("headless Chromium: boxes, document size and screenshots of a page of known geometry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-chromium-page-" });
  try {
    const page = join(dir, "page.html");
    await Deno.writeTextFile(
      page,
      `<!DOCTYPE html><html><head><meta charset="utf-8"><style>body { margin: 0 }</style></head><body>
<div id="top" style="height: 100px; background: #c33">top</div>
<div id="far" style="margin-top: 1200px; height: 50px; width: 300px; margin-left: 40px">far</div>
</body></html>`,
    );
    await using browser = await HeadlessChromium.launch();
    const tab = await browser.open(page, { width: 800, height: 600 });
    const [top] = await tab.boxes("#top");
    const [far] = await tab.boxes("#far");
    assertEquals([top.top, top.bottom, top.width], [0, 100, 800], `#top: ${describe(top)}`);
    assertEquals([far.top, far.bottom, far.left, far.width], [1300, 1350, 40, 300], `#far: ${describe(far)}`);
    assertEquals(await tab.boxes(".absent"), []);
    assertEquals(await tab.documentSize(), { width: 800, height: 1350 });
    assertEquals(pngSize(await tab.screenshot()), { width: 800, height: 600 });
    assertEquals(pngSize(await tab.screenshot({ fullPage: true })), { width: 800, height: 1350 });
    await tab.close();
    let missing = "";
    await browser.open(join(dir, "absent.html"), SCREEN).catch((error) => (missing = String(error)));
    assert(/absent\.html/.test(missing), `opening a missing file: "${missing}"`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "report.html in headless Chromium: it renders, every figure decodes, T1 is on the first screen",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-report-browser-" });
    const screenshots = await screenshotFolder();
    try {
      const definition = validateSweep({
        name: "report-browser",
        models: ["tiny"],
        seeds: [0],
        batches: [4],
        common: { steps: 48, warmup: 2, evalSequences: 4, data: "brown", tokenizer: "bytes" },
        analyses: {
          deceleration: true,
          interferenceCheckpoints: true,
          interferenceOneStep: false,
          gradientInterference: "none",
        },
      });
      const { results } = await runSweepLocally(gpu, definition, out);
      const report = results.find((file) => file.endsWith("report.html"));
      assert(report !== undefined, `no report among ${results.join(", ")}`);

      await using browser = await HeadlessChromium.launch();
      const tab = await browser.open(report, SCREEN);
      const images = await tab.evaluate<{ src: string; width: number; height: number }[]>(
        "[...document.images].map((image) => ({ src: image.src.slice(0, 40), width: image.naturalWidth, " +
          "height: image.naturalHeight }))",
      );
      assert(images.length >= 3, `${images.length} images in the report (F1, F2, F3 expected)`);
      for (const image of images) {
        assert(image.width > 0 && image.height > 0, `an image did not decode: ${image.src}`);
      }
      const document = await tab.documentSize();
      assert(document.width <= SCREEN.width * 4, `the page is ${document.width} px wide`);

      const [title] = await tab.boxes("h1");
      assert(title !== undefined && title.height > 0, "no visible title");
      assert(title.bottom <= SCREEN.height, `the title ends at ${title.bottom} px, below the first screen`);
      // T1: the table after the heading that names it (the answer of the deceleration analysis).
      const t1 = await tab.evaluate<Box | null>(`(() => {
        const heading = [...document.querySelectorAll("h2, h3, caption")]
          .find((element) => element.textContent.includes("T1"));
        const table = heading?.tagName === "CAPTION" ? heading.closest("table") : heading?.nextElementSibling;
        if (!table) return null;
        const r = table.getBoundingClientRect();
        return { top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right,
          width: r.width, height: r.height };
      })()`);
      assert(t1 !== null, "no T1 table in the report");
      assert(
        t1.top < SCREEN.height,
        `T1 starts at ${t1.top} px, below the first screen of ${SCREEN.height} px`,
      );

      const first = await tab.screenshot();
      assertEquals(pngSize(first), SCREEN);
      const whole = await tab.screenshot({ fullPage: true });
      assertEquals(pngSize(whole), document);
      // A blank window of the same size compresses to a few kilobytes; the report's first screen cannot.
      const blank = await browser.open("data:text/html,<body></body>", SCREEN);
      const blankBytes = (await blank.screenshot()).length;
      assert(first.length > 4 * blankBytes, `first screen ${first.length} B vs a blank one ${blankBytes} B`);
      await Deno.writeFile(join(screenshots.dir, "report-first-screen.png"), first);
      await Deno.writeFile(join(screenshots.dir, "report-full-page.png"), whole);
      console.log(
        `  report: ${document.width}×${document.height} px, ${images.length} figures; title ends at ` +
          `${title.bottom} px, T1 spans ${t1.top}–${t1.bottom} px; screenshots ${first.length} B ` +
          `(blank ${blankBytes} B)${screenshots.keep ? ` in ${screenshots.dir}` : ""}`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
      if (!screenshots.keep) await Deno.remove(screenshots.dir, { recursive: true });
    }
  },
});
