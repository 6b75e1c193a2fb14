/**
 * The learned absolute position embedding of nanoGPT (`transformer.wpe.weight` [positions, d]): added
 * to the token embedding's output, and its deterministic gradient (a fixed-order sum over the batch per
 * position). Kernels in `kernels/position.wgsl`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { compilePair, ForwardBackwardOp } from "./forward_backward.ts";
import { checkPositiveSizes } from "./shapes.ts";

/** Shape of {@linkcode PositionEmbedding}. */
export interface PositionShape {
  /** Sequences per batch. */
  batch: number;
  /** Sequence length T: positions 0…T−1 are used (wpe may have more rows). */
  seqLen: number;
  /** Model dimension d. */
  d: number;
}

const WORKGROUP_SIZE = 256;

/**
 * Adds wpe[s] to every row of position s, and accumulates wpe's gradient.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const wpe: GPUBuffer, x: GPUBuffer, dx: GPUBuffer, dwpe: GPUBuffer;
 * const positions = await PositionEmbedding.create(kernels, { batch: 8, seqLen: 64, d: 128 });
 * positions.forward(pass, wpe, x);    // x [8·64, 128] += wpe[s]
 * positions.backward(pass, dx, dwpe); // dwpe[s] += Σ_b dx[b, s]
 * ```
 */
export class PositionEmbedding extends ForwardBackwardOp<PositionShape> {
  /** Compiles (or takes from the cache) the pipelines for `shape`. */
  static async create(kernels: Kernels, shape: PositionShape): Promise<PositionEmbedding> {
    const { batch, seqLen, d } = shape;
    checkPositiveSizes("PositionEmbedding", { batch, seqLen, d });
    const constants = { BATCH: batch, SEQ: seqLen, D: d, WG: WORKGROUP_SIZE };
    const pipelines = await compilePair(
      kernels,
      "position",
      ["position_forward", "position_backward"],
      constants,
    );
    const max = kernels.gpu.limits.maxComputeWorkgroupsPerDimension;
    return new PositionEmbedding(
      kernels,
      { batch, seqLen, d },
      pipelines,
      grid(batch * seqLen * d, WORKGROUP_SIZE, max),
      grid(seqLen * d, WORKGROUP_SIZE, max),
    );
  }

  /** Records `x[b·T + s, :] += wpe[s, :]` (`wpe` at least [T, d], `x` [batch·T, d]). */
  forward(pass: GPUComputePassEncoder, wpe: Binding, x: Binding): void {
    this.recordForward(pass, [wpe, x]);
  }

  /** Records `dwpe[s, :] += Σ_b dx[b·T + s, :]`, b ascending (rows s ≥ T untouched). */
  backward(pass: GPUComputePassEncoder, dx: Binding, dwpe: Binding): void {
    this.recordBackward(pass, [dx, dwpe]);
  }
}
