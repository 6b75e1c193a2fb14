/**
 * The loss along the update (docs/method.md#loss-along-the-update): from a checkpoint with its optimizer
 * state, the one step δ of the run's own optimizer (no clipping, lr(t), on the first batch training never
 * saw, as Δ_t^{t+1}), then the per-token losses at θ_t + α·δ for α = ±k/25·s on that batch ("train") and
 * on an eval batch ("eval"): the mean loss, and D, M of Δℓ(α) = ℓ(θ_t + α·δ) − ℓ(θ_t) against α — how far
 * along the update the loss keeps falling, and where per-token changes start to cancel.
 *
 * Cached in `RUN/landscape/` (the files are `src/results/landscape.ts`'s): each checkpoint's rows with the
 * settings they were made with, reused when newer than the checkpoint and made with the same settings.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import { fingerprint } from "../data/batches.ts";
import { parameterLayout } from "../model/parameters.ts";
import { newerThanCheckpoint } from "../results/cache.ts";
import type { LandscapeCache, LandscapeRow } from "../results/landscape.ts";
import {
  landscapeCacheFile,
  landscapeDir,
  readLandscapeCache,
  writeLandscapeCache,
} from "../results/landscape.ts";
import { checkpointPath, loadCheckpoint } from "../train/checkpoint.ts";
import { analysisOptimizerOptions, checkpointStepState, OptimizerStep } from "../train/optimizer_step.ts";
import type { LoadedRun } from "../train/run.ts";
import { join } from "../util/path.ts";
import { lossInterference } from "./interference/loss.ts";
import { oneStepLearningRate } from "./interference/one_step.ts";
import type { OneStepLr } from "./interference/one_step.ts";
import { analysedCheckpoints, evalTokenSet } from "./interference/run.ts";

/** The largest k of α = ±k/25·s (docs/method.md#loss-along-the-update): α reaches ±49/25 steps. */
export const LANDSCAPE_MAX_K = 49;
/** The denominator of α = k/25·s: k = 25 is the real step (α = s). */
export const LANDSCAPE_STEP_K = 25;

/**
 * The k of α = ±k/25·s on each side: `points` values k = round(j·49/points) for j = 1…points spread over
 * 1…49 (all of them for 49, the default), and k = 25 (the real step) always; ascending.
 *
 * @example
 * ```ts
 * import { landscapeKs } from "./landscape.ts";
 * landscapeKs(8); // [6, 12, 18, 25, 31, 37, 43, 49]
 * ```
 */
export function landscapeKs(points = LANDSCAPE_MAX_K): number[] {
  if (!Number.isInteger(points) || points < 1 || points > LANDSCAPE_MAX_K) {
    throw new Error(
      `zsl: the landscape's points must be an integer in 1 … ${LANDSCAPE_MAX_K}, got ${points}`,
    );
  }
  const ks = new Set([LANDSCAPE_STEP_K]);
  for (let j = 1; j <= points; j++) ks.add(Math.round((j * LANDSCAPE_MAX_K) / points));
  return [...ks].sort((a, b) => a - b);
}

/** Options of {@linkcode analyseRunLandscape}. */
export interface RunLandscapeOptions {
  /** Checkpoint steps (default: every power of two). */
  checkpoints?: number[];
  /** Scale s of α = ±k/25·s (default 1: α = 1 is the real step). */
  scale?: number;
  /** α values per side, out of k = 1…49 (default 49; see {@linkcode landscapeKs}). Each is two forwards. */
  points?: number;
  /** Eval sequences of the eval batch, the first of the eval split (default: the run's batch size). */
  evalSequences?: number;
  /** Learning rate of the step δ (default "checkpoint": lr(t), the peak where that is 0). */
  lr?: OneStepLr;
  /** Recompute, ignoring the cache. */
  force?: boolean;
  /** Pipeline cache to share. */
  kernels?: Kernels;
  /** Progress text as the work goes (what, done, total). */
  onProgress?: (text: string, done: number, total: number) => void;
}

/** What {@linkcode analyseRunLandscape} returns. */
export interface RunLandscape {
  /** The run's name. */
  name: string;
  /** The run directory. */
  runDir: string;
  /** The checkpoints measured, ascending. */
  checkpoints: number[];
  /** The rows of `landscape.arrow`: per checkpoint, set ("train" then "eval") and α ascending. */
  rows: LandscapeRow[];
  /** Checkpoints computed (the rest came from the cache). */
  computed: number;
}

