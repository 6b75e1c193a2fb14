/**
 * Δ_t^{t+1} (docs/method.md#one-step): one AdamW step from a checkpoint, with its optimizer state, on a batch
 * training never saw, and the per-token losses before and after it.
 *
 * {@linkcode OneStep} holds a training {@linkcode Transformer} (microbatch = the run's, gradient of
 * the global-batch mean as in training) and an {@linkcode AdamW}, plus a GPU snapshot of the loaded
 * checkpoint (weights and both moments): {@linkcode OneStep.reload} restores it with three buffer
 * copies, so every analysis batch starts from the very same state (the authors' code did not
 * reload, so its eval numbers accumulated several steps).
 *
 * The step records exactly what the trainer records for one step (zero the gradients, every
 * microbatch's forward and backward, then the AdamW update with step count t + 1), so with the
 * trainer's clipping, learning rate and batch it reproduces the trainer's next checkpoint.
 *
 * @module
 */
import type { GpuDevice } from "../../gpu/device.ts";
import { createBuffer, readFloats } from "../../gpu/buffers.ts";
import { Kernels } from "../../gpu/kernels.ts";
import type { ModelConfig } from "../../model/config.ts";
import { Transformer } from "../../model/transformer.ts";
import { AdamW } from "../../train/adamw.ts";
import type { AdamWOptions } from "../../train/adamw.ts";
import { learningRate } from "../../train/schedule.ts";
import type { Schedule } from "../../train/schedule.ts";
import { modelTokenLosses } from "../../model/token_losses.ts";
import type { TokenLossOptions } from "../../model/token_losses.ts";

/** Options of {@linkcode OneStep.create}. */
export interface OneStepOptions {
  /** Sequences of the analysis batch (the run's global batch). */
  batch: number;
  /** Sequences per forward (the run's microbatch; divides `batch`). */
  microbatch: number;
  /** AdamW settings (β, eps, weight decay: the run's). `maxNorm` defaults to 0: no clipping, as the paper. */
  adamw?: AdamWOptions;
  /** Pipeline cache to share (default: a new one for `gpu`). */
  kernels?: Kernels;
}

/** Model state to start every step from: flat parameters and AdamW moments in layout order. */
export interface OptimizerState {
  /** Flat parameters, `layout.totalLength` floats. */
  parameters: Float32Array;
  /** AdamW first moment (exp_avg), same layout. */
  expAvg: Float32Array;
  /** AdamW second moment (exp_avg_sq), same layout. */
  expAvgSq: Float32Array;
}

/** One-step probe of a checkpoint on the GPU. */
export class OneStep {
  /** The device holding the model, the optimizer and the snapshot. */
  readonly gpu: GpuDevice;
  /** Training model: `microbatch` sequences per forward, gradient of the `batch` mean. */
  readonly model: Transformer;
  /** AdamW over the model's parameters (no clipping unless `adamw.maxNorm` was given). */
  readonly optimizer: AdamW;
  /** Sequences per step (the run's global batch). */
  readonly batch: number;
  /** Sequences per forward (divides `batch`). */
  readonly microbatch: number;
  #snapshot: { parameters: GPUBuffer; expAvg: GPUBuffer; expAvgSq: GPUBuffer };
  #trainLosses: GPUBuffer;
  #loaded = false;

