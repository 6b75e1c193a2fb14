/**
 * What the ops with one forward and one backward pipeline share (GELU, SwiGLU, RMSNorm, the embeddings):
 * the two pipelines of one kernel file compiled for a shape, their grids, and the dispatches.
 *
 * @module
 */
import type { Binding, Constants, Kernels } from "../gpu/kernels.ts";

/**
 * Compiles (or takes from the cache) the entry points `forward` and `backward` of `kernels/<file>.wgsl`
 * with `constants` (the backward with `backwardConstants` where they differ).
 */
export async function compilePair(
  kernels: Kernels,
  file: string,
  [forward, backward]: readonly [string, string],
  constants: Constants,
  backwardConstants: Constants = constants,
): Promise<[GPUComputePipeline, GPUComputePipeline]> {
  return await Promise.all([
    kernels.pipeline(file, forward, constants),
    kernels.pipeline(file, backward, backwardConstants),
  ]);
}

/**
 * The first `bytes` bytes of `binding`, as a byte range. Kernels that count their rows with
 * `arrayLength` (so that one pipeline serves every row count) are bound through it: the length is then
 * the shape's, whatever the size of the buffer behind it.
 */
export function bindingPrefix(binding: Binding, bytes: number): Binding {
  // `"buffer" in`: dawn.node's buffers are not instances of Deno's `GPUBuffer`.
  return "buffer" in binding
    ? { buffer: binding.buffer, offset: binding.offset ?? 0, size: bytes }
    : { buffer: binding, offset: 0, size: bytes };
}

/**
 * An op of one shape with a forward and a backward pipeline. A subclass compiles them in its
 * `create` ({@linkcode compilePair}) and names the bindings of each record.
 *
 * @example
 * ```ts
 * import type { Binding } from "../gpu/mod.ts";
 * class Double extends ForwardBackwardOp<{ length: number }> {
 *   forward(pass: GPUComputePassEncoder, x: Binding, out: Binding): void {
 *     this.recordForward(pass, [x, out]);
 *   }
 * }
 * ```
 */
export class ForwardBackwardOp<Shape> {
  /** The shape it was built for. */
  readonly shape: Readonly<Shape>;
  /** The pipeline cache that records the dispatches. */
  protected readonly kernels: Kernels;
  readonly #forward: GPUComputePipeline;
  readonly #backward: GPUComputePipeline;
  readonly #forwardGrid: [number, number];
  readonly #backwardGrid: [number, number];

  /** Keeps the pipelines and grids (`backwardGrid` defaults to `forwardGrid`). */
  protected constructor(
    kernels: Kernels,
    shape: Shape,
    [forward, backward]: [GPUComputePipeline, GPUComputePipeline],
    forwardGrid: [number, number],
    backwardGrid: [number, number] = forwardGrid,
  ) {
    this.kernels = kernels;
    this.shape = shape;
    this.#forward = forward;
    this.#backward = backward;
    this.#forwardGrid = forwardGrid;
    this.#backwardGrid = backwardGrid;
  }

  /** Records the forward pipeline over `bindings` (in its binding order). */
  protected recordForward(pass: GPUComputePassEncoder, bindings: Binding[]): void {
    this.kernels.dispatch(pass, this.#forward, bindings, this.#forwardGrid);
  }

  /** Records the backward pipeline over `bindings` (in its binding order). */
  protected recordBackward(pass: GPUComputePassEncoder, bindings: Binding[]): void {
    this.kernels.dispatch(pass, this.#backward, bindings, this.#backwardGrid);
  }
}
