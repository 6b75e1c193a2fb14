/**
 * AdamW on the GPU (kernels/adamw.wgsl), over a model's flat parameter buffer, with global-norm
 * clipping read from the gradient-norm buffer. Moments live in two flat buffers in the parameter
 * layout.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { createBuffer, readFloats, uploadBuffer, writeBuffer } from "../gpu/buffers.ts";
import type { Binding } from "../gpu/kernels.ts";
import { grid, Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout } from "../model/parameters.ts";
import { GradNorm } from "../ops/grad_norm.ts";
import { defaultRowVariant, type RowVariant } from "../ops/rmsnorm.ts";

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

/**
 * The hyperparameters every Adam-type kernel reads after its own rates, for step `t`: eps, weight
 * decay, the bias corrections 1 − β1^t and √(1 − β2^t), and the clipping threshold.
 */
export function adamStepTail(options: Required<AdamWOptions>, t: number): number[] {
  const o = options;
  return [o.eps, o.weightDecay, 1 - o.beta1 ** t, Math.sqrt(1 - o.beta2 ** t), o.maxNorm];
}

/** The optimizer: moments, the gradient-norm op and the update pipelines. */
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
  #decayBlocks: GPUBuffer;
  #norm!: GradNorm;
  #pieces: { pipeline: GPUComputePipeline; start: number; length: number; workgroups: [number, number] }[] =
    [];
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
    // One flag per 64-float block: tensors start at 256-byte boundaries, so no block spans two tensors.
    const blocks = new Uint32Array(Math.ceil(layout.totalLength / BLOCK));
    for (const spec of layout.specs) {
      if (!spec.decay) continue;
      blocks.fill(1, spec.offset / BLOCK, Math.ceil((spec.offset + spec.length) / BLOCK));
    }
    this.#decayBlocks = uploadBuffer(gpu, blocks, "adamw decay blocks");
  }

  /**
   * Builds the optimizer for `layout` (moments start at zero). `variant` picks the kernel (default by
   * adapter): `serial` (software adapters) updates a 64-float block per invocation, `workgroup` (GPUs)
   * four floats per invocation.
   */
  static async create(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: AdamWOptions = {},
    kernels: Kernels = new Kernels(gpu),
    variant: RowVariant = defaultRowVariant(kernels),
  ): Promise<AdamW> {
    if (layout.totalLength % BLOCK !== 0 || layout.specs.some((spec) => spec.offset % BLOCK !== 0)) {
      throw new RangeError("zsl: AdamW needs a parameter layout whose tensors start at 256-byte boundaries");
    }
    const optimizer = new AdamW(gpu, kernels, layout, options);
    // The whole flat gradient buffer: the padding between tensors is zero, so it adds nothing.
    optimizer.#norm = await GradNorm.create(kernels, { tensors: [{ length: layout.totalLength }] });
    // Pieces within the binding limit, each a whole number of 256-byte runs of decay flags.
    const unit = BLOCK * 64;
    const maxPiece = Math.max(unit, Math.floor(gpu.limits.maxStorageBufferBindingSize / 4 / unit) * unit);
    for (let start = 0; start < layout.totalLength; start += maxPiece) {
      const length = Math.min(maxPiece, layout.totalLength - start);
      if (variant === "serial") {
        const pipeline = await kernels.pipeline("adamw", "adamw_step_blocks", { N4: length / 4, WG: 64 });
        optimizer.#pieces.push({ pipeline, start, length, workgroups: grid(length / BLOCK, 64) });
      } else {
        const pipeline = await kernels.pipeline("adamw", "adamw_step", { N4: length / 4 });
        optimizer.#pieces.push({ pipeline, start, length, workgroups: grid(length / 4, 256) });
      }
    }
    return optimizer;
  }

  /**
   * Records the gradient norm and the update of every parameter for AdamW step `t` (1-based count of
   * updates, for the bias corrections) at learning rate `lr`. The hyperparameters are written to
   * the queue now, so record one step per submit. A non-finite gradient norm skips the update on the
   * GPU (parameters and moments unchanged); {@linkcode AdamW.gradNorm} then holds that norm.
   */
  record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void {
    const o = this.options;
    writeBuffer(this.gpu, this.#hyper, new Float32Array([lr, o.beta1, o.beta2, ...adamStepTail(o, t)]));
    this.recordNorm(pass, grads);
    for (const piece of this.#pieces) {
      const range = (buffer: GPUBuffer): Binding => ({
        buffer,
        offset: piece.start * 4,
        size: piece.length * 4,
      });
      this.#kernels.dispatch(pass, piece.pipeline, [
        range(params),
        range(grads),
        range(this.expAvg),
        range(this.expAvgSq),
        this.#hyper,
        this.gradNorm,
        {
          buffer: this.#decayBlocks,
          offset: piece.start / BLOCK * 4,
          size: Math.ceil(piece.length / BLOCK) * 4,
        },
      ], piece.workgroups);
    }
  }

  /** Records only the global gradient norm into {@linkcode AdamW.gradNorm}. */
  recordNorm(pass: GPUComputePassEncoder, grads: GPUBuffer): void {
    this.#norm.record(pass, [{ buffer: grads, offset: 0, size: this.layout.totalLength * 4 }], this.gradNorm);
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
    for (const buffer of [this.expAvg, this.expAvgSq, this.gradNorm, this.#hyper, this.#decayBlocks]) {
      buffer.destroy();
    }
    this.#norm.destroy();
  }
}

/** Floats per decay flag: 256 bytes, the alignment of every tensor in the flat buffer. */
const BLOCK = 64;
