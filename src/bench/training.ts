/**
 * Training throughput of the small presets on the current adapter, beside the same model and batch
 * trained by the PyTorch reference on the CPU in the same run, and where a step's time goes (each
 * kernel family timed alone at the model's shapes, times its calls per step).
 *
 * @module
 */
import type { Kernels } from "../gpu/kernels.ts";
import { createBuffer } from "../gpu/buffers.ts";
import type { ModelConfig } from "../model/config.ts";
import { mlpHidden, parameterCount, presetByName, trainingFlopsPerToken } from "../model/config.ts";
import { initParameters, parameterLayout } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { AdamW } from "../train/adamw.ts";
import { randomTokens, timeTrainingStep } from "../train/timing.ts";
import { Matmul } from "../ops/matmul.ts";
import { Attention } from "../ops/attention.ts";
import { Rope } from "../ops/rope.ts";
import { RmsNorm } from "../ops/rmsnorm.ts";
import { SwiGlu } from "../ops/swiglu.ts";
import { CrossEntropy } from "../ops/cross_entropy.ts";
import type { BenchRow } from "./matmul.ts";
import { type Column, formatTable } from "./table.ts";

/** Options of {@linkcode benchTraining}. */
export interface BenchTrainingOptions {
  /** Presets to time (default cpu-xs, cpu-s, cpu-m; quick: cpu-s). */
  presets?: string[];
  /** Sequences per step (default 16). */
  batch?: number;
  /** Timed steps (default 10; quick 4). */
  steps?: number;
  /** Also time PyTorch CPU (default true). */
  reference?: boolean;
  log?: (line: string) => void;
}

