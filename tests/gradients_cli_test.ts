/**
 * Gradient interference of a trained run: the library entry point (every checkpoint, the identity,
 * Δ̂ℓ tracking Δℓ, the cache) and `deno task gradients` (tables, figures, projections).
 */
import { assert, assertEquals, assertWithin } from "./asserts.ts";
import { ANALYSIS_PERMISSIONS, GPU_TEST, runScript, testGpu } from "./helpers.ts";
import type { ScriptOutput } from "./helpers.ts";
import { loadRun, resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { readArrow } from "../src/io/arrow.ts";
import { analyseRunGradients } from "../src/analysis/gradients/run.ts";
import { GRADIENT_TABLE, gradientsDir, projectionFilesBase } from "../src/results/gradients.ts";
import { readProjections } from "../src/results/projections.ts";
import { readTable } from "../src/results/table.ts";

function gradientsCli(args: string[]): Promise<ScriptOutput> {
  return runScript("gradients", ANALYSIS_PERMISSIONS, args);
}

Deno.test({
  name: "gradient interference of a tiny run: every checkpoint, the identity, Δ̂ℓ tracks Δℓ, cache, CLI",
  ...GPU_TEST,
  async fn(t) {
    const { gpu, kernels } = await testGpu();
    const base = await Deno.makeTempDir();
    const runDir = `${base}/tiny`;
    const { options } = await resolveRun({
      out: runDir,
      preset: "tiny",
      steps: 16,
      batch: 4,
      warmup: 2,
      evalSequences: 4,
    });
    await train(gpu, { ...options, kernels });
    const run = await loadRun(runDir);

    await t.step("per-token statistics at every power-of-two checkpoint", async () => {
      const result = await analyseRunGradients(gpu, run, { granularity: "token", sequences: 2, kernels });
      assertEquals(result.checkpoints.map((c) => c.step), [1, 2, 4, 8, 16]);
      assertEquals(result.computed, 5);
      const T = run.config.seq_len;
      for (const c of result.checkpoints) {
        assertEquals(c.examples, 2 * (T - 1));
        assertWithin(
          c.identityError,
          1e-4,
          `step ${c.step}: identity error |1 − D(Δ̂ℓ) − C_g·C_(u,G)/C_(u,g)|`,
        );
        assert(c.dGrad > 0 && c.dGrad < 1, `step ${c.step}: D(∇ℓ) ${c.dGrad}`);
        assert(c.cG > 0 && c.cG <= 1, `step ${c.step}: C_g ${c.cG}`);
        // Δ̂ℓ_i both ways: the per-token gradients and the forward-mode tangent (the analysis fails beyond its bound).
        assertWithin(
          c.jvpMaxAbsDifference!,
          1e-3 * c.mPredicted,
          `step ${c.step}: max |Δ̂ℓ(tangent) − Δ̂ℓ(g·δ)| vs 1e-3·M(Δ̂ℓ)`,
        );
      }
      // Early in training one step is small enough for the first-order prediction to track the change.
      const first = result.checkpoints[0];
      assert(first.agreement.pearson > 0.95, `step 1: Pearson(Δ̂ℓ, Δℓ) = ${first.agreement.pearson}`);
      assert(first.agreement.signAgreement > 0.8, `step 1: sign agreement ${first.agreement.signAgreement}`);
      const again = await analyseRunGradients(gpu, run, { granularity: "token", sequences: 2, kernels });
      assertEquals(again.computed, 0);
      assertEquals(again.checkpoints.map((c) => c.dGrad), result.checkpoints.map((c) => c.dGrad));
    });

    await t.step("deno task gradients: tables, figures F5–F8 and projections", async () => {
      const out = `${base}/out`;
      const { code, stdout, stderr } = await gradientsCli([
        runDir,
        "--granularity",
        "sequence",
        "--checkpoints",
        "1,16",
        "--project",
        "4",
        "--out",
        out,
      ]);
      assertEquals(code, 0, stderr);
      assert(stdout.includes("most opposed"), stdout);
      const rows = await readTable(out, GRADIENT_TABLE);
      assertEquals(rows.map((row) => row.step), [1, 16]);
      assert(rows.every((row) => row.granularity === "sequence" && row.examples === 4));
      assert(rows.every((row) => row.jvpMaxAbsDifference >= 0), "jvp_max_abs_difference recorded");
      const histogram = await readArrow(`${out}/gradient_coherence_histogram.arrow`);
      assertEquals(histogram.numRows, 2 * 100);
      for (const figure of ["zsl_f5", "zsl_f6", "zsl_f7", "zsl_f8"]) {
        for (const extension of ["vl.json", "svg", "png"]) {
          assert((await Deno.stat(`${out}/${figure}.${extension}`)).size > 0, `${figure}.${extension}`);
        }
      }
      const projections = await readProjections(gradientsDir(runDir), projectionFilesBase(16, "sequence"));
      assertEquals(projections.count, 4);
      assertEquals(projections.dims, run.config.n_layers * 4 * 16 + 16);
      const bad = await gradientsCli([runDir, "--granularity", "word"]);
      assertEquals(bad.code, 2);
      assert(bad.stderr.includes("token or sequence"), bad.stderr);
    });
    await Deno.remove(base, { recursive: true });
  },
});
