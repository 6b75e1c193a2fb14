/**
 * The state and shared machinery of the optimizers whose state lives in flat buffers in the parameter
 * layout (one buffer per state name): the global gradient norm, the uniform of per-step
 * hyperparameters, and reading and writing the state as `<tensor>.<state>` tensors.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { createBuffer, readFloats, writeBuffer } from "../gpu/buffers.ts";
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import type { ParameterLayout, ParameterSpec } from "../model/parameters.ts";
import type { Tensor } from "../io/safetensors.ts";
import { GradNorm } from "../ops/grad_norm.ts";
import type { Optimizer, OptimizerKind, OptimizerOptions } from "./optimizer.ts";

/** Checks that `tensors` holds exactly the state `names(spec)` of every parameter, with its shape. */
export function checkStateTensors(
  layout: ParameterLayout,
  names: (spec: ParameterSpec) => readonly string[],
  tensors: Map<string, Tensor>,
  source: string,
): void {
  const expected = new Set<string>();
  for (const spec of layout.specs) {
    for (const state of names(spec)) {
      const key = `${spec.name}.${state}`;
      expected.add(key);
      const tensor = tensors.get(key);
      if (!tensor) {
        throw new Error(
          `zsl: ${source} has no ${key}: was it written by another optimizer? ` +
            `(it holds ${[...tensors.keys()].slice(0, 3).join(", ")}…)`,
        );
      }
      if (tensor.shape.join("×") !== spec.shape.join("×") || tensor.data.length !== spec.length) {
        throw new Error(
          `zsl: ${source}: ${key} has shape ${tensor.shape.join("×")}, expected ${spec.shape.join("×")}`,
        );
      }
    }
  }
  const extra = [...tensors.keys()].filter((key) => !expected.has(key));
  if (extra.length > 0) {
    throw new Error(
      `zsl: ${source} has state this optimizer does not keep (${extra.slice(0, 3).join(", ")}…): ` +
        `was it written by another optimizer?`,
    );
  }
}

/** One tensor's update: its place in the layout and the grid of its elementwise kernels. */
export interface TensorWork {
  /** The parameter. */
  spec: ParameterSpec;
  /** The grid of an elementwise kernel over it ({@linkcode FlatStateOptimizer.tensorGrid}). */
  workgroups: [number, number];
}

/** A tensor updated by one pipeline. */
export interface TensorPipeline extends TensorWork {
  /** The update's pipeline, specialised for the tensor. */
  pipeline: GPUComputePipeline;
}

/** What an optimizer is built for: the device, the parameter layout, the resolved options, the kernels. */
export interface OptimizerTarget {
  /** The device. */
  gpu: GpuDevice;
  /** The parameter layout the state follows. */
  layout: ParameterLayout;
  /** The resolved options. */
  options: Required<OptimizerOptions>;
  /** The pipeline cache. */
  kernels: Kernels;
}

/**
 * Shared machinery of the optimizers with flat state buffers (one buffer per state name, in the
 * parameter layout): the gradient norm, the uniform of per-step hyperparameters, reading and writing
 * the state by `<tensor>.<state>`.
 */
export abstract class FlatStateOptimizer implements Optimizer {
  /** Which optimizer. */
  abstract readonly kind: OptimizerKind;
  /** The device. */
  readonly gpu: GpuDevice;
  /** The parameter layout the state follows. */
  readonly layout: ParameterLayout;
  /** The resolved options. */
  readonly options: Readonly<Required<OptimizerOptions>>;
  /** The global gradient norm before clipping (one f32). */
  readonly gradNorm: GPUBuffer;
  /** Per-step hyperparameters (a uniform buffer of `hyperFloats` floats). */
  protected readonly hyper: GPUBuffer;
  /** The pipeline cache. */
  protected readonly kernels: Kernels;
  /** Flat state buffers by state name. */
  protected readonly states: Map<string, GPUBuffer>;
  #norm: GradNorm | null = null;
  #owned: GPUBuffer[] = [];

