/**
 * The ablations (docs/method.md#optimizers) against the independent PyTorch implementation in
 * tests/reference/ablations.py, run in float64: for each architecture and each optimizer, a zsl training
 * run from the same init and tokens matches it step by step (per-step losses) and in its final weights
 * and optimizer state. Also: eval of a PyTorch-written nanoGPT checkpoint.
 */
import { assert, assertEquals, relativeError } from "./asserts.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { readSafetensors } from "../src/io/safetensors.ts";
import { resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { checkpointPath } from "../src/train/checkpoint.ts";
import { flattenTensors, parameterLayout } from "../src/model/parameters.ts";
import { validateConfig } from "../src/model/config.ts";
import { Transformer } from "../src/model/transformer.ts";
import type { OptimizerKind } from "../src/train/optimizer.ts";

const PYTHON = "/usr/bin/python3";
const ABLATIONS = new URL("./reference/ablations.py", import.meta.url).pathname;

async function run(command: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!result.success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
  return new TextDecoder().decode(result.stdout);
}

// The shapes of tests/torch_reference_test.ts (so lavapipe's shader cache is shared), as both architectures.
const SHAPE = { d_model: 32, n_layers: 2, n_heads: 2, vocab_size: 320, seq_len: 24 };
const CONFIGS = {
  olmo: { ...SHAPE, mlp_ratio: 1 },
  nanogpt: { arch: "nanogpt", ...SHAPE, mlp_ratio: 4 },
} as const;
const STEPS = 6;
const BATCH = 4;
const MICROBATCH = 2;
const LR = 1e-2;
const WARMUP = 2;

const fixtures = new Map<string, Promise<string>>();

/** A temporary directory with config.json, init.safetensors (PyTorch's init) and tokens.npy. */
function fixture(arch: keyof typeof CONFIGS): Promise<string> {
  let made = fixtures.get(arch);
  if (!made) {
    made = (async () => {
      const dir = await Deno.makeTempDir({ prefix: `zsl-ablations-${arch}-` });
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(CONFIGS[arch]));
      const config = ["--config", `${dir}/config.json`];
      await run(PYTHON, [ABLATIONS, "init", ...config, "--seed", "7", "--out", `${dir}/init.safetensors`]);
      const random = new Random(8);
      const tokens = Uint16Array.from({ length: (STEPS * BATCH + 2) * SHAPE.seq_len }, () => random.int(256));
      await writeNpy(`${dir}/tokens.npy`, tokens);
      globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
      return dir;
    })();
    fixtures.set(arch, made);
  }
  return made;
}

/** Largest |a − b| over the largest |b| of the change from `start` (what the steps did). */
function changeError(actual: Float32Array, expected: Float32Array, start: Float32Array): number {
  return relativeError(actual.map((v, i) => v - start[i]), expected.map((v, i) => v - start[i]));
}

const COMBINATIONS: [keyof typeof CONFIGS, OptimizerKind][] = [
  ["nanogpt", "adamw"],
  ["olmo", "cautious"],
  ["nanogpt", "cautious"],
  ["olmo", "ademamix"],
  ["nanogpt", "ademamix"],
  ["olmo", "muon"],
  ["nanogpt", "muon"],
];

