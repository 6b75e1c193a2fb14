import { assert, assertClose, assertEquals } from "./asserts.ts";
import { loadRun } from "../src/train/run.ts";
import { analyseRunGradients } from "../src/analysis/gradients/run.ts";
import { gradientCacheFile, gradientsDir } from "../src/results/gradients.ts";
import { readTable } from "../src/results/table.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import type { SweepEnvironment } from "../src/results/sweep.ts";
import { GRADIENT_TABLE, type GradientInterferenceRow } from "../src/results/gradients.ts";
import { writeTable } from "../src/results/table.ts";
import { DECELERATION_COLUMNS, writeSweepRunsTable } from "../src/report/runs_table.ts";
import { writeSweepReport } from "../src/report/sweep_report.ts";
import { escapeHtml } from "../src/util/html.ts";
import { formatCell } from "../src/util/format.ts";
import { readArrow } from "../src/io/arrow.ts";
import type { TableData } from "../src/io/arrow.ts";
import { parameterCount, presetByName } from "../src/model/config.ts";
import { join } from "../src/util/path.ts";

Deno.test("report: HTML escaping and cell formatting", () => {
  assertEquals(escapeHtml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  assertEquals(formatCell(NaN), "—");
  assertEquals(formatCell(12), "12");
  assertEquals(formatCell(0.123456), "0.1235");
  assertEquals(formatCell(1.5e-5), "1.5×10⁻⁵");
  assertEquals(formatCell(true), "yes");
});

/** The column values of `table` as plain numbers (NaN for non-numbers). */
function numbers(table: TableData, column: string): number[] {
  const values = table.columns[column];
  assert(values !== undefined, `no column ${column} (columns: ${table.names.join(", ")})`);
  return Array.from(values, (value) => (typeof value === "number" ? value : NaN));
}

function strings(table: TableData, column: string): string[] {
  return Array.from(table.columns[column] ?? [], String);
}

/** Element names that never have a closing tag. */
const VOID = new Set(["meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"]);

/** Checks that every opened element is closed in order (enough to catch a broken template). */
function assertBalanced(html: string): void {
  const stack: string[] = [];
  const body = html.replace(/<!DOCTYPE[^>]*>/i, "").replace(/<style>[\s\S]*?<\/style>/, "<style></style>");
  for (const match of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>/g)) {
    const [, closing, rawName] = match;
    const name = rawName.toLowerCase();
    if (VOID.has(name)) continue;
    if (!closing) stack.push(name);
    else {
      const open = stack.pop();
      assert(open === name, `</${name}> closes <${open}> at offset ${match.index}`);
    }
  }
  assertEquals(stack, [], "unclosed elements");
  assert(!/<(?![a-zA-Z/!])/.test(body), "a raw < in text (not escaped)");
}

