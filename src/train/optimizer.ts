/**
 * One interface for every optimizer the trainer can run (docs/method.md#training and #optimizers): AdamW, Cautious AdamW,
 * AdEMAMix and Muon, on the GPU, each fused with global-norm clipping. The trainer, the checkpoints and
 * the one-step analyses see only {@linkcode Optimizer}: record a step, read or restore the state (every
 * state tensor named `<tensor>.<state>` as in `optimizer.safetensors`), snapshot it on the GPU.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout, ParameterSpec } from "../model/parameters.ts";
import type { Tensor } from "../io/safetensors.ts";
import { AdamW, PAPER_ADAMW } from "./adamw.ts";
import type { AdamWOptions } from "./adamw.ts";
import { checkStateTensors } from "./flat_state.ts";
import { CautiousAdamW } from "./cautious.ts";
import { AdEMAMix } from "./ademamix.ts";
import { Muon } from "./muon.ts";

/** The optimizers: `adamw` (the paper's), and the ablations `cautious`, `ademamix`, `muon`. */
export type OptimizerKind = "adamw" | "cautious" | "ademamix" | "muon";

/** Every {@linkcode OptimizerKind}, the default first. */
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ["adamw", "cautious", "ademamix", "muon"];

/**
 * Which optimizer and its own hyperparameters (the shared ones — β, eps, weight decay, clipping — are
 * {@linkcode AdamWOptions}). JSON-able: runs record it.
 */
export interface OptimizerSpec {
  /** The optimizer (default `adamw`). */
  kind: OptimizerKind;
  /** AdEMAMix: final mixing coefficient α of the slow EMA (default 8). */
  ademamixAlpha?: number;
  /** AdEMAMix: final decay β3 of the slow EMA (default 0.9999). */
  ademamixBeta3?: number;
  /** AdEMAMix: warmup T of α and β3 in steps (0: none; the run caps the paper's 50,000 at its steps). */
  ademamixWarmup?: number;
  /** Muon: its learning rate is this times lr(t) (default 0.1). */
  muonLrScale?: number;
  /** Muon: Nesterov momentum μ (default 0.95). */
  muonMomentum?: number;
}

/** Everything an optimizer is built from: the kind with its settings, and the shared AdamW settings. */
export type OptimizerOptions = AdamWOptions & Partial<OptimizerSpec>;

/** The defaults of docs/method.md#optimizers (AdEMAMix's warmup is the paper's; runs cap it at their length). */
export const OPTIMIZER_DEFAULTS: Required<Omit<OptimizerSpec, "kind">> = {
  ademamixAlpha: 8,
  ademamixBeta3: 0.9999,
  ademamixWarmup: 50000,
  muonLrScale: 0.1,
  muonMomentum: 0.95,
};

/** AdEMAMix's β2 (docs/method.md#optimizers), where AdamW's is 0.95. */
export const ADEMAMIX_BETA2 = 0.999;

/** The options with every default filled in for their kind. */
export function resolveOptimizerOptions(options: OptimizerOptions = {}): Required<OptimizerOptions> {
  const kind = options.kind ?? "adamw";
  if (!OPTIMIZER_KINDS.includes(kind)) {
    throw new Error(`zsl: unknown optimizer "${kind}": use ${OPTIMIZER_KINDS.join(", ")}`);
  }
  const resolved: Required<OptimizerOptions> = {
    ...PAPER_ADAMW,
    ...OPTIMIZER_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
    kind,
    beta2: options.beta2 ?? (kind === "ademamix" ? ADEMAMIX_BETA2 : PAPER_ADAMW.beta2),
  };
  const checks: [string, number, boolean][] = [
    ["ademamix-alpha", resolved.ademamixAlpha, resolved.ademamixAlpha >= 0],
    ["ademamix-beta3", resolved.ademamixBeta3, resolved.ademamixBeta3 > 0 && resolved.ademamixBeta3 < 1],
    [
      "ademamix-warmup",
      resolved.ademamixWarmup,
      Number.isInteger(resolved.ademamixWarmup) && resolved.ademamixWarmup >= 0,
    ],
    ["muon-lr-scale", resolved.muonLrScale, resolved.muonLrScale > 0],
    ["muon-momentum", resolved.muonMomentum, resolved.muonMomentum >= 0 && resolved.muonMomentum < 1],
    ["beta1", resolved.beta1, resolved.beta1 >= 0 && resolved.beta1 < 1],
    ["beta2", resolved.beta2, resolved.beta2 >= 0 && resolved.beta2 < 1],
  ];
  for (const [name, value, ok] of checks) {
    if (!ok) {
      throw new Error(
        `zsl: --${name} ${value} is out of range (α ≥ 0; β in [0, 1), β3 in (0, 1); warmup an integer ≥ 0; ` +
          `the Muon scale > 0)`,
      );
    }
  }
  return resolved;
}

