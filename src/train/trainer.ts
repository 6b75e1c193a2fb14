/**
 * The training loop (docs/method.md#training), nanoGPT-small: for each step, the global batch's
 * microbatches accumulate their gradients, then one clipped update of the run's optimizer at lr(step). Checkpoints at every power
 * of two and at the last step, kept; periodic ones (every N steps, every M minutes) and one at an
 * interrupt, each replaced by the next; metrics every step; exact resume from the last checkpoint.
 *
 * Nothing is lost or silently wrong:
 * - one writer per run directory (an OS file lock, src/util/lock.ts); temporaries of a killed run
 *   are removed on start;
 * - metrics are flushed before the checkpoint that covers them is renamed into place, so a kill at
 *   any moment then `resume` keeps every row;
 * - an interrupt (`signal`) finishes the step in flight and writes a checkpoint of it;
 * - divergence: the optimizer kernels skip the update when the gradient norm is not finite (no
 *   extra readback), the host stops at the first step whose loss, gradient norm or eval loss is not
 *   finite, and no checkpoint is written with a non-finite weight or moment.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { GpuError } from "../gpu/device.ts";
import { WorkerPinning } from "../gpu/affinity.ts";
import { deferTicksUntil } from "../gpu/ticks.ts";
import { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { configFileFields, validateConfig } from "../model/config.ts";
import { initParameters, parameterLayout } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { createDirectory, ensureWritableDirectory, writeJsonAtomic } from "../io/atomic.ts";
import { join } from "../util/path.ts";
import { LOCK_FILE, lockDirectory } from "../util/lock.ts";
import type { AdamWOptions } from "./adamw.ts";
import { createOptimizer, optimizerSpecOf, resolveOptimizerOptions } from "./optimizer.ts";
import type { OptimizerOptions, OptimizerSpec } from "./optimizer.ts";
import { learningRate, validateSchedule } from "./schedule.ts";
import type { Schedule } from "./schedule.ts";
import {
  checkpointPath,
  checkpointSteps,
  describeFlatIndex,
  firstNonFinite,
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  removeStaleTemporaries,
  saveCheckpoint,
} from "./checkpoint.ts";
import type { Checkpoint, CheckpointState } from "./checkpoint.ts";
import { MetricsLog } from "./metrics.ts";
import { StepPace } from "./pace.ts";

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
  /** AdamW hyperparameters over `PAPER_ADAMW` (β, eps, weight decay, clipping: every optimizer's). */
  adamw?: AdamWOptions;
  /** The optimizer and its own hyperparameters (default AdamW; docs/method.md#optimizers). */
  optimizer?: OptimizerSpec;
  /** Evaluate on the eval set every this many steps, and at the last step (0 = never). */
  evalEvery?: number;
  /** Continue from the run directory's last checkpoint. */
  resume?: boolean;
  /** Stop after this step as if killed (checkpoints and metrics as written so far, no extra checkpoint). */
  stopAfter?: number;
  /**
   * Interrupts the run (SIGTERM, Ctrl-C: see `listenForInterrupts` in src/train/interrupt.ts): the
   * step in flight is finished, a checkpoint of it written and the metrics flushed, then `train`
   * returns with `interrupted` set. `resume` continues from there exactly.
   */
  signal?: AbortSignal;
  /** Also checkpoint every this many steps, replaced by the next checkpoint (default 1000; 0: never). */
  checkpointEvery?: number;
  /** Also checkpoint when this many minutes passed since the last, replaced by the next (default 30; 0: never). */
  checkpointMinutes?: number;
  /** Receives warnings (a loss rising far above its start); default: printed to stderr. */
  onWarning?: (message: string) => void;
  /** Extra fields for `run.json` and `state.json` (tokenizer, data source, preset…). */
  info?: Record<string, unknown>;
  /** Called after every step (awaited when it returns a promise). */
  onStep?: (progress: StepProgress) => void | Promise<void>;
  /**
   * Called as soon as a checkpoint is renamed into place, before anything else is written (awaited):
   * a kill here must lose nothing, which the tests check.
   */
  onCheckpoint?: (step: number, directory: string) => void | Promise<void>;
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
  /** Why the run stopped early (the abort reason of `signal`, e.g. `"SIGTERM"`), if it was interrupted. */
  interrupted?: string;
  /** The step of the last checkpoint in the run directory when `train` returned (0: none). */
  lastCheckpoint: number;
  /** True when `resume` found the run already finished: nothing was trained or written. */
  alreadyFinished: boolean;
}

