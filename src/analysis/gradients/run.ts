/**
 * Gradient interference of a training run (docs/method.md#gradient-interference) at each power-of-two checkpoint: the
 * one-step update δ of the loss-interference analysis (load the checkpoint with its optimizer state, one
 * step of the run's own optimizer without clipping at lr(t) on the first batch training never saw), the exact
 * per-example gradients at θ_t of that same batch's examples, their statistics, and how well the
 * first-order prediction Δ̂ℓ_i = g_i·δ tracks the true change Δℓ_i of the step.
 *
 * Cached in `RUN/gradients/` (the files are `src/results/gradients.ts`'s): each checkpoint's settings and
 * metrics, and its per-example table; a cached checkpoint is reused when it is newer than the checkpoint
 * and was made with the same settings.
 *
 * @module
 */
import type { GpuDevice } from "../../gpu/device.ts";
import { Kernels } from "../../gpu/kernels.ts";
import { parameterLayout } from "../../model/parameters.ts";
import { checkpointPath, loadCheckpoint } from "../../train/checkpoint.ts";
import { analysisOptimizerOptions, checkpointStepState, OptimizerStep } from "../../train/optimizer_step.ts";
import type { LoadedRun } from "../../train/run.ts";
import { join } from "../../util/path.ts";
import { newerThanCheckpoint } from "../../results/cache.ts";
import type { ExampleRows, Granularity } from "../../results/gradients.ts";
import {
  exampleTableFile,
  gradientCacheFile,
  gradientsDir,
  projectionFilesBase,
  readExampleTable,
  readGradientCache,
  writeExampleTable,
  writeGradientCache,
} from "../../results/gradients.ts";
import { ProjectionWriter } from "../../results/projections.ts";
import { oneStepLearningRate } from "../interference/one_step.ts";
import { analysedCheckpoints } from "../interference/run.ts";
import { finishGradientInterference, gradientNoiseScale, predictionAgreement } from "./metrics.ts";
import type { GradientInterference, PredictionAgreement } from "./metrics.ts";
import { GradientStatistics, sequenceMeans } from "./statistics.ts";
import type { ProjectionOptions } from "../../ops/projection.ts";

/** Options of {@linkcode analyseRunGradients}. */
export interface RunGradientOptions {
  /** Examples are tokens (the paper's, exact; about T/2 backward passes per sequence) or sequences. */
  granularity?: Granularity;
  /** Use the first this many sequences of the unseen batch (default: all for sequences, 4 for tokens). */
  sequences?: number;
  /** Only these checkpoint steps (default: every power of two). */
  checkpoints?: number[];
  /** Recompute, ignoring the cache. */
  force?: boolean;
  /** Token granularity: target positions per backward (see {@linkcode GradientStatistics}). */
  targetsPerPass?: number;
  /** Pipeline cache to share. */
  kernels?: Kernels;
  /**
   * Also write every example's gradient projected to kOut·kIn dimensions per parameter (seeded
   * Kronecker random projections) to `RUN/gradients/projections_step-NNNNNNN_<granularity>.*`.
   */
  projection?: ProjectionOptions;
  /** Progress text as the work goes (what, done, total). */
  onProgress?: (text: string, done: number, total: number) => void;
}

/** The gradient interference of one checkpoint. */
export interface GradientCheckpoint extends GradientInterference {
  /** Checkpoint step t. */
  step: number;
  /** What an example is. */
  granularity: Granularity;
  /** Learning rate of the one step (lr(t), the peak where that is 0). */
  lr: number;
  /** Sequences whose examples were measured. */
  sequences: number;
  /** Agreement of Δ̂ℓ_i with the true Δℓ_i of the step. */
  agreement: PredictionAgreement;
  /** Rows back-propagated by the per-example backward. */
  rowsBackpropagated: number;
  /** Seconds the per-example statistics took (not the one step). */
  seconds: number;
  /**
   * max_i |Δ̂ℓ_i by the forward-mode tangent − Δ̂ℓ_i by the per-example gradients| (nats; the cross-check,
   * which fails the analysis beyond its bound). Absent in caches written before it.
   */
  jvpMaxAbsDifference?: number;
}

/** What {@linkcode analyseRunGradients} returns. */
export interface RunGradients {
  /** The run's name. */
  name: string;
  /** The run directory. */
  runDir: string;
  /** One entry per analysed checkpoint, ascending. */
  checkpoints: GradientCheckpoint[];
  /** How many checkpoints were computed (the rest came from the cache). */
  computed: number;
}

/**
 * Runs (or reads from the cache) the gradient interference of a run's checkpoints. `device` is the
 * GPU or a function opening it, called only when something has to be computed.
 *
 * @example
 * ```ts
 * import { analyseRunGradients, loadRun, openGpu } from "../../../mod.ts";
 * const result = await analyseRunGradients(openGpu, await loadRun("runs/cpu-s"), { granularity: "sequence" });
 * result.checkpoints; // [{ step, dGrad, cG, cUG, cUg, oneMinusDPredicted, agreement, … }]
 * ```
 */
