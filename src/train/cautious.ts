/**
 * Cautious AdamW (docs/method.md#optimizers) on the GPU (`kernels/cautious.wgsl`): AdamW whose update keeps only the
 * coordinates where the new first moment and the gradient agree in sign, rescaled by the inverse of
 * the kept fraction of each tensor (at most 1000×). States `exp_avg`, `exp_avg_sq`.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout, ParameterSpec } from "../model/parameters.ts";
import { SumReduce } from "../ops/cross_entropy.ts";
import { FlatStateOptimizer } from "./flat_state.ts";
import type { OptimizerOptions } from "./optimizer.ts";

/** Bytes between the per-tensor mask counts (a binding offset must be aligned on every adapter). */
const SLOT_BYTES = 256;

interface TensorStep {
  spec: ParameterSpec;
  moments: GPUComputePipeline;
  update: GPUComputePipeline;
  count: SumReduce;
  workgroups: [number, number];
}

/**
 * Cautious AdamW over a flat parameter buffer.
 *
 * @example
 * ```ts
 * import type { GpuDevice, Kernels } from "../gpu/mod.ts";
 * import type { ParameterLayout } from "../model/mod.ts";
 * import { resolveOptimizerOptions } from "./optimizer.ts";
 * declare const gpu: GpuDevice, kernels: Kernels, layout: ParameterLayout, pass: GPUComputePassEncoder;
 * declare const parameters: GPUBuffer, gradients: GPUBuffer, step: number, lr: number;
 * const optimizer = await CautiousAdamW.create(gpu, layout, resolveOptimizerOptions({ kind: "cautious" }), kernels);
 * optimizer.record(pass, parameters, gradients, step, lr);
 * ```
 */
export class CautiousAdamW extends FlatStateOptimizer {
  /** Always `cautious`. */
  readonly kind = "cautious" as const;
  #steps: TensorStep[] = [];
  #mask: GPUBuffer;
  #counts: GPUBuffer;

  private constructor(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: Required<OptimizerOptions>,
    kernels: Kernels,
  ) {
    super(gpu, layout, options, kernels, ["exp_avg", "exp_avg_sq"], 8, "cautious");
    this.#mask = this.buffer(Math.max(...layout.specs.map((spec) => spec.length)), "cautious mask");
    this.#counts = this.buffer((layout.specs.length * SLOT_BYTES) / 4, "cautious mask counts");
  }

  /** Builds the optimizer for `layout` (moments at zero). */
  static async create(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: Required<OptimizerOptions>,
    kernels: Kernels,
  ): Promise<CautiousAdamW> {
    const optimizer = new CautiousAdamW(gpu, layout, options, kernels);
    await optimizer.initNorm();
    const sums = new Map<number, SumReduce>();
    for (const spec of layout.specs) {
      const constants = { N: spec.length, DECAY: spec.decay };
      let count = sums.get(spec.length);
      if (!count) {
        count = await SumReduce.create(kernels, { n: spec.length });
        sums.set(spec.length, count);
      }
      optimizer.#steps.push({
        spec,
        moments: await kernels.pipeline("cautious", "cautious_moments", constants),
        update: await kernels.pipeline("cautious", "cautious_update", constants),
        count,
        workgroups: grid(spec.length, 256, gpu.limits.maxComputeWorkgroupsPerDimension),
      });
    }
    return optimizer;
  }

  stateNames(_spec: ParameterSpec): readonly string[] {
    return ["exp_avg", "exp_avg_sq"];
  }

  protected hyperparameters(t: number, lr: number): Float32Array {
    const o = this.options;
    return new Float32Array([
      lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      1 - o.beta1 ** t,
      Math.sqrt(1 - o.beta2 ** t),
      o.maxNorm,
    ]);
  }

  protected recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void {
    const expAvg = this.states.get("exp_avg")!;
    const expAvgSq = this.states.get("exp_avg_sq")!;
    for (const [index, step] of this.#steps.entries()) {
      const { spec } = step;
      const mask: Binding = { buffer: this.#mask, offset: 0, size: spec.length * 4 };
      const count: Binding = { buffer: this.#counts, offset: index * SLOT_BYTES, size: 4 };
      this.kernels.dispatch(pass, step.moments, [
        this.range(grads, spec),
        this.range(expAvg, spec),
        this.range(expAvgSq, spec),
        mask,
        this.hyper,
        this.gradNorm,
      ], step.workgroups);
      step.count.record(pass, mask, count);
      this.kernels.dispatch(pass, step.update, [
        this.range(params, spec),
        this.range(grads, spec),
        this.range(expAvg, spec),
        this.range(expAvgSq, spec),
        this.hyper,
        this.gradNorm,
        count,
      ], step.workgroups);
    }
  }

  override destroy(): void {
    for (const count of new Set(this.#steps.map((step) => step.count))) count.destroy();
    super.destroy();
  }
}