/**
 * The part of resolved options that distinguishes the kind beyond AdamW's settings (what a run
 * records as its `optimizer`): the kind and its own hyperparameters.
 */
export function optimizerSpecOf(options: Required<OptimizerOptions>): OptimizerSpec {
  switch (options.kind) {
    case "adamw":
    case "cautious":
      return { kind: options.kind };
    case "ademamix":
      return {
        kind: "ademamix",
        ademamixAlpha: options.ademamixAlpha,
        ademamixBeta3: options.ademamixBeta3,
        ademamixWarmup: options.ademamixWarmup,
      };
    case "muon":
      return { kind: "muon", muonLrScale: options.muonLrScale, muonMomentum: options.muonMomentum };
  }
}

/**
 * A GPU optimizer over a model's flat parameter buffer. One {@linkcode Optimizer.record} is one
 * clipped update of every tensor; the hyperparameters go through the queue at record time, so record
 * one step per submit.
 */
export interface Optimizer {
  /** Which optimizer. */
  readonly kind: OptimizerKind;
  /** The layout of the parameters it updates. */
  readonly layout: ParameterLayout;
  /** The resolved options. */
  readonly options: Readonly<Required<OptimizerOptions>>;
  /** The global gradient norm before clipping of the last step (one f32). */
  readonly gradNorm: GPUBuffer;
  /**
   * Records the gradient norm and the update of every tensor for step `t` (1-based count of updates)
   * at learning rate `lr` (the schedule's lr(t)).
   */
  record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void;
  /** Records only the global gradient norm into {@linkcode Optimizer.gradNorm}. */
  recordNorm(pass: GPUComputePassEncoder, grads: GPUBuffer): void;
  /** The names of the state tensors kept for parameter `spec` (e.g. `exp_avg`, `exp_avg_sq`). */
  stateNames(spec: ParameterSpec): readonly string[];
  /** Reads every state tensor back, named `<tensor>.<state>`, in layout order. */
  getState(): Promise<Map<string, Tensor>>;
  /**
   * Uploads a state (e.g. from `optimizer.safetensors`): exactly the tensors of
   * {@linkcode Optimizer.stateNames}, with their parameter's shape; `source` names it in errors.
   */
  setState(tensors: Map<string, Tensor>, source: string): void;
  /** The GPU buffers that hold the whole state (to snapshot and restore it with buffer copies). */
  stateBuffers(): readonly GPUBuffer[];
  /** Frees the optimizer's buffers. */
  destroy(): void;
}

/**
 * Builds the optimizer `options.kind` (default AdamW) for `layout`, its state at zero.
 *
 * @example
 * ```ts
 * import type { GpuDevice, Kernels } from "../gpu/mod.ts";
 * import type { ParameterLayout } from "../model/mod.ts";
 * declare const gpu: GpuDevice, kernels: Kernels, layout: ParameterLayout, pass: GPUComputePassEncoder;
 * declare const parameters: GPUBuffer, gradients: GPUBuffer, step: number, lr: number;
 * const optimizer = await createOptimizer(gpu, layout, { kind: "muon" }, kernels);
 * optimizer.record(pass, parameters, gradients, step, lr); // Muon's rate: muonLrScale·lr (0.1·lr)
 * ```
 */
