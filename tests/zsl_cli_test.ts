import { assert, assertEquals } from "./asserts.ts";
import { ANALYSIS_PERMISSIONS, GPU_TEST, runScript, testGpu } from "./helpers.ts";
import type { ScriptOutput } from "./helpers.ts";
import { resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { readArrow } from "../src/io/arrow.ts";

function zsl(args: string[]): Promise<ScriptOutput> {
  return runScript("zsl", ANALYSIS_PERMISSIONS, args);
}

Deno.test({
  name: "zsl CLI: a tiny run end to end, then a second call that reuses the cache",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const base = await Deno.makeTempDir();
    const runDir = `${base}/tiny`;
    const { options } = await resolveRun({
      out: runDir,
      preset: "tiny",
      steps: 40,
      batch: 8,
      microbatch: 4,
      warmup: 4,
      evalSequences: 8,
      evalEvery: 0,
    });
    await train(gpu, { ...options, kernels });
    const out = `${base}/figures`;

    const first = await zsl([runDir, "--out", out, "--batches", "2"]);
    assertEquals(first.code, 0, first.stderr);
    for (const name of ["zsl_f2", "zsl_f3", "zsl_f4"]) {
      for (const extension of ["vl.json", "svg", "png"]) {
        assert((await Deno.stat(`${out}/${name}.${extension}`)).size > 0, `${name}.${extension}`);
      }
    }
    // Checkpoints 1, 2, 4, 8, 16, 32 (and 40): five pairs (t, 2t); six power-of-two one-step checkpoints.
    const dt2t = await readArrow(`${out}/interference_dt_2t.arrow`);
    assertEquals(Array.from(dt2t.columns.t as Int32Array), [1, 2, 4, 8, 16]);
    for (let i = 0; i < dt2t.numRows; i++) {
      const D = Number(dt2t.columns.D[i]);
      const M = Number(dt2t.columns.M[i]);
      const deltaL = Number(dt2t.columns.deltaL[i]);
      assert(D >= 0 && D <= 1 && M > 0, `row ${i}: D ${D}, M ${M}`);
      assert(Math.abs(Math.abs(deltaL) - M * (1 - D)) < 1e-9 * M, `identity at row ${i}`);
      assertEquals(Number(dt2t.columns.n[i]), 8 * 31);
    }
    // Early training lowers the eval loss: ΔL < 0 from step 1 to 2… and the loss falls overall.
    const lossT = dt2t.columns.loss_t as Float64Array;
    assert(lossT[lossT.length - 1] < lossT[0], `eval loss ${lossT[0]} → ${lossT[lossT.length - 1]}`);
    const groups = await readArrow(`${out}/interference_dt_2t_groups.arrow`);
    assertEquals(new Set(groups.columns.grouping as string[]), new Set(["genre", "document"]));
    const dt1 = await readArrow(`${out}/interference_dt_1.arrow`);
    assertEquals(dt1.numRows, 6 * 2);
    assertEquals(new Set(dt1.columns.set as string[]), new Set(["train", "eval"]));
    assert(Array.from(dt1.columns.batches as Float64Array).every((k) => k === 2));
    const batches = await readArrow(`${out}/interference_dt_1_batches.arrow`);
    assertEquals(batches.numRows, 6 * 2 * 2);
    // The unseen batches are those of steps 41 and 42.
    assertEquals(new Set(Array.from(batches.columns.batch_step as Int32Array)), new Set([41, 42]));
    const losses = await readArrow(`${runDir}/interference/losses_step-0000008.arrow`);
    assertEquals(losses.names, ["seq", "pos", "loss", "document", "genre"]);
    assertEquals(losses.numRows, 8 * 31);
    assert((await Deno.readTextFile(`${out}/interference.md`)).includes("| t → 2t |"));

    // Everything is cached: the second call computes nothing and gives the same tables.
    const second = await zsl([runDir, "--out", out, "--batches", "2"]);
    assertEquals(second.code, 0, second.stderr);
    assert(second.stdout.includes("computed 0 loss sets, 0 one-step checkpoints"), second.stdout);
    const again = await readArrow(`${out}/interference_dt_2t.arrow`);
    assertEquals(again.columns.D, dt2t.columns.D);
    // Other one-step settings are recomputed, the eval losses are not.
    const third = await zsl([runDir, "--out", out, "--batches", "1", "--lr", "peak"]);
    assertEquals(third.code, 0, third.stderr);
    assert(third.stdout.includes("computed 0 loss sets, 6 one-step checkpoints"), third.stdout);
    // --no-one-step writes no one-step table; a bad option is a usage error.
    const onlyDt2t = await zsl([runDir, "--out", `${base}/only`, "--no-one-step"]);
    assertEquals(onlyDt2t.code, 0, onlyDt2t.stderr);
    await Deno.stat(`${base}/only/zsl_f2.png`);
    assert(!(await Deno.stat(`${base}/only/zsl_f4.png`).then(() => true, () => false)));
    const bad = await zsl([runDir, "--batches", "0"]);
    assertEquals(bad.code, 2);
    assert(bad.stderr.includes("--batches"), bad.stderr);
    const notRun = await zsl([base]);
    assertEquals(notRun.code, 2);
    assert(notRun.stderr.includes("not a run directory"), notRun.stderr);
    await Deno.remove(base, { recursive: true });
  },
});
