/**
 * The global L2 norm of a list of gradient tensors (clipping at 1.0, logging): deterministic, in two
 * passes (fixed-size partial sums of squares into a scratch buffer the op owns, then one fixed-order
 * sum and a square root). Kernels in `kernels/grad_norm.wgsl`.
 *
 * @module
 */
import { createBuffer } from "../gpu/buffers.ts";
import { GpuError } from "../gpu/device.ts";
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { defaultRowVariant } from "./rmsnorm.ts";
import type { RowVariant } from "./rmsnorm.ts";

/** Shape and options of {@linkcode GradNorm}. */
export interface GradNormShape {
  /** The tensors, in the order {@linkcode GradNorm.record} binds them. */
  tensors: { length: number }[];
  /** Kernel variant: `serial` (no workgroup memory: software adapters) or `workgroup`; default by adapter. */
  variant?: RowVariant;
  /**
   * Elements per binding: longer tensors are bound in pieces (rounded down to whole partial sums).
   * Default: the most that `maxStorageBufferBindingSize` allows.
   */
  pieceLength?: number;
}

interface Piece {
  tensor: number;
  /** First element of the piece in its tensor. */
  start: number;
  length: number;
  /** First float of the piece's partial sums in the scratch buffer (offset-aligned). */
  partialStart: number;
  partialCount: number;
  pipeline: GPUComputePipeline;
  workgroups: [number, number];
}

/**
 * ‖g‖₂ over several tensors into a one-float binding.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, grads: GPUBuffer, out: GPUBuffer;
 * const norm = await GradNorm.create(kernels, { tensors: [{ length: 1000 }, { length: 70000 }] });
 * norm.record(pass, [{ buffer: grads, offset: 0, size: 4000 }, { buffer: grads, offset: 4096, size: 280000 }], out);
 * ```
 */
export class GradNorm {
  /** Element count of each tensor, in binding order; {@linkcode GradNorm.record} checks against it. */
  readonly lengths: readonly number[];
  /** The kernel variant in use. */
  readonly variant: RowVariant;
  readonly #kernels: Kernels;
  readonly #pieces: Piece[];
  readonly #final: GPUComputePipeline;
  readonly #scratch: GPUBuffer;

  private constructor(
    kernels: Kernels,
    lengths: number[],
    variant: RowVariant,
    pieces: Piece[],
    final: GPUComputePipeline,
    scratch: GPUBuffer,
  ) {
    this.#kernels = kernels;
    this.lengths = lengths;
    this.variant = variant;
    this.#pieces = pieces;
    this.#final = final;
    this.#scratch = scratch;
  }

  /** Compiles the pipelines (one per distinct piece length) and allocates the partial sums. */
  static async create(kernels: Kernels, shape: GradNormShape): Promise<GradNorm> {
    const lengths = shape.tensors.map((tensor) => tensor.length);
    for (const [index, length] of lengths.entries()) {
      if (!(Number.isInteger(length) && length >= 0)) {
        throw new RangeError(
          `zsl: GradNorm tensor ${index} has length ${length}, not a non-negative integer`,
        );
      }
    }
    const variant = shape.variant ?? defaultRowVariant(kernels);
    const serial = variant === "serial";
    const wg = serial ? 64 : 256;
    const items = serial ? 1024 : 16;
    const perGroup = wg * items;
    const partialsPerGroup = serial ? wg : 1;
    const limits = kernels.gpu.limits;
    const maxPiece = Math.floor(limits.maxStorageBufferBindingSize / 4 / perGroup) * perGroup;
    const pieceLength = Math.min(
      maxPiece,
      Math.max(perGroup, Math.floor((shape.pieceLength ?? maxPiece) / perGroup) * perGroup),
    );
    const align = Math.max(1, limits.minStorageBufferOffsetAlignment / 4);
    const plans: Omit<Piece, "pipeline">[] = [];
    let end = 0;
    lengths.forEach((length, tensor) => {
      for (let start = 0; start < length; start += pieceLength) {
        const pieceLen = Math.min(pieceLength, length - start);
        const groups = Math.ceil(pieceLen / perGroup);
        const partialStart = Math.ceil(end / align) * align;
        const partialCount = groups * partialsPerGroup;
        plans.push({
          tensor,
          start,
          length: pieceLen,
          partialStart,
          partialCount,
          workgroups: grid(groups, 1),
        });
        end = partialStart + partialCount;
      }
    });
    const total = Math.max(end, 1);
    // Serial pieces of a multiple of 4 elements take the vec4 kernel, with a quarter of the items per
    // invocation (the same elements per workgroup): 0.21 → 0.10 ms CPU on cpu-s's 183k gradients.
    const pipelineOf = (length: number) =>
      !serial
        ? kernels.pipeline("grad_norm", "sumsq_partials_wg", { N: length, WG: wg, ITEMS: items })
        : length % 4 === 0
        ? kernels.pipeline("grad_norm", "sumsq_partials_serial4", { N: length, WG: wg, ITEMS: items / 4 })
        : kernels.pipeline("grad_norm", "sumsq_partials_serial", { N: length, WG: wg, ITEMS: items });
    const [pieces, final] = await Promise.all([
      Promise.all(plans.map(async (plan) => ({ ...plan, pipeline: await pipelineOf(plan.length) }))),
      kernels.pipeline("grad_norm", serial ? "norm_final_serial" : "norm_final_wg", { M: total, WG: 256 }),
    ]);
    const scratch = createBuffer(kernels.gpu, total * 4, "gradient norm partials");
    return new GradNorm(kernels, lengths, variant, pieces, final, scratch);
  }

  /**
   * Records `out[0] = sqrt(Σ over tensors Σ g²)`. `tensors` match the lengths given at creation, in
   * order; each is a whole buffer or a byte range (offsets multiples of 256); `out` is one float.
   */
  record(pass: GPUComputePassEncoder, tensors: Binding[], out: Binding): void {
    if (tensors.length !== this.lengths.length) {
      throw new GpuError(
        `zsl: GradNorm was created for ${this.lengths.length} tensors, got ${tensors.length}`,
      );
    }
    const bases = tensors.map((binding, index) => {
      const whole = binding instanceof GPUBuffer;
      const buffer = whole ? binding : binding.buffer;
      const offset = whole ? 0 : binding.offset ?? 0;
      const size = whole ? buffer.size : binding.size ?? buffer.size - offset;
      if (size < this.lengths[index] * 4) {
        throw new GpuError(
          `zsl: GradNorm tensor ${index} needs ${this.lengths[index] * 4} bytes, its binding has ${size}`,
        );
      }
      return { buffer, offset };
    });
    for (const piece of this.#pieces) {
      const { buffer, offset } = bases[piece.tensor];
      this.#kernels.dispatch(pass, piece.pipeline, [
        { buffer, offset: offset + piece.start * 4, size: piece.length * 4 },
        { buffer: this.#scratch, offset: piece.partialStart * 4, size: piece.partialCount * 4 },
      ], piece.workgroups);
    }
    this.#kernels.dispatch(pass, this.#final, [this.#scratch, out], [1, 1]);
  }

  /** Frees the scratch buffer. */
  destroy(): void {
    this.#scratch.destroy();
  }
}
