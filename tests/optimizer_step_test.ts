/**
 * Runs with the ablation optimizers: resuming is bit-identical, and the engine's one-step API
 * (OptimizerStep) re-takes a run's step from a checkpoint with the run's own optimizer and state.
 */
import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { loadRun, resolveRun } from "../src/train/run.ts";
import type { RunSpec } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { checkpointPath, loadCheckpoint } from "../src/train/checkpoint.ts";
import { learningRate } from "../src/train/schedule.ts";
import {
  analysisOptimizerOptions,
  OptimizerStep,
  requireAdamWForOneStep,
} from "../src/train/optimizer_step.ts";
import type { OptimizerKind } from "../src/train/optimizer.ts";
import { parameterLayout } from "../src/model/parameters.ts";

function spec(out: string, optimizer: OptimizerKind, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    out,
    preset: "tiny",
    arch: "nanogpt",
    optimizer,
    batch: 4,
    microbatch: 2,
    steps: 5,
    warmup: 2,
    lr: 3e-3,
    evalSequences: 8,
    evalEvery: 0,
    ...extra,
  };
}

const read = (path: string) => Deno.readFile(path);

for (const kind of ["cautious", "ademamix", "muon"] as const) {
  Deno.test({
    name:
      `optimizer step: ${kind} (nanoGPT) resumes bit-identically, and OptimizerStep re-takes its last step`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const whole = await Deno.makeTempDir();
      const split = await Deno.makeTempDir();
      const reference = await train(gpu, { ...(await resolveRun(spec(whole, kind))).options, kernels });
      // Stopped after step 3; the last checkpoint is step 2, so the resumed run redoes 3…5.
      await train(gpu, { ...(await resolveRun(spec(split, kind))).options, stopAfter: 3, kernels });
      const resumed = await train(gpu, {
        ...(await resolveRun(spec(split, kind, { resume: true }))).options,
        kernels,
      });
      assertEquals(resumed.firstStep, 3);
      assertEquals(resumed.losses, reference.losses.slice(2));
      for (const file of ["model.safetensors", "optimizer.safetensors"]) {
        assertEquals(
          await read(`${checkpointPath(split, 5)}/${file}`),
          await read(`${checkpointPath(whole, 5)}/${file}`),
          `${file} after resuming`,
        );
      }

      // The engine's one step from checkpoint 4 with the run's own optimizer (clipping included), lr(5)
      // and batch 5 is the trainer's step 5, bit for bit.
      const run = await loadRun(whole);
      assertEquals(run.optimizer.kind, kind);
      const config = run.config;
      const checkpoint = await loadCheckpoint(checkpointPath(whole, 4), parameterLayout(config));
      const stepper = await OptimizerStep.create(gpu, config, {
        batch: run.batch,
        microbatch: run.microbatch,
        optimizer: run.optimizer,
        kernels,
      });
      stepper.load({ parameters: checkpoint.parameters, optimizer: checkpoint.optimizer! });
      const tokens = run.plan.trainBatch(5).tokens;
      const taken = await stepper.step(tokens, 5, learningRate(run.schedule, 5));
      // (The trainer sums the losses on the GPU, the step on the host: the same up to rounding.)
      const lossDifference = Math.abs(taken.meanLoss - reference.losses[4]) / reference.losses[4];
      assert(lossDifference < 1e-6, `step-5 loss ${taken.meanLoss} vs the trainer's ${reference.losses[4]}`);
      const last = await loadCheckpoint(checkpointPath(whole, 5), stepper.model.layout);
      const state = await stepper.state();
      assertEquals(state.parameters, last.parameters, "parameters after the re-taken step");
      for (const [name, tensor] of last.optimizer!) {
        assertEquals(state.optimizer.get(name)!.data, tensor.data, `${name} after the re-taken step`);
      }
      const delta = await stepper.update();
      assertEquals(delta, last.parameters.map((v, i) => v - checkpoint.parameters[i]));
      stepper.destroy();

      // The analyses' variant: the same optimizer without clipping; reloading gives the same step twice.
      const analysis = await OptimizerStep.create(gpu, config, {
        batch: run.batch,
        microbatch: run.microbatch,
        optimizer: analysisOptimizerOptions(run.optimizer),
        kernels,
      });
      assertEquals(analysis.optimizer.options.maxNorm, 0);
      analysis.load({ parameters: checkpoint.parameters, optimizer: checkpoint.optimizer! });
      const first = await analysis.step(tokens, 5, 1e-3);
      const firstDelta = await analysis.update();
      const second = await analysis.step(tokens, 5, 1e-3);
      assertEquals(second.before, first.before);
      assertEquals(await analysis.update(), firstDelta);
      assert(firstDelta.some((v) => v !== 0), "the step changed nothing");
      analysis.destroy();
      await Deno.remove(whole, { recursive: true });
      await Deno.remove(split, { recursive: true });
    },
  });
}

Deno.test("optimizer step: the AdamW-only one-step analyses refuse runs of the other optimizers", () => {
  requireAdamWForOneStep({ kind: "adamw" }, "a");
  requireAdamWForOneStep(undefined, "b");
  assertThrows(() => requireAdamWForOneStep({ kind: "muon" }, "run-m"), Error, "run-m was trained with muon");
});
