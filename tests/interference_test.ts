import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { ODD_TINY_CONFIG } from "../src/reference/selftest.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";
import {
  interferenceFromSums,
  lossInterference,
  LossProbe,
  meanStd,
  oneStepLearningRate,
  powerOfTwoPairs,
  summariseOneStep,
  targetLabels,
} from "../src/analysis/interference/mod.ts";
import type { Dt1BatchRow } from "../src/results/interference.ts";
import { modelTokenLosses } from "../src/model/token_losses.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { initParameters, parameterLayout } from "../src/model/parameters.ts";
import { Transformer } from "../src/model/transformer.ts";
import { referenceForward } from "../src/reference/model.ts";
import { loadRun, resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { checkpointPath, loadCheckpoint } from "../src/train/checkpoint.ts";
import { learningRate } from "../src/train/schedule.ts";
import { analysisOptimizerOptions, OptimizerStep } from "../src/train/optimizer_step.ts";

function randomLosses(random: Random, n: number): { before: Float64Array; after: Float64Array } {
  const before = new Float64Array(n).map(() => 1 + 5 * random.uniform());
  const after = before.map((value) => value + 0.3 * random.normal() - 0.05);
  return { before, after };
}

Deno.test("interference: |ΔL| = M·(1 − D) and the sums match a direct computation on random data", () => {
  const random = new Random(11);
  for (const n of [1, 2, 17, 10_000]) {
    const { before, after } = randomLosses(random, n);
    const result = lossInterference(before, after);
    let signed = 0;
    let absolute = 0;
    for (let i = 0; i < n; i++) {
      signed += after[i] - before[i];
      absolute += Math.abs(after[i] - before[i]);
    }
    assertEquals(result.n, n);
    assert(
      Math.abs(result.deltaL - signed / n) <= 1e-12 * absolute / n,
      `ΔL ${result.deltaL} vs ${signed / n}`,
    );
    assert(Math.abs(result.M - absolute / n) <= 1e-12 * absolute / n, `M ${result.M}`);
    assert(Math.abs(result.D - (1 - Math.abs(signed) / absolute)) < 1e-12, `D ${result.D}`);
    assert(Math.abs(Math.abs(result.deltaL) - result.M * (1 - result.D)) <= 1e-12 * result.M, "identity");
    assert(result.D >= 0 && result.D <= 1);
    assertEquals(result.reason, undefined);
  }
  // Float32 inputs (what the GPU gives) work the same.
  const { before, after } = randomLosses(random, 100);
  const f32 = lossInterference(Float32Array.from(before), Float32Array.from(after));
  assert(Math.abs(f32.D - lossInterference(before, after).D) < 1e-5);
});

Deno.test("interference: D = 0 when every change has one sign, D → 1 when changes cancel", () => {
  const before = [3, 2, 5, 4, 1];
  const down = lossInterference(before, before.map((v, i) => v - 0.1 * (i + 1)));
  assertEquals(down.D, 0);
  assert(Math.abs(down.deltaL + 0.3) < 1e-15 && Math.abs(down.M - 0.3) < 1e-15);
  const up = lossInterference(before, before.map((v) => v + 0.5));
  assertEquals(up.D, 0);
  assert(Math.abs(up.deltaL - 0.5) < 1e-15);
  // Exactly cancelling pairs: D = 1, ΔL = 0, M the mean magnitude.
  const cancel = lossInterference([2, 2, 2, 2], [1, 3, 1.5, 2.5]);
  assertEquals(cancel.D, 1);
  assertEquals(cancel.deltaL, 0);
  assertEquals(cancel.M, 0.75);
  // Nearly cancelling: D → 1 as the imbalance ε → 0, with 1 − D = ε / (2 + ε) here.
  for (const epsilon of [1e-1, 1e-3, 1e-6]) {
    const result = lossInterference([0, 0], [1 + epsilon, -1]);
    assert(Math.abs(1 - result.D - epsilon / (2 + epsilon)) < 1e-12, `ε ${epsilon}: D ${result.D}`);
  }
});

Deno.test("interference: no tokens, no change and non-finite losses give NaN with a reason", () => {
  const empty = lossInterference([], []);
  assert(Number.isNaN(empty.D) && Number.isNaN(empty.M) && Number.isNaN(empty.deltaL));
  assertEquals(empty.n, 0);
  assert(empty.reason?.includes("no tokens"));
  const same = lossInterference([1, 2, 3], [1, 2, 3]);
  assert(Number.isNaN(same.D));
  assertEquals(same.M, 0);
  assertEquals(same.deltaL, 0);
  assert(same.reason?.includes("zero"), same.reason);
  const diverged = lossInterference([1, 2], [1, Infinity]);
  assert(Number.isNaN(diverged.D) && diverged.reason?.includes("token 1"), diverged.reason);
  assertThrows(() => lossInterference([1, 2], [1]), Error, "same tokens");
  assertThrows(() => lossInterference([1, 2], [1, 2], [0]), Error, "one label per token");
  assert(Number.isNaN(interferenceFromSums(0, 0, 0).M));
});

Deno.test("interference: per-group results add back up to the totals, n-weighted", () => {
  const random = new Random(5);
  const n = 5000;
  const { before, after } = randomLosses(random, n);
  // Groups with different drifts: some improve while others degrade.
  const labels = Array.from({ length: n }, () => ["a", "b", "c", "d"][random.int(4)]);
  for (let i = 0; i < n; i++) after[i] += labels[i] === "a" ? -0.4 : labels[i] === "b" ? 0.4 : 0;
  const result = lossInterference(before, after, labels);
  const groups = result.groups!;
  assertEquals([...groups.keys()].sort(), ["a", "b", "c", "d"]);
  let count = 0;
  let signed = 0;
  let magnitude = 0;
  for (const group of groups.values()) {
    count += group.n;
    signed += group.n * group.deltaL;
    magnitude += group.n * group.M;
    assert(Math.abs(Math.abs(group.deltaL) - group.M * (1 - group.D)) <= 1e-12 * group.M);
  }
  assertEquals(count, n);
  assert(Math.abs(signed / n - result.deltaL) < 1e-12, `ΔL ${signed / n} vs ${result.deltaL}`);
  assert(Math.abs(magnitude / n - result.M) < 1e-12, `M ${magnitude / n} vs ${result.M}`);
  assert(groups.get("a")!.deltaL < 0 && groups.get("b")!.deltaL > 0, "a improves, b degrades");
  // Numeric labels (genre ids) work too.
  const numeric = lossInterference([1, 1, 1], [0, 2, 3], new Int32Array([-1, 4, 4]));
  assertEquals(numeric.groups!.get(-1)!.deltaL, -1);
  assertEquals(numeric.groups!.get(4)!.D, 0);
});

Deno.test("interference: helpers (mean ± std, target labels, power-of-two pairs, one-step summary)", () => {
  const stats = meanStd([1, 2, 3, 4, NaN]);
  assertEquals(stats.mean, 2.5);
  assert(Math.abs(stats.std - Math.sqrt(5 / 3)) < 1e-15);
  assertEquals(meanStd([7]).std, 0);
  assert(Number.isNaN(meanStd([]).mean));
  assertEquals(targetLabels(new Uint32Array([0, 0, 1, 5, 5, 6]), 3), new Uint32Array([0, 1, 5, 6]));
  assertEquals(powerOfTwoPairs([1, 2, 4, 8, 16, 20, 40]), [[1, 2], [2, 4], [4, 8], [8, 16]]);
  const rows: Dt1BatchRow[] = [0, 1, 2].map((batch) => ({
    model: "m",
    t: 8,
    set: "train",
    batch,
    batchStep: 41 + batch,
    lr: 1e-3,
    D: 0.5 + 0.1 * batch,
    M: 0.01,
    deltaL: -0.002 * (batch + 1),
    n: 10,
    lossBefore: 3,
    gradNorm: 1,
  }));
  const [summary] = summariseOneStep(rows);
  assert(Math.abs(summary.D - 0.6) < 1e-12 && Math.abs(summary.DStd - 0.1) < 1e-12);
  assert(Math.abs(summary.absDeltaL - 0.004) < 1e-15);
  assertEquals([summary.batches, summary.model], [3, "m"]);
});

Deno.test("interference: learning rate of the one step (lr(t), the next, the peak where 0)", () => {
  const schedule = {
    kind: "trapezoidal" as const,
    peakLr: 1e-3,
    warmup: 10,
    totalSteps: 100,
    decaySteps: 20,
  };
  assertEquals(oneStepLearningRate(schedule, 5), learningRate(schedule, 5));
  assertEquals(oneStepLearningRate(schedule, 5, "next"), learningRate(schedule, 6));
  assertEquals(oneStepLearningRate(schedule, 100), 1e-3, "lr(T) = 0 at the end of the decay: the peak");
  assertEquals(oneStepLearningRate(schedule, 50, 3e-4), 3e-4);
  assertEquals(oneStepLearningRate(schedule, 50, "peak"), 1e-3);
});

const CONFIG: ModelConfig = ODD_TINY_CONFIG;

Deno.test({
  name: "interference: GPU per-token losses equal the float64 reference forward (padding and flushes too)",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const layout = parameterLayout(CONFIG);
    const flat = initParameters(layout, 3);
    const random = new Random(8);
    const sequences = 5;
    const tokens = new Uint32Array(sequences * CONFIG.seq_len).map(() => random.int(CONFIG.vocab_size));
    const params = new Map(
      layout.specs.map((s) => [s.name, Float64Array.from(flat.subarray(s.offset, s.offset + s.length))]),
    );
    const reference = referenceForward(CONFIG, params, tokens, sequences);
    // Batch 2 over 5 sequences: the last forward is padded; gatherBytes 1 reads back after each forward.
    const model = await Transformer.create(gpu, CONFIG, { batch: 2, training: false }, kernels);
    model.setParameters(flat);
    for (const gatherBytes of [1, undefined]) {
      const losses = await modelTokenLosses(model, tokens, { gatherBytes });
      assertEquals(losses.length, sequences * (CONFIG.seq_len - 1));
      assertClose(losses, reference.losses, 1e-4, `token losses (gatherBytes ${gatherBytes})`);
    }
    await assertRejects(() => modelTokenLosses(model, tokens.subarray(1)), Error, "whole sequences");
    // A training model of the same batch gives the same bits (cached loss files and one-step "before"
    // losses may come from either).
    const trainingModel = await Transformer.create(gpu, CONFIG, { batch: 2, globalBatch: 4 }, kernels);
    trainingModel.setParameters(flat);
    assertEquals(await modelTokenLosses(trainingModel, tokens), await modelTokenLosses(model, tokens));
    trainingModel.destroy();
    model.destroy();
  },
});

