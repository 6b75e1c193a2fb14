/**
 * Issue 14 end to end: a tiny sweep with two warmups writes the warmup control (its tables, Markdown and
 * figure), the fits against the learning-rate area and F1's view against S, and opens report.html with the
 * warmup control.
 */
import { assert, assertEquals } from "./asserts.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { readTable } from "../src/results/table.ts";
import { DECELERATION_LR_AREA_CURVES_TABLE, DECELERATION_TABLE } from "../src/results/deceleration.ts";
import { readWarmupControl } from "../src/results/warmup.ts";
import { DATA_STATISTICS_TABLE } from "../src/results/data_statistics.ts";
import { join } from "../src/util/path.ts";

Deno.test({
  name:
    "warmup sweep: two warmups on tiny give the warmup control's tables, figure and the report's first section",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-warmup-sweep-" });
    try {
      // 160 steps: with warmup 8 tiny's curve breaks at t_d ≈ 80 on lavapipe; with 32 it has no break.
      const definition = validateSweep({
        name: "warmup control",
        models: ["tiny"],
        batches: [4],
        warmups: [8, 32],
        common: { steps: 160, evalSequences: 4, data: "brown", tokenizer: "bytes" },
        analyses: {
          deceleration: true,
          // Not the T^0.369 default (6.5 for 160 steps): every fit must say it used this one.
          decelerationMinStep: 6,
          interferenceCheckpoints: false,
          interferenceOneStep: false,
          gradientInterference: "none",
        },
      });
      const { runs, results } = await runSweepLocally(gpu, definition, out);
      assertEquals(runs.map((run) => [run.id, run.group]), [["tiny_w8", "tiny"], ["tiny_w32", "tiny"]]);
      const resultsDir = join(out, "results");
      const names = results.map((path) => path.slice(resultsDir.length + 1));
      for (
        const file of [
          "warmup_control.arrow",
          "warmup_verdict.arrow",
          "warmup_control.md",
          "warmup_control.svg",
          "deceleration_curves_lr_area.arrow",
          "deceleration_f1_lr_area.svg",
        ]
      ) {
        assert(names.includes(file), `${file} was not written: ${names.join(", ")}`);
      }
      const fits = await readTable(resultsDir, DECELERATION_TABLE);
      assertEquals(fits.map((row) => [row.name, row.warmup, row.minStep]), [["tiny_w8", 8, 6], [
        "tiny_w32",
        32,
        6,
      ]]);
      for (const row of fits) {
        assert(row.lrAreaFinal > 0 && Number.isFinite(row.tDLrArea), `${row.name}: no fit against S`);
        assert(
          row.lrAreaAtTD > 0 && row.lrAreaAtTD < row.lrAreaFinal,
          `${row.name}: S(t_d) ${row.lrAreaAtTD}`,
        );
      }
      // The training data's entropies, once for both runs (same data, tokenizer and sequences): Brown's
      // bytes have H1 ≈ 3.1 and H2 ≈ 2.4 nats (docs/warmup-study.md#mechanism).
      const statistics = await readTable(resultsDir, DATA_STATISTICS_TABLE);
      assertEquals(statistics.map((row) => [row.data, row.tokenizer, row.seq, row.runs]), [
        ["brown", "bytes", 32, "tiny_w8, tiny_w32"],
      ]);
      const [{ unigramEntropy, bigramEntropy }] = statistics;
      assert(
        unigramEntropy > 3 && unigramEntropy < 3.2 && bigramEntropy > 2.3 && bigramEntropy < 2.6,
        `H1 ${unigramEntropy}, H2 ${bigramEntropy}`,
      );
      const lrAreaCurves = await readTable(resultsDir, DECELERATION_LR_AREA_CURVES_TABLE);
      assertEquals([...new Set(lrAreaCurves.map((row) => row.model))], ["tiny_w8", "tiny_w32"]);

      const control = await readWarmupControl(resultsDir);
      assert(control !== null, "no warmup control");
      assertEquals(control.rows.map((row) => [row.group, row.run, row.warmup]), [
        ["tiny", "tiny_w8", 8],
        ["tiny", "tiny_w32", 32],
      ]);
      assert(control.rows.some((row) => row.breakFound), "no break found: the figure has nothing to draw");
      assertEquals(control.verdicts.map((row) => [row.group, row.warmups, row.runs]), [["tiny", "8, 32", 2]]);
      const found = control.rows.filter((row) => row.breakFound).length;
      assertEquals(control.verdicts[0].breaks, found);
      const spec = JSON.parse(await Deno.readTextFile(join(resultsDir, "warmup_control.vl.json")));
      assert(JSON.stringify(spec).includes('"tiny"'), "the figure's colour is the model");

      const report = await Deno.readTextFile(join(resultsDir, "report.html"));
      const sections = [...report.matchAll(/<section id="([^"]+)">/g)].map((match) => match[1]);
      // The summary opens the page with the warmup headline; the control's own section follows it.
      assertEquals(sections.slice(0, 2), ["summary", "warmup-control"], `sections: ${sections.join(", ")}`);
      const summary = report.slice(
        report.indexOf('<section id="summary">'),
        report.indexOf('<section id="warmup-control">'),
      );
      const headline = /<p class="headline"><b>([^<]+)<\/b><\/p>/.exec(summary)?.[1] ?? "";
      assert(headline.includes("tiny"), `headline: ${headline}`);
      assert(
        summary.indexOf(headline) < summary.indexOf("T1 — deceleration per model"),
        "the headline comes first",
      );
      assert(summary.includes("unigram entropy H1 = 3.1"), "the summary sets L_d beside H1 and H2");
      assert(report.includes('id="figure-warmup_control"'), "the figure is embedded");
      assert(report.includes('id="figure-deceleration_f1_lr_area"'), "F1 against S is embedded");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