  protected constructor(
    { gpu, layout, options, kernels }: OptimizerTarget,
    stateNames: readonly string[],
    hyperFloats: number,
    label: string,
  ) {
    this.gpu = gpu;
    this.layout = layout;
    this.options = options;
    this.kernels = kernels;
    this.gradNorm = this.buffer(1, "gradient norm");
    this.hyper = gpu.device.createBuffer({
      label: `${label} hyperparameters`,
      size: Math.ceil(hyperFloats / 4) * 16,
      usage: 0x40 /* UNIFORM */ | 0x08, /* COPY_DST */
    });
    this.states = new Map(
      stateNames.map((name) => [name, this.buffer(layout.totalLength, `${label} ${name}`)]),
    );
  }

  /** Compiles the gradient-norm op (call once from `create`). */
  protected async initNorm(): Promise<void> {
    this.#norm = await GradNorm.create(this.kernels, {
      tensors: this.layout.specs.map((spec) => ({ length: spec.length })),
    });
  }

  /** A zeroed storage buffer of `floats` floats the optimizer owns. */
  protected buffer(floats: number, label: string): GPUBuffer {
    const created = createBuffer(this.gpu, Math.max(floats, 1) * 4, label);
    this.#owned.push(created);
    return created;
  }

  /** The byte range of parameter `spec` in a flat buffer. */
  protected range(buffer: GPUBuffer, spec: ParameterSpec): Binding {
    return { buffer, offset: spec.offset * 4, size: spec.length * 4 };
  }

  /** The byte ranges of parameter `spec` in each of the flat `buffers`. */
  protected ranges(spec: ParameterSpec, ...buffers: GPUBuffer[]): Binding[] {
    return buffers.map((buffer) => this.range(buffer, spec));
  }

  /** The grid of an elementwise kernel over parameter `spec` (256 invocations a workgroup). */
  protected tensorGrid(spec: ParameterSpec): [number, number] {
    return grid(spec.length, 256, this.gpu.limits.maxComputeWorkgroupsPerDimension);
  }

  /** The hyperparameters of step `t` at rate `lr`, as the kernel's uniform struct. */
  protected abstract hyperparameters(t: number, lr: number): Float32Array;

  /** Records every tensor's update (after the norm). */
  protected abstract recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void;

  abstract stateNames(spec: ParameterSpec): readonly string[];

  record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void {
    if (!Number.isInteger(t) || t < 1) {
      throw new Error(`zsl: the optimizer step must be an integer ≥ 1, got ${t}`);
    }
    writeBuffer(this.gpu, this.hyper, this.hyperparameters(t, lr));
    this.recordNorm(pass, grads);
    this.recordUpdate(pass, params, grads);
  }

  recordNorm(pass: GPUComputePassEncoder, grads: GPUBuffer): void {
    this.#norm!.record(pass, this.layout.specs.map((spec) => this.range(grads, spec)), this.gradNorm);
  }

  async getState(): Promise<Map<string, Tensor>> {
    const flat = new Map<string, Float32Array>();
    for (const [name, buffer] of this.states) flat.set(name, await readFloats(this.gpu, buffer));
    const tensors = new Map<string, Tensor>();
    for (const spec of this.layout.specs) {
      for (const state of this.stateNames(spec)) {
        const data = flat.get(state)!.slice(spec.offset, spec.offset + spec.length);
        tensors.set(`${spec.name}.${state}`, { shape: [...spec.shape], data });
      }
    }
    return tensors;
  }

  setState(tensors: Map<string, Tensor>, source: string): void {
    checkStateTensors(this.layout, (spec) => this.stateNames(spec), tensors, source);
    for (const [name, buffer] of this.states) {
      const flat = new Float32Array(this.layout.totalLength);
      for (const spec of this.layout.specs) {
        if (this.stateNames(spec).includes(name)) {
          flat.set(tensors.get(`${spec.name}.${name}`)!.data, spec.offset);
        }
      }
      writeBuffer(this.gpu, buffer, flat);
    }
  }

  stateBuffers(): readonly GPUBuffer[] {
    return [...this.states.values()];
  }

  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.hyper.destroy();
    this.#norm?.destroy();
    this.#owned = [];
  }
}
