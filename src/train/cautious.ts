/**
 * Cautious AdamW (docs/method.md#optimizers) on the GPU (`kernels/cautious.wgsl`): AdamW whose update keeps only the
 * coordinates where the new first moment and the gradient agree in sign, rescaled by the inverse of
 * the kept fraction of each tensor (at most 1000×). States `exp_avg`, `exp_avg_sq`.
 *
 * @module
 */
import type { Binding } from "../gpu/kernels.ts";
import type { ParameterSpec } from "../model/parameters.ts";
import { SumReduce } from "../ops/cross_entropy.ts";
import { adamStepTail } from "./adamw.ts";
import { FlatStateOptimizer } from "./flat_state.ts";
import type { OptimizerTarget, TensorWork } from "./flat_state.ts";

/** Bytes between the per-tensor mask counts (a binding offset must be aligned on every adapter). */
const SLOT_BYTES = 256;

interface TensorStep extends TensorWork {
  moments: GPUComputePipeline;
  update: GPUComputePipeline;
  count: SumReduce;
}

/**
 * Cautious AdamW over a flat parameter buffer: built by `createOptimizer` (`optimizer.ts`) with
 * `kind: "cautious"`.
 */
export class CautiousAdamW extends FlatStateOptimizer {
  /** Always `cautious`. */
  readonly kind = "cautious" as const;
  #steps: TensorStep[] = [];
  #mask: GPUBuffer;
  #counts: GPUBuffer;

  private constructor(target: OptimizerTarget) {
    super(target, ["exp_avg", "exp_avg_sq"], 8, "cautious");
    const { layout } = target;
    this.#mask = this.buffer(Math.max(...layout.specs.map((spec) => spec.length)), "cautious mask");
    this.#counts = this.buffer((layout.specs.length * SLOT_BYTES) / 4, "cautious mask counts");
  }

  /** Builds the optimizer for `target.layout` (moments at zero). */
  static async create(target: OptimizerTarget): Promise<CautiousAdamW> {
    const { layout, kernels } = target;
    const optimizer = new CautiousAdamW(target);
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
        workgroups: optimizer.tensorGrid(spec),
      });
    }
    return optimizer;
  }

  stateNames(_spec: ParameterSpec): readonly string[] {
    return ["exp_avg", "exp_avg_sq"];
  }

  protected hyperparameters(t: number, lr: number): Float32Array {
    const o = this.options;
    return new Float32Array([lr, o.beta1, o.beta2, ...adamStepTail(o, t)]);
  }

  protected recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void {
    const expAvg = this.states.get("exp_avg")!;
    const expAvgSq = this.states.get("exp_avg_sq")!;
    for (const [index, step] of this.#steps.entries()) {
      const { spec } = step;
      const mask: Binding = { buffer: this.#mask, offset: 0, size: spec.length * 4 };
      const count: Binding = { buffer: this.#counts, offset: index * SLOT_BYTES, size: 4 };
      this.kernels.dispatch(pass, step.moments, [
        ...this.ranges(spec, grads, expAvg, expAvgSq),
        mask,
        this.hyper,
        this.gradNorm,
      ], step.workgroups);
      step.count.record(pass, mask, count);
      this.kernels.dispatch(pass, step.update, [
        ...this.ranges(spec, params, grads, expAvg, expAvgSq),
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