/** Default of {@linkcode TrainOptions.checkpointEvery}. */
export const DEFAULT_CHECKPOINT_EVERY = 1000;

/** Default of {@linkcode TrainOptions.checkpointMinutes}. */
export const DEFAULT_CHECKPOINT_MINUTES = 30;

/**
 * Seconds between the metrics file's rewrites during a run (it is also written before every
 * checkpoint and at the end). Each rewrite encodes every row so far.
 */
const METRICS_FLUSH_SECONDS = 10;

/**
 * Fraction of the recent step duration after which the readback of a pipelined step starts polling
 * Dawn (see {@linkcode StepPace}): late enough to skip most ticks, early enough that a step faster
 * than usual is seen within a few ms, while the next step (already queued) keeps the GPU busy.
 */
const POLL_AFTER = 0.9;

/**
 * On a software adapter, the steps (after the session's first) between which lavapipe's workers
 * are recognised by the CPU time they take, then pinned one to a CPU (src/gpu/affinity.ts): after
 * the first steps, which compile the pipelines.
 */
const PIN_WORKERS_AFTER = [3, 8] as const;

/** A loss rising above this multiple of max(its start, ln V) gets a warning. */
export const LOSS_RISE_WARNING = 1.5;

/** The run diverged: a loss, gradient norm or weight stopped being finite. Nothing non-finite was saved. */
export class DivergenceError extends Error {
  /** The step at which it was seen. */
  readonly step: number;
  /** `message` is the one-line explanation with the fix; `step` the step it happened at. */
  constructor(message: string, step: number) {
    super(message);
    this.name = "DivergenceError";
    this.step = step;
  }
}

/** What defines a run's training: see {@linkcode runIdentity}. */
export type RunIdentity = {
  /** The model's shape, defaults filled in. */
  model: Required<ModelConfig>;
  /** Optimizer steps of the whole run. */
  steps: number;
  /** Sequences per global batch. */
  batch: number;
  /** Sequences per microbatch. */
  microbatch: number;
  /** The learning-rate schedule (without totalSteps). */
  schedule: TrainOptions["schedule"];
  /** Initialisation seed. */
  seed: number;
  /** AdamW hyperparameters (β, eps, weight decay and clipping of every optimizer). */
  adamw: Required<AdamWOptions>;
  /** The ablation optimizer and its own settings; absent for AdamW, so AdamW runs read as before. */
  optimizer?: OptimizerSpec;
  /** `TrainingData.describe()`. */
  data: unknown;
};

/**
 * What defines a run's training (model, steps, batch, schedule, seed, optimizer, data): the fields of
 * run.json and of every checkpoint's state that a resume, and a sweep's rerun, must find unchanged.
 */
export function runIdentity(
  options: Pick<TrainOptions, "steps" | "batch" | "microbatch" | "schedule" | "seed" | "data">,
  config: Required<ModelConfig>,
  optimizer: Required<OptimizerOptions>,
): RunIdentity {
  const { beta1, beta2, eps, weightDecay, maxNorm } = optimizer;
  return {
    model: config,
    steps: options.steps,
    batch: options.batch,
    microbatch: options.microbatch,
    schedule: options.schedule,
    seed: options.seed,
    adamw: { beta1, beta2, eps, weightDecay, maxNorm },
    ...(optimizer.kind === "adamw" ? {} : { optimizer: optimizerSpecOf(optimizer) }),
    data: options.data.describe(),
  };
}

/** The optimizer settings of a run: `options.adamw` over the paper's, and `options.optimizer`. */
export function runOptimizerOptions(
  options: Pick<TrainOptions, "adamw" | "optimizer">,
): Required<OptimizerOptions> {
  return resolveOptimizerOptions({ ...options.adamw, ...options.optimizer });
}