for (const [arch, kind] of COMBINATIONS) {
  Deno.test({
    name:
      `ablations torch: ${arch} with ${kind} matches float64 PyTorch step by step and in its final weights`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const dir = await fixture(arch);
      const torchDir = `${dir}/torch-${kind}`;
      await run(PYTHON, [
        ABLATIONS,
        "train",
        ...[
          "--config",
          `${dir}/config.json`,
          "--init",
          `${dir}/init.safetensors`,
          "--data",
          `${dir}/tokens.npy`,
        ],
        ...["--steps", String(STEPS), "--batch", String(BATCH), "--microbatch", String(MICROBATCH)],
        ...["--lr", String(LR), "--warmup", String(WARMUP), "--schedule", "cosine", "--optimizer", kind],
        ...["--dtype", "float64", "--out", torchDir],
      ]);
      const torch = JSON.parse(await Deno.readTextFile(`${torchDir}/losses.json`));
      const zslDir = `${dir}/zsl-${kind}`;
      const { options, config } = await resolveRun({
        out: zslDir,
        config: `${dir}/config.json`,
        init: `${dir}/init.safetensors`,
        data: `${dir}/tokens.npy`,
        shuffle: false,
        steps: STEPS,
        batch: BATCH,
        microbatch: MICROBATCH,
        lr: LR,
        warmup: WARMUP,
        schedule: "cosine",
        evalSequences: 2,
        evalEvery: 0,
        optimizer: kind,
      });
      assertEquals(config.arch, arch);
      const result = await train(gpu, { ...options, kernels });
      let worstLoss = 0;
      for (let s = 0; s < STEPS; s++) {
        const relative = Math.abs(result.losses[s] - torch.loss[s]) / torch.loss[s];
        worstLoss = Math.max(worstLoss, relative);
        assert(
          relative < 1e-4,
          `step ${s + 1}: zsl ${result.losses[s]} vs torch ${torch.loss[s]} (${relative})`,
        );
      }
      // The steps change the loss by 10× the tolerance or more: a wrong update would show.
      const moved = Math.abs(torch.loss[STEPS - 1] - torch.loss[0]) / torch.loss[0];
      assert(moved > 1e-3, `the loss moved only ${moved} relative: the test would not see a wrong update`);

      const layout = parameterLayout(config);
      const flat = async (path: string) =>
        flattenTensors(layout, (await readSafetensors(path)).tensors, path);
      const start = await flat(`${dir}/init.safetensors`);
      const expected = await flat(`${torchDir}/model.safetensors`);
      const got = await flat(`${checkpointPath(zslDir, STEPS)}/model.safetensors`);
      let worstWeight = 0;
      let worstChange = 0;
      for (const spec of layout.specs) {
        const part = (values: Float32Array) => values.subarray(spec.offset, spec.offset + spec.length);
        const weight = relativeError(part(got), part(expected));
        const change = changeError(part(got), part(expected), part(start));
        worstWeight = Math.max(worstWeight, weight);
        worstChange = Math.max(worstChange, change);
        assert(weight < 1e-4, `${spec.name}: final weights differ by ${weight} relative`);
        // The change θ_T − θ_0 itself (stricter than the weights, which barely move in 6 steps).
        assert(change < 1e-3, `${spec.name}: the change of the weights differs by ${change} relative`);
      }
      // The optimizer state: same tensor names, values within the same bounds.
      const torchState = (await readSafetensors(`${torchDir}/optimizer.safetensors`)).tensors;
      const zslState =
        (await readSafetensors(`${checkpointPath(zslDir, STEPS)}/optimizer.safetensors`)).tensors;
      assertEquals([...zslState.keys()].sort(), [...torchState.keys()].sort(), "state tensor names");
      let worstState = 0;
      for (const [name, tensor] of torchState) {
        const error = relativeError(zslState.get(name)!.data, tensor.data);
        worstState = Math.max(worstState, error);
        assert(error < 1e-3, `${name}: state differs by ${error} relative`);
      }
      console.log(
        `${arch} ${kind}: losses ${worstLoss.toExponential(2)}, weights ${worstWeight.toExponential(2)}, ` +
          `change of the weights ${worstChange.toExponential(2)}, state ${worstState.toExponential(2)} ` +
          `(relative; loss moved ${moved.toFixed(3)})`,
      );
    },
  });
}

Deno.test({
  name: "ablations torch: a PyTorch-written nanoGPT checkpoint gives PyTorch's per-token losses",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const dir = await fixture("nanogpt");
    await run(PYTHON, [
      ABLATIONS,
      "losses",
      ...["--config", `${dir}/config.json`, "--checkpoint", `${dir}/init.safetensors`],
      ...["--data", `${dir}/tokens.npy`, "--out", `${dir}/torch-losses.npy`, "--dtype", "float64"],
    ]);
    const expected = (await readNpy(`${dir}/torch-losses.npy`)).data as Float64Array;
    const config = validateConfig(CONFIGS.nanogpt);
    const layout = parameterLayout(config);
    const parameters = flattenTensors(
      layout,
      (await readSafetensors(`${dir}/init.safetensors`)).tensors,
      "init",
    );
    const sequences = expected.length / (config.seq_len - 1);
    const tokens = Uint32Array.from((await readNpy(`${dir}/tokens.npy`)).data as Uint16Array).subarray(
      0,
      sequences * config.seq_len,
    );
    const model = await Transformer.create(gpu, config, { batch: sequences, training: false }, kernels);
    model.setParameters(parameters);
    const losses = await model.forwardLosses(tokens);
    const error = relativeError(losses, expected);
    assert(error < 1e-5, `per-token losses differ from PyTorch by ${error} relative`);
    console.log(`nanogpt eval vs PyTorch float64: ${error.toExponential(2)} relative`);
    model.destroy();
  },
});
