/**
 * The loss along the update (src/analysis/landscape.ts): the α grid, the figure's panels, and on the GPU
 * that α = 0 is θ_t and α = 1 is the one-step Δ_t^{t+1} of the run's own optimizer, with its cache; and a
 * tiny sweep over optimizers × architectures that writes the landscape and the ablation comparison.
 */
import { assert, assertEquals, assertThrows, assertWithin } from "./asserts.ts";
import { lineLayer, panels, values, yField } from "./figure_helpers.ts";
import type { Spec } from "./figure_helpers.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { analyseRunLandscape, landscapeKs } from "../src/analysis/landscape.ts";
import { analyseRun } from "../src/analysis/interference/run.ts";
import { landscapeFigureSpec } from "../src/plot/landscape.ts";
import { landscapeFigures, landscapePoints } from "../src/report/figures.ts";
import { landscapeTable } from "../src/report/tables.ts";
import type { LandscapeRow } from "../src/results/landscape.ts";
import { LANDSCAPE_TABLE } from "../src/results/landscape.ts";
import { ABLATION_TABLE } from "../src/results/ablation.ts";
import { readTable } from "../src/results/table.ts";
import { loadRun, resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { learningRate } from "../src/train/schedule.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { join } from "../src/util/path.ts";

Deno.test("landscape: the α grid spreads k over 1…49 and always holds the real step k = 25", () => {
  assertEquals(landscapeKs().length, 49);
  assertEquals(landscapeKs(8), [6, 12, 18, 25, 31, 37, 43, 49]);
  assertEquals(landscapeKs(2), [25, 49]);
  assertEquals(landscapeKs(7), [7, 14, 21, 25, 28, 35, 42, 49]);
  assertEquals(landscapeKs(1), [25, 49]);
  assertThrows(() => landscapeKs(50), Error, "integer in 1 … 49");
  assertThrows(() => landscapeKs(0), Error, "integer in 1 … 49");
});

Deno.test("landscape: the figure draws ΔL, D, M against α, a row per set, a line per checkpoint", () => {
  const rows: LandscapeRow[] = [];
  for (const t of [4, 1, 2]) {
    for (const set of ["train", "eval"] as const) {
      for (const k of [-25, 0, 25]) {
        rows.push({
          model: "m",
          t,
          set,
          k,
          alpha: (k / 25) * 2,
          scale: 2,
          lr: 1e-3,
          loss: 3 - k / 100,
          deltaL: -k / 100,
          D: k === 0 ? NaN : 0.5,
          M: Math.abs(k) / 100,
          n: 10,
        });
      }
    }
  }
  const [[name, spec]] = landscapeFigures(rows);
  assertEquals(name, "zsl_landscape_m");
  const figure = spec as unknown as Spec;
  const all = panels(figure);
  assertEquals(all.map(yField), ["deltaL", "D", "M", "deltaL", "D", "M"]);
  const color = (lineLayer(all[0]).encoding as Record<string, Spec>).color;
  assertEquals((color.scale as Spec).domain, [1, 2, 4], "checkpoints in step order");
  // The rules mark θ_t (α = 0) and the real step (α = s = 2).
  const rules = values<{ alpha: number }>(all[0].layer ? (all[0].layer as Spec[])[0] : {});
  assertEquals(rules.map((rule) => rule.alpha), [0, 2]);
  // D is undefined at α = 0: that panel leaves the point out, the others draw it.
  assertEquals(values(lineLayer(all[1])).length, 6);
  assertEquals(values(lineLayer(all[0])).length, 9);
  assertEquals(landscapePoints(rows.slice(0, 1))[0].checkpoint, 4);
  assertThrows(() => landscapeFigureSpec([]), Error, "at least one checkpoint");
  // The table: the real step (k = 25) and the lowest loss (here the largest α).
  const table = landscapeTable(rows.filter((row) => row.t === 1));
  assertEquals(table.rows.map((row) => row.slice(0, 2)), [["1", "train"], ["1", "eval"]]);
  assertEquals(table.rows[0].slice(3, 7), ["-0.2500", "0.5000", "0.2500", "2"]);
});

Deno.test({
  name: "landscape: α = 0 is θ_t and α = 1 the one-step Δ_t^{t+1} of the run's own optimizer; the cache",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const out = await Deno.makeTempDir();
    const { options } = await resolveRun({
      out,
      preset: "tiny",
      optimizer: "ademamix",
      batch: 4,
      microbatch: 2,
      steps: 4,
      warmup: 2,
      evalSequences: 4,
      evalEvery: 0,
    });
    await train(gpu, { ...options, kernels });
    const run = await loadRun(out);
    const t = 2;
    const oneStep = await analyseRun(gpu, run, { batches: 1, maxStep: t, kernels });
    // The whole eval split (4 sequences) as the eval batch, so that α = 1 is Δ_t^{t+1}'s eval row too.
    const landscape = await analyseRunLandscape(gpu, run, {
      checkpoints: [t],
      points: 2,
      evalSequences: 4,
      kernels,
    });
    assertEquals(landscape.computed, 1);
    const rows = landscape.rows;
    assertEquals(rows.map((row) => row.k), [-49, -25, 0, 25, 49, -49, -25, 0, 25, 49]);
    assertEquals(rows.every((row) => row.lr === learningRate(run.schedule, t)), true);
    for (const set of ["train", "eval"] as const) {
      const own = rows.filter((row) => row.set === set);
      const origin = own.find((row) => row.k === 0)!;
      assertEquals([origin.alpha, origin.deltaL, origin.M], [0, 0, 0]);
      assert(Number.isNaN(origin.D), "D at α = 0 is undefined");
      const dt1 = oneStep.dt1Batches.find((row) => row.t === t && row.set === set && row.batch === 0)!;
      // θ_t before the step: the same losses, bit for bit.
      assertEquals(origin.loss, dt1.lossBefore, `${set}: the loss at α = 0 is the one step's "before"`);
      // θ_t + 1·δ is the stepped weights up to float32 rounding of θ_t + (θ' − θ_t).
      const step = own.find((row) => row.k === 25)!;
      assertWithin(Math.abs(step.D - dt1.D), 1e-4, `${set}: |D(α = 1) − D of Δ_t^{t+1}|`);
      assertWithin(Math.abs(step.M - dt1.M) / dt1.M, 1e-4, `${set}: relative |M(α = 1) − M of Δ_t^{t+1}|`);
      assertWithin(Math.abs(step.deltaL - dt1.deltaL), 1e-4 * dt1.M, `${set}: |ΔL(α = 1) − ΔL of Δ_t^{t+1}|`);
      // Along the update the loss first falls; the other way it rises.
      const back = own.find((row) => row.k === -25)!;
      assert(back.deltaL > 0 && step.deltaL < 0, `${set}: ΔL(−1) ${back.deltaL}, ΔL(1) ${step.deltaL}`);
    }
    // Cached: the same settings compute nothing; a new scale recomputes.
    const again = await analyseRunLandscape(gpu, run, {
      checkpoints: [t],
      points: 2,
      evalSequences: 4,
      kernels,
    });
    assertEquals([again.computed, again.rows], [0, rows]);
    const scaled = await analyseRunLandscape(gpu, run, {
      checkpoints: [t],
      points: 2,
      evalSequences: 4,
      scale: 0.5,
      kernels,
    });
    assertEquals(scaled.computed, 1);
    assertEquals(scaled.rows.find((row) => row.k === 25)!.alpha, 0.5);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "landscape and ablations: a tiny sweep over optimizers × archs writes both tables and figures",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-ablation-sweep-" });
    const definition = validateSweep({
      name: "ablation-test",
      models: ["tiny"],
      archs: ["olmo", "nanogpt"],
      optimizers: ["adamw", "muon"],
      batches: [4],
      common: { steps: 16, warmup: 2, evalSequences: 4 },
      analyses: {
        deceleration: true,
        interferenceCheckpoints: true,
        interferenceOneStep: false,
        gradientInterference: "none",
        landscape: true,
        landscapePoints: 1,
      },
    });
    const { runs, results } = await runSweepLocally(gpu, definition, out);
    const ids = runs.map((run) => run.id);
    assertEquals(ids, ["tiny_olmo_adamw", "tiny_olmo_muon", "tiny_nanogpt_adamw", "tiny_nanogpt_muon"]);
    const resultsDir = join(out, "results");
    const landscape = await readTable(resultsDir, LANDSCAPE_TABLE);
    // Checkpoints 1, 2, 4, 8, 16; two sets; α = 0, ±1, ±1.96.
    assertEquals(landscape.length, 4 * 5 * 2 * 5);
    assertEquals([...new Set(landscape.map((row) => row.model))], ids);
    const ablation = await readTable(resultsDir, ABLATION_TABLE);
    assertEquals(
      ablation.map((row) => `${row.axis} ${row.group} ${row.value}`),
      [
        "optimizer tiny_olmo adamw",
        "optimizer tiny_olmo muon",
        "optimizer tiny_nanogpt adamw",
        "optimizer tiny_nanogpt muon",
        "arch tiny_adamw olmo",
        "arch tiny_adamw nanogpt",
        "arch tiny_muon olmo",
        "arch tiny_muon nanogpt",
      ],
    );
    for (
      const file of [
        "landscape.arrow",
        "landscape.md",
        "ablation.arrow",
        "ablation.md",
        "zsl_landscape_tiny_nanogpt_muon.png",
        "zsl_ablation_optimizer_f1.png",
        "zsl_ablation_optimizer_f2.svg",
        "zsl_ablation_arch_f1.vl.json",
        "zsl_ablation_arch_f2.png",
      ]
    ) {
      assert(results.includes(join(resultsDir, file)), `${file} is not among the results`);
    }
    const report = await Deno.readTextFile(join(resultsDir, "report.html"));
    for (const text of ["Loss along the update", "Ablations: optimizers and architectures compared"]) {
      assert(report.includes(text), `report.html has no "${text}" section`);
    }
    await Deno.remove(out, { recursive: true });
  },
});
