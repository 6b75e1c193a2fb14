/**
 * The training loop (METHOD.md §3), nanoGPT-small: for each step, the global batch's microbatches
 * accumulate their gradients, then one clipped AdamW update at lr(step). Checkpoints at every power
 * of two and at the last step; metrics every step; exact resume from the last checkpoint.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { GpuError } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { validateConfig } from "../model/config.ts";
import { initParameters } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { ensureWritableDirectory, writeJsonAtomic } from "../io/atomic.ts";
import { join } from "../util/path.ts";
import { AdamW, PAPER_ADAMW } from "./adamw.ts";
import type { AdamWOptions } from "./adamw.ts";
import { learningRate, validateSchedule } from "./schedule.ts";
import type { Schedule } from "./schedule.ts";
import {
  checkpointPath,
  checkpointSteps,
  listCheckpoints,
  loadCheckpoint,
  removeStaleTemporaries,
  saveCheckpoint,
} from "./checkpoint.ts";
import type { CheckpointState } from "./checkpoint.ts";
import { MetricsLog } from "./metrics.ts";

/** The data a run trains on: deterministic batches by step, and a fixed evaluation set. */
export interface TrainingData {
  /** Tokens of the global batch of step `step` (1-based), row-major [batch·seq_len]. */
  trainBatch(step: number): { tokens: Uint32Array };
  /** Tokens of the evaluation set, row-major [sequences·seq_len]. */
  evalSet(): { tokens: Uint32Array };
  /** A JSON-able description; a resumed run must see the same. */
  describe(): unknown;
  /** Throws if `saved` (an earlier `describe()`) is not the same data (default: JSON equality). */
  checkSameData?(saved: never): void;
}

/** Everything that defines a training run. */
export interface TrainOptions {
  /** Run directory: `run.json`, `metrics.arrow`, `checkpoints/`. */
  runDir: string;
  /** Name of the model in tables and figures (default: the run directory's name). */
  name?: string;
  /** The model's shape (validated by `train`). */
  model: ModelConfig;
  /** Batches by step and the eval set (a `BatchPlan` fits). */
  data: TrainingData;
  /** Optimizer steps. */
  steps: number;
  /** Sequences per global batch. */
  batch: number;
  /** Sequences per microbatch (divides batch). */
  microbatch: number;
  /** Learning-rate schedule (its totalSteps is `steps`). */
  schedule: Omit<Schedule, "totalSteps">;
  /** Seed of the initialisation. */
  seed: number;
  /** Initial parameters (flat, layout order) instead of the seeded initialisation. */
  init?: Float32Array;
  /** AdamW hyperparameters over {@linkcode PAPER_ADAMW}. */
  adamw?: AdamWOptions;
  /** Evaluate on the eval set every this many steps, and at the last step (0 = never). */
  evalEvery?: number;
  /** Continue from the run directory's last checkpoint. */
  resume?: boolean;
  /** Stop after this step as if interrupted (checkpoints and metrics as written so far). */
  stopAfter?: number;
  /** Extra fields for `run.json` and `state.json` (tokenizer, data source, preset…). */
  info?: Record<string, unknown>;
  /** Called after every step. */
  onStep?: (progress: StepProgress) => void;
  /**
   * Measures the model during training (e.g. the loss-interference probe of
   * src/analysis/interference/probe.ts); the values it returns become metric columns.
   */
  probe?: TrainingProbe;
  /** Pipeline cache to reuse across runs on the same device (a sweep); default a new one. */
  kernels?: Kernels;
}

/** Something the trainer calls around its steps to measure the model; its values become metric columns. */
export interface TrainingProbe {
  /** The metric columns it fills (NaN on rows it does not measure). */
  readonly columns: readonly string[];
  /** Once before the first step of the session; `model` holds the parameters of step firstStep − 1. */
  setup(model: Transformer, context: { firstStep: number; evalTokens: () => Uint32Array }): Promise<void>;
  /** After step `step`'s update and evaluation: values for its columns at this step, or null. */
  afterStep(step: number, model: Transformer): Promise<Record<string, number> | null>;
  /** When training ends (also on errors): frees what the probe holds. */
  close?(): void;
}

/** What {@linkcode TrainOptions.onStep} receives. */
export interface StepProgress {
  /** The step just done (1-based). */
  step: number;
  /** The run's total steps. */
  steps: number;
  /** The first step of this session (> 1 after a resume). */
  firstStep: number;
  /** Mean token loss of the step's global batch, before its update. */
  trainLoss: number;
  /** Eval-split loss after the step, when it was evaluated at this step. */
  evalLoss?: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate of the step's update. */
  lr: number;
  /** Training throughput of this session so far (evaluation and checkpoint time included). */
  tokensPerSecond: number;
  /** Estimated seconds to the run's last step, at this session's mean time per step. */
  etaSeconds: number;
  /** Directory of the checkpoint written at this step, if one was. */
  checkpoint?: string;
}