async function torchReference(
  config: ModelConfig,
  batch: number,
  steps: number,
  log: (line: string) => void,
) {
  const dir = await Deno.makeTempDir({ prefix: "zsl-bench-" });
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const script = new URL("../../tests/reference/olmo.py", import.meta.url).pathname;
    const output = await new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        "bench",
        "--config",
        `${dir}/config.json`,
        "--batch",
        String(batch),
        "--steps",
        String(steps),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      log(
        `training: PyTorch reference skipped: ${
          new TextDecoder().decode(output.stderr).trim().split("\n").pop()
        }`,
      );
      return null;
    }
    return JSON.parse(new TextDecoder().decode(output.stdout)) as { tokens_per_s: number; threads: number };
  } catch (error) {
    log(
      `training: PyTorch reference skipped (/usr/bin/python3 with torch needed): ${(error as Error).message}`,
    );
    return null;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Training throughput of each preset: tokens/s, ms/step, achieved GFLOP/s (6·N + attention per token),
 * and PyTorch CPU's tokens/s for the same model and batch (`ratio` = zsl / PyTorch).
 */
export async function benchTraining(
  kernels: Kernels,
  options: BenchTrainingOptions = {},
): Promise<BenchRow[]> {
  const log = options.log ?? ((line: string) => console.error(line));
  const presets = options.presets ?? ["cpu-xs", "cpu-s", "cpu-m"];
  const batch = options.batch ?? 16;
  const steps = options.steps ?? 10;
  const rows: BenchRow[] = [];
  for (const name of presets) {
    const config = presetByName(name).config;
    const seconds = await timeTrainingStep(kernels, config, batch, steps);
    const forwardBackward = await timeForwardBackward(
      kernels,
      name,
      batch,
      Math.max(2, Math.floor(steps / 2)),
    );
    const tokens = batch * config.seq_len;
    const reference = options.reference === false
      ? null
      : await torchReference(config, batch, Math.max(3, steps), log);
    const tokensPerSecond = tokens / seconds;
    rows.push({
      section: "training",
      name,
      values: {
        params: parameterCount(config).total,
        tokens,
        ms: seconds * 1000,
        fwd_bwd_ms: forwardBackward * 1000,
        tokens_per_s: tokensPerSecond,
        gflops: (trainingFlopsPerToken(config) * tokens) / seconds / 1e9,
        torch_tokens_per_s: reference?.tokens_per_s ?? null,
        ratio: reference ? tokensPerSecond / reference.tokens_per_s : null,
      },
    });
    log(`training: ${name}: ${tokensPerSecond.toFixed(0)} tokens/s`);
  }
  return rows;
}

/** Columns of the training table. */
export const TRAINING_COLUMNS: Column<BenchRow>[] = [
  { title: "preset", value: (r) => r.name },
  { title: "params", value: (r) => r.values.params as number, digits: 0 },
  { title: "tokens/step", value: (r) => r.values.tokens as number, digits: 0 },
  { title: "fwd+bwd ms", value: (r) => r.values.fwd_bwd_ms as number, digits: 1 },
  { title: "ms/step", value: (r) => r.values.ms as number, digits: 1 },
  { title: "tokens/s", value: (r) => r.values.tokens_per_s as number, digits: 0 },
  { title: "GFLOP/s", value: (r) => r.values.gflops as number, digits: 2 },
  { title: "torch tokens/s", value: (r) => r.values.torch_tokens_per_s as number | null, digits: 0 },
  { title: "zsl/torch", value: (r) => r.values.ratio as number | null, digits: 2 },
];

/** Where one training step of `preset` goes: each kernel family timed alone at the model's shapes. */
export async function profileTrainingStep(
  kernels: Kernels,
  options: { preset?: string; batch?: number; reps?: number; log?: (line: string) => void } = {},
): Promise<BenchRow[]> {
  const gpu = kernels.gpu;
  const config = presetByName(options.preset ?? "cpu-s").config;
  const batch = options.batch ?? 16;
  const reps = options.reps ?? 20;
  const d = config.d_model;
  const N = batch * config.seq_len;
  const L = config.n_layers;
  const V = config.vocab_size;
  const up = config.mlp_ratio * d;
  const hidden = mlpHidden(config);
  const scratch = (floats: number) => createBuffer(gpu, floats * 4, "profile scratch");
  const big = Math.max(N * V, N * 3 * d, V * d, 3 * d * d);
  const [a, b, c, e, f] = [
    scratch(big),
    scratch(big),
    scratch(big),
    scratch(N * config.n_heads),
    scratch(big),
  ];
  const entries: { op: string; calls: number; record: (pass: GPUComputePassEncoder) => void }[] = [];
  for (
    const [label, m, k] of [["att_proj", 3 * d, d], ["attn_out", d, d], ["ff_proj", up, d], [
      "ff_out",
      d,
      hidden,
    ]] as const
  ) {
    for (const layout of ["xwT", "dyW", "dyTx"] as const) {
      const matmul = await Matmul.create(kernels, { layout, n: N, m, k, accumulate: layout === "dyTx" });
      entries.push({ op: `matmul ${layout} ${label}`, calls: L, record: (p) => matmul.record(p, a, b, c) });
    }
  }
  for (const layout of ["xwT", "dyW", "dyTx"] as const) {
    const matmul = await Matmul.create(kernels, { layout, n: N, m: V, k: d, accumulate: layout === "dyTx" });
    entries.push({ op: `matmul ${layout} lm head`, calls: 1, record: (p) => matmul.record(p, a, b, c) });
  }
  const attention = await Attention.create(kernels, {
    batch,
    seqLen: config.seq_len,
    dModel: d,
    nHeads: config.n_heads,
  });
  entries.push({ op: "attention forward", calls: L, record: (p) => attention.forward(p, a, b, e) });
  entries.push({ op: "attention backward", calls: L, record: (p) => attention.backward(p, b, a, b, e, c) });
  const rope = await Rope.create(kernels, {
    batch,
    seqLen: config.seq_len,
    dModel: d,
    headDim: d / config.n_heads,
  });
  entries.push({
    op: "rope forward+backward",
    calls: L,
    record: (p) => (rope.forward(p, a), rope.backward(p, c)),
  });
  const norm = await RmsNorm.create(kernels, { rows: N, d, accumulate: true });
  entries.push({
    op: "rmsnorm forward+backward",
    calls: 2 * L + 1,
    record: (p) => (norm.forward(p, a, b, e), norm.backward(p, a, b, e, c)),
  });
  const swiglu = await SwiGlu.create(kernels, { rows: N, width: up });
  entries.push({
    op: "swiglu forward+backward",
    calls: L,
    record: (p) => (swiglu.forward(p, a, b), swiglu.backward(p, b, a, c)),
  });
  const crossEntropy = await CrossEntropy.create(kernels, { rows: N, vocab: V, scale: 1 / N });
  entries.push({
    op: "cross-entropy loss+gradient",
    calls: 1,
    record: (p) => crossEntropy.forwardBackward(p, f, e, b),
  });
  const layout = parameterLayout(config);
  const optimizer = await AdamW.create(gpu, layout, {}, kernels);
  const params = scratch(layout.totalLength);
  const grads = scratch(layout.totalLength);
  entries.push({
    op: "grad norm + AdamW",
    calls: 1,
    record: (p) => optimizer.record(p, params, grads, 1, 1e-3),
  });
  const rows: BenchRow[] = [];
  try {
    for (const entry of entries) {
      const time = async (count: number) => {
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        for (let i = 0; i < count; i++) entry.record(pass);
        pass.end();
        const start = performance.now();
        gpu.device.queue.submit([encoder.finish()]);
        await gpu.sync();
        return (performance.now() - start) / count;
      };
      await time(1);
      const ms = Math.min(await time(reps), await time(reps));
      rows.push({
        section: "profile",
        name: entry.op,
        values: { calls: entry.calls, ms, step_ms: ms * entry.calls },
      });
    }
  } finally {
    optimizer.destroy();
    for (const buffer of [a, b, c, e, f, params, grads]) buffer.destroy();
  }
  const total = rows.reduce((sum, row) => sum + (row.values.step_ms as number), 0);
  for (const row of rows) row.values.share = (row.values.step_ms as number) / total;
  rows.sort((x, y) => (y.values.step_ms as number) - (x.values.step_ms as number));
  options.log?.(
    `profile: ${options.preset ?? "cpu-s"} batch ${batch}: ${
      total.toFixed(1)
    } ms per step summed over kernels`,
  );
  return rows;
}

/** Columns of the profile table. */
export const PROFILE_COLUMNS: Column<BenchRow>[] = [
  { title: "kernel", value: (r) => r.name },
  { title: "calls/step", value: (r) => r.values.calls as number, digits: 0 },
  { title: "ms/call", value: (r) => r.values.ms as number, digits: 3 },
  { title: "ms/step", value: (r) => r.values.step_ms as number, digits: 2 },
  { title: "share", value: (r) => `${(100 * (r.values.share as number)).toFixed(1)}%` },
];

/** Formats training rows. */
export function formatTrainingRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, TRAINING_COLUMNS);
}

/** Formats profile rows. */
export function formatProfileRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, PROFILE_COLUMNS);
}

/** Seconds of one forward+backward of a microbatch (no optimizer), for the engine's bench line. */
export async function timeForwardBackward(
  kernels: Kernels,
  preset: string,
  batch: number,
  reps = 5,
): Promise<number> {
  const gpu = kernels.gpu;
  const config = presetByName(preset).config;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  try {
    model.setParameters(initParameters(model.layout, 0));
    model.setTokens(randomTokens(batch * config.seq_len, config.vocab_size, 2));
    const run = async (count: number) => {
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let i = 0; i < count; i++) model.record(pass, { backward: true, slot: 0 });
      pass.end();
      const start = performance.now();
      gpu.device.queue.submit([encoder.finish()]);
      await gpu.sync();
      return (performance.now() - start) / count / 1000;
    };
    await run(1);
    return await run(reps);
  } finally {
    model.destroy();
  }
}
