/**
 * Nothing lost, nothing silently wrong (issue #15): interrupts and `--resume`, a kill -9 right after a
 * checkpoint's rename, two writers on one run directory, divergence, a full disk, corrupt checkpoints,
 * custom vocabularies, and the messages of bad settings. The child processes run `scripts/train.ts`
 * with the permissions of `deno task train` (deno.json), so those permissions are checked too.
 */
import { assert, assertEquals, assertRejects } from "./asserts.ts";
import { GPU_TEST, taskPermissions, testGpu } from "./helpers.ts";
import { resolveRun } from "../src/train/run.ts";
import type { RunSpec } from "../src/train/run.ts";
import { DivergenceError, train } from "../src/train/trainer.ts";
import type { TrainResult } from "../src/train/trainer.ts";
import { checkpointPath, listCheckpoints, loadCheckpoint } from "../src/train/checkpoint.ts";
import { readArrow } from "../src/io/arrow.ts";
import { writeNpy } from "../src/io/npy.ts";
import { readSafetensors, writeSafetensors } from "../src/io/safetensors.ts";
import { parameterLayout } from "../src/model/parameters.ts";
import { LockedError } from "../src/util/lock.ts";
import { resumeCommand } from "../src/train/interrupt.ts";

const TRAIN_SCRIPT = new URL("../scripts/train.ts", import.meta.url).pathname;
const EVAL_SCRIPT = new URL("../scripts/eval.ts", import.meta.url).pathname;

/** The run every test compares with: 24 steps of the tiny model, eval every 6, batch 8 in 2 microbatches. */
const ARGS = [
  "--preset",
  "tiny",
  "--steps",
  "24",
  "--batch",
  "8",
  "--microbatch",
  "4",
  "--warmup",
  "3",
  "--eval-sequences",
  "8",
  "--eval-every",
  "6",
];
const SPEC: Omit<RunSpec, "out"> = {
  preset: "tiny",
  steps: 24,
  batch: 8,
  microbatch: 4,
  warmup: 3,
  evalSequences: 8,
  evalEvery: 6,
};