/** The outcome of {@linkcode train}. */
export interface TrainResult {
  /** The run directory. */
  runDir: string;
  /** The last step done. */
  step: number;
  /** Per-step train losses of this session (steps firstStep…step). */
  losses: number[];
  /** The first step of this session (> 1 after a resume). */
  firstStep: number;
  /** Training wall time in seconds, summed over resumed sessions (as `wall_seconds` in the metrics). */
  wallSeconds: number;
}

/** Fields of run.json that must match when resuming. */
function identity(options: TrainOptions, config: Required<ModelConfig>, adamw: Required<AdamWOptions>) {
  return {
    model: config,
    steps: options.steps,
    batch: options.batch,
    microbatch: options.microbatch,
    schedule: options.schedule,
    seed: options.seed,
    adamw,
    data: options.data.describe(),
  };
}

/** Validates the shape of a run before anything is allocated or written. */
function validateRun(options: TrainOptions): void {
  const { batch, microbatch, steps } = options;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new Error(`zsl: --batch must be a positive integer, got ${batch}`);
  }
  if (!Number.isInteger(microbatch) || microbatch < 1) {
    throw new Error(`zsl: --microbatch must be a positive integer, got ${microbatch}`);
  }
  if (batch % microbatch !== 0) {
    throw new Error(
      `zsl: --batch ${batch} is not divisible by --microbatch ${microbatch}: choose a divisor of the batch`,
    );
  }
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`zsl: --steps must be a positive integer, got ${steps}`);
  }
  validateSchedule({ ...options.schedule, totalSteps: steps });
}

/**
 * Trains a model, writing checkpoints and metrics into `options.runDir`.
 *
 * @example
 * ```ts
 * import { openGpu, train } from "./mod.ts";
 * // const result = await train(gpu, { runDir: "runs/tiny", model, data, steps: 100, batch: 8, microbatch: 8,
 * //   schedule: { kind: "trapezoidal", peakLr: 1e-3, warmup: 10 }, seed: 0 });
 * ```
 */
