/**
 * Runs with the ablation optimizers: resuming is bit-identical, the engine's one-step API (OptimizerStep)
 * re-takes a run's step from a checkpoint with the run's own optimizer and state, and the one-step
 * analysis Δ_t^{t+1} of a Muon and a Cautious run is the step re-taken by hand (float64 reference).
 */
import { assert, assertClose, assertEquals, assertWithin } from "./asserts.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { loadRun, resolveRun } from "../src/train/run.ts";
import type { LoadedRun, RunSpec } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { checkpointPath, loadCheckpoint } from "../src/train/checkpoint.ts";
import type { Checkpoint } from "../src/train/checkpoint.ts";
import { learningRate } from "../src/train/schedule.ts";
import { analysisOptimizerOptions, OptimizerStep } from "../src/train/optimizer_step.ts";
import type { OptimizerKind } from "../src/train/optimizer.ts";
import { parameterLayout } from "../src/model/parameters.ts";
import { Transformer } from "../src/model/transformer.ts";
import { modelTokenLosses } from "../src/model/token_losses.ts";
import { readFloats } from "../src/gpu/buffers.ts";
import type { GpuDevice } from "../src/gpu/device.ts";
import type { Kernels } from "../src/gpu/kernels.ts";
import { analyseRun, evalTokenSet, lossInterference } from "../src/analysis/interference/mod.ts";
import { cautiousReferenceStep, muonReferenceStep } from "../src/reference/optimizers.ts";
import type { ReferenceTensor } from "../src/reference/optimizers.ts";

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

/** The global-batch gradient of `tokens` at `parameters`, accumulated over microbatches as in training. */
async function batchGradient(model: Transformer, gpu: GpuDevice, tokens: Uint32Array, microbatch: number) {
  const micro = microbatch * model.config.seq_len;
  for (let m = 0; m < tokens.length / micro; m++) {
    model.setTokens(tokens.subarray(m * micro, (m + 1) * micro));
    const encoder = gpu.device.createCommandEncoder();
    if (m === 0) model.zeroGradients(encoder);
    const pass = encoder.beginComputePass();
    model.record(pass, { backward: true, slot: m });
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
  }
  return await readFloats(gpu, model.gradients!);
}

/**
 * Δ_t^{t+1} of batch 0 re-taken by hand: the gradient of the unseen batch at θ_t, one float64 reference
 * step of `kind` from the checkpoint's state at rate `lr` without clipping (update t + 1), then the
 * per-token losses at θ_t and at the new weights on the batch and on the eval split.
 */
async function oneStepByHand(
  gpu: GpuDevice,
  kernels: Kernels,
  run: LoadedRun,
  checkpoint: Checkpoint,
  t: number,
  lr: number,
) {
  const layout = parameterLayout(run.config);
  const model = await Transformer.create(
    gpu,
    run.config,
    { batch: run.microbatch, globalBatch: run.batch, lossSlots: run.batch / run.microbatch },
    kernels,
  );
  const tokens = run.plan.unseenBatch(run.steps, 0).tokens;
  const evalTokens = evalTokenSet(run).tokens;
  model.setParameters(checkpoint.parameters);
  const trainBefore = await modelTokenLosses(model, tokens);
  const evalBefore = await modelTokenLosses(model, evalTokens);
  const grads = await batchGradient(model, gpu, tokens, run.microbatch);
  const tensors: ReferenceTensor[] = layout.specs.map((spec) => ({
    name: spec.name,
    shape: spec.shape as [number, number],
    param: Float64Array.from(checkpoint.parameters.subarray(spec.offset, spec.offset + spec.length)),
    grad: Float64Array.from(grads.subarray(spec.offset, spec.offset + spec.length)),
    decay: spec.decay,
    state: new Map(
      [...checkpoint.optimizer!]
        .filter(([name]) => name.startsWith(`${spec.name}.`))
        .map(([name, tensor]) => [name.slice(spec.name.length + 1), Float64Array.from(tensor.data)]),
    ),
  }));
  const o = run.optimizer;
  const step = { ...o, maxNorm: 0, lr, t: t + 1, lrScale: o.muonLrScale, momentum: o.muonMomentum };
  if (o.kind === "muon") muonReferenceStep(tensors, step);
  else if (o.kind === "cautious") cautiousReferenceStep(tensors, step);
  else throw new Error(`no reference step here for ${o.kind}`);
  const after = new Float32Array(layout.totalLength);
  for (const [index, spec] of layout.specs.entries()) after.set(tensors[index].param, spec.offset);
  model.setParameters(after);
  const train = lossInterference(trainBefore, await modelTokenLosses(model, tokens));
  const evaluation = lossInterference(evalBefore, await modelTokenLosses(model, evalTokens));
  model.destroy();
  return { train, eval: evaluation };
}

for (const [kind, arch] of [["muon", "olmo"], ["cautious", "nanogpt"]] as const) {
  Deno.test({
    name: `optimizer step: Δ_t^{t+1} of a ${kind} run (${arch}) is its own step re-taken by hand, at lr(t)`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const out = await Deno.makeTempDir();
      // Warmup 3: lr(2) ≠ lr(3), so a step at the trainer's rate lr(t + 1) would be told apart.
      const { options } = await resolveRun(spec(out, kind, { arch, steps: 4, warmup: 3, evalSequences: 4 }));
      await train(gpu, { ...options, kernels });
      const run = await loadRun(out);
      const result = await analyseRun(gpu, run, { batches: 1, maxStep: 2, kernels });
      const t = 2;
      const checkpoint = await loadCheckpoint(checkpointPath(out, t), parameterLayout(run.config));
      const lr = learningRate(run.schedule, t);
      const byHand = await oneStepByHand(gpu, kernels, run, checkpoint, t, lr);
      const wrongRate = await oneStepByHand(
        gpu,
        kernels,
        run,
        checkpoint,
        t,
        learningRate(run.schedule, t + 1),
      );
      for (const set of ["train", "eval"] as const) {
        const row = result.dt1Batches.find((r) => r.t === t && r.set === set && r.batch === 0)!;
        assertEquals(row.lr, lr, `${set}: the analysis' rate is lr(t)`);
        const expected = byHand[set];
        // A float32 GPU step against a float64 reference step, the same float32 losses: equal to rounding.
        assertWithin(Math.abs(row.D - expected.D), 1e-5, `${kind} ${set}: |D − D by hand|`);
        assertClose([row.M], [expected.M], 1e-5, `${kind} ${set}: M`);
        assertWithin(
          Math.abs(row.deltaL - expected.deltaL),
          1e-4 * expected.M,
          `${kind} ${set}: |ΔL − ΔL by hand|`,
        );
        const other = wrongRate[set];
        assert(
          Math.abs(other.M - expected.M) > 1e-2 * expected.M,
          `${set}: lr(t + 1) gives M ${other.M} against lr(t)'s ${expected.M}: the test cannot tell them apart`,
        );
      }
      await Deno.remove(out, { recursive: true });
    },
  });
}