/** θ + α·δ in float32 (the sum in float64, rounded once). */
function along(theta: Float32Array, delta: Float32Array, alpha: number, out: Float32Array): Float32Array {
  for (let i = 0; i < theta.length; i++) out[i] = theta[i] + alpha * delta[i];
  return out;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/**
 * Runs (or reads from the cache) the loss along the update of a run's checkpoints. `device` is the GPU or
 * a function opening it, called only when something has to be computed.
 *
 * @example
 * ```ts
 * import { loadRun, openGpu } from "../../mod.ts";
 * import { analyseRunLandscape } from "./landscape.ts";
 * const result = await analyseRunLandscape(openGpu, await loadRun("runs/cpu-s"), { points: 8, scale: 2 });
 * result.rows; // [{ model, t, set, k, alpha, loss, deltaL, D, M, … }]
 * ```
 */
export async function analyseRunLandscape(
  device: GpuDevice | (() => Promise<GpuDevice>),
  run: LoadedRun,
  options: RunLandscapeOptions = {},
): Promise<RunLandscape> {
  const cacheDir = landscapeDir(run.runDir);
  const layout = parameterLayout(run.config);
  const scale = options.scale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new Error(`zsl: the landscape's scale must be a positive number, got ${scale}`);
  }
  const ks = landscapeKs(options.points);
  const steps = await analysedCheckpoints(run.runDir, options.checkpoints);
  const evalSequences = options.evalSequences ?? run.batch;
  if (!Number.isInteger(evalSequences) || evalSequences < 1) {
    throw new Error(`zsl: the landscape's eval sequences must be a positive integer, got ${evalSequences}`);
  }
  const trainTokens = run.plan.unseenBatch(run.steps, 0).tokens;
  const evalTokens = evalTokenSet(run, evalSequences).tokens;
  const optimizer = analysisOptimizerOptions(run.optimizer);
  const lrChoice = options.lr ?? "checkpoint";
  const settings = (step: number) => ({
    ks,
    scale,
    lr: oneStepLearningRate(run.schedule, step, lrChoice),
    optimizer,
    afterStep: run.steps,
    train: fingerprint([trainTokens]),
    eval: fingerprint([evalTokens]),
  });
  await Deno.mkdir(cacheDir, { recursive: true });
  const needed: number[] = [];
  for (const step of steps) {
    const path = join(cacheDir, landscapeCacheFile(step));
    const cached = await readLandscapeCache(path);
    if (
      options.force || !cached || JSON.stringify(cached.settings) !== JSON.stringify(settings(step)) ||
      !(await newerThanCheckpoint(path, run.runDir, step))
    ) needed.push(step);
  }
  if (needed.length > 0) {
    const gpu = typeof device === "function" ? await device() : device;
    const stepper = await OptimizerStep.create(gpu, run.config, {
      batch: run.batch,
      microbatch: run.microbatch,
      optimizer,
      kernels: options.kernels ?? new Kernels(gpu),
    });
    const alphas = [...ks.map((k) => -k).reverse(), ...ks];
    const total = needed.length * (alphas.length + 1);
    let done = 0;
    try {
      for (const step of needed) {
        const report = (text: string) =>
          options.onProgress?.(`${run.info.name}: step ${step}: ${text}`, done, total);
        report(`one ${optimizer.kind} step`);
        const checkpoint = await loadCheckpoint(checkpointPath(run.runDir, step), layout);
        stepper.load(
          checkpointStepState(checkpoint, "the loss along the update steps from it"),
          `${checkpoint.directory}/optimizer.safetensors`,
        );
        const { lr } = settings(step);
        // The checkpoint holds `step` updates: this is update step + 1.
        const { before: trainBefore } = await stepper.step(trainTokens, step + 1, lr);
        const delta = await stepper.update();
        stepper.reload();
        const evalBefore = await stepper.losses(evalTokens);
        done++;
        const cacheRows: LandscapeCache["rows"] = [];
        const at = (set: "train" | "eval", k: number, before: Float32Array, after: Float32Array) => {
          const change = k === 0 ? null : lossInterference(before, after);
          const loss = mean(after);
          cacheRows.push({
            t: step,
            set,
            k,
            alpha: (k / LANDSCAPE_STEP_K) * scale,
            scale,
            lr,
            loss,
            deltaL: change?.deltaL ?? 0,
            D: change?.D ?? NaN,
            M: change?.M ?? 0,
            n: before.length,
          });
        };
        const train: [number, Float32Array][] = [[0, trainBefore]];
        const evaluation: [number, Float32Array][] = [[0, evalBefore]];
        const shifted = new Float32Array(layout.totalLength);
        for (const k of alphas) {
          report(`α = ${((k / LANDSCAPE_STEP_K) * scale).toFixed(2)}`);
          stepper.model.setParameters(
            along(checkpoint.parameters, delta, (k / LANDSCAPE_STEP_K) * scale, shifted),
          );
          train.push([k, await stepper.losses(trainTokens)]);
          evaluation.push([k, await stepper.losses(evalTokens)]);
          done++;
        }
        for (
          const [set, series, before] of [
            ["train", train, trainBefore],
            ["eval", evaluation, evalBefore],
          ] as const
        ) {
          for (const [k, losses] of series.sort((a, b) => a[0] - b[0])) at(set, k, before, losses);
        }
        await writeLandscapeCache(join(cacheDir, landscapeCacheFile(step)), {
          settings: settings(step),
          rows: cacheRows,
        });
      }
    } finally {
      stepper.destroy();
    }
  }
  const rows: LandscapeRow[] = [];
  for (const step of steps) {
    const cached = await readLandscapeCache(join(cacheDir, landscapeCacheFile(step)));
    for (const row of cached?.rows ?? []) rows.push({ model: run.info.name, ...row });
  }
  return { name: run.info.name, runDir: run.runDir, checkpoints: steps, rows, computed: needed.length };
}