  private constructor(
    gpu: GpuDevice,
    model: Transformer,
    optimizer: AdamW,
    batch: number,
    microbatch: number,
  ) {
    this.gpu = gpu;
    this.model = model;
    this.optimizer = optimizer;
    this.batch = batch;
    this.microbatch = microbatch;
    const bytes = model.layout.totalLength * 4;
    this.#snapshot = {
      parameters: createBuffer(gpu, bytes, "one-step snapshot: parameters"),
      expAvg: createBuffer(gpu, bytes, "one-step snapshot: exp_avg"),
      expAvgSq: createBuffer(gpu, bytes, "one-step snapshot: exp_avg_sq"),
    };
    this.#trainLosses = createBuffer(gpu, batch * model.config.seq_len * 4, "one-step batch token losses");
  }

  /** Builds the model and optimizer for a run's batch and microbatch. */
  static async create(gpu: GpuDevice, config: ModelConfig, options: OneStepOptions): Promise<OneStep> {
    const { batch, microbatch } = options;
    if (
      !Number.isInteger(batch) || !Number.isInteger(microbatch) || microbatch < 1 || batch % microbatch !== 0
    ) {
      throw new Error(`zsl: the one-step batch ${batch} is not a multiple of the microbatch ${microbatch}`);
    }
    const kernels = options.kernels ?? new Kernels(gpu);
    const model = await Transformer.create(
      gpu,
      config,
      { batch: microbatch, globalBatch: batch, lossSlots: batch / microbatch },
      kernels,
    );
    const optimizer = await AdamW.create(gpu, model.layout, { maxNorm: 0, ...options.adamw }, kernels);
    return new OneStep(gpu, model, optimizer, batch, microbatch);
  }

  /** Loads a checkpoint's state into the model, the optimizer and the snapshot every step starts from. */
  load(state: OptimizerState): void {
    this.model.setParameters(state.parameters);
    this.optimizer.setMoments(state.expAvg, state.expAvgSq);
    const encoder = this.gpu.device.createCommandEncoder();
    const bytes = this.model.layout.totalLength * 4;
    encoder.copyBufferToBuffer(this.model.parameters, 0, this.#snapshot.parameters, 0, bytes);
    encoder.copyBufferToBuffer(this.optimizer.expAvg, 0, this.#snapshot.expAvg, 0, bytes);
    encoder.copyBufferToBuffer(this.optimizer.expAvgSq, 0, this.#snapshot.expAvgSq, 0, bytes);
    this.gpu.device.queue.submit([encoder.finish()]);
    this.#loaded = true;
  }

  /** Restores the loaded weights and moments (on the GPU). */
  reload(): void {
    if (!this.#loaded) throw new Error("zsl: OneStep.reload before load: load a checkpoint first");
    const encoder = this.gpu.device.createCommandEncoder();
    const bytes = this.model.layout.totalLength * 4;
    encoder.copyBufferToBuffer(this.#snapshot.parameters, 0, this.model.parameters, 0, bytes);
    encoder.copyBufferToBuffer(this.#snapshot.expAvg, 0, this.optimizer.expAvg, 0, bytes);
    encoder.copyBufferToBuffer(this.#snapshot.expAvgSq, 0, this.optimizer.expAvgSq, 0, bytes);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /**
   * Reloads the checkpoint, then takes one AdamW step on `tokens` (the global batch, row-major)
   * with update count `updates` (the checkpoint's step + 1, for the bias corrections) at learning
   * rate `lr`. Returns the batch's per-token losses before the step ([batch, T − 1] flattened),
   * the loss the gradient was taken of, and the global gradient norm before any clipping.
   */
  async step(
    tokens: Uint32Array,
    updates: number,
    lr: number,
  ): Promise<{ before: Float32Array; meanLoss: number; gradNorm: number }> {
    const T = this.model.config.seq_len;
    if (tokens.length !== this.batch * T) {
      throw new Error(`zsl: one-step batch of ${tokens.length} tokens, expected ${this.batch} × ${T}`);
    }
    if (!Number.isInteger(updates) || updates < 1) throw new Error(`zsl: the AdamW step count must be ≥ 1`);
    this.reload();
    const micro = this.microbatch * T;
    const count = this.batch / this.microbatch;
    for (let m = 0; m < count; m++) {
      this.model.setTokens(tokens.subarray(m * micro, (m + 1) * micro));
      const encoder = this.gpu.device.createCommandEncoder();
      if (m === 0) this.model.zeroGradients(encoder);
      const pass = encoder.beginComputePass();
      this.model.record(pass, { backward: true, slot: m });
      if (m === count - 1) {
        this.optimizer.record(pass, this.model.parameters, this.model.gradients!, updates, lr);
      }
      pass.end();
      encoder.copyBufferToBuffer(this.model.losses, 0, this.#trainLosses, m * micro * 4, micro * 4);
      this.gpu.device.queue.submit([encoder.finish()]);
    }
    const rows = await readFloats(this.gpu, this.#trainLosses);
    const before = new Float32Array(this.batch * (T - 1));
    let sum = 0;
    for (let k = 0; k < this.batch; k++) {
      const row = rows.subarray(k * T, k * T + T - 1);
      before.set(row, k * (T - 1));
      for (const value of row) sum += value;
    }
    const gradNorm = (await readFloats(this.gpu, this.optimizer.gradNorm, 0, 1))[0];
    return { before, meanLoss: sum / before.length, gradNorm };
  }

  /** Per-token losses of the model's current parameters on whole sequences `tokens`. */
  losses(tokens: Uint32Array, options?: TokenLossOptions): Promise<Float32Array> {
    return modelTokenLosses(this.model, tokens, options);
  }

  /** Reads the current parameters and moments (tests). */
  async state(): Promise<OptimizerState> {
    const moments = await this.optimizer.getMoments();
    return { parameters: await this.model.getParameters(), ...moments };
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    for (const buffer of Object.values(this.#snapshot)) buffer.destroy();
    this.#trainLosses.destroy();
    this.optimizer.destroy();
    this.model.destroy();
  }
}

/** How the one-step learning rate is chosen. */
export type OneStepLr =
  /** lr(t), the schedule's rate at the checkpoint's step (the paper's choice). */
  | "checkpoint"
  /** lr(t + 1), the rate the trainer used for the next update. */
  | "next"
  /** The schedule's peak rate. */
  | "peak"
  /** A fixed rate. */
  | number;

/**
 * The learning rate of the one step from checkpoint `t`: by `choice` (default the paper's lr(t)),
 * the peak LR where the chosen rate is 0 (the end of a decay, or no warmup start).
 */
export function oneStepLearningRate(schedule: Schedule, t: number, choice: OneStepLr = "checkpoint"): number {
  let lr: number;
  if (typeof choice === "number") lr = choice;
  else if (choice === "checkpoint") lr = learningRate(schedule, t);
  else if (choice === "next") lr = learningRate(schedule, t + 1);
  else if (choice === "peak") lr = schedule.peakLr;
  else {throw new Error(
      `zsl: unknown one-step learning rate "${choice}": use checkpoint, next, peak or a number`,
    );}
  return lr > 0 ? lr : schedule.peakLr;
}