/** Starts `scripts/train.ts ARGS --out out` as `deno task train` would, with the test pause hook. */
function spawnTrain(out: string, pause?: string, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions("train", ["ZSL_TEST_PAUSE"]),
      TRAIN_SCRIPT,
      ...ARGS,
      ...extra,
      "--out",
      out,
    ],
    env: pause ? { ZSL_TEST_PAUSE: pause } : {},
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits until `path` exists (the child reached its pause), failing after `seconds`. */
async function waitForFile(path: string, child: Deno.ChildProcess, seconds = 240): Promise<void> {
  let exited = false;
  child.status.then(() => (exited = true));
  for (let waited = 0; waited < seconds * 10; waited++) {
    if (await Deno.stat(path).then(() => true, () => false)) return;
    if (exited) throw new Error(`the child exited before it reached its pause (${path})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`the child did not reach its pause (${path}) within ${seconds} s`);
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** The uninterrupted run every interrupted one must equal, trained once per file. */
let reference: Promise<{ dir: string; result: TrainResult }> | null = null;
function referenceRun(): Promise<{ dir: string; result: TrainResult }> {
  reference ??= (async () => {
    const { kernels, gpu } = await testGpu();
    const dir = await Deno.makeTempDir({ prefix: "zsl-reference-" });
    const result = await train(gpu, { ...(await resolveRun({ ...SPEC, out: dir })).options, kernels });
    return { dir, result };
  })();
  return reference;
}

/**
 * Asserts that run directory `b` ended exactly as `a`: the last checkpoint's weights and optimizer
 * state byte for byte, the same checkpoints, and every metrics row (all columns but wall time).
 */
async function assertSameRun(a: string, b: string): Promise<void> {
  assertEquals(await listCheckpoints(b), await listCheckpoints(a), "checkpoints");
  const last = checkpointPath(a, 24).split("/").pop();
  for (const file of ["model.safetensors", "optimizer.safetensors"]) {
    const bytesA = await Deno.readFile(`${a}/checkpoints/${last}/${file}`);
    const bytesB = await Deno.readFile(`${b}/checkpoints/${last}/${file}`);
    assert(
      bytesA.length === bytesB.length && bytesA.every((byte, i) => byte === bytesB[i]),
      `${file} differs`,
    );
  }
  const metricsA = await readArrow(`${a}/metrics.arrow`);
  const metricsB = await readArrow(`${b}/metrics.arrow`);
  assertEquals(metricsB.names, metricsA.names);
  assertEquals(metricsB.numRows, 24);
  assertEquals(Array.from(metricsB.columns.step as Int32Array), Array.from({ length: 24 }, (_, i) => i + 1));
  for (const name of metricsA.names.filter((name) => name !== "wall_seconds")) {
    const columnA = Array.from(metricsA.columns[name] as Float64Array, (v) => Number.isNaN(v) ? "NaN" : v);
    const columnB = Array.from(metricsB.columns[name] as Float64Array, (v) => Number.isNaN(v) ? "NaN" : v);
    assertEquals(columnB, columnA, `metrics column ${name}`);
  }
}

Deno.test({
  name:
    "interrupt: SIGTERM mid-run checkpoints the step, prints --resume, exits 143; resuming is byte-identical",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { dir: whole } = await referenceRun();
    const base = await Deno.makeTempDir({ prefix: "zsl-sigterm-" });
    const out = `${base}/run`;
    const child = spawnTrain(out, `step:10:${base}/paused`);
    await waitForFile(`${base}/paused`, child);
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    const message = text(stderr);
    assertEquals(code, 143, message);
    assert(message.includes(resumeCommand("deno task train", [...ARGS, "--out", out])), message);
    // The signal came during step 10's callback: step 11 is finished and checkpointed (not a power of two).
    const checkpoints = await listCheckpoints(out);
    assertEquals(checkpoints, [1, 2, 4, 8, 11]);
    assertEquals((await readArrow(`${out}/metrics.arrow`)).numRows, 11);
    const resumed = await train(gpu, {
      ...(await resolveRun({ ...SPEC, out, resume: true })).options,
      kernels,
    });
    assertEquals(resumed.firstStep, 12);
    // Step 11's checkpoint was replaced by the next one (16); the powers of two stay.
    await assertSameRun(whole, out);
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "interrupt: kill -9 right after a checkpoint's rename loses no metrics row",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { dir: whole } = await referenceRun();
    const base = await Deno.makeTempDir({ prefix: "zsl-kill9-" });
    const out = `${base}/run`;
    const child = spawnTrain(out, `checkpoint:8:${base}/paused`);
    await waitForFile(`${base}/paused`, child);
    child.kill("SIGKILL");
    await child.output();
    // Killed with checkpoint 8 just renamed into place: its rows are already on disk.
    assertEquals((await listCheckpoints(out)).at(-1), 8);
    const metrics = await readArrow(`${out}/metrics.arrow`);
    assertEquals(Array.from(metrics.columns.step as Int32Array), [1, 2, 3, 4, 5, 6, 7, 8]);
    await train(gpu, { ...(await resolveRun({ ...SPEC, out, resume: true })).options, kernels });
    await assertSameRun(whole, out);
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "lock: a second trainer on the same run directory refuses at once, naming the pid, touching nothing",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { dir: whole } = await referenceRun();
    const base = await Deno.makeTempDir({ prefix: "zsl-lock-" });
    const out = `${base}/run`;
    const child = spawnTrain(out, `step:3:${base}/paused`);
    await waitForFile(`${base}/paused`, child);
    // What a live writer has in flight looks like a killed run's leftovers: the second writer must not touch it.
    const inFlight = `${out}/metrics.arrow.${child.pid}.inflight.tmp`;
    await Deno.writeTextFile(inFlight, "");
    const before = (await Deno.stat(`${out}/metrics.arrow`)).mtime?.getTime();
    const started = performance.now();
    const error = await assertRejects(
      async () => train(gpu, { ...(await resolveRun({ ...SPEC, out, resume: true })).options, kernels }),
      LockedError,
      `in use by another zsl process (pid ${child.pid}`,
    );
    assert(!error.message.includes("\n"), error.message);
    assert(performance.now() - started < 30_000, "the second writer did not refuse at once");
    assert(await Deno.stat(inFlight).then(() => true, () => false), "the holder's temporary was removed");
    assertEquals((await Deno.stat(`${out}/metrics.arrow`)).mtime?.getTime(), before);
    child.kill("SIGTERM");
    assertEquals((await child.output()).code, 143);
    // The holder is gone (its lock with it): the next writer cleans the leftovers and finishes the run.
    await train(gpu, { ...(await resolveRun({ ...SPEC, out, resume: true })).options, kernels });
    assert(
      !(await Deno.stat(inFlight).then(() => true, () => false)),
      "a stale temporary survived the start",
    );
    await assertSameRun(whole, out);
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "divergence: refused settings, a NaN loss, a vanished gradient; no non-finite checkpoint; a warning",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const base = await Deno.makeTempDir({ prefix: "zsl-diverge-" });
    // --lr 1e3 with the paper's weight decay would multiply the weights by 1 − 100 every step.
    await assertRejects(() => resolveRun({ ...SPEC, out: `${base}/lr`, lr: 1e3 }), Error, "--weight-decay");
    assert(
      !(await Deno.stat(`${base}/lr`).then(() => true, () => false)),
      "a refused run wrote its directory",
    );

    // A NaN weight: the first step's loss and gradient norm are NaN; AdamW skips, the trainer stops.
    const { options } = await resolveRun({ ...SPEC, out: `${base}/nan` });
    const layout = parameterLayout(options.model);
    const init = new Float32Array(layout.totalLength).fill(0.01);
    init[7] = NaN;
    const nan = await assertRejects(
      () => train(gpu, { ...options, init, kernels }),
      DivergenceError,
      "zsl: training diverged at step 1: the train loss is NaN and the gradient norm NaN",
    );
    assert(!nan.message.includes("\n") && nan.message.includes("lower --lr"), nan.message);
    assertEquals(await listCheckpoints(`${base}/nan`), []);

    // lr 1e30 without decay: the first update saturates every weight; the gradient is then exactly 0.
    const saturated = `${base}/saturated`;
    const dead = await assertRejects(
      async () =>
        train(gpu, {
          ...(await resolveRun({ ...SPEC, out: saturated, lr: 1e30, weightDecay: 0 })).options,
          kernels,
        }),
      DivergenceError,
      "at step 2: the gradient norm is exactly 0",
    );
    assert(dead.message.includes("last checkpoint: step 1"), dead.message);
    // What was saved is finite (loadCheckpoint checks every weight and moment).
    for (const step of await listCheckpoints(saturated)) {
      await loadCheckpoint(checkpointPath(saturated, step), parameterLayout(options.model));
    }

    // lr 10 without decay: the loss rises far above its start; a warning says so, once.
    const warnings: string[] = [];
    await train(gpu, {
      ...(await resolveRun({
        ...SPEC,
        out: `${base}/rising`,
        lr: 10,
        weightDecay: 0,
        steps: 6,
        evalEvery: 0,
      }))
        .options,
      kernels,
      onWarning: (message) => warnings.push(message),
    });
    assertEquals(warnings.length, 1, warnings.join("\n"));
    assert(
      /the train loss at step \d+ is .* the run is diverging; lower --lr \(10\)/.test(warnings[0]),
      warnings[0],
    );
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "checkpoints: a non-finite or truncated checkpoint is named, and resume offers the previous one",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { dir: whole } = await referenceRun();
    const base = await Deno.makeTempDir({ prefix: "zsl-corrupt-" });
    const out = `${base}/run`;
    await Deno.mkdir(`${out}/checkpoints`, { recursive: true });
    for (const file of ["run.json", "config.json", "metrics.arrow"]) {
      await Deno.copyFile(`${whole}/${file}`, `${out}/${file}`);
    }
    for (const step of [16, 24]) {
      const name = checkpointPath(whole, step).split("/").pop();
      await Deno.mkdir(`${out}/checkpoints/${name}`);
      for (const file of ["model.safetensors", "optimizer.safetensors", "state.json"]) {
        await Deno.copyFile(`${whole}/checkpoints/${name}/${file}`, `${out}/checkpoints/${name}/${file}`);
      }
    }
    const layout = parameterLayout(JSON.parse(await Deno.readTextFile(`${out}/config.json`)));
    // A NaN in the weights of step 24 (as an older zsl could save them).
    const last = checkpointPath(out, 24);
    const model = await readSafetensors(`${last}/model.safetensors`);
    model.tensors.get("transformer.wte.weight")!.data[5] = NaN;
    await writeSafetensors(`${last}/model.safetensors`, model.tensors);
    await assertRejects(
      () => loadCheckpoint(last, layout),
      Error,
      `zsl: checkpoint ${last} is unusable: its weights hold NaN at transformer.wte.weight[5]`,
    );
    // Resuming names the file and the previous checkpoint (also for a finished run).
    const resume = async () =>
      train(gpu, { ...(await resolveRun({ ...SPEC, out, resume: true })).options, kernels });
    await assertRejects(resume, Error, `to resume from the previous checkpoint (step 16), delete ${last}`);
    // A truncated state.json.
    await Deno.copyFile(`${whole}/checkpoints/step-0000024/model.safetensors`, `${last}/model.safetensors`);
    const state = await Deno.readTextFile(`${last}/state.json`);
    await Deno.writeTextFile(`${last}/state.json`, state.slice(0, state.length / 2));
    const truncated = await assertRejects(resume, Error, "state.json is not valid JSON");
    assert(!truncated.message.includes("\n") && truncated.message.includes(last), truncated.message);
    // Restored: a finished run resumes to nothing, and nothing is written.
    await Deno.writeTextFile(`${last}/state.json`, state);
    const before = (await Deno.stat(`${out}/metrics.arrow`)).mtime?.getTime();
    const finished = await resume();
    assert(finished.alreadyFinished && finished.losses.length === 0, "a finished run trained again");
    assertEquals((await Deno.stat(`${out}/metrics.arrow`)).mtime?.getTime(), before);
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test({
  name: "adamw: a non-finite gradient norm leaves the weights and moments as they were",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { AdamW } = await import("../src/train/adamw.ts");
    const { createBuffer, readFloats, writeBuffer } = await import("../src/gpu/buffers.ts");
    const layout = parameterLayout({
      d_model: 12,
      n_layers: 1,
      n_heads: 2,
      vocab_size: 19,
      seq_len: 4,
      mlp_ratio: 1,
    });
    const params = new Float32Array(layout.totalLength).map((_, i) => Math.sin(i));
    const paramBuffer = createBuffer(gpu, params.byteLength, "params");
    const gradBuffer = createBuffer(gpu, params.byteLength, "grads");
    writeBuffer(gpu, paramBuffer, params);
    const optimizer = await AdamW.create(gpu, layout, {}, kernels);
    const step = async (t: number, grads: Float32Array) => {
      writeBuffer(gpu, gradBuffer, grads);
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      optimizer.record(pass, paramBuffer, gradBuffer, t, 1e-2);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      return (await readFloats(gpu, optimizer.gradNorm))[0];
    };
    assert(Number.isFinite(await step(1, new Float32Array(layout.totalLength).fill(0.1))), "finite step");
    const weights = await readFloats(gpu, paramBuffer);
    const moments = await optimizer.getMoments();
    for (const bad of [NaN, Infinity]) {
      const grads = new Float32Array(layout.totalLength).fill(0.1);
      const last = layout.specs[layout.specs.length - 1];
      grads[last.offset + last.length - 2] = bad;
      const norm = await step(2, grads);
      assert(!Number.isFinite(norm), `gradient norm ${norm}`);
      assertEquals(await readFloats(gpu, paramBuffer), weights);
      const after = await optimizer.getMoments();
      assertEquals(after.expAvg, moments.expAvg);
      assertEquals(after.expAvgSq, moments.expAvgSq);
    }
    // A finite step after the skipped ones updates again.
    assert(Number.isFinite(await step(2, new Float32Array(layout.totalLength).fill(0.1))), "finite step");
    const updated = await readFloats(gpu, paramBuffer);
    assert(updated.some((value, i) => value !== weights[i]), "a finite step after the skipped ones updates");
    optimizer.destroy();
    paramBuffer.destroy();
    gradBuffer.destroy();
  },
});

/**
 * How this machine can mount a small tmpfs (a full disk on demand): as root directly, else through
 * passwordless sudo; null when it cannot (the full-disk test is then reported as ignored).
 */
function tmpfsMounter(): string[] | null {
  const probe = Deno.makeTempDirSync({ prefix: "zsl-mount-probe-" });
  try {
    for (const prefix of [[], ["sudo", "-n"]]) {
      const run = (args: string[]) => {
        const [command, ...rest] = [...prefix, ...args];
        try {
          return new Deno.Command(command, { args: rest, stdout: "null", stderr: "null" }).outputSync()
            .success;
        } catch {
          return false;
        }
      };
      if (run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe])) {
        run(["umount", probe]);
        return prefix;
      }
    }
    return null;
  } finally {
    Deno.removeSync(probe, { recursive: true });
  }
}

const MOUNTER = tmpfsMounter();

Deno.test({
  name:
    "disk: a full disk gives one line naming the path and cause, no temporary, earlier checkpoints intact",
  ignore: MOUNTER === null,
  ...GPU_TEST,
  async fn() {
    const mount = await Deno.makeTempDir({ prefix: "zsl-full-" });
    const run = (args: string[]) => {
      const [command, ...rest] = [...MOUNTER!, ...args];
      return new Deno.Command(command, { args: rest }).outputSync();
    };
    // 1 MiB: checkpoints 1, 2 and 4 of the tiny model (264 KiB each) fit, step 8's does not.
    assert(run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]).success, "mount failed");
    try {
      const out = `${mount}/run`;
      const trainOnFullDisk = async (extra: string[] = []) => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            ...taskPermissions("train"),
            TRAIN_SCRIPT,
            ...[
              "--preset",
              "tiny",
              "--steps",
              "200",
              "--batch",
              "4",
              "--warmup",
              "3",
              "--eval-sequences",
              "4",
            ],
            ...extra,
            "--out",
            out,
          ],
          stdout: "piped",
          stderr: "piped",
        });
        const { code, stderr } = await child.output();
        const lines = text(stderr).split(/[\r\n]+/).filter((line) => line.startsWith("zsl:"));
        return { code, lines, stderr: text(stderr) };
      };
      for (const extra of [[], ["--resume"]]) {
        const { code, lines, stderr } = await trainOnFullDisk(extra);
        assertEquals(code, 2, stderr);
        assertEquals(lines.length, 1, stderr);
        assert(
          lines[0].startsWith(
            `zsl: cannot write the checkpoint of step 8 to ${out}/checkpoints/step-0000008: `,
          ) &&
            lines[0].includes("No space left on device"),
          lines[0],
        );
        assert(!/\n\s+at /.test(stderr), `a stack trace:\n${stderr}`);
        const leftovers: string[] = [];
        for (const directory of [out, `${out}/checkpoints`]) {
          for (const entry of Deno.readDirSync(directory)) {
            if (entry.name.includes(".tmp")) leftovers.push(entry.name);
          }
        }
        assertEquals(leftovers, []);
        assertEquals(await listCheckpoints(out), [1, 2, 4]);
        const layout = parameterLayout(JSON.parse(await Deno.readTextFile(`${out}/config.json`)));
        for (const step of [1, 2, 4]) await loadCheckpoint(checkpointPath(out, step), layout);
        assertEquals((await readArrow(`${out}/metrics.arrow`)).numRows >= 4, true);
      }
    } finally {
      run(["umount", mount]);
      await Deno.remove(mount, { recursive: true });
    }
  },
});

Deno.test({
  name: "vocabulary: a 1,024-token .npy trains without a tokenizer; eval agrees; NeoX ids pass under gpt2",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const base = await Deno.makeTempDir({ prefix: "zsl-vocab-" });
    // A user's own tokenizer: ids 1 … 1023, documents ended by id 0, Zipf-like so that there is something to learn.
    let state = 12345;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const tokens = Uint16Array.from(
      { length: 40_000 },
      (_, i) => i % 97 === 96 ? 0 : 1 + Math.floor(1023 * next() ** 3),
    );
    const data = `${base}/mine.npy`;
    await writeNpy(data, tokens);
    const spec = {
      preset: "tiny",
      data,
      vocabSize: 1024,
      eosId: 0,
      steps: 4,
      batch: 4,
      warmup: 1,
      evalSequences: 4,
    };
    const resolved = await resolveRun({ ...spec, out: `${base}/run` });
    assertEquals(resolved.config.vocab_size, 1024);
    assertEquals(resolved.plan.describe().tokenizer, "ids");
    assertEquals(resolved.plan.corpus.documents.length, Math.ceil(40_000 / 97));
    const result = await train(gpu, { ...resolved.options, kernels });
    // At init every logit is about N(0, 1): the loss starts near ln(1024) + 1/2.
    assert(Math.abs(result.losses[0] - (Math.log(1024) + 0.5)) < 0.3, `initial loss ${result.losses[0]}`);
    // The run reopens (analyses) with the same custom vocabulary.
    const { loadRun } = await import("../src/train/run.ts");
    assertEquals((await loadRun(`${base}/run`)).config.vocab_size, 1024);
    // deno task eval reads the same file under the same vocabulary.
    const evaluate = (file: string) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...taskPermissions("eval"),
          EVAL_SCRIPT,
          "--checkpoint",
          `${checkpointPath(`${base}/run`, 4)}/model.safetensors`,
          "--config",
          `${base}/run/config.json`,
          "--data",
          file,
          "--max-sequences",
          "4",
          "--out",
          `${base}/losses.arrow`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const evaluated = await evaluate(data);
    assertEquals(evaluated.code, 0, text(evaluated.stderr));
    assertEquals((await readArrow(`${base}/losses.arrow`)).numRows, 4 * 31);
    // An id the model has no row for: both refuse it, naming it.
    const outside = `${base}/outside.npy`;
    await writeNpy(outside, Uint16Array.from(tokens, (id, i) => (i === 500 ? 1024 : id)));
    await assertRejects(
      () => resolveRun({ ...spec, data: outside, out: `${base}/outside` }),
      Error,
      "token id 1024 at position 500",
    );
    const refused = await evaluate(outside);
    assertEquals(refused.code, 2);
    assert(text(refused.stderr).includes("token id 1024 at index 500"), text(refused.stderr));
    await assertRejects(() => resolveRun({ ...spec, eosId: 1024, out: `${base}/eos` }), Error, "--eos-id");
    // The paper's data: GPT-NeoX ids up to 50,279 under the gpt2 tokenizer (vocab 50,304); EOS 0.
    const neox = `${base}/neox.npy`;
    await writeNpy(neox, Uint16Array.from({ length: 4096 }, (_, i) => (i * 7919) % 50280));
    const paper = await resolveRun({
      preset: "tiny",
      tokenizer: "gpt2",
      data: neox,
      eosId: 0,
      out: `${base}/neox`,
    });
    assertEquals(paper.config.vocab_size, 50304);
    assertEquals(paper.plan.describe().eosId, 0);
    await Deno.remove(base, { recursive: true });
  },
});

Deno.test("messages: bad settings name the real problem (resolveRun)", async () => {
  const base = await Deno.makeTempDir({ prefix: "zsl-messages-" });
  const cases: [Partial<RunSpec>, string][] = [
    [{ microbatch: 0 }, "--microbatch must be an integer ≥ 1, got 0"],
    [{ steps: 3, warmup: 1000 }, "--warmup 1000 is longer than the run (--steps 3)"],
    [{ clip: -1 }, "--clip must be a number ≥ 0, got -1"],
    [{ weightDecay: -0.5 }, "--weight-decay must be a number ≥ 0, got -0.5"],
    [{ evalEvery: -1 }, "--eval-every must be an integer ≥ 0, got -1"],
    [{ seed: 1.5 }, "--seed must be an integer in 0 … 4294967295, got 1.5"],
    [{ checkpointEvery: 2.5 }, "--checkpoint-every must be an integer ≥ 0"],
    [{ lr: 10 }, "--lr 10 × --weight-decay 0.1 = 1 ≥ 1"],
    [{ preset: "tiny", config: "x.json" }, "give --preset or --config, not both"],
    [{
      preset: undefined,
      config: { d_model: 65536, n_layers: 1, n_heads: 512, vocab_size: 320, seq_len: 32, mlp_ratio: 1 },
    }, "Kaplan's learning-rate formula gives no positive rate"],
    [{
      preset: undefined,
      config: { d_model: 32, n_layers: 2500, n_heads: 2, vocab_size: 320, seq_len: 32, mlp_ratio: 1 },
    }, "n_layers 2500 is above 1024"],
    [{ eosId: 3 }, "--eos-id applies to token files"],
  ];
  for (const [change, message] of cases) {
    const error = await assertRejects(
      () => resolveRun({ ...SPEC, ...change, out: `${base}/run` }),
      Error,
      message,
    );
    assert(error.message.startsWith("zsl: ") && !error.message.includes("\n"), error.message);
  }
  assertEquals([...Deno.readDirSync(base)], []);
  await Deno.remove(base);
});

Deno.test("messages: bad flags of train and eval are refused before any work, in one line", async () => {
  const base = await Deno.makeTempDir({ prefix: "zsl-flags-" });
  const script = (path: string, task: string, args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...taskPermissions(task), path, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const cases: [string, string, string[], string][] = [
    [
      TRAIN_SCRIPT,
      "train",
      ["--preset", "tiny", "--config", "x.json"],
      "give --preset or --config, not both",
    ],
    [TRAIN_SCRIPT, "train", ["--probe-every=-1"], "--probe-every must be an integer ≥ 0 (0: off), got -1"],
    [TRAIN_SCRIPT, "train", ["--microbatch", "0"], "--microbatch must be an integer ≥ 1, got 0"],
    [
      EVAL_SCRIPT,
      "eval",
      ["--checkpoint", "m", "--config", "c", "--data", "d", "--max-sequences", "0"],
      "--max-sequences must be an integer ≥ 1, got 0",
    ],
    [
      EVAL_SCRIPT,
      "eval",
      ["--checkpoint", "m", "--config", "c", "--data", "d", "--out", base],
      `--out ${base} is a directory`,
    ],
  ];
  for (const [path, task, args, message] of cases) {
    const { code, stderr } = await script(path, task, [
      ...args,
      ...(task === "train" ? ["--out", `${base}/run`] : []),
    ]);
    const lines = text(stderr).trim().split("\n").filter((line) => !line.startsWith("Warning"));
    assertEquals(code, 2, text(stderr));
    assertEquals(lines.length, 1, text(stderr));
    assert(lines[0].includes(message), `${args.join(" ")}: ${lines[0]}`);
  }
  assertEquals([...Deno.readDirSync(base)], []);
  await Deno.remove(base);
});