export async function train(gpu: GpuDevice, options: TrainOptions): Promise<TrainResult> {
  const config = validateConfig(options.model);
  validateRun(options);
  const adamwOptions = { ...PAPER_ADAMW, ...options.adamw };
  const schedule: Schedule = { ...options.schedule, totalSteps: options.steps };
  const runDir = options.runDir;
  await ensureWritableDirectory(runDir);
  const runIdentity = identity(options, config, adamwOptions);
  await removeStaleTemporaries(runDir);
  const existing = await listCheckpoints(runDir);
  if (existing.length > 0 && !options.resume) {
    throw new Error(
      `zsl: ${runDir} already holds checkpoints (last: step ${existing[existing.length - 1]}): ` +
        `pass --resume to continue it, or choose another --out`,
    );
  }
  const kernels = options.kernels ?? new Kernels(gpu);
  const microbatches = options.batch / options.microbatch;
  const evalTokens = options.evalEvery ? options.data.evalSet().tokens : new Uint32Array(0);
  const evalChunks = Math.floor(evalTokens.length / (options.microbatch * config.seq_len));
  if (options.evalEvery && evalChunks < 1) {
    throw new Error(
      `zsl: the eval set (${evalTokens.length / config.seq_len} sequences) is smaller than one microbatch ` +
        `(${options.microbatch}): use a larger eval split or a smaller microbatch`,
    );
  }
  const model = await Transformer.create(
    gpu,
    config,
    {
      batch: options.microbatch,
      globalBatch: options.batch,
      lossSlots: Math.max(microbatches, evalChunks, 1),
    },
    kernels,
  );
  const optimizer = await AdamW.create(gpu, model.layout, adamwOptions, kernels);
  // Two: while one step's loss sums are read back, the next step (already submitted) copies its own.
  const stagings = [0, 1].map(() =>
    gpu.device.createBuffer({
      label: "step readback",
      size: (Math.max(microbatches, evalChunks) + 1) * 4,
      usage: 0x01 /* MAP_READ */ | 0x08, /* COPY_DST */
    })
  );
  const metricsPath = join(runDir, "metrics.arrow");
  let firstStep = 1;
  let wallOffset = 0;
  let metrics: MetricsLog;
  try {
    if (options.resume && existing.length > 0) {
      const last = existing[existing.length - 1];
      const checkpoint = await loadCheckpoint(checkpointPath(runDir, last), model.layout);
      const saved = checkpoint.state.run as typeof runIdentity | undefined;
      const withoutData = (run: typeof runIdentity | undefined) => JSON.stringify({ ...run, data: null });
      if (!saved || withoutData(saved) !== withoutData(runIdentity)) {
        throw new Error(
          `zsl: cannot resume ${runDir}: its checkpoint was made with different settings ` +
            `(${
              describeDifference(checkpoint.state.run, runIdentity)
            }); use the same arguments or another --out`,
        );
      }
      if (!checkpoint.expAvg || !checkpoint.expAvgSq) {
        throw new Error(`zsl: cannot resume from ${checkpoint.directory}: it has no optimizer.safetensors`);
      }
      if (options.data.checkSameData) options.data.checkSameData(saved.data as never);
      else if (JSON.stringify(saved.data) !== JSON.stringify(runIdentity.data)) {
        throw new Error(`zsl: cannot resume ${runDir}: the data differs from the checkpoint's`);
      }
      model.setParameters(checkpoint.parameters);
      optimizer.setMoments(checkpoint.expAvg, checkpoint.expAvgSq);
      firstStep = last + 1;
      wallOffset = Number(checkpoint.state.wall_seconds ?? 0);
      metrics = await MetricsLog.resume(metricsPath, last);
    } else {
      const initial = options.init ?? initParameters(model.layout, options.seed);
      model.setParameters(initial);
      metrics = new MetricsLog(metricsPath);
    }
    await writeJsonAtomic(join(runDir, "run.json"), {
      name: options.name ?? runDir.split("/").filter(Boolean).pop(),
      ...options.info,
      adapter: gpu.adapter,
      ...runIdentity,
    });
    await writeJsonAtomic(join(runDir, "config.json"), {
      d_model: config.d_model,
      n_layers: config.n_layers,
      n_heads: config.n_heads,
      vocab_size: config.vocab_size,
      seq_len: config.seq_len,
      mlp_ratio: config.mlp_ratio,
    });

    if (options.probe) {
      await options.probe.setup(model, { firstStep, evalTokens: () => options.data.evalSet().tokens });
    }
    const checkpointAt = new Set(checkpointSteps(options.steps));
    const tokensPerStep = options.batch * config.seq_len;
    const predictedPerStep = options.batch * (config.seq_len - 1);
    const losses: number[] = [];
    const start = performance.now();
    const lastStep = Math.min(options.steps, options.stopAfter ?? options.steps);
    const microTokens = options.microbatch * config.seq_len;

    const readStaging = async (count: number, staging = stagings[0]): Promise<Float32Array> => {
      await staging.mapAsync(0x0001);
      gpu.check();
      const values = new Float32Array(staging.getMappedRange(0, count * 4).slice(0));
      staging.unmap();
      return values;
    };
    const copySlots = (encoder: GPUCommandEncoder, count: number, staging = stagings[0]) => {
      for (let slot = 0; slot < count; slot++) {
        const binding = model.lossSlotBinding(slot) as { offset: number };
        encoder.copyBufferToBuffer(model.lossSums, binding.offset, staging, slot * 4, 4);
      }
    };
    const evaluate = async (): Promise<number> => {
      for (let chunk = 0; chunk < evalChunks; chunk++) {
        model.setTokens(evalTokens.subarray(chunk * microTokens, (chunk + 1) * microTokens));
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        model.record(pass, { backward: false, slot: chunk });
        pass.end();
        if (chunk === evalChunks - 1) copySlots(encoder, evalChunks);
        gpu.device.queue.submit([encoder.finish()]);
      }
      const sums = await readStaging(evalChunks);
      let sum = 0;
      for (const value of sums) sum += value;
      return sum / (evalChunks * options.microbatch * (config.seq_len - 1));
    };

    /** Records and submits step `step` (its loss sums and gradient norm copied into a staging buffer). */
    const submitStep = (step: number) => {
      const lr = learningRate(schedule, step);
      const tokens = options.data.trainBatch(step).tokens;
      if (tokens.length !== tokensPerStep) {
        throw new GpuError(
          `zsl: the data gave ${tokens.length} tokens for step ${step}, expected ${tokensPerStep}`,
        );
      }
      const staging = stagings[step % 2];
      for (let micro = 0; micro < microbatches; micro++) {
        model.setTokens(tokens.subarray(micro * microTokens, (micro + 1) * microTokens));
        const encoder = gpu.device.createCommandEncoder();
        if (micro === 0) model.zeroGradients(encoder);
        const pass = encoder.beginComputePass();
        model.record(pass, { backward: true, slot: micro });
        if (micro === microbatches - 1) optimizer.record(pass, model.parameters, model.gradients!, step, lr);
        pass.end();
        if (micro === microbatches - 1) {
          copySlots(encoder, microbatches, staging);
          encoder.copyBufferToBuffer(optimizer.gradNorm, 0, staging, microbatches * 4, 4);
        }
        gpu.device.queue.submit([encoder.finish()]);
      }
      return { step, lr, staging };
    };
    /** Whether step `step`'s bookkeeping reads the model (evaluation, probe, checkpoint). */
    const needsModel = (step: number) =>
      (options.evalEvery !== undefined && options.evalEvery > 0 &&
        (step % options.evalEvery === 0 || step === options.steps)) ||
      options.probe !== undefined || checkpointAt.has(step);
    /** Reads step `submitted.step`'s loss and norm back, then its metrics, evaluation, probe, checkpoint. */
    const finishStep = async ({ step, lr, staging }: ReturnType<typeof submitStep>) => {
      const values = await readStaging(microbatches + 1, staging);
      let sum = 0;
      for (let micro = 0; micro < microbatches; micro++) sum += values[micro];
      const trainLoss = sum / predictedPerStep;
      const gradNorm = values[microbatches];
      if (!Number.isFinite(trainLoss)) {
        throw new Error(
          `zsl: the train loss became ${trainLoss} at step ${step}: lower the learning rate (--lr)`,
        );
      }
      losses.push(trainLoss);
      const wallSeconds = wallOffset + (performance.now() - start) / 1000;
      metrics.append({
        step,
        tokens: step * tokensPerStep,
        lr,
        train_loss: trainLoss,
        grad_norm: gradNorm,
        wall_seconds: wallSeconds,
        eval_loss: NaN,
      });
      let evalLoss: number | undefined;
      if (options.evalEvery && (step % options.evalEvery === 0 || step === options.steps)) {
        evalLoss = await evaluate();
        metrics.set(step, "eval_loss", evalLoss);
      }
      if (options.probe) {
        const values = await options.probe.afterStep(step, model);
        if (values) {
          for (const [column, value] of Object.entries(values)) metrics.set(step, column, value);
        }
      }
      let checkpoint: string | undefined;
      if (checkpointAt.has(step)) {
        const state: CheckpointState = {
          format: 1,
          step,
          lr,
          tokens: step * tokensPerStep,
          wall_seconds: wallSeconds,
          name: options.name,
          ...options.info,
          run: runIdentity,
        };
        checkpoint = await saveCheckpoint(
          runDir,
          model.layout,
          await model.getParameters(),
          await optimizer.getMoments(),
          state,
        );
        await metrics.flush();
      } else {
        await metrics.flush(2000);
      }
      const elapsed = (performance.now() - start) / 1000;
      const done = step - firstStep + 1;
      options.onStep?.({
        step,
        steps: options.steps,
        firstStep,
        trainLoss,
        evalLoss,
        gradNorm,
        lr,
        tokensPerSecond: (done * tokensPerStep) / elapsed,
        etaSeconds: (elapsed / done) * (options.steps - step),
        checkpoint,
      });
    };

    // The next step is recorded and submitted before this one's loss is read back, so that the GPU
    // is not idle while the host reads, logs and prepares; except after a step whose bookkeeping
    // reads the model, which must see that step's parameters.
    let pending: ReturnType<typeof submitStep> | null = null;
    for (let step = firstStep; step <= lastStep; step++) {
      if (pending && needsModel(pending.step)) {
        await finishStep(pending);
        pending = null;
      }
      const submitted = submitStep(step);
      if (pending) await finishStep(pending);
      pending = submitted;
    }
    if (pending) await finishStep(pending);
    await metrics.flush();
    return {
      runDir,
      step: lastStep,
      losses,
      firstStep,
      wallSeconds: wallOffset + (performance.now() - start) / 1000,
    };
  } finally {
    options.probe?.close?.();
    for (const staging of stagings) staging.destroy();
    optimizer.destroy();
    model.destroy();
  }
}

function describeDifference(saved: unknown, wanted: unknown): string {
  if (typeof saved !== "object" || saved === null || typeof wanted !== "object" || wanted === null) {
    return "no run settings in the checkpoint";
  }
  const differing = Object.keys(wanted as Record<string, unknown>).filter((key) =>
    JSON.stringify((saved as Record<string, unknown>)[key]) !==
      JSON.stringify((wanted as Record<string, unknown>)[key])
  );
  return `differs in ${differing.join(", ") || "field order"}`;
}
