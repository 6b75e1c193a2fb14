/**
 * The cost of exact gradient interference (docs/method.md#gradient-interference) relative to a training step of the same
 * batch, and relative to the method's floor for per-token gradients.
 *
 * The floor: a token's loss at position s depends on positions 0…s, so its exact gradient needs a
 * backward over that prefix, s + 1 rows; over the T − 1 targets of a sequence that is T(T−1)/2 rows,
 * i.e. (T − 1)/2 backward passes of the whole sequence, and each per-token gradient coordinate is a
 * sum over its prefix, which a backward's weight gradient already pays for. So the floor of S
 * sequences is S(T − 1)/(2B) backward passes of a batch of B sequences, and the bench times that
 * backward alone on the same batch (the model's backward record on kept activations).
 *
 * The forward-mode row times Δ̂ℓ_i = g_i·δ alone by the tangent pass (`ForwardModePredictor`: one
 * forward and its tangent per batch), the fast path when the other per-token statistics are not needed;
 * the per-token row includes it once more, as the cross-check of its own Δ̂ℓ_i.
 *
 * @module
 */
import type { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { presetByName } from "../model/config.ts";
import { initParameters, parameterLayout } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { randomTokens, timeTrainingStep } from "../train/timing.ts";
import { GradientStatistics } from "../analysis/gradients/statistics.ts";
import { ForwardModePredictor } from "../analysis/gradients/predicted.ts";
import type { Granularity } from "../analysis/gradients/statistics.ts";
import { Random } from "../util/random.ts";
import type { BenchRow } from "./matmul.ts";
import { formatTable } from "./table.ts";

/** Options of {@linkcode benchGradients}. */
export interface BenchGradientsOptions {
  /** Preset (default cpu-s). */
  preset?: string;
  /** Sequences in the batch (default 8). */
  batch?: number;
  /** Repetitions of each timing (default 3). */
  reps?: number;
  /** Token granularity: target positions per backward (default: the library's). */
  targetsPerPass?: number;
  log?: (line: string) => void;
}

/**
 * The fastest of `reps` runs after a first one that compiles, in seconds: other processes on a shared
 * machine only ever add time, so the minimum of each side is what their ratio compares.
 */
async function seconds(reps: number, run: () => Promise<void>): Promise<number> {
  await run(); // compiles
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    await run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

/**
 * Times a backward of `batch` sequences alone: after one forward, the model's backward record
 * (`forward: false`: the LM head and the loss gradient, every block's backward, the weight gradients)
 * repeated on the kept activations. Timing it directly, rather than as (forward + backward) − forward,
 * keeps it meaningful when other processes make both terms noisy.
 */
async function timeBackward(kernels: Kernels, config: ModelConfig, batch: number, reps: number) {
  const gpu = kernels.gpu;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  try {
    model.setParameters(initParameters(model.layout, 0));
    model.setTokens(randomTokens(batch * config.seq_len, config.vocab_size, 1));
    const record = (forward: boolean) => {
      const encoder = gpu.device.createCommandEncoder();
      model.zeroGradients(encoder);
      const compute = encoder.beginComputePass();
      model.record(compute, { backward: true, forward });
      compute.end();
      gpu.device.queue.submit([encoder.finish()]);
    };
    record(true);
    return await seconds(reps, async () => {
      record(false);
      await gpu.sync();
    });
  } finally {
    model.destroy();
  }
}

/** Times a forward of `batch` sequences (per-token losses, no backward): the unit of the forward-mode row. */
async function timeForward(kernels: Kernels, config: ModelConfig, batch: number, reps: number) {
  const gpu = kernels.gpu;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  try {
    model.setParameters(initParameters(model.layout, 0));
    model.setTokens(randomTokens(batch * config.seq_len, config.vocab_size, 1));
    return await seconds(reps, async () => {
      const encoder = gpu.device.createCommandEncoder();
      const compute = encoder.beginComputePass();
      model.record(compute, { backward: false });
      compute.end();
      gpu.device.queue.submit([encoder.finish()]);
      await gpu.sync();
    });
  } finally {
    model.destroy();
  }
}

/**
 * Exact per-token and per-sequence gradient interference of one batch, beside a training step of
 * that batch and the per-token floor.
 */
export async function benchGradients(
  kernels: Kernels,
  options: BenchGradientsOptions = {},
): Promise<BenchRow[]> {
  const log = options.log ?? (() => {});
  const preset = options.preset ?? "cpu-s";
  const config = presetByName(preset).config;
  const B = options.batch ?? 8;
  const reps = options.reps ?? 3;
  const T = config.seq_len;
  const layout = parameterLayout(config);
  const parameters = initParameters(layout, 0);
  const random = new Random(3);
  const delta = new Float32Array(layout.totalLength).map(() => (random.uniform() - 0.5) * 1e-3);
  const tokens = randomTokens(B * T, config.vocab_size, 2);
  log(`gradients: timing a training step of ${preset} (${B} × ${T} tokens)`);
  const step = await timeTrainingStep(kernels, config, B, reps);
  const backward = await timeBackward(kernels, config, B, Math.max(3 * reps, 10));
  const floor = ((T - 1) / 2) * backward;
  const rows: BenchRow[] = [];
  for (const granularity of ["sequence", "token"] as Granularity[]) {
    log(`gradients: per-${granularity} statistics of the batch`);
    const statistics = await GradientStatistics.create(kernels.gpu, config, {
      granularity,
      kernels,
      sequencesPerPass: granularity === "sequence" ? B : undefined,
      targetsPerPass: options.targetsPerPass,
    });
    let rowsBackpropagated = 0;
    try {
      const time = await seconds(reps, async () => {
        rowsBackpropagated = (await statistics.compute(parameters, delta, tokens)).rowsBackpropagated;
      });
      rows.push({
        section: "gradients",
        name: `${preset} per-${granularity}`,
        values: {
          examples: granularity === "token" ? B * (T - 1) : B,
          seconds: time,
          stepSeconds: step,
          backwardSeconds: backward,
          perStep: time / step,
          floorSeconds: granularity === "token" ? floor : null,
          perFloor: granularity === "token" ? time / floor : null,
          rowsPerFloorRows: granularity === "token" ? rowsBackpropagated / (B * T * (T - 1) / 2) : null,
          targetsPerPass: granularity === "token" ? statistics.targetsPerPass : null,
        },
      });
    } finally {
      statistics.destroy();
    }
  }
  log("gradients: Δ̂ℓ of every token by the forward-mode tangent");
  const forward = await timeForward(kernels, config, B, Math.max(3 * reps, 10));
  const predictor = await ForwardModePredictor.create(kernels.gpu, config, { sequencesPerPass: B, kernels });
  try {
    const time = await seconds(reps, async () => {
      await predictor.predict(parameters, delta, tokens);
    });
    rows.push({
      section: "gradients",
      name: `${preset} forward-mode (JVP)`,
      values: {
        examples: B * (T - 1),
        seconds: time,
        stepSeconds: step,
        backwardSeconds: backward,
        perStep: time / step,
        floorSeconds: floor,
        perFloor: time / floor,
        rowsPerFloorRows: null,
        targetsPerPass: null,
        forwardSeconds: forward,
        perForward: time / forward,
      },
    });
  } finally {
    predictor.destroy();
  }
  return rows;
}

/** The gradients section's table. */
export function formatGradientRows(rows: readonly BenchRow[]): string {
  const v = (row: BenchRow, key: string) => row.values[key] as number | null;
  return formatTable(rows, [
    { title: "case", value: (r) => r.name },
    { title: "examples", value: (r) => v(r, "examples"), digits: 0 },
    { title: "time (s)", value: (r) => v(r, "seconds"), digits: 3 },
    { title: "training step (s)", value: (r) => v(r, "stepSeconds"), digits: 3 },
    { title: "× step", value: (r) => v(r, "perStep"), digits: 2 },
    { title: "backward (s)", value: (r) => v(r, "backwardSeconds"), digits: 4 },
    { title: "floor (s)", value: (r) => v(r, "floorSeconds"), digits: 3 },
    { title: "× floor", value: (r) => v(r, "perFloor"), digits: 2 },
    { title: "rows / floor rows", value: (r) => v(r, "rowsPerFloorRows"), digits: 2 },
    { title: "× forward", value: (r) => v(r, "perForward") ?? null, digits: 2 },
  ]) + "\nfloor = (T − 1)/2 backward passes of the batch (each target's backward over its own prefix); " +
    "the forward-mode row gives Δ̂ℓ_i = g_i·δ only (× forward: over a forward of the batch, losses only)";
}