Deno.test({
  name:
    "report: a tiny sweep's runs.arrow joins config, fit and interference; report.html embeds every figure",
  ...GPU_TEST,
  async fn(t) {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-report-" });
    const steps = 48;
    const definition = validateSweep({
      // Markup in the name: the report must show it as text.
      name: `report <i>"test"</i> & co`,
      models: ["tiny"],
      seeds: [0, 1],
      batches: [4],
      common: { steps, warmup: 2, evalSequences: 4, data: "brown", tokenizer: "bytes" },
      analyses: {
        deceleration: true,
        interferenceCheckpoints: true,
        interferenceOneStep: true,
        oneStepBatches: 1,
        gradientInterference: "sequence",
      },
    });
    const { runs, results } = await runSweepLocally(gpu, definition, out);
    const ids = runs.map((run) => run.id);
    assertEquals(ids, ["tiny_s0", "tiny_s1"]);
    const resultsDir = join(out, "results");
    for (const file of ["runs.arrow", "environment.json", "report.html"]) {
      assert(
        results.includes(join(resultsDir, file)),
        `${file} is not among the results: ${results.join(", ")}`,
      );
    }

    await t.step("runs.arrow: one row per run, values equal to the per-run tables", async () => {
      const table = await readArrow(join(resultsDir, "runs.arrow"));
      assertEquals(table.numRows, 2);
      assertEquals(strings(table, "run_id"), ids);
      const counts = parameterCount({ ...presetByName("tiny").config, vocab_size: 320 });
      assertEquals(numbers(table, "params_non_embedding"), [counts.nonEmbedding, counts.nonEmbedding]);
      assertEquals(numbers(table, "params_total"), [counts.total, counts.total]);
      assertEquals(numbers(table, "seed"), [0, 1]);
      assertEquals(numbers(table, "steps_done"), [steps, steps]);
      assertEquals(numbers(table, "batch"), [4, 4]);
      assertEquals(strings(table, "tokenizer"), ["bytes", "bytes"]);
      assertEquals(strings(table, "schedule"), ["trapezoidal", "trapezoidal"]);
      for (const column of ["d_model", "n_layers", "n_heads", "seq_len", "peak_lr", "train_wall_seconds"]) {
        assert(numbers(table, column).every((v) => Number.isFinite(v) && v > 0), `${column} not positive`);
      }
      assert(
        numbers(table, "train_sweep_seconds").every((v) => v > 0),
        "the sweep's training time is missing",
      );

      const fits = await readArrow(join(resultsDir, "deceleration.arrow"));
      for (const [row, id] of ids.entries()) {
        const fitRow = strings(fits, "name").indexOf(id);
        assert(fitRow >= 0, `no fit of ${id}`);
        for (const column of DECELERATION_COLUMNS) {
          assertEquals(numbers(table, column)[row], numbers(fits, column)[fitRow], `${id} ${column}`);
        }
        assertEquals(table.columns.identified[row], fits.columns.identified[fitRow], `${id} identified`);
      }

      const dt2t = await readArrow(join(resultsDir, "interference_dt_2t.arrow"));
      const dt1 = await readArrow(join(resultsDir, "interference_dt_1.arrow"));
      for (const [row, id] of ids.entries()) {
        const own = strings(dt2t, "model").map((model, i) => (model === id ? i : -1)).filter((i) => i >= 0);
        const last = own.reduce((a, b) => (numbers(dt2t, "t")[b] > numbers(dt2t, "t")[a] ? b : a));
        assertEquals(numbers(table, "dt2t_last_t")[row], numbers(dt2t, "t")[last]);
        for (const metric of ["D", "M", "abs_deltaL"]) {
          assertEquals(
            numbers(table, `dt2t_last_${metric}`)[row],
            numbers(dt2t, metric)[last],
            `${id} ${metric}`,
          );
        }
        const evalLast = strings(dt1, "model").map((_, i) => i)
          .filter((i) => strings(dt1, "model")[i] === id && strings(dt1, "set")[i] === "eval")
          .reduce((a, b) => (numbers(dt1, "t")[b] > numbers(dt1, "t")[a] ? b : a));
        assertEquals(numbers(table, "dt1_eval_last_D")[row], numbers(dt1, "D")[evalLast]);
        // The one-step analysis starts from the power-of-two checkpoints only.
        assertEquals(numbers(table, "dt1_last_t")[row], 2 ** Math.floor(Math.log2(steps)));
        // The window holding t_d exists exactly when the fit identified a break inside the run.
        const identified = table.columns.identified[row] === true;
        const tD = numbers(table, "t_d")[row];
        if (identified && tD >= 1 && tD < steps) {
          const t = numbers(table, "dt2t_td_t")[row];
          assert(t <= tD && tD < 2 * t, `${id}: window ${t} → ${2 * t} does not hold t_d = ${tD}`);
        } else {
          assert(Number.isNaN(numbers(table, "dt2t_td_D")[row]), `${id}: a value at an unidentified t_d`);
        }
      }
    });

    await t.step("environment.json: adapter, machine and timings", async () => {
      const environment = JSON.parse(
        await Deno.readTextFile(join(resultsDir, "environment.json")),
      ) as SweepEnvironment;
      assertEquals(environment.analysisAdapter?.description, gpu.adapter.description);
      assertEquals(environment.runs.map((run) => run.id), ids);
      for (const run of environment.runs) {
        assertEquals(run.sessions.length, 1);
        assertEquals([run.sessions[0].firstStep, run.sessions[0].lastStep], [1, steps]);
        assert(run.sessions[0].seconds > 0 && run.trainWallSeconds > 0, "training times missing");
      }
      assert(environment.analyses.some((analysis) => analysis.what.startsWith("deceleration")));
      assert(environment.analyses.some((analysis) => analysis.what.startsWith("loss interference")));
      assert(environment.host.cpus >= 1 && environment.host.deno.deno === Deno.version.deno);
      const { training, analyses, total } = environment.seconds;
      assert(Math.abs(training + analyses - total) < 1e-9 && training > 0 && analyses > 0, "bad totals");
    });

    await t.step("report.html: self-contained, escaped, every figure and table", async () => {
      const html = await Deno.readTextFile(join(resultsDir, "report.html"));
      assertBalanced(html);
      const figures = [...Deno.readDirSync(resultsDir)].map((entry) => entry.name)
        .filter((name) => name.endsWith(".svg")).map((name) => name.slice(0, -4));
      for (const figure of ["deceleration_f1", "zsl_f2", "zsl_f3", "zsl_f4"]) {
        assert(figures.includes(figure), `the sweep wrote no ${figure}.svg`);
      }
      for (const figure of figures) {
        assert(
          new RegExp(
            `<figure id="figure-${figure}"><img [^>]*src="data:image/(svg\\+xml|png);base64,[A-Za-z0-9+/=]{1000,}"`,
          )
            .test(html),
          `figure ${figure} is not embedded`,
        );
      }
      assert(!/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i.test(html), "a reference to a remote resource");
      assert(!/url\(|@import|<script|<link|<iframe/i.test(html), "an external or scripted resource");
      assert(
        html.includes("report &lt;i&gt;&quot;test&quot;&lt;/i&gt; &amp; co"),
        "the sweep name is not escaped",
      );
      assert(!html.includes("<i>"), "markup from the sweep name reached the page");
      // The answer first: T1 and the summary, then the figures, then the rest.
      const order = [
        "summary",
        "figures",
        "deceleration",
        "interference",
        "runs",
        "what-was-run",
        "environment",
      ]
        .map((section) => html.indexOf(`<section id="${section}">`));
      assert(order.every((at) => at >= 0), `sections missing: ${order}`);
      assertEquals(order, [...order].sort((a, b) => a - b), "sections out of order");
      const summary = html.slice(order[0], order[1]);
      assert(summary.includes("T1 — deceleration per model"), "no T1 table in the summary");
      for (const row of ["t_d, steps (±1σ)", "L_d, nats", "D at the break", "|ΔL| at the last window"]) {
        assert(summary.includes(escapeHtml(row)), `the summary has no row "${row}"`);
      }
      assert(summary.includes("none in this sweep"), "the summary does not say there is no warmup control");
      for (const id of ids) assert(html.includes(`>${id}<`), `run ${id} missing from the tables`);
      assert(html.includes(escapeHtml(gpu.adapter.description || gpu.adapter.device)), "no adapter");
    });

    await t.step("the sweep's gradient interference reaches runs.arrow and the report (F5–F8)", async () => {
      const table = await readArrow(join(resultsDir, "runs.arrow"));
      assertEquals(numbers(table, "grad_sequence_last_step"), [32, 32]);
      for (const value of numbers(table, "grad_sequence_last_d_grad")) {
        assert(value > 0 && value < 1, `D(∇ℓ) ${value} is not in (0, 1)`);
      }
      const html = await Deno.readTextFile(join(resultsDir, "report.html"));
      for (const figure of ["zsl_f5", "zsl_f6", "zsl_f7", "zsl_f8"]) {
        assert(results.includes(join(resultsDir, `${figure}.png`)), `${figure}.png was not written`);
        assert(html.includes(figure), `${figure} is not in the report`);
      }
      // The noise scale (docs/method.md#gradient-noise-scale): in sequences, beside the batch of 4.
      const gradients = await readTable(resultsDir, GRADIENT_TABLE);
      for (const row of gradients) {
        // tiny: T = 32, so a sequence predicts 31 tokens.
        assertEquals([row.batchExamples, row.batchTokens], [4, 4 * 31], `${row.run} step ${row.step}`);
        assert(row.noiseTrace > 0 && row.meanExampleGradSq > row.meanGradNorm ** 2, "tr(Σ) ≤ 0");
        const b = row.noiseTrace / row.gradSqUnbiased;
        assert(
          row.gradSqUnbiased > 0 ? row.bSimple === b : Number.isNaN(row.bSimple),
          `B_simple ${row.bSimple}`,
        );
      }
      assertEquals(
        numbers(table, "grad_sequence_last_b_simple"),
        [0, 1].map((i) => gradients.filter((row) => row.run === ids[i]).at(-1)!.bSimple),
      );
    });

    await t.step(
      "a gradient cache written before the noise scale gets it from its per-example table",
      async () => {
        const run = await loadRun(join(out, "runs", ids[0]));
        const path = join(gradientsDir(run.runDir), gradientCacheFile(32, "sequence"));
        const cache = JSON.parse(await Deno.readTextFile(path));
        const fresh = { ...cache.result };
        for (const field of ["meanExampleGradSq", "noiseTrace", "gradSqUnbiased", "bSimple"]) {
          delete cache.result[field];
        }
        await Deno.writeTextFile(path, JSON.stringify(cache));
        const again = await analyseRunGradients(() => Promise.reject(new Error("recomputed")), run, {
          granularity: "sequence",
        });
        assertEquals(again.computed, 0);
        const last = again.checkpoints.at(-1)!;
        assertClose(
          [last.meanExampleGradSq, last.noiseTrace, last.gradSqUnbiased],
          [fresh.meanExampleGradSq, fresh.noiseTrace, fresh.gradSqUnbiased],
          1e-12,
          "noise scale from the per-example table",
        );
      },
    );

    await t.step(
      "gradient_interference.arrow is joined per run and granularity, at the last checkpoint",
      async () => {
        // Both runs share the preset (`model`); `run` tells them apart. Token rows for both, sequence rows for one.
        const row = (run: string, granularity: string, step: number, dGrad: number, cG: number) => {
          const values = Object.fromEntries(
            Object.values(GRADIENT_TABLE.columns).map((
              [field, type],
            ) => [field, type === "string" ? "" : NaN]),
          );
          return {
            ...values,
            run,
            model: "tiny",
            granularity,
            step,
            dGrad,
            cG,
          } as unknown as GradientInterferenceRow;
        };
        await writeTable(resultsDir, GRADIENT_TABLE, [
          row("tiny_s0", "token", 16, 0.5, 0.3),
          row("tiny_s0", "token", 32, 0.9, 0.1),
          row("tiny_s0", "sequence", 32, 0.7, 0.2),
          row("tiny_s1", "token", 16, 0.4, 0.35),
          row("tiny_s1", "token", 32, 0.8, 0.15),
        ]);
        await writeSweepRunsTable(out, ids);
        const table = await readArrow(join(resultsDir, "runs.arrow"));
        assertEquals(numbers(table, "grad_token_last_step"), [32, 32]);
        assertEquals(numbers(table, "grad_token_last_d_grad"), [0.9, 0.8]);
        assertEquals(numbers(table, "grad_token_last_c_g"), [0.1, 0.15]);
        assertEquals(numbers(table, "grad_sequence_last_d_grad"), [0.7, NaN]);
        const html = await Deno.readTextFile(await writeSweepReport(out));
        assert(html.includes('<section id="gradients">'), "no gradient section");
        assert(
          html.includes("gradients (tokens) at the end: D(∇ℓ)"),
          "the gradient columns are not in the runs table",
        );
        // The summary reads the token rows at the checkpoint before each identified break.
        const summary = html.slice(
          html.indexOf('<section id="summary">'),
          html.indexOf('<section id="figures">'),
        );
        assert(summary.includes("C_g"), "no gradient rows in the summary");
        assertBalanced(html);
      },
    );
    await Deno.remove(out, { recursive: true });
  },
});
