/**
 * Exact GELU (nanoGPT's MLP): `out = x·Φ(x)` elementwise, and its backward. Kernels in
 * `kernels/gelu.wgsl`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { compilePair, ForwardBackwardOp } from "./forward_backward.ts";
import { checkPositiveSizes } from "./shapes.ts";

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
export class Gelu extends ForwardBackwardOp<{ length: number }> {
  /** Compiles (or takes from the cache) the pipelines for `length` elements. */
  static async create(kernels: Kernels, shape: { length: number }): Promise<Gelu> {
    const { length } = shape;
    checkPositiveSizes("GELU", { length });
    const constants = { N: length, WG: WORKGROUP_SIZE };
    const pipelines = await compilePair(kernels, "gelu", ["gelu_forward", "gelu_backward"], constants);
    const workgroups = grid(length, WORKGROUP_SIZE, kernels.gpu.limits.maxComputeWorkgroupsPerDimension);
    return new Gelu(kernels, { length }, pipelines, workgroups);
  }

  /** Records `out = x·Φ(x)`. */
  forward(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
    this.recordForward(pass, [x, out]);
  }

  /** Records `dx = dout·(Φ(x) + x·φ(x))` (overwritten) from `dout` and the forward's input `x`. */
  backward(pass: GPUComputePassEncoder, dout: Binding, x: Binding, dx: Binding): void {
    this.recordBackward(pass, [dout, x, dx]);
  }
}
