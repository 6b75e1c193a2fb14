/**
 * AdamW on the GPU (kernels/adamw.wgsl), over a model's flat parameter buffer, with global-norm
 * clipping read from the gradient-norm buffer. Moments live in two flat buffers in the parameter
 * layout.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { createBuffer, readFloats, writeBuffer } from "../gpu/buffers.ts";
import type { Binding } from "../gpu/kernels.ts";
import { grid, Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout } from "../model/parameters.ts";
import { GradNorm } from "../ops/grad_norm.ts";

/** AdamW hyperparameters (defaults: the paper's). */
export interface AdamWOptions {
  /** Decay rate of the first moment (default 0.9). */
  beta1?: number;
  /** Decay rate of the second moment (default 0.95). */
  beta2?: number;
  /** Added to the bias-corrected √(second moment) in the denominator (default 1e-5). */
  eps?: number;
  /** Decoupled weight decay: decaying tensors get `p ← p·(1 − lr·weightDecay)` first (default 0.1). */
  weightDecay?: number;
  /** Global-norm clipping threshold; 0 disables clipping. */
  maxNorm?: number;
}

/** The paper's AdamW settings: β (0.9, 0.95), eps 1e-5, weight decay 0.1, clipping at 1.0. */
export const PAPER_ADAMW: Required<AdamWOptions> = {
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-5,
  weightDecay: 0.1,
  maxNorm: 1.0,
};

/** The optimizer: moments, the gradient-norm op and the per-tensor update pipelines. */
export class AdamW {
  /** The device the moments and pipelines live on. */
  readonly gpu: GpuDevice;
  /** The parameter layout the moments follow (which tensors decay, where each lives). */
  readonly layout: ParameterLayout;
  /** The hyperparameters in use: the given ones over {@linkcode PAPER_ADAMW}. */
  readonly options: Required<AdamWOptions>;
  /** First moments (exp_avg), flat in the parameter layout. */
  readonly expAvg: GPUBuffer;
  /** Second moments (exp_avg_sq), flat in the parameter layout. */
  readonly expAvgSq: GPUBuffer;
  /** The global gradient norm (before clipping) of the last step, one f32. */
  readonly gradNorm: GPUBuffer;
  #hyper: GPUBuffer;
  #norm!: GradNorm;
  #steps: {
    pipeline: GPUComputePipeline;
    bindings: (params: GPUBuffer, grads: GPUBuffer) => Binding[];
    length: number;
  }[] = [];
  #kernels: Kernels;

  private constructor(gpu: GpuDevice, kernels: Kernels, layout: ParameterLayout, options: AdamWOptions) {
    this.gpu = gpu;
    this.#kernels = kernels;
    this.layout = layout;
    this.options = { ...PAPER_ADAMW, ...options };
    this.expAvg = createBuffer(gpu, layout.totalLength * 4, "adamw exp_avg");
    this.expAvgSq = createBuffer(gpu, layout.totalLength * 4, "adamw exp_avg_sq");
    this.gradNorm = createBuffer(gpu, 4, "gradient norm");
    this.#hyper = gpu.device.createBuffer({ label: "adamw hyperparameters", size: 32, usage: 0x40 | 0x08 });
  }

  /** Builds the optimizer for `layout` (moments start at zero). */
  static async create(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: AdamWOptions = {},
    kernels: Kernels = new Kernels(gpu),
  ): Promise<AdamW> {
    const optimizer = new AdamW(gpu, kernels, layout, options);
    optimizer.#norm = await GradNorm.create(kernels, {
      tensors: layout.specs.map((spec) => ({ length: spec.length })),
    });
    for (const spec of layout.specs) {
      const pipeline = await kernels.pipeline("adamw", "adamw_step", { N: spec.length, DECAY: spec.decay });
      const range = (buffer: GPUBuffer): Binding => ({
        buffer,
        offset: spec.offset * 4,
        size: spec.length * 4,
      });
      optimizer.#steps.push({
        pipeline,
        length: spec.length,
        bindings: (params, grads) => [
          range(params),
          range(grads),
          range(optimizer.expAvg),
          range(optimizer.expAvgSq),
          optimizer.#hyper,
          optimizer.gradNorm,
        ],
      });
    }
    return optimizer;
  }

  /**
   * Records the gradient norm and the update of every tensor for AdamW step `t` (1-based count of
   * updates, for the bias corrections) at learning rate `lr`. The hyperparameters are written to
   * the queue now, so record one step per submit.
   */
  record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void {
    const o = this.options;
    const hyper = new Float32Array([
      lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      1 - o.beta1 ** t,
      Math.sqrt(1 - o.beta2 ** t),
      o.maxNorm,
    ]);
    writeBuffer(this.gpu, this.#hyper, hyper);
    this.recordNorm(pass, grads);
    for (const step of this.#steps) {
      this.#kernels.dispatch(pass, step.pipeline, step.bindings(params, grads), grid(step.length, 256));
    }
  }

  /** Records only the global gradient norm into {@linkcode AdamW.gradNorm}. */
  recordNorm(pass: GPUComputePassEncoder, grads: GPUBuffer): void {
    const tensors = this.layout.specs.map((spec): Binding => ({
      buffer: grads,
      offset: spec.offset * 4,
      size: spec.length * 4,
    }));
    this.#norm.record(pass, tensors, this.gradNorm);
  }

  /** Uploads moments (e.g. from a checkpoint), flat in the parameter layout. */
  setMoments(expAvg: Float32Array, expAvgSq: Float32Array): void {
    writeBuffer(this.gpu, this.expAvg, expAvg);
    writeBuffer(this.gpu, this.expAvgSq, expAvgSq);
  }

  /** Reads the moments back. */
  async getMoments(): Promise<{ expAvg: Float32Array; expAvgSq: Float32Array }> {
    return {
      expAvg: await readFloats(this.gpu, this.expAvg),
      expAvgSq: await readFloats(this.gpu, this.expAvgSq),
    };
  }

  /** Frees the optimizer's buffers. */
  destroy(): void {
    for (const buffer of [this.expAvg, this.expAvgSq, this.gradNorm, this.#hyper]) buffer.destroy();
  }
}
