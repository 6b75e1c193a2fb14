/**
 * One step of a run's own optimizer from a checkpoint's state (weights and optimizer state), for the
 * analyses that need the real update (docs/method.md): Δ_t^{t+1} (#one-step), the δ of gradient
 * interference (#gradient-interference) and the loss along the update (#loss-along-the-update).
 *
 * {@linkcode OptimizerStep} holds a training {@linkcode Transformer} (the run's microbatch, gradient of
 * the global-batch mean as in training), the run's {@linkcode Optimizer} and a GPU snapshot of the
 * loaded state: {@linkcode OptimizerStep.reload} restores it with buffer copies, so every analysis
 * batch starts from the very same state. A step records exactly what the trainer records for one step
 * (zero the gradients, every microbatch's forward and backward, then the update with step count t + 1),
 * so with the run's clipping, learning rate and batch it reproduces the trainer's next checkpoint bit
 * for bit; the analyses take it without clipping ({@linkcode analysisOptimizerOptions}).
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { createBuffer, readFloats } from "../gpu/buffers.ts";
import { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { Transformer } from "../model/transformer.ts";
import type { Tensor } from "../io/safetensors.ts";
import { modelTokenLosses } from "../model/token_losses.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { createOptimizer, resolveOptimizerOptions } from "./optimizer.ts";
import type { Optimizer, OptimizerOptions } from "./optimizer.ts";

/** Options of {@linkcode OptimizerStep.create}. */
export interface OptimizerStepOptions {
  /** Sequences of a step (the run's global batch). */
  batch: number;
  /** Sequences per forward (the run's microbatch; divides `batch`). */
  microbatch: number;
  /** The optimizer and its settings (the run's: `LoadedRun.optimizer`, e.g. through {@linkcode analysisOptimizerOptions}). */
  optimizer: OptimizerOptions;
  /** Pipeline cache to share (default: a new one for `gpu`). */
  kernels?: Kernels;
}

/** A state to step from: flat parameters (layout order) and the optimizer's `<tensor>.<state>` tensors. */
export interface StepState {
  /** Flat parameters, `layout.totalLength` floats. */
  parameters: Float32Array;
  /** The optimizer state as in `optimizer.safetensors` (a checkpoint's `optimizer`). */
  optimizer: Map<string, Tensor>;
}

/**
 * The run's optimizer settings as the paper's one-step analyses take them: the same optimizer and
 * hyperparameters, without gradient clipping.
 */
export function analysisOptimizerOptions(runOptimizer: OptimizerOptions): Required<OptimizerOptions> {
  return { ...resolveOptimizerOptions(runOptimizer), maxNorm: 0 };
}

/**
 * The state of a loaded checkpoint to step from. Throws when the checkpoint has no
 * `optimizer.safetensors`, naming the directory and `fix` (what the caller can do instead).
 */
export function checkpointStepState(checkpoint: Checkpoint, fix: string): StepState {
  if (!checkpoint.optimizer) {
    throw new Error(
      `zsl: ${checkpoint.directory} has no optimizer.safetensors: the one step needs the optimizer state (${fix})`,
    );
  }
  return { parameters: checkpoint.parameters, optimizer: checkpoint.optimizer };
}

/** One step of a run's optimizer from a loaded state, on the GPU. */
export class OptimizerStep {
  /** The device holding the model, the optimizer and the snapshot. */
  readonly gpu: GpuDevice;
  /** Training model: `microbatch` sequences per forward, gradient of the `batch` mean. */
  readonly model: Transformer;
  /** The run's optimizer. */
  readonly optimizer: Optimizer;
  /** Sequences per step. */
  readonly batch: number;
  /** Sequences per forward. */
  readonly microbatch: number;
  #snapshot: GPUBuffer[];
  #trainLosses: GPUBuffer;
  #loaded = false;

