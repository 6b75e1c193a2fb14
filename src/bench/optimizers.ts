/**
 * Optimizer benchmark (docs/method.md#optimizers): each optimizer's time per step relative to AdamW on the
 * same model and adapter, for both architectures — the update alone (clip norm and every tensor's
 * update) and a whole training step (forward, backward, update). The optimizers are timed in turns,
 * trial after trial, so a change of load on a shared machine hits all of them alike; the best trial of
 * each counts, and the ratio of process CPU time is given beside the wall-time ratio (on a software
 * adapter it stays comparable when other processes share the CPU).
 *
 * @module
 */
import process from "node:process";
import type { Kernels } from "../gpu/kernels.ts";
import { presetByName, validateConfig, withArchitecture } from "../model/config.ts";
import type { Architecture } from "../model/config.ts";
import { initParameters } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { createOptimizer, OPTIMIZER_KINDS } from "../train/optimizer.ts";
import type { Optimizer } from "../train/optimizer.ts";
import { randomTokens } from "../train/timing.ts";
import type { BenchRow } from "./matmul.ts";
import { type Column, formatTable } from "./table.ts";

/** Options of {@linkcode benchOptimizers}. */
export interface OptimizerBenchOptions {
  /** Presets (default `["cpu-s"]`). */
  presets?: string[];
  /** Architectures (default both). */
  archs?: Architecture[];
  /** Sequences per step (default 8). */
  batch?: number;
  /** Steps per timed trial (default 4). */
  steps?: number;
  /** Updates per timed trial of the update alone (default 10). */
  updates?: number;
  /** Trials per optimizer, best taken (default 3). */
  trials?: number;
  /** Progress (default: stderr). */
  log?: (line: string) => void;
}

interface Timing {
  wall: number;
  cpu: number;
}

async function timed(gpu: Kernels["gpu"], work: () => void): Promise<Timing> {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  work();
  await gpu.sync();
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

/**
 * Times every optimizer on each preset × architecture. Values per row: `preset`, `arch`, `optimizer`,
 * `updateMs` (one update), `updateRatio` (over AdamW's), `stepMs` (one training step), `stepRatio`,
 * `cpuStepRatio` (the same ratio of process CPU time).
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels;
 * const rows = await benchOptimizers(kernels, { presets: ["tiny"], trials: 1 });
 * console.log(formatOptimizerRows(rows));
 * ```
 */
export async function benchOptimizers(
  kernels: Kernels,
  options: OptimizerBenchOptions = {},
): Promise<BenchRow[]> {
  const gpu = kernels.gpu;
  const batch = options.batch ?? 8;
  const steps = options.steps ?? 4;
  const updates = options.updates ?? 10;
  const trials = options.trials ?? 3;
  const log = options.log ?? ((line: string) => console.error(line));
  const rows: BenchRow[] = [];
  for (const preset of options.presets ?? ["cpu-s"]) {
    for (const arch of options.archs ?? ["olmo", "nanogpt"] as Architecture[]) {
      const config = validateConfig(withArchitecture(presetByName(preset).config, arch));
      const model = await Transformer.create(gpu, config, { batch }, kernels);
      model.setParameters(initParameters(model.layout, 0));
      const tokens = randomTokens(batch * config.seq_len, config.vocab_size, 1);
      const optimizers: Optimizer[] = [];
      for (const kind of OPTIMIZER_KINDS) {
        optimizers.push(await createOptimizer(gpu, model.layout, { kind }, kernels));
      }
      let t = 0;
      const step = (optimizer: Optimizer, backward: boolean) => {
        t++;
        const encoder = gpu.device.createCommandEncoder();
        if (backward) {
          model.setTokens(tokens);
          model.zeroGradients(encoder);
        }
        const pass = encoder.beginComputePass();
        if (backward) model.record(pass, { backward: true, slot: 0 });
        optimizer.record(pass, model.parameters, model.gradients!, t, 1e-4);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
      };
      const best = optimizers.map(() => ({ update: Infinity, step: Infinity, stepCpu: Infinity }));
      try {
        // Compile every pipeline first (two steps each), then time in turns.
        for (const optimizer of optimizers) for (let i = 0; i < 2; i++) step(optimizer, true);
        await gpu.sync();
        for (let trial = 0; trial < trials; trial++) {
          for (const [k, optimizer] of optimizers.entries()) {
            const update = await timed(gpu, () => {
              for (let i = 0; i < updates; i++) step(optimizer, false);
            });
            const whole = await timed(gpu, () => {
              for (let i = 0; i < steps; i++) step(optimizer, true);
            });
            best[k].update = Math.min(best[k].update, update.wall / updates);
            if (whole.wall / steps < best[k].step) {
              best[k].step = whole.wall / steps;
              best[k].stepCpu = whole.cpu / steps;
            }
          }
        }
      } finally {
        for (const optimizer of optimizers) optimizer.destroy();
        model.destroy();
      }
      for (const [k, kind] of OPTIMIZER_KINDS.entries()) {
        const row: BenchRow = {
          section: "optimizers",
          name: `${preset} ${arch} ${kind}`,
          values: {
            preset,
            arch,
            optimizer: kind,
            updateMs: best[k].update * 1000,
            updateRatio: best[k].update / best[0].update,
            stepMs: best[k].step * 1000,
            stepRatio: best[k].step / best[0].step,
            cpuStepRatio: best[k].stepCpu / best[0].stepCpu,
          },
        };
        rows.push(row);
        log(
          `optimizers: ${row.name}: update ${(best[k].update * 1000).toFixed(2)} ms ` +
            `(${(row.values.updateRatio as number).toFixed(2)}× AdamW), step ${
              (best[k].step * 1000).toFixed(1)
            } ms ` +
            `(${(row.values.stepRatio as number).toFixed(2)}×)`,
        );
      }
    }
  }
  return rows;
}

/** The optimizer rows as a table. */
export function formatOptimizerRows(rows: readonly BenchRow[]): string {
  const v = (row: BenchRow, key: string) => row.values[key];
  const columns: Column<BenchRow>[] = [
    { title: "preset", value: (r) => v(r, "preset") },
    { title: "arch", value: (r) => v(r, "arch") },
    { title: "optimizer", value: (r) => v(r, "optimizer") },
    { title: "update ms", value: (r) => v(r, "updateMs"), digits: 2 },
    { title: "× AdamW", value: (r) => v(r, "updateRatio"), digits: 2 },
    { title: "step ms", value: (r) => v(r, "stepMs"), digits: 1 },
    { title: "× AdamW", value: (r) => v(r, "stepRatio"), digits: 2 },
    { title: "CPU × AdamW", value: (r) => v(r, "cpuStepRatio"), digits: 2 },
  ];
  return formatTable(rows, columns);
}
