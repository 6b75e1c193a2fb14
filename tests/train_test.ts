import { assert, assertClose, assertEquals, assertRejects } from "./asserts.ts";
import { CLIPPING_STEPS, GPU_TEST, optimizerStepOnRandomGradients, Random, testGpu } from "./helpers.ts";
import { learningRate } from "../src/train/schedule.ts";
import { AdamW, PAPER_ADAMW } from "../src/train/adamw.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { adamwReferenceStep } from "../src/reference/adamw.ts";
import type { AdamWTensor } from "../src/reference/adamw.ts";
import { parameterLayout } from "../src/model/parameters.ts";
import { createBuffer, readFloats, writeBuffer } from "../src/gpu/buffers.ts";
import { resolveRun } from "../src/train/run.ts";
import type { RunSpec } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { checkpointPath, checkpointSteps, listCheckpoints, loadCheckpoint } from "../src/train/checkpoint.ts";
import { readArrow } from "../src/io/arrow.ts";
import { writeNpy } from "../src/io/npy.ts";

Deno.test("schedule: warmup from 0.1·LR, constant, decay, cosine to 0.1·LR", () => {
  const lr = 1e-3;
  const trapezoid = { kind: "trapezoidal" as const, peakLr: lr, warmup: 100, totalSteps: 1000 };
  const close = (a: number, b: number) => assert(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  close(learningRate(trapezoid, 0), 0.1 * lr);
  close(learningRate(trapezoid, 1), lr * (0.1 + 0.9 / 100));
  close(learningRate(trapezoid, 50), 0.55 * lr);
  close(learningRate(trapezoid, 100), lr);
  close(learningRate(trapezoid, 101), lr);
  close(learningRate(trapezoid, 1000), lr);
  const wsd = { ...trapezoid, decaySteps: 200 };
  close(learningRate(wsd, 800), lr);
  close(learningRate(wsd, 900), 0.5 * lr);
  close(learningRate(wsd, 1000), 0);
  const cosine = { ...trapezoid, kind: "cosine" as const };
  close(learningRate(cosine, 100), lr);
  close(learningRate(cosine, 550), 0.55 * lr);
  close(learningRate(cosine, 1000), 0.1 * lr);
  // No warmup: the first update already uses the peak.
  close(learningRate({ ...trapezoid, warmup: 0 }, 1), lr);
});

Deno.test({
  name: "adamw: GPU steps with clipping and decoupled decay match torch's AdamW in float64",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const layout = parameterLayout({
      d_model: 12,
      n_layers: 1,
      n_heads: 2,
      vocab_size: 19,
      seq_len: 4,
      mlp_ratio: 1,
    });
    // serial: adamw_step_blocks (lavapipe's default); workgroup: adamw_step (GPUs').
    for (const variant of ["serial", "workgroup"] as RowVariant[]) {
      const random = new Random(4);
      const params = new Float32Array(layout.totalLength).map(() => random.normal() * 0.1);
      const paramBuffer = createBuffer(gpu, params.byteLength, "params");
      const gradBuffer = createBuffer(gpu, params.byteLength, "grads");
      writeBuffer(gpu, paramBuffer, params);
      const optimizer = await AdamW.create(gpu, layout, {}, kernels, variant);
      const tensors: AdamWTensor[] = layout.specs.map((spec) => ({
        param: Float64Array.from(params.subarray(spec.offset, spec.offset + spec.length)),
        grad: new Float64Array(spec.length),
        expAvg: new Float64Array(spec.length),
        expAvgSq: new Float64Array(spec.length),
        decay: spec.decay,
      }));
      for (const step of CLIPPING_STEPS) {
        const [t, lr] = step;
        optimizerStepOnRandomGradients(
          gpu,
          optimizer,
          { params: paramBuffer, grads: gradBuffer },
          layout,
          tensors,
          random,
          step,
        );
        const norm = adamwReferenceStep(tensors, { ...PAPER_ADAMW, lr, t });
        const gpuNorm = (await readFloats(gpu, optimizer.gradNorm))[0];
        assert(Math.abs(gpuNorm - norm) / norm < 1e-5, `grad norm ${gpuNorm} vs ${norm}`);
      }
      const after = await readFloats(gpu, paramBuffer);
      const moments = await optimizer.getMoments();
      for (const [index, spec] of layout.specs.entries()) {
        const slice = (a: Float32Array) => a.subarray(spec.offset, spec.offset + spec.length);
        assertClose(slice(after), tensors[index].param, 1e-5, `${variant} ${spec.name} param`);
        assertClose(slice(moments.expAvg), tensors[index].expAvg, 1e-5, `${variant} ${spec.name} exp_avg`);
        assertClose(
          slice(moments.expAvgSq),
          tensors[index].expAvgSq,
          1e-5,
          `${variant} ${spec.name} exp_avg_sq`,
        );
      }
      optimizer.destroy();
    }
  },
});

function tinySpec(out: string, extra: Partial<RunSpec> = {}): RunSpec {
  return { out, preset: "tiny", batch: 8, microbatch: 4, steps: 12, warmup: 3, evalSequences: 8, ...extra };
}