/** Validates the shape of a run before anything is allocated or written. */
function validateRun(options: TrainOptions, adamw: Required<OptimizerOptions>): void {
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
  const nonNegative = (value: number | undefined, name: string, integer: boolean) => {
    if (
      value !== undefined && !(value >= 0 && Number.isFinite(value) && (!integer || Number.isInteger(value)))
    ) {
      throw new Error(`zsl: ${name} must be ${integer ? "an integer" : "a number"} ≥ 0, got ${value}`);
    }
  };
  nonNegative(options.evalEvery, "--eval-every", true);
  nonNegative(options.checkpointEvery, "--checkpoint-every", true);
  nonNegative(options.checkpointMinutes, "--checkpoint-minutes", false);
  nonNegative(adamw.weightDecay, "--weight-decay", false);
  nonNegative(adamw.maxNorm, "--clip", false);
  if (!Number.isInteger(options.seed)) throw new Error(`zsl: --seed must be an integer, got ${options.seed}`);
  const decay = options.schedule.peakLr * adamw.weightDecay;
  if (decay >= 1) {
    throw new Error(
      `zsl: --lr ${options.schedule.peakLr} × --weight-decay ${adamw.weightDecay} = ${decay} ≥ 1: the ` +
        `decoupled decay p ← p·(1 − lr·wd) would zero or flip the weights every step; lower --lr or --weight-decay`,
    );
  }
}

/**
 * Trains a model, writing checkpoints and metrics into `options.runDir`.
 *
 * @example
 * ```ts
 * import { openGpu } from "../gpu/mod.ts";
 * import { resolveRun } from "./run.ts";
 * const gpu = await openGpu();
 * const { options } = await resolveRun({ out: "runs/tiny", preset: "tiny", steps: 100, batch: 8 });
 * const result = await train(gpu, options);
 * console.log(result.losses.at(-1));
 * ```
 */
export async function train(gpu: GpuDevice, options: TrainOptions): Promise<TrainResult> {
  const config = validateConfig(options.model);
  const optimizerOptions = runOptimizerOptions(options);
  validateRun(options, optimizerOptions);
  const fresh = await isAbsentOrEmpty(options.runDir);
  await createDirectory(options.runDir);
  // Before anything else in the directory is read or written: another writer's files stay untouched.
  const lock = await lockDirectory(options.runDir, "run directory", "choose another --out");
  try {
    await ensureWritableDirectory(options.runDir);
    return await trainLocked(gpu, options, config, optimizerOptions);
  } catch (error) {
    // A run that failed before its first step leaves no directory behind (a retry starts clean).
    if (fresh) await removeUnstartedRun(options.runDir);
    throw error;
  } finally {
    lock.release();
  }
}

async function isAbsentOrEmpty(directory: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(directory)) return false;
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    return false;
  }
}

/** Removes what a run that never trained a step wrote (run.json, config.json, its lock), and its directory. */
async function removeUnstartedRun(runDir: string): Promise<void> {
  const exists = (name: string) => Deno.stat(join(runDir, name)).then(() => true, () => false);
  if ((await listCheckpoints(runDir)).length > 0 || (await exists("metrics.arrow"))) return;
  for (const name of ["run.json", "config.json", LOCK_FILE]) {
    await Deno.remove(join(runDir, name)).catch(() => {});
  }
  await removeStaleTemporaries(runDir).catch(() => {});
  await Deno.remove(join(runDir, "checkpoints")).catch(() => {});
  await Deno.remove(runDir).catch(() => {}); // only if empty: anything else is not ours
}

/**
 * Loads the checkpoint to resume from; a damaged one names its file and offers the previous
 * checkpoint.
 */
async function loadResumeCheckpoint(
  runDir: string,
  existing: number[],
  layout: ReturnType<typeof parameterLayout>,
): Promise<Checkpoint> {
  const last = existing[existing.length - 1];
  try {
    return await loadCheckpoint(checkpointPath(runDir, last), layout);
  } catch (error) {
    const previous = existing[existing.length - 2];
    const offer = previous !== undefined
      ? `; to resume from the previous checkpoint (step ${previous}), delete ${checkpointPath(runDir, last)}`
      : `; it is the only checkpoint: delete ${runDir} and train again`;
    throw new Error(`${(error as Error).message}${offer}`, { cause: error });
  }
}

