/**
 * AdEMAMix (docs/method.md#optimizers) on the GPU (`kernels/ademamix.wgsl`): Adam's fast first moment mixed with a
 * slow EMA (decay β3, weight α), both warmed up over T steps. States `exp_avg_fast`, `exp_avg_slow`,
 * `exp_avg_sq`.
 *
 * @module
 */
import type { ParameterSpec } from "../model/parameters.ts";
import { adamStepTail } from "./adamw.ts";
import { FlatStateOptimizer } from "./flat_state.ts";
import type { OptimizerTarget, TensorPipeline } from "./flat_state.ts";

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
 * AdEMAMix over a flat parameter buffer: built by `createOptimizer` (`optimizer.ts`) with `kind: "ademamix"`.
 */
export class AdEMAMix extends FlatStateOptimizer {
  /** Always `ademamix`. */
  readonly kind = "ademamix" as const;
  #steps: TensorPipeline[] = [];

  private constructor(target: OptimizerTarget) {
    super(target, ["exp_avg_fast", "exp_avg_slow", "exp_avg_sq"], 13, "ademamix");
  }

  /** Builds the optimizer for `target.layout` (state at zero). */
  static async create(target: OptimizerTarget): Promise<AdEMAMix> {
    const optimizer = new AdEMAMix(target);
    await optimizer.initNorm();
    for (const spec of target.layout.specs) {
      const constants = { N: spec.length, DECAY: spec.decay };
      optimizer.#steps.push({
        spec,
        pipeline: await target.kernels.pipeline("ademamix", "ademamix_step", constants),
        workgroups: optimizer.tensorGrid(spec),
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
      ...adamStepTail(o, t),
    ]);
  }

  protected recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void {
    const [fast, slow, sq] = ["exp_avg_fast", "exp_avg_slow", "exp_avg_sq"].map((name) =>
      this.states.get(name)!
    );
    for (const { spec, pipeline, workgroups } of this.#steps) {
      this.kernels.dispatch(pass, pipeline, [
        ...this.ranges(spec, params, grads, fast, slow, sq),
        this.hyper,
        this.gradNorm,
      ], workgroups);
    }
  }
}
