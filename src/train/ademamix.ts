/**
 * AdEMAMix (docs/method.md#optimizers) on the GPU (`kernels/ademamix.wgsl`): Adam's fast first moment mixed with a
 * slow EMA (decay β3, weight α), both warmed up over T steps. States `exp_avg_fast`, `exp_avg_slow`,
 * `exp_avg_sq`.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { grid } from "../gpu/kernels.ts";
import type { Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout, ParameterSpec } from "../model/parameters.ts";
import { FlatStateOptimizer } from "./flat_state.ts";
import type { OptimizerOptions } from "./optimizer.ts";

/**
 * α_t and β3_t at step t (docs/method.md#optimizers): α rises linearly to α over T steps, β3 moves from β1 to β3
 * linearly in f(β) = ln 0.5 / ln β − 1 (the half-life); T = 0 or t ≥ T gives the final values.
 */
export function ademamixSchedule(
  t: number,
  options: { ademamixAlpha: number; ademamixBeta3: number; ademamixWarmup: number; beta1: number },
): { alpha: number; beta3: number } {
  const T = options.ademamixWarmup;
  if (T <= 0 || t >= T) return { alpha: options.ademamixAlpha, beta3: options.ademamixBeta3 };
  const f = (beta: number) => Math.log(0.5) / Math.log(beta) - 1;
  const fInverse = (h: number) => 0.5 ** (1 / (h + 1));
  const a = t / T;
  return {
    alpha: Math.min((t * options.ademamixAlpha) / T, options.ademamixAlpha),
    beta3: fInverse((1 - a) * f(options.beta1) + a * f(options.ademamixBeta3)),
  };
}

/**
 * AdEMAMix over a flat parameter buffer.
 *
 * @example
 * ```ts
 * import type { GpuDevice, Kernels } from "../gpu/mod.ts";
 * import type { ParameterLayout } from "../model/mod.ts";
 * import { resolveOptimizerOptions } from "./optimizer.ts";
 * declare const gpu: GpuDevice, kernels: Kernels, layout: ParameterLayout, pass: GPUComputePassEncoder;
 * declare const parameters: GPUBuffer, gradients: GPUBuffer, step: number, lr: number;
 * const optimizer = await AdEMAMix.create(gpu, layout, resolveOptimizerOptions({ kind: "ademamix" }), kernels);
 * optimizer.record(pass, parameters, gradients, step, lr);
 * ```
 */
export class AdEMAMix extends FlatStateOptimizer {
  /** Always `ademamix`. */
  readonly kind = "ademamix" as const;
  #steps: { spec: ParameterSpec; pipeline: GPUComputePipeline; workgroups: [number, number] }[] = [];

  private constructor(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: Required<OptimizerOptions>,
    kernels: Kernels,
  ) {
    super(gpu, layout, options, kernels, ["exp_avg_fast", "exp_avg_slow", "exp_avg_sq"], 13, "ademamix");
  }

  /** Builds the optimizer for `layout` (state at zero). */
  static async create(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: Required<OptimizerOptions>,
    kernels: Kernels,
  ): Promise<AdEMAMix> {
    const optimizer = new AdEMAMix(gpu, layout, options, kernels);
    await optimizer.initNorm();
    for (const spec of layout.specs) {
      optimizer.#steps.push({
        spec,
        pipeline: await kernels.pipeline("ademamix", "ademamix_step", { N: spec.length, DECAY: spec.decay }),
        workgroups: grid(spec.length, 256, gpu.limits.maxComputeWorkgroupsPerDimension),
      });
    }
    return optimizer;
  }

  stateNames(_spec: ParameterSpec): readonly string[] {
    return ["exp_avg_fast", "exp_avg_slow", "exp_avg_sq"];
  }

  protected hyperparameters(t: number, lr: number): Float32Array {
    const o = this.options;
    const { alpha, beta3 } = ademamixSchedule(t, o);
    return new Float32Array([
      lr,
      o.beta1,
      o.beta2,
      beta3,
      1 - o.beta1,
      1 - o.beta2,
      1 - beta3,
      alpha,
      o.eps,
      o.weightDecay,
      1 - o.beta1 ** t,
      Math.sqrt(1 - o.beta2 ** t),
      o.maxNorm,
    ]);
  }

  protected recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void {
    const [fast, slow, sq] = ["exp_avg_fast", "exp_avg_slow", "exp_avg_sq"].map((name) =>
      this.states.get(name)!
    );
    for (const { spec, pipeline, workgroups } of this.#steps) {
      this.kernels.dispatch(pass, pipeline, [
        this.range(params, spec),
        this.range(grads, spec),
        this.range(fast, spec),
        this.range(slow, spec),
        this.range(sq, spec),
        this.hyper,
        this.gradNorm,
      ], workgroups);
    }
  }
}
