/**
 * Where a training step's time goes: the step's own dispatches, listed as the model records them
 * ({@linkcode Kernels.onDispatch}), each replayed alone at the step's shapes and bindings, grouped by
 * kernel entry point. Beside each: calls per step, wall and process-CPU milliseconds per step. On a
 * software adapter the CPU time is the robust figure when other processes share the cores (it counts
 * the work, not the waiting); the wall time shows what the step waits for.
 *
 * Also measured: the whole step (recorded and submitted as the trainer does, 10 in a row), the first
 * step (which compiles the pipelines the shader cache lacks: run with `MESA_SHADER_CACHE_DIR` set to an
 * empty folder for the cold cost), the host time to record one step, and the dispatches per step.
 *
 * @module
 */
import process from "node:process";
import type { Kernels } from "../gpu/kernels.ts";

/** One dispatch of a recorded step. */
type RecordedDispatch = Parameters<NonNullable<Kernels["onDispatch"]>>[0];
import { presetByName } from "../model/config.ts";
import { initParameters } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { AdamW } from "../train/adamw.ts";
import { randomTokens } from "../train/timing.ts";
import type { BenchRow } from "./matmul.ts";
import { type Column, formatTable } from "./table.ts";

/** Process CPU seconds (all threads: the software rasteriser's included). */
function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Options of {@linkcode profileTrainingStep}. */
export interface ProfileOptions {
  /** Preset (default cpu-s). */
  preset?: string;
  /** Sequences per step (default 16). */
  batch?: number;
  /** Replays of each dispatch per timing (default 10; 3 timings, the fastest kept). */
  reps?: number;
  /** Progress and notes (default stderr). */
  log?: (line: string) => void;
}

/**
 * Profiles one training step (forward, backward, grad norm and AdamW of `batch` random sequences) of
 * `preset`. Rows: one per kernel entry point and workgroup grid (`calls`, `wall_ms`, `cpu_ms` per step,
 * `share` of the summed CPU time), sorted by CPU time, then `step` (measured whole: `wall_ms`, `cpu_ms`,
 * `calls` = dispatches), `first step` (the same, compiling what the shader cache lacks) and `host record`
 * (`wall_ms` to record one step's commands).
 */