Deno.test({
  name: "train: a few hundred steps on Brown bring train and eval loss well below their start",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const out = await Deno.makeTempDir();
    const { options } = await resolveRun(
      tinySpec(out, { steps: 300, batch: 16, microbatch: 16, warmup: 20, evalEvery: 50, evalSequences: 32 }),
    );
    const result = await train(gpu, { ...options, kernels });
    const start = result.losses[0];
    const end = result.losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
    // At init the logits h·wteᵀ have unit variance (normalised h, rows of wte of norm ≈ 1), so the
    // loss starts near ln(320) + 1/2 = 6.27; 300 steps of the tiny model reach about 2.4.
    assert(Math.abs(start - (Math.log(320) + 0.5)) < 0.3, `initial loss ${start}`);
    assert(end < 0.6 * start, `train loss ${start} → ${end}: expected below 60% of the start`);
    const table = await readArrow(`${out}/metrics.arrow`);
    assertEquals(table.numRows, 300);
    assertEquals(table.names.slice(0, 7), [
      "step",
      "tokens",
      "lr",
      "train_loss",
      "grad_norm",
      "wall_seconds",
      "eval_loss",
    ]);
    const evals = Array.from(table.columns.eval_loss as Float64Array).filter((v) => !Number.isNaN(v));
    assertEquals(evals.length, 6);
    assert(evals[evals.length - 1] < 0.75 * evals[0], `eval loss ${evals[0]} → ${evals[evals.length - 1]}`);
    assertEquals(await listCheckpoints(out), checkpointSteps(300));
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "train: resuming after a stop at step k gives bit-identical losses and metrics",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const whole = await Deno.makeTempDir();
    const split = await Deno.makeTempDir();
    const reference = await train(gpu, { ...(await resolveRun(tinySpec(whole))).options, kernels });
    // Stopped after step 6; the last checkpoint is step 4, so the resumed run redoes 5 and 6.
    await train(gpu, { ...(await resolveRun(tinySpec(split))).options, stopAfter: 6, kernels });
    const resumed = await train(gpu, {
      ...(await resolveRun(tinySpec(split, { resume: true }))).options,
      kernels,
    });
    assertEquals(resumed.firstStep, 5);
    assertEquals(resumed.losses, reference.losses.slice(4));
    const a = await readArrow(`${whole}/metrics.arrow`);
    const b = await readArrow(`${split}/metrics.arrow`);
    assertEquals(b.columns.step, a.columns.step);
    assertEquals(b.columns.train_loss, a.columns.train_loss);
    assertEquals(b.columns.grad_norm, a.columns.grad_norm);
    const finalA = await Deno.readFile(`${whole}/checkpoints/step-0000012/model.safetensors`);
    const finalB = await Deno.readFile(`${split}/checkpoints/step-0000012/model.safetensors`);
    assertEquals(finalB, finalA);
    // Resuming with other settings is refused.
    await assertRejects(
      async () =>
        train(gpu, { ...(await resolveRun(tinySpec(split, { resume: true, batch: 4 }))).options, kernels }),
      Error,
      "different settings",
    );
    await Deno.remove(whole, { recursive: true });
    await Deno.remove(split, { recursive: true });
  },
});

Deno.test({
  name: "train: bad inputs give clear errors and write nothing",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const base = await Deno.makeTempDir();
    const out = `${base}/run`;
    await assertRejects(() => resolveRun(tinySpec(out, { preset: "15M" })), Error, "unknown preset");
    await assertRejects(
      async () =>
        train(gpu, { ...(await resolveRun(tinySpec(out, { batch: 8, microbatch: 3 }))).options, kernels }),
      Error,
      "not divisible by --microbatch",
    );
    const empty = `${base}/empty.txt`;
    await Deno.writeTextFile(empty, "");
    await assertRejects(() => resolveRun(tinySpec(out, { data: empty })), Error, "empty");
    const tokens = `${base}/tokens.npy`;
    await writeNpy(tokens, Uint16Array.from({ length: 4096 }, (_, i) => (i === 77 ? 400 : i % 256)));
    await assertRejects(() => resolveRun(tinySpec(out, { data: tokens })), Error, "400");
    await assertRejects(
      () => resolveRun(tinySpec(out, { steps: 0 })).then((r) => train(gpu, { ...r.options, kernels })),
      Error,
      "--steps",
    );
    // Nothing was written for any of these.
    assertEquals([...Deno.readDirSync(base)].map((e) => e.name).sort(), ["empty.txt", "tokens.npy"]);
    // An output path below a regular file cannot be created, even by root.
    await assertRejects(
      async () => train(gpu, { ...(await resolveRun(tinySpec(`${empty}/run`))).options, kernels }),
      Error,
      "cannot create output directory",
    );
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "train: a run killed mid-way leaves only complete files under final names",
  ...GPU_TEST,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "zsl-killed-" });
    const script = new URL("../scripts/train.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-ffi",
        script,
        "--preset",
        "tiny",
        "--steps",
        "100000",
        "--batch",
        "4",
        "--warmup",
        "3",
        "--eval-every",
        "0",
        "--eval-sequences",
        "4",
        "--out",
        out,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Kill it (SIGKILL: no handler runs) once it has written a few checkpoints and is between writes or in one.
    for (let i = 0; i < 600 && (await listCheckpoints(out)).length < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill("SIGKILL");
    await child.status;
    const checkpoints = await listCheckpoints(out);
    assert(checkpoints.length >= 5, `only ${checkpoints.length} checkpoints before the kill`);
    const table = await readArrow(`${out}/metrics.arrow`);
    assert(table.numRows >= 1, "metrics.arrow has no rows");
    const layout = parameterLayout(JSON.parse(await Deno.readTextFile(`${out}/config.json`)));
    for (const step of checkpoints) {
      const checkpoint = await loadCheckpoint(checkpointPath(out, step), layout);
      assertEquals(checkpoint.state.step, step);
      assert(checkpoint.expAvg !== undefined, `checkpoint ${step} has no optimizer state`);
    }
    // Only temporary names may be incomplete (a resumed run removes them).
    for (const entry of Deno.readDirSync(out)) {
      assert(
        /^(run\.json|config\.json|metrics\.arrow|checkpoints|\.zsl\.lock)$|\.tmp$/.test(entry.name),
        entry.name,
      );
    }
    await Deno.remove(out, { recursive: true });
  },
});