export async function analyseRunGradients(
  device: GpuDevice | (() => Promise<GpuDevice>),
  run: LoadedRun,
  options: RunGradientOptions = {},
): Promise<RunGradients> {
  const granularity = options.granularity ?? "sequence";
  const cacheDir = gradientsDir(run.runDir);
  const layout = parameterLayout(run.config);
  const T = run.config.seq_len;
  const steps = await analysedCheckpoints(run.runDir, options.checkpoints);
  const sequences = Math.min(options.sequences ?? (granularity === "token" ? 4 : run.batch), run.batch);
  if (!Number.isInteger(sequences) || sequences < 1) {
    throw new Error(`zsl: --sequences must be a positive integer, got ${options.sequences}`);
  }
  const optimizer = analysisOptimizerOptions(run.optimizer);
  const settings = (step: number) => ({
    granularity,
    sequences,
    lr: oneStepLearningRate(run.schedule, step),
    afterStep: run.steps,
    optimizer,
    targetsPerPass: options.targetsPerPass ?? null,
    projection: options.projection ?? null,
  });
  await Deno.mkdir(cacheDir, { recursive: true });
  const needed: number[] = [];
  for (const step of steps) {
    const path = join(cacheDir, gradientCacheFile(step, granularity));
    const cached = await readGradientCache(path);
    const fresh = await newerThanCheckpoint(path, run.runDir, step);
    if (options.force || !fresh || JSON.stringify(cached?.settings) !== JSON.stringify(settings(step))) {
      needed.push(step);
    }
  }
  if (needed.length > 0) {
    const gpu = typeof device === "function" ? await device() : device;
    const kernels = options.kernels ?? new Kernels(gpu);
    const batch = run.plan.unseenBatch(run.steps, 0).tokens;
    const examplesOf = batch.subarray(0, sequences * T);
    const stepper = await OptimizerStep.create(gpu, run.config, {
      batch: run.batch,
      microbatch: run.microbatch,
      optimizer,
      kernels,
    });
    const statistics = await GradientStatistics.create(gpu, run.config, {
      granularity,
      targetsPerPass: options.targetsPerPass,
      kernels,
      projection: options.projection,
    });
    try {
      for (const [index, step] of needed.entries()) {
        const report = (text: string, done: number, total: number) =>
          options.onProgress?.(
            `${run.info.name}: step ${step} (${index + 1}/${needed.length}): ${text}`,
            done,
            total,
          );
        const checkpoint = await loadCheckpoint(checkpointPath(run.runDir, step), layout);
        report(`one ${optimizer.kind} step`, 0, 1);
        const lr = settings(step).lr;
        stepper.load(
          checkpointStepState(checkpoint, "gradient interference takes the one step δ from it"),
          `${checkpoint.directory}/optimizer.safetensors`,
        );
        const { before } = await stepper.step(batch, step + 1, lr);
        const after = await stepper.losses(examplesOf);
        const delta = await stepper.update();
        const tokenChange = new Float64Array(sequences * (T - 1));
        for (let i = 0; i < tokenChange.length; i++) tokenChange[i] = after[i] - before[i];
        const start = performance.now();
        const stats = await statistics.compute(
          checkpoint.parameters,
          delta,
          examplesOf,
          (done, total) => report(`${granularity} gradients`, done, total),
        );
        const seconds = (performance.now() - start) / 1000;
        const actual = granularity === "token" ? tokenChange : sequenceMeans(tokenChange, T - 1);
        // The per-coordinate and per-example sides of the identity are float32 sums in different orders.
        const metrics = finishGradientInterference(stats.coordinates, stats.examples, { tolerance: 1e-3 });
        const result: GradientCheckpoint = {
          ...metrics,
          step,
          granularity,
          lr,
          sequences,
          agreement: predictionAgreement(stats.examples.predicted, actual),
          rowsBackpropagated: stats.rowsBackpropagated,
          seconds,
          jvpMaxAbsDifference: stats.jvp.maxAbsDifference,
        };
        const rows: ExampleRows = {
          sequence: stats.sequence,
          position: stats.position,
          predicted: stats.examples.predicted,
          actual,
          absPredicted: stats.examples.absPredicted,
          gradSq: stats.examples.gradSq,
          gradAbs: stats.examples.gradAbs,
        };
        await writeExampleTable(join(cacheDir, exampleTableFile(step, granularity)), rows);
        if (stats.projected && options.projection) {
          const token = granularity === "token";
          const writer = await ProjectionWriter.create(cacheDir, {
            ...options.projection,
            slices: [...stats.projected.slices],
            extra: { run: run.info.name, step, granularity },
          }, projectionFilesBase(step, granularity));
          await writer.append({
            sequence: stats.sequence,
            position: stats.position,
            token: stats.position.map((s, i) => token ? examplesOf[stats.sequence[i] * T + s] : -1),
            target: stats.position.map((s, i) => token ? examplesOf[stats.sequence[i] * T + s + 1] : -1),
          }, stats.projected.vectors);
          await writer.finish();
        }
        await writeGradientCache(join(cacheDir, gradientCacheFile(step, granularity)), {
          settings: settings(step),
          result,
        });
      }
    } finally {
      statistics.destroy();
      stepper.destroy();
    }
  }
  const checkpoints: GradientCheckpoint[] = [];
  for (const step of steps) {
    const cached = await readGradientCache(join(cacheDir, gradientCacheFile(step, granularity)));
    const result = cached!.result as GradientCheckpoint;
    if (result.meanExampleGradSq === undefined) {
      // A cache written before the noise scale: its per-example table has every ‖g_i‖².
      const { gradSq } = await readExampleTable(join(cacheDir, exampleTableFile(step, granularity)));
      let sum = 0;
      for (let i = 0; i < gradSq.length; i++) sum += gradSq[i];
      Object.assign(
        result,
        gradientNoiseScale(result.examples, sum / result.examples, result.meanGradientNorm ** 2),
      );
    }
    checkpoints.push(result);
  }
  return { name: run.info.name, runDir: run.runDir, checkpoints, computed: needed.length };
}