export async function profileTrainingStep(
  kernels: Kernels,
  options: ProfileOptions = {},
): Promise<BenchRow[]> {
  const gpu = kernels.gpu;
  const preset = options.preset ?? "cpu-s";
  const config = presetByName(preset).config;
  const batch = options.batch ?? 16;
  const reps = options.reps ?? 10;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  const optimizer = await AdamW.create(gpu, model.layout, {}, kernels);
  try {
    model.setParameters(initParameters(model.layout, 0));
    model.setTokens(randomTokens(batch * config.seq_len, config.vocab_size, 1));
    const record = (t: number): GPUCommandBuffer => {
      const encoder = gpu.device.createCommandEncoder();
      model.zeroGradients(encoder);
      const pass = encoder.beginComputePass();
      model.record(pass, { backward: true, slot: 0 });
      optimizer.record(pass, model.parameters, model.gradients!, t, 1e-3);
      pass.end();
      return encoder.finish();
    };
    // The first step compiles every pipeline the cache does not hold (lavapipe compiles at the first
    // dispatch): with MESA_SHADER_CACHE_DIR pointing at an empty folder this row is the cold cost.
    const firstWall = performance.now();
    const firstCpu = cpuSeconds();
    gpu.device.queue.submit([record(1)]);
    await gpu.sync();
    const firstStepWall = performance.now() - firstWall;
    const firstStepCpu = (cpuSeconds() - firstCpu) * 1000;
    const steps = 10;
    const hostStart = performance.now();
    const buffers: GPUCommandBuffer[] = [];
    for (let t = 2; t < 2 + steps; t++) buffers.push(record(t));
    const hostMs = (performance.now() - hostStart) / steps;
    const wallStart = performance.now();
    const cpuStart = cpuSeconds();
    gpu.device.queue.submit(buffers);
    await gpu.sync();
    const stepWall = (performance.now() - wallStart) / steps;
    const stepCpu = (cpuSeconds() - cpuStart) * 1000 / steps;

    const dispatches: RecordedDispatch[] = [];
    kernels.onDispatch = (dispatch) => dispatches.push(dispatch);
    try {
      record(steps + 2);
    } finally {
      kernels.onDispatch = null;
    }
    const groups = new Map<string, { calls: number; wall: number; cpu: number }>();
    for (const dispatch of dispatches) {
      const time = async () => {
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(dispatch.pipeline);
        pass.setBindGroup(0, dispatch.bindGroup);
        for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(...dispatch.workgroups);
        pass.end();
        const buffer = encoder.finish();
        const wall0 = performance.now();
        const cpu0 = cpuSeconds();
        gpu.device.queue.submit([buffer]);
        await gpu.sync();
        return { wall: (performance.now() - wall0) / reps, cpu: (cpuSeconds() - cpu0) * 1000 / reps };
      };
      await time();
      const trials = [await time(), await time(), await time()];
      const key = `${dispatch.pipeline.label} [${dispatch.workgroups.join("×")}]`;
      const group = groups.get(key) ?? { calls: 0, wall: 0, cpu: 0 };
      group.calls++;
      group.wall += Math.min(...trials.map((t) => t.wall));
      group.cpu += Math.min(...trials.map((t) => t.cpu));
      groups.set(key, group);
    }
    const totalCpu = [...groups.values()].reduce((sum, g) => sum + g.cpu, 0);
    const rows: BenchRow[] = [...groups.entries()]
      .sort((a, b) => b[1].cpu - a[1].cpu)
      .map(([name, g]) => ({
        section: "profile",
        name,
        values: { calls: g.calls, wall_ms: g.wall, cpu_ms: g.cpu, share: g.cpu / totalCpu },
      }));
    rows.push({
      section: "profile",
      name: "sum of the kernels above",
      values: {
        calls: dispatches.length,
        wall_ms: rows.reduce((s, r) => s + (r.values.wall_ms as number), 0),
        cpu_ms: totalCpu,
        share: 1,
      },
    });
    rows.push({
      section: "profile",
      name: "whole step (10 submitted together)",
      values: { calls: dispatches.length, wall_ms: stepWall, cpu_ms: stepCpu, share: null },
    });
    rows.push({
      section: "profile",
      name: "first step (compiles what the shader cache lacks)",
      values: { calls: dispatches.length, wall_ms: firstStepWall, cpu_ms: firstStepCpu, share: null },
    });
    rows.push({
      section: "profile",
      name: "host: recording one step",
      values: { calls: null, wall_ms: hostMs, cpu_ms: null, share: null },
    });
    options.log?.(
      `profile: ${preset} batch ${batch}: ${dispatches.length} dispatches, step ${
        stepWall.toFixed(1)
      } ms wall, ` +
        `${stepCpu.toFixed(1)} ms CPU, recording ${hostMs.toFixed(1)} ms`,
    );
    return rows;
  } finally {
    optimizer.destroy();
    model.destroy();
  }
}

/** Columns of the profile table. */
export const PROFILE_COLUMNS: Column<BenchRow>[] = [
  { title: "kernel [workgroups]", value: (r) => r.name },
  { title: "calls/step", value: (r) => r.values.calls as number | null, digits: 0 },
  { title: "wall ms/step", value: (r) => r.values.wall_ms as number | null, digits: 2 },
  { title: "cpu ms/step", value: (r) => r.values.cpu_ms as number | null, digits: 2 },
  {
    title: "share",
    value: (r) => typeof r.values.share === "number" ? `${(100 * r.values.share).toFixed(1)}%` : null,
  },
];

/** Formats profile rows. */
export function formatProfileRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, PROFILE_COLUMNS);
}
