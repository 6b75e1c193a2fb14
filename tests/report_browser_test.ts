/**
 * The report in a real browser: Debian's headless Chromium (tests/chromium.ts) opens a page of known
 * geometry (the harness's own check), then the report.html of a small sweep with every analysis (F1–F8): every figure decodes and fits the window, T1 and the summary under it lie within the first screen
 * (1280×900), the page does not scroll sideways and is at most ten screens high (folded parts closed), and
 * with every folded part opened each table wider than the window sits in a scroll box within it. With
 * `ZSL_SCREENSHOTS=DIR` the screenshots (first screen, whole page) are kept there.
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

/** The page-height bound of the test sweep's report (details folded): ten screens of 900 px. */
const MAX_PAGE_HEIGHT = 10 * SCREEN.height;

/** Tables wider than the window, and whether each lies in a scroll box that fits the window. */
const WIDE_TABLES = `[...document.querySelectorAll("table")].map((table) => {
  const box = table.getBoundingClientRect();
  let scroller = table.parentElement;
  while (scroller && !["auto", "scroll"].includes(getComputedStyle(scroller).overflowX)) {
    scroller = scroller.parentElement;
  }
  const frame = scroller?.getBoundingClientRect();
  return { caption: table.caption?.textContent ?? table.rows[0]?.textContent?.slice(0, 40) ?? "",
    width: Math.round(box.width), left: Math.round(box.left), right: Math.round(box.right),
    scroller: frame ? { left: Math.round(frame.left), right: Math.round(frame.right) } : null };
}).filter((table) => table.right > innerWidth || table.left < 0)`;

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
    // The check of wide tables: one in a scroll box within the window passes, one outside any does not.
    const widePage = join(dir, "wide.html");
    await Deno.writeTextFile(
      widePage,
      `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin: 0">
<div style="overflow-x: auto"><table style="width: 1500px"><caption>scrolls</caption><tr><td>a</td></tr></table></div>
<table style="width: 1500px"><caption>overflows</caption><tr><td>b</td></tr></table>
<table style="width: 500px"><caption>fits</caption><tr><td>c</td></tr></table>
</body></html>`,
    );
    const wideTab = await browser.open(widePage, { width: 800, height: 600 });
    const wide = await wideTab.evaluate<{ caption: string; scroller: { right: number } | null }[]>(
      WIDE_TABLES,
    );
    assertEquals(wide.map((table) => [table.caption, table.scroller?.right ?? null]), [
      ["scrolls", 800],
      ["overflows", null],
    ]);
    await wideTab.close();
    let missing = "";
    await browser.open(join(dir, "absent.html"), SCREEN).catch((error) => (missing = String(error)));
    assert(/absent\.html/.test(missing), `opening a missing file: "${missing}"`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "report.html in headless Chromium: the summary on the first screen, figures decode, tables fit",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-report-browser-" });
    const screenshots = await screenshotFolder();
    try {
      // Every analysis, so that every figure (F1–F8) and every folded table is on the page.
      const definition = validateSweep({
        name: "report-browser",
        models: ["tiny"],
        seeds: [0],
        batches: [4],
        common: { steps: 48, warmup: 2, evalSequences: 4, data: "brown", tokenizer: "bytes" },
        analyses: {
          deceleration: true,
          interferenceCheckpoints: true,
          interferenceOneStep: true,
          oneStepBatches: 1,
          gradientInterference: "sequence",
        },
      });
      const { results } = await runSweepLocally(gpu, definition, out);
      const report = results.find((file) => file.endsWith("report.html"));
      assert(report !== undefined, `no report among ${results.join(", ")}`);

      await using browser = await HeadlessChromium.launch();
      const tab = await browser.open(report, SCREEN);
      const images = await tab.evaluate<{ alt: string; width: number; height: number; shown: number }[]>(
        "[...document.images].map((image) => ({ alt: image.alt.slice(0, 30), width: image.naturalWidth, " +
          "height: image.naturalHeight, shown: image.getBoundingClientRect().width }))",
      );
      assert(images.length >= 8, `${images.length} images in the report (F1–F8 expected)`);
      for (const image of images) {
        assert(image.width > 0 && image.height > 0, `an image did not decode: ${image.alt}`);
        assert(image.shown > 0 && image.shown <= SCREEN.width, `${image.alt} is ${image.shown} px wide`);
      }

      const [title] = await tab.boxes("h1");
      assert(title !== undefined && title.height > 0, "no visible title");
      // The answer: T1 and the summary table under it, both whole on the first screen.
      const table = (caption: string) =>
        tab.evaluate<Box | null>(`(() => {
          const caption = [...document.querySelectorAll("caption")]
            .find((element) => element.textContent.startsWith(${JSON.stringify(caption)}));
          const r = caption?.closest("table").getBoundingClientRect();
          return r ? { top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right,
            width: r.width, height: r.height } : null;
        })()`);
      const t1 = await table("T1");
      const summary = await table("Summary per run");
      assert(t1 !== null && summary !== null, `T1 ${JSON.stringify(t1)}, summary ${JSON.stringify(summary)}`);
      assert(
        t1.bottom <= summary.top,
        `the summary (from ${summary.top} px) is not under T1 (to ${t1.bottom} px)`,
      );
      assert(
        summary.bottom <= SCREEN.height && summary.right <= SCREEN.width,
        `the summary spans ${
          describe(summary)
        }, not within the first screen of ${SCREEN.width}×${SCREEN.height}`,
      );
      const [figures] = await tab.boxes("#figures");
      assert(figures !== undefined && figures.top > summary.bottom, "the figures do not follow the summary");

      const document = await tab.documentSize();
      assertEquals(document.width, SCREEN.width, "the page scrolls sideways");
      assert(
        document.height <= MAX_PAGE_HEIGHT,
        `the page is ${document.height} px high, more than ${MAX_PAGE_HEIGHT} (${
          MAX_PAGE_HEIGHT / SCREEN.height
        } screens)`,
      );
      const first = await tab.screenshot();
      assertEquals(pngSize(first), SCREEN);
      const whole = await tab.screenshot({ fullPage: true });
      assertEquals(pngSize(whole), document);

      // Opened, the folded tables may be wider than the window, but only inside a box that scrolls.
      const folded = await tab.evaluate<number>(
        "(document.querySelectorAll('details').forEach((details) => details.open = true), " +
          "document.querySelectorAll('details').length)",
      );
      assert(folded > 0, "no folded tables");
      const wide = await tab.evaluate<
        { caption: string; width: number; scroller: { left: number; right: number } | null }[]
      >(WIDE_TABLES);
      for (const table of wide) {
        assert(
          table.scroller !== null && table.scroller.left >= 0 && table.scroller.right <= SCREEN.width,
          `"${table.caption}" is ${table.width} px wide outside a scroll box within the window`,
        );
      }
      const opened = await tab.documentSize();
      assertEquals(opened.width, SCREEN.width, "an opened table widens the page");

      // A blank window of the same size compresses to a few kilobytes; the report's first screen cannot.
      const blank = await browser.open("data:text/html,<body></body>", SCREEN);
      const blankBytes = (await blank.screenshot()).length;
      assert(first.length > 4 * blankBytes, `first screen ${first.length} B vs a blank one ${blankBytes} B`);
      await Deno.writeFile(join(screenshots.dir, "report-first-screen.png"), first);
      await Deno.writeFile(join(screenshots.dir, "report-full-page.png"), whole);
      console.log(
        `  report: ${document.width}×${document.height} px (≤ ${MAX_PAGE_HEIGHT}), ${images.length} figures; ` +
          `T1 ${t1.top}–${t1.bottom} px, summary ${summary.top}–${summary.bottom} px; ${folded} folded parts, ` +
          `${wide.length} tables wider than the window, each in a scroll box; opened ${opened.height} px high; ` +
          `screenshots ${first.length} B (blank ${blankBytes} B)${
            screenshots.keep ? ` in ${screenshots.dir}` : ""
          }`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
      if (!screenshots.keep) await Deno.remove(screenshots.dir, { recursive: true });
    }
  },
});