async function trainLocked(
  gpu: GpuDevice,
  options: TrainOptions,
  config: Required<ModelConfig>,
  optimizerOptions: Required<OptimizerOptions>,
): Promise<TrainResult> {
  const schedule: Schedule = { ...options.schedule, totalSteps: options.steps };
  const runDir = options.runDir;
  const identity = runIdentity(options, config, optimizerOptions);
  await removeStaleTemporaries(runDir);
  const existing = await listCheckpoints(runDir);
  if (existing.length > 0 && !options.resume) {
    throw new Error(
      `zsl: ${runDir} already holds checkpoints (last: step ${existing[existing.length - 1]}): ` +
        `pass --resume to continue it, or choose another --out`,
    );
  }
  let resumed: Checkpoint | null = null;
  if (options.resume && existing.length > 0) {
    resumed = await loadResumeCheckpoint(runDir, existing, parameterLayout(config));
    const saved = resumed.state.run as RunIdentity | undefined;
    // Configs saved before `arch` existed read as OLMo: compare them with their defaults filled in.
    const withoutData = (run: RunIdentity | undefined) =>
      JSON.stringify({ ...run, data: null, model: run?.model && validateConfig(run.model) });
    if (!saved || withoutData(saved) !== withoutData(identity)) {
      throw new Error(
        `zsl: cannot resume ${runDir}: its checkpoint was made with different settings ` +
          `(${describeDifference(resumed.state.run, identity)}); use the same arguments or another --out`,
      );
    }
    if (!resumed.optimizer) {
      throw new Error(`zsl: cannot resume from ${resumed.directory}: it has no optimizer.safetensors`);
    }
    if (options.data.checkSameData) options.data.checkSameData(saved.data as never);
    else if (JSON.stringify(saved.data) !== JSON.stringify(identity.data)) {
      throw new Error(`zsl: cannot resume ${runDir}: the data differs from the checkpoint's`);
    }
    const last = existing[existing.length - 1];
    if (last >= options.steps) {
      return {
        runDir,
        step: last,
        losses: [],
        firstStep: last + 1,
        wallSeconds: Number(resumed.state.wall_seconds ?? 0),
        lastCheckpoint: last,
        alreadyFinished: true,
      };
    }
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
  const optimizer = await createOptimizer(gpu, model.layout, optimizerOptions, kernels);
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
    if (resumed) {
      const last = resumed.state.step;
      model.setParameters(resumed.parameters);
      optimizer.setState(resumed.optimizer!, `${resumed.directory}/optimizer.safetensors`);
      firstStep = last + 1;
      wallOffset = Number(resumed.state.wall_seconds ?? 0);
      metrics = await MetricsLog.resume(metricsPath, last);
      resumed = null; // the arrays are on the GPU now; let them go
    } else {
      const initial = options.init ?? initParameters(model.layout, options.seed);
      model.setParameters(initial);
      metrics = new MetricsLog(metricsPath);
    }
    await writeJsonAtomic(join(runDir, "run.json"), {
      name: options.name ?? runDir.split("/").filter(Boolean).pop(),
      ...options.info,
      adapter: gpu.adapter,
      ...identity,
    });
    await writeJsonAtomic(join(runDir, "config.json"), configFileFields(config));

    if (options.probe) {
      await options.probe.setup(model, { firstStep, evalTokens: () => options.data.evalSet().tokens });
    }
    const checkpointAt = new Set(checkpointSteps(options.steps));
    const checkpointEvery = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    const checkpointSeconds = 60 * (options.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES);
    let lastCheckpoint = existing.at(-1) ?? 0;
    let lastCheckpointTime = performance.now();
    const warn = options.onWarning ?? ((message: string) => console.error(message));
    // The loss a diverging run rises above: its start (or the uniform guess ln V, if higher).
    const uniformLoss = Math.log(config.vocab_size);
    let lossReference = metrics.rows.length > 0 ? Math.max(metrics.rows[0].train_loss, uniformLoss) : NaN;
    let warnedRise = false;
    const diverged = (step: number, what: string): DivergenceError =>
      new DivergenceError(
        `zsl: training diverged at step ${step}: ${what}; nothing of step ${step} was saved ` +
          `(last checkpoint: ${lastCheckpoint ? `step ${lastCheckpoint}` : "none"}); lower --lr ` +
          `(${options.schedule.peakLr})${options.init ? " or check the --init weights" : ""} and train ` +
          `again in a new --out`,
        step,
      );
    /** Writes step `step`'s checkpoint once the metrics that it covers are durable. */
    const writeCheckpoint = async (step: number, lr: number, wallSeconds: number): Promise<string> => {
      const parameters = await model.getParameters();
      const state = await optimizer.getState();
      const weight = firstNonFinite(parameters);
      if (weight) {
        throw diverged(
          step,
          `the weight ${describeFlatIndex(model.layout, weight.index)} became ${weight.value}`,
        );
      }
      for (const [name, tensor] of state) {
        const bad = firstNonFinite(tensor.data);
        if (bad) throw diverged(step, `the optimizer state ${name}[${bad.index}] became ${bad.value}`);
      }
      // Metrics first: a kill right after the rename below must not lose the rows the checkpoint covers.
      await metrics.flush();
      const checkpointState: CheckpointState = {
        format: 1,
        step,
        lr,
        tokens: step * tokensPerStep,
        wall_seconds: wallSeconds,
        name: options.name,
        ...options.info,
        run: identity,
      };
      const directory = await saveCheckpoint(runDir, model.layout, parameters, state, checkpointState);
      await options.onCheckpoint?.(step, directory);
      await pruneCheckpoints(runDir, checkpointAt, step);
      lastCheckpoint = step;
      lastCheckpointTime = performance.now();
      return directory;
    };
    const tokensPerStep = options.batch * config.seq_len;
    const predictedPerStep = options.batch * (config.seq_len - 1);
    const losses: number[] = [];
    const pace = new StepPace();
    const start = performance.now();
    const lastStep = Math.min(options.steps, options.stopAfter ?? options.steps);
    const microTokens = options.microbatch * config.seq_len;

    // One host copy of the staging values, reused: each read's values are consumed before the next.
    const stagedValues = new Float32Array(Math.max(microbatches, evalChunks) + 1);
    /** The first `count` floats of `staging`; a view of `stagedValues`, valid until the next read. */
    const readStaging = async (count: number, staging = stagings[0]): Promise<Float32Array> => {
      await staging.mapAsync(0x0001);
      gpu.check();
      stagedValues.set(new Float32Array(staging.getMappedRange(0, count * 4)));
      staging.unmap();
      return stagedValues.subarray(0, count);
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
      return { step, lr, staging, submittedAt: performance.now() };
    };
    type SubmittedStep = ReturnType<typeof submitStep>;
    /** Whether step `step` ends with an evaluation of the eval split. */
    const evaluatesAt = (step: number) =>
      options.evalEvery !== undefined && options.evalEvery > 0 &&
      (step % options.evalEvery === 0 || step === options.steps);
    /** Whether a checkpoint of step `step` is due (now: the time and the interrupt change). */
    const checkpointDue = (step: number) =>
      checkpointAt.has(step) || (options.signal?.aborted ?? false) ||
      (checkpointEvery > 0 && step % checkpointEvery === 0) ||
      (checkpointSeconds > 0 && performance.now() - lastCheckpointTime >= checkpointSeconds * 1000);
    /** Whether step `step`'s bookkeeping reads the model (evaluation, probe, checkpoint). */
    const readsModel = (step: number) =>
      evaluatesAt(step) || options.probe !== undefined || checkpointDue(step);
    /**
     * Reads step `submitted.step`'s loss and norm back (the divergence checks), then its metrics,
     * evaluation, probe and checkpoint. With `nextInFlight` (the next step is submitted, so the
     * parameters are no longer this step's) it neither checkpoints nor stops for an interrupt: the
     * next step does. Returns the run's result when an interrupt stops it here.
     */
    const finishStep = async (
      { step, lr, staging, submittedAt }: SubmittedStep,
      nextInFlight: boolean,
    ): Promise<TrainResult | null> => {
      const expected = pace.expectedDone(submittedAt);
      if (nextInFlight && expected !== null) {
        deferTicksUntil(expected - (1 - POLL_AFTER) * pace.medianDuration());
      }
      const values = await readStaging(microbatches + 1, staging);
      pace.record(submittedAt, performance.now());
      let sum = 0;
      for (let micro = 0; micro < microbatches; micro++) sum += values[micro];
      const trainLoss = sum / predictedPerStep;
      const gradNorm = values[microbatches];
      if (!Number.isFinite(trainLoss) || !Number.isFinite(gradNorm)) {
        await metrics.flush();
        throw diverged(step, `the train loss is ${trainLoss} and the gradient norm ${gradNorm}`);
      }
      if (gradNorm === 0) {
        // Exactly zero only when the activations saturated (normalised to 0, every logit equal): a
        // dead model that momentum alone keeps moving.
        await metrics.flush();
        const sits = `the loss sits at ${trainLoss.toFixed(4)}, ln V = ${uniformLoss.toFixed(4)}`;
        throw diverged(step, `the gradient norm is exactly 0 (the weights saturated; ${sits})`);
      }
      if (Number.isNaN(lossReference)) lossReference = Math.max(trainLoss, uniformLoss);
      if (!warnedRise && trainLoss > LOSS_RISE_WARNING * lossReference) {
        warnedRise = true;
        warn(
          `zsl: warning: the train loss at step ${step} is ${trainLoss.toPrecision(4)}, ` +
            `${(trainLoss / lossReference).toFixed(1)}× ${
              lossReference === uniformLoss ? "the uniform guess ln V" : "its start"
            } (${lossReference.toFixed(3)}): the run is diverging; lower --lr (${options.schedule.peakLr})`,
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
      if (evaluatesAt(step)) {
        evalLoss = await evaluate();
        if (!Number.isFinite(evalLoss)) {
          await metrics.flush();
          throw diverged(step, `the eval loss after its update is ${evalLoss}`);
        }
        metrics.set(step, "eval_loss", evalLoss);
      }
      if (options.probe) {
        const values = await options.probe.afterStep(step, model);
        if (values) {
          for (const [column, value] of Object.entries(values)) metrics.set(step, column, value);
        }
      }
      let checkpoint: string | undefined;
      const interrupted = !nextInFlight && (options.signal?.aborted ?? false);
      if (!nextInFlight && checkpointDue(step)) {
        checkpoint = await writeCheckpoint(step, lr, wallSeconds);
      } else {
        await metrics.flush(1000 * METRICS_FLUSH_SECONDS);
      }
      const elapsed = (performance.now() - start) / 1000;
      const done = step - firstStep + 1;
      await options.onStep?.({
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
      if (interrupted) {
        return {
          runDir,
          step,
          losses,
          firstStep,
          wallSeconds: wallOffset + (performance.now() - start) / 1000,
          interrupted: String(options.signal!.reason ?? "interrupt"),
          lastCheckpoint,
          alreadyFinished: false,
        };
      }
      return null;
    };

    // The next step is recorded and submitted before this one's loss is read back, so that the GPU
    // is not idle while the host reads, logs and prepares; except after a step whose bookkeeping
    // reads the model, which must see that step's parameters. An interrupt that comes while the next
    // step is in flight is honoured at that step: it is finished and checkpointed, and the run stops.
    let pending: SubmittedStep | null = null;
    const pinning = gpu.adapter.isSoftware ? WorkerPinning.create() : null;
    for (let step = firstStep; step <= lastStep; step++) {
      if (step === firstStep + PIN_WORKERS_AFTER[0]) pinning?.start();
      if (step === firstStep + PIN_WORKERS_AFTER[1]) pinning?.pin();
      if (pending && readsModel(pending.step)) {
        const stopped = await finishStep(pending, false);
        pending = null;
        if (stopped) return stopped;
      }
      const submitted = submitStep(step);
      if (pending) await finishStep(pending, true);
      pending = submitted;
    }
    if (pending) {
      const stopped = await finishStep(pending, false);
      if (stopped) return stopped;
    }
    await metrics.flush();
    return {
      runDir,
      step: lastStep,
      losses,
      firstStep,
      wallSeconds: wallOffset + (performance.now() - start) / 1000,
      lastCheckpoint,
      alreadyFinished: false,
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