  private constructor(
    gpu: GpuDevice,
    model: Transformer,
    optimizer: Optimizer,
    batch: number,
    microbatch: number,
  ) {
    this.gpu = gpu;
    this.model = model;
    this.optimizer = optimizer;
    this.batch = batch;
    this.microbatch = microbatch;
    this.#snapshot = this.#live().map((buffer) =>
      createBuffer(gpu, buffer.size, `step snapshot: ${buffer.label}`)
    );
    this.#trainLosses = createBuffer(gpu, batch * model.config.seq_len * 4, "step batch token losses");
  }

  /** Builds the model and the optimizer (`options.optimizer`) for a run's batch and microbatch. */
  static async create(
    gpu: GpuDevice,
    config: ModelConfig,
    options: OptimizerStepOptions,
  ): Promise<OptimizerStep> {
    const { batch, microbatch } = options;
    if (
      !Number.isInteger(batch) || !Number.isInteger(microbatch) || microbatch < 1 || batch % microbatch !== 0
    ) {
      throw new Error(`zsl: the step's batch ${batch} is not a multiple of the microbatch ${microbatch}`);
    }
    const kernels = options.kernels ?? new Kernels(gpu);
    const model = await Transformer.create(
      gpu,
      config,
      { batch: microbatch, globalBatch: batch, lossSlots: batch / microbatch },
      kernels,
    );
    const optimizer = await createOptimizer(gpu, model.layout, options.optimizer, kernels);
    return new OptimizerStep(gpu, model, optimizer, batch, microbatch);
  }

  /** The buffers a step changes: the parameters and the optimizer's state. */
  #live(): GPUBuffer[] {
    return [this.model.parameters, ...this.optimizer.stateBuffers()];
  }

  #copy(from: GPUBuffer[], to: GPUBuffer[]): void {
    const encoder = this.gpu.device.createCommandEncoder();
    from.forEach((buffer, i) => encoder.copyBufferToBuffer(buffer, 0, to[i], 0, buffer.size));
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Loads a state (e.g. a checkpoint's parameters and optimizer tensors) and snapshots it on the GPU. */
  load(state: StepState, source = "the optimizer state"): void {
    this.model.setParameters(state.parameters);
    this.optimizer.setState(state.optimizer, source);
    this.#copy(this.#live(), this.#snapshot);
    this.#loaded = true;
  }

  /** Restores the loaded parameters and optimizer state (on the GPU). */
  reload(): void {
    if (!this.#loaded) throw new Error("zsl: OptimizerStep.reload before load: load a checkpoint first");
    this.#copy(this.#snapshot, this.#live());
  }

  /**
   * Reloads the state, then takes one step on `tokens` (the global batch, row-major) with update count
   * `updates` (the checkpoint's step + 1) at learning rate `lr`. Returns the batch's per-token losses
   * before the step ([batch, T − 1] flattened), their mean, and the global gradient norm before any
   * clipping.
   */
  async step(
    tokens: Uint32Array,
    updates: number,
    lr: number,
  ): Promise<{ before: Float32Array; meanLoss: number; gradNorm: number }> {
    const T = this.model.config.seq_len;
    if (tokens.length !== this.batch * T) {
      throw new Error(`zsl: a step's batch has ${tokens.length} tokens, expected ${this.batch} × ${T}`);
    }
    if (!Number.isInteger(updates) || updates < 1) {
      throw new Error(`zsl: the step count must be an integer ≥ 1`);
    }
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

  /** Per-token losses ([sequences, T − 1] flattened) of the current parameters on whole sequences. */
  losses(tokens: Uint32Array): Promise<Float32Array> {
    return modelTokenLosses(this.model, tokens);
  }

  /** The update δ = θ_after − θ_loaded of the last step (flat, layout order). */
  async update(): Promise<Float32Array> {
    if (!this.#loaded) throw new Error("zsl: OptimizerStep.update before load: load a checkpoint first");
    const after = await readFloats(this.gpu, this.model.parameters);
    const before = await readFloats(this.gpu, this.#snapshot[0]);
    return after.map((value, i) => value - before[i]);
  }

  /** The current parameters and optimizer state. */
  async state(): Promise<StepState> {
    return { parameters: await this.model.getParameters(), optimizer: await this.optimizer.getState() };
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    for (const buffer of this.#snapshot) buffer.destroy();
    this.#trainLosses.destroy();
    this.optimizer.destroy();
    this.model.destroy();
  }
}