Deno.test({
  name: "interference: the one step from checkpoint 4 reproduces the trainer's step 5 (weights and moments)",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const out = await Deno.makeTempDir();
    const { options } = await resolveRun({
      out,
      preset: "tiny",
      steps: 5,
      batch: 8,
      microbatch: 4,
      warmup: 3,
      evalSequences: 8,
      evalEvery: 0,
    });
    await train(gpu, { ...options, kernels });
    const run = await loadRun(out);
    const layout = parameterLayout(run.config);
    const four = await loadCheckpoint(checkpointPath(out, 4), layout);
    const five = await loadCheckpoint(checkpointPath(out, 5), layout);
    // The trainer's settings: its clipping (1.0) and weight decay, lr(5), the batch of step 5.
    const stepper = await OptimizerStep.create(gpu, run.config, {
      batch: run.batch,
      microbatch: run.microbatch,
      optimizer: run.optimizer,
      kernels,
    });
    assertEquals(stepper.optimizer.options.maxNorm, 1.0);
    stepper.load({ parameters: four.parameters, optimizer: four.optimizer! });
    const tokens = run.plan.trainBatch(5).tokens;
    const lr = oneStepLearningRate(run.schedule, 4, "next");
    assertEquals(lr, learningRate(run.schedule, 5));
    for (let repeat = 0; repeat < 2; repeat++) {
      // The second round checks that the step reloads checkpoint 4 first.
      const { before, gradNorm } = await stepper.step(tokens, 5, lr);
      const state = await stepper.state();
      assertEquals(state.parameters, five.parameters, "parameters after the step = checkpoint 5");
      for (const [name, tensor] of five.optimizer!) {
        assertEquals(state.optimizer.get(name)!.data, tensor.data, `${name} = checkpoint 5's`);
      }
      assert(gradNorm > 0);
      // The "before" losses are checkpoint 4's losses on that batch.
      stepper.reload();
      assertEquals(await stepper.losses(tokens), before);
    }
    // The paper's setting (no clipping, lr(4)) moves away from the trainer's step.
    const unclipped = await OptimizerStep.create(gpu, run.config, {
      batch: run.batch,
      microbatch: run.microbatch,
      optimizer: analysisOptimizerOptions(run.optimizer),
      kernels,
    });
    unclipped.load({ parameters: four.parameters, optimizer: four.optimizer! });
    await unclipped.step(tokens, 5, oneStepLearningRate(run.schedule, 4));
    const other = await unclipped.state();
    assert(other.parameters.some((value, i) => value !== five.parameters[i]));
    unclipped.destroy();
    stepper.destroy();
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "interference: the live probe reports D, M, ΔL between consecutive probes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const layout = parameterLayout(CONFIG);
    const random = new Random(2);
    const evalTokens = new Uint32Array(10 * CONFIG.seq_len).map(() => random.int(CONFIG.vocab_size));
    const model = await Transformer.create(gpu, CONFIG, { batch: 4 }, kernels);
    const states = [0, 1, 2, 3, 4].map((seed) => initParameters(layout, seed));
    model.setParameters(states[0]);
    const probe = new LossProbe({ every: 2, sequences: 3 });
    await probe.setup(model, { firstStep: 1, evalTokens: () => evalTokens });
    const probeTokens = evalTokens.subarray(0, 3 * CONFIG.seq_len);
    const measure = async (flat: Float32Array) => {
      model.setParameters(flat);
      return await modelTokenLosses(model, probeTokens);
    };
    for (let step = 1; step <= 4; step++) {
      model.setParameters(states[step]);
      const values = await probe.afterStep(step, model);
      if (step % 2 === 1) {
        assertEquals(values, null);
        continue;
      }
      // The window runs from the previous probe (step − 2; the setup's state for step 2) to this one.
      const expected = lossInterference(await measure(states[step - 2]), await measure(states[step]));
      assertEquals(values, { probe_D: expected.D, probe_M: expected.M, probe_deltaL: expected.deltaL });
    }
    assertEquals(probe.measurements, 3);
    assert(probe.seconds > 0);
    model.destroy();
  },
});
