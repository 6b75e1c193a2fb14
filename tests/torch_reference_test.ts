/**
 * The engine and the trainer against the independent PyTorch implementation in tests/reference/
 * (Debian's python3-torch under /usr/bin/python3; `deno task test` installs it).
 */
import { assert, assertEquals } from "./asserts.ts";
import { GPU_TEST, Random } from "./helpers.ts";
import { readNpy, writeNpy } from "../src/io/npy.ts";
import { readArrow } from "../src/io/arrow.ts";
import { resolveRun } from "../src/train/run.ts";
import { train } from "../src/train/trainer.ts";
import { testGpu } from "./helpers.ts";

const PYTHON = "/usr/bin/python3";
const OLMO = new URL("./reference/olmo.py", import.meta.url).pathname;
const EVAL = new URL("../scripts/eval.ts", import.meta.url).pathname;

async function run(command: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) throw new Error(`${command} ${args.join(" ")} failed:\n${stderr}`);
  return new TextDecoder().decode(result.stdout);
}

async function fixture(config: Record<string, number>, sequences: number, seed: number) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await run(PYTHON, [
    OLMO,
    "init",
    "--config",
    `${dir}/config.json`,
    "--seed",
    String(seed),
    "--out",
    `${dir}/init.safetensors`,
  ]);
  const random = new Random(seed);
  // A few tokens past the last full sequence: OLMo's chunking drops them.
  const tokens = Uint16Array.from({ length: sequences * config.seq_len + 3 }, () => random.int(256));
  await writeNpy(`${dir}/tokens.npy`, tokens);
  return dir;
}

Deno.test({
  name: "torch: deno task eval on a PyTorch-written checkpoint gives PyTorch's per-token losses",
  ...GPU_TEST,
  async fn() {
    const config = { d_model: 48, n_layers: 2, n_heads: 3, vocab_size: 320, seq_len: 33, mlp_ratio: 1 };
    const dir = await fixture(config, 7, 12);
    await run(PYTHON, [
      OLMO,
      "losses",
      "--config",
      `${dir}/config.json`,
      "--checkpoint",
      `${dir}/init.safetensors`,
      "--data",
      `${dir}/tokens.npy`,
      "--out",
      `${dir}/torch.npy`,
    ]);
    await run(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      EVAL,
      "--checkpoint",
      `${dir}/init.safetensors`,
      "--config",
      `${dir}/config.json`,
      "--data",
      `${dir}/tokens.npy`,
      "--out",
      `${dir}/losses.arrow`,
      "--batch",
      "3",
    ]);
    const expected = (await readNpy(`${dir}/torch.npy`)).data as Float64Array;
    const table = await readArrow(`${dir}/losses.arrow`);
    assertEquals(table.names, ["seq", "pos", "loss"]);
    assertEquals(table.numRows, 7 * 32);
    const loss = table.columns.loss as Float32Array;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(loss[i] - expected[i]) / expected[i]);
    }
    assert(worst < 1e-5, `per-token losses differ from PyTorch by ${worst} relative`);
    assertEquals(Array.from(table.columns.seq as Uint32Array).slice(30, 34), [0, 0, 1, 1]);
    assertEquals(Array.from(table.columns.pos as Uint32Array).slice(30, 34), [30, 31, 0, 1]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "torch: deno task train reproduces PyTorch's per-step losses from the same init and tokens",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const config = { d_model: 32, n_layers: 2, n_heads: 2, vocab_size: 320, seq_len: 24, mlp_ratio: 1 };
    const steps = 8;
    const dir = await fixture(config, steps * 4 + 2, 5);
    await run(PYTHON, [
      OLMO,
      "train",
      "--config",
      `${dir}/config.json`,
      "--init",
      `${dir}/init.safetensors`,
      "--data",
      `${dir}/tokens.npy`,
      "--steps",
      String(steps),
      "--batch",
      "4",
      "--microbatch",
      "2",
      "--lr",
      "3e-3",
      "--warmup",
      "3",
      "--schedule",
      "cosine",
      "--out",
      `${dir}/torch`,
    ]);
    const torch = JSON.parse(await Deno.readTextFile(`${dir}/torch/losses.json`));
    const { options } = await resolveRun({
      out: `${dir}/zsl`,
      config: `${dir}/config.json`,
      init: `${dir}/init.safetensors`,
      data: `${dir}/tokens.npy`,
      shuffle: false,
      steps,
      batch: 4,
      microbatch: 2,
      lr: 3e-3,
      warmup: 3,
      schedule: "cosine",
      evalSequences: 2,
      evalEvery: 0,
    });
    const result = await train(gpu, { ...options, kernels });
    for (let s = 0; s < steps; s++) {
      const relative = Math.abs(result.losses[s] - torch.loss[s]) / torch.loss[s];
      assert(
        relative < 1e-4,
        `step ${s + 1}: zsl ${result.losses[s]} vs torch ${torch.loss[s]} (${relative})`,
      );
    }
    const metrics = await readArrow(`${dir}/zsl/metrics.arrow`);
    const norms = metrics.columns.grad_norm as Float64Array;
    const lrs = metrics.columns.lr as Float64Array;
    for (let s = 0; s < steps; s++) {
      assert(
        Math.abs(norms[s] - torch.grad_norm[s]) / torch.grad_norm[s] < 1e-3,
        `grad norm at step ${s + 1}`,
      );
      assert(Math.abs(lrs[s] - torch.lr[s]) < 1e-12, `lr at step ${s + 1}: ${lrs[s]} vs ${torch.lr[s]}`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
