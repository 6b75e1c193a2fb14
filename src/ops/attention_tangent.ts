/**
 * The forward-mode derivative (tangent) of causal attention (`kernels/attention_tangent.wgsl`): from the
 * forward's `qkv`, `y`, `lse` and a tangent `q̇k̇v̇` of `qkv`, the tangent `ẏ` of its output,
 * `ẏ_t = Σ_j P_tj (v̇_j + ṡ_tj v_j) − (Σ_j P_tj ṡ_tj)·y_t` with `ṡ_tj = (q̇_t·k_j + q_t·k̇_j)/√hd`.
 *
 * @module
 */
import { grid, type Kernels } from "../gpu/kernels.ts";
import type { Binding, Constants } from "../gpu/kernels.ts";
import { MAX_HEAD_DIM, resolveAttentionVariant } from "./attention.ts";
import type { AttentionShape } from "./attention.ts";
import { checkAttentionShape } from "./shapes.ts";

const REGISTER_ROWS = 8;
const TILED_ROWS = 64;

/**
 * Attention's tangent for one shape: the pipeline of the chosen variant (`register` on lavapipe,
 * `tiled` on GPUs, as {@linkcode AttentionShape.variant}), specialised by head dimension only.
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * declare const pass: GPUComputePassEncoder;
 * declare const qkv: GPUBuffer, tangentQkv: GPUBuffer, y: GPUBuffer, lse: GPUBuffer, tangentY: GPUBuffer;
 * const gpu = await openGpu();
 * const tangent = await AttentionTangent.create(new Kernels(gpu), { batch: 2, seqLen: 16, dModel: 64, nHeads: 4 });
 * tangent.record(pass, qkv, tangentQkv, y, lse, tangentY);
 * tangent.destroy();
 * ```
 */
export class AttentionTangent {
  /** The shape it was built for. */
  readonly shape: Readonly<Required<AttentionShape>>;
  /** The variant in use (`auto` resolved). */
  readonly variant: "register" | "tiled";
  #kernels: Kernels;
  #pipeline: GPUComputePipeline;
  #params: GPUBuffer;
  #grid: [number, number];

  private constructor(
    kernels: Kernels,
    shape: Required<AttentionShape>,
    variant: "register" | "tiled",
    pipeline: GPUComputePipeline,
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.variant = variant;
    this.#pipeline = pipeline;
    const bh = shape.batch * shape.nHeads;
    this.#params = kernels.gpu.device.createBuffer({
      label: "attention tangent shape",
      size: 32,
      usage: 0x40 /* UNIFORM */ | 0x08, /* COPY_DST */
    });
    const hd4 = Math.ceil(shape.dModel / shape.nHeads / 4);
    kernels.gpu.device.queue.writeBuffer(
      this.#params,
      0,
      new Uint32Array([shape.seqLen, shape.dModel, shape.nHeads, bh, hd4, 0, 0, 0]),
    );
    const rows = variant === "register" ? REGISTER_ROWS : TILED_ROWS;
    this.#grid = grid(bh * Math.ceil(shape.seqLen / rows), 1);
  }

  /** Builds the pipeline of `shape.variant` (default `auto`: `register` on lavapipe, else `tiled`). */
  static async create(kernels: Kernels, shape: AttentionShape): Promise<AttentionTangent> {
    // The tangent reads q and k as stored (rotated): RoPE never enters it.
    const full: Required<AttentionShape> = { ...shape, variant: shape.variant ?? "auto", ropeTheta: null };
    const headDim = checkAttentionShape(full.batch, full.seqLen, full.dModel, full.nHeads);
    const variant = resolveAttentionVariant(kernels, full.variant, headDim, MAX_HEAD_DIM, "tangent kernel");
    const hd4 = Math.ceil(headDim / 4);
    const constants: Constants = { HD: headDim, HD4: hd4, SCALE: 1 / Math.sqrt(headDim) };
    if (variant === "register") constants.WG = REGISTER_ROWS;
    else {
      // k, v, k̇, v̇ tiles: the largest power-of-two row count that fits the workgroup memory.
      const limit = kernels.gpu.limits.maxComputeWorkgroupStorageSize;
      let bc = 64;
      while (bc > 1 && bc * 4 * hd4 * 16 > limit) bc /= 2;
      Object.assign(constants, { WG: TILED_ROWS, BC: bc, TILE4: bc * hd4 });
    }
    const pipeline = await kernels.pipeline("attention_tangent", `attention_tangent_${variant}`, constants);
    return new AttentionTangent(kernels, full, variant, pipeline);
  }

  /**
   * Writes `tangentY [B·T, d]` (overwritten) from the forward's `qkv [B·T, 3d]` (q, k rotated), `y`,
   * `lse [B·H·T]` and the tangent `tangentQkv` of qkv (q̇, k̇ rotated).
   */
  record(
    pass: GPUComputePassEncoder,
    qkv: Binding,
    tangentQkv: Binding,
    y: Binding,
    lse: Binding,
    tangentY: Binding,
  ): void {
    this.#kernels.dispatch(
      pass,
      this.#pipeline,
      [this.#params, qkv, tangentQkv, y, lse, tangentY],
      this.#grid,
    );
  }

  /** Frees the shape uniform. */
  destroy(): void {
    this.#params.destroy();
  }
}
