/**
 * Exact GELU (nanoGPT's MLP): `out = x·Φ(x)` elementwise, and its backward. Kernels in
 * `kernels/gelu.wgsl`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";

const WORKGROUP_SIZE = 256;

/**
 * GELU forward and backward over `length` elements.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, x: GPUBuffer, out: GPUBuffer;
 * declare const dout: GPUBuffer, dx: GPUBuffer;
 * const gelu = await Gelu.create(kernels, { length: 1024 * 512 });
 * gelu.forward(pass, x, out);
 * gelu.backward(pass, dout, x, dx);  // dx overwritten
 * ```
 */
export class Gelu {
  /** Elements per record. */
  readonly length: number;
  readonly #kernels: Kernels;
  readonly #forward: GPUComputePipeline;
  readonly #backward: GPUComputePipeline;
  readonly #workgroups: [number, number];

  private constructor(
    kernels: Kernels,
    length: number,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
  ) {
    this.#kernels = kernels;
    this.length = length;
    this.#forward = forward;
    this.#backward = backward;
    this.#workgroups = grid(length, WORKGROUP_SIZE, kernels.gpu.limits.maxComputeWorkgroupsPerDimension);
  }

  /** Compiles (or takes from the cache) the pipelines for `length` elements. */
  static async create(kernels: Kernels, shape: { length: number }): Promise<Gelu> {
    const { length } = shape;
    if (!(Number.isInteger(length) && length > 0)) {
      throw new RangeError(`zsl: GELU needs a positive integer length, got ${length}`);
    }
    const constants = { N: length, WG: WORKGROUP_SIZE };
    const [forward, backward] = await Promise.all([
      kernels.pipeline("gelu", "gelu_forward", constants),
      kernels.pipeline("gelu", "gelu_backward", constants),
    ]);
    return new Gelu(kernels, length, forward, backward);
  }

  /** Records `out = x·Φ(x)`. */
  forward(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
    this.#kernels.dispatch(pass, this.#forward, [x, out], this.#workgroups);
  }

  /** Records `dx = dout·(Φ(x) + x·φ(x))` (overwritten) from `dout` and the forward's input `x`. */
  backward(pass: GPUComputePassEncoder, dout: Binding, x: Binding, dx: Binding): void {
    this.#kernels.dispatch(pass, this.#backward, [dout, x, dx], this.#workgroups);
  }
}