export async function createOptimizer(
  gpu: GpuDevice,
  layout: ParameterLayout,
  options: OptimizerOptions = {},
  kernels: Kernels = new Kernels(gpu),
): Promise<Optimizer> {
  const resolved = resolveOptimizerOptions(options);
  switch (resolved.kind) {
    case "adamw":
      return await AdamWOptimizer.create(gpu, layout, resolved, kernels);
    case "cautious":
      return await CautiousAdamW.create({ gpu, layout, options: resolved, kernels });
    case "ademamix":
      return await AdEMAMix.create({ gpu, layout, options: resolved, kernels });
    case "muon":
      return await Muon.create({ gpu, layout, options: resolved, kernels });
  }
}

/** The paper's AdamW ({@linkcode AdamW}, kernels/adamw.wgsl) behind the {@linkcode Optimizer} interface. */
export class AdamWOptimizer implements Optimizer {
  /** Always `adamw`. */
  readonly kind = "adamw" as const;
  /** The wrapped AdamW. */
  readonly adamw: AdamW;
  /** The resolved options. */
  readonly options: Readonly<Required<OptimizerOptions>>;

  private constructor(adamw: AdamW, options: Required<OptimizerOptions>) {
    this.adamw = adamw;
    this.options = options;
  }

  /** Builds the AdamW for `layout`. */
  static async create(
    gpu: GpuDevice,
    layout: ParameterLayout,
    options: Required<OptimizerOptions>,
    kernels: Kernels,
  ): Promise<AdamWOptimizer> {
    const { beta1, beta2, eps, weightDecay, maxNorm } = options;
    const adamw = await AdamW.create(gpu, layout, { beta1, beta2, eps, weightDecay, maxNorm }, kernels);
    return new AdamWOptimizer(adamw, options);
  }

  get layout(): ParameterLayout {
    return this.adamw.layout;
  }

  get gradNorm(): GPUBuffer {
    return this.adamw.gradNorm;
  }

  record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void {
    this.adamw.record(pass, params, grads, t, lr);
  }

  recordNorm(pass: GPUComputePassEncoder, grads: GPUBuffer): void {
    this.adamw.recordNorm(pass, grads);
  }

  stateNames(_spec: ParameterSpec): readonly string[] {
    return ["exp_avg", "exp_avg_sq"];
  }

  async getState(): Promise<Map<string, Tensor>> {
    const { expAvg, expAvgSq } = await this.adamw.getMoments();
    const tensors = new Map<string, Tensor>();
    for (const spec of this.layout.specs) {
      for (const [state, flat] of [["exp_avg", expAvg], ["exp_avg_sq", expAvgSq]] as const) {
        tensors.set(`${spec.name}.${state}`, {
          shape: [...spec.shape],
          data: flat.slice(spec.offset, spec.offset + spec.length),
        });
      }
    }
    return tensors;
  }

  setState(tensors: Map<string, Tensor>, source: string): void {
    checkStateTensors(this.layout, (spec) => this.stateNames(spec), tensors, source);
    const flat = (state: string) => {
      const values = new Float32Array(this.layout.totalLength);
      for (const spec of this.layout.specs) {
        values.set(tensors.get(`${spec.name}.${state}`)!.data, spec.offset);
      }
      return values;
    };
    this.adamw.setMoments(flat("exp_avg"), flat("exp_avg_sq"));
  }

  stateBuffers(): readonly GPUBuffer[] {
    return [this.adamw.expAvg, this.adamw.expAvgSq];
  }

  destroy(): void {
    this.adamw.destroy();
  }
}
