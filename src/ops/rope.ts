/**
 * Rotary position embeddings on the GPU: in place on the q and k blocks of `qkv [B·T, 3d]`, and the
 * backward in place on the dq and dk blocks of `dqkv`. See `kernels/rope.wgsl`.
 *
 * @module
 */
import { type Binding, type Constants, grid, type Kernels, uploadBuffer } from "../gpu/mod.ts";
import { bindingPrefix } from "./forward_backward.ts";
import { defaultRowVariant, type RowVariant } from "./rmsnorm.ts";
import { checkRopeShape, ropeTable } from "./shapes.ts";

/** The shape a {@linkcode Rope} is built for. */
export interface RopeShape {
  /** Sequences `B`. */
  batch: number;
  /** Tokens per sequence `T`: positions `0 … T−1` of every sequence. */
  seqLen: number;
  /** Model width `d`: the q and k blocks of `qkv` are `d` columns each. */
  dModel: number;
  /** Head dimension (even, divides `dModel`); each head is rotated on its own. */
  headDim: number;
  /** RoPE base θ (default 10000, OLMo's). */
  theta?: number;
  /**
   * Kernel variant of the forward; default by adapter ({@linkcode defaultRowVariant}). `serial`
   * (software adapters, `headDim` a multiple of 8): one invocation per row and four pairs, looping over
   * the heads that share their cos/sin; otherwise one invocation per four pairs (or per pair).
   */
  variant?: RowVariant;
}

const WORKGROUP = 256;
// rope_forward_heads4: measured on lavapipe (2-core Zen 4, 1,024 rows, hd 32) 20% less CPU than
// rope_forward4 at d 64–128, at 64 (and 128 or 256) invocations a workgroup.
const HEADS4_WORKGROUP = 64;

/**
 * RoPE for one shape: owns the cos/sin table (built on the host in float64 with OLMo's float32
 * angles, see `ropeTable`) and the two pipelines.
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * const gpu = await openGpu();
 * const rope = await Rope.create(new Kernels(gpu), { batch: 2, seqLen: 16, dModel: 64, headDim: 16 });
 * rope.destroy();
 * gpu.destroy();
 * ```
 */
export class Rope {
  /** The shape it was built for, `theta` filled in. */
  readonly shape: Readonly<Required<RopeShape>>;
  #kernels: Kernels;
  #table: GPUBuffer;
  #forward: GPUComputePipeline;
  #backward: GPUComputePipeline;
  #grid: [number, number];
  #forwardGrid: [number, number];

  private constructor(
    kernels: Kernels,
    shape: Required<RopeShape>,
    table: GPUBuffer,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
    forwardGrid: [number, number] | null,
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#table = table;
    this.#forward = forward;
    this.#backward = backward;
    const lanes = vec4Pairs(shape.headDim) ? 4 : 1;
    this.#grid = grid((shape.batch * shape.seqLen * shape.dModel) / lanes, WORKGROUP);
    this.#forwardGrid = forwardGrid ?? this.#grid;
  }

  /** Builds the table and pipelines for `shape`. */
  static async create(kernels: Kernels, shape: RopeShape): Promise<Rope> {
    const full = {
      ...shape,
      theta: shape.theta ?? 10000,
      variant: shape.variant ?? defaultRowVariant(kernels),
    };
    const half = checkRopeShape(full.seqLen, full.dModel, full.headDim);
    if (!Number.isInteger(full.batch) || full.batch < 1) {
      throw new Error(`zsl: RoPE batch must be a positive integer, got ${full.batch}`);
    }
    const { cos, sin } = ropeTable(full.seqLen, full.headDim, full.theta);
    const interleaved = new Float32Array(full.seqLen * half * 2);
    for (let e = 0; e < cos.length; e++) {
      interleaved[2 * e] = cos[e];
      interleaved[2 * e + 1] = sin[e];
    }
    const suffix = vec4Pairs(full.headDim) ? "4" : "";
    const constants: Constants = { T: full.seqLen, D: full.dModel, HD: full.headDim, WG: WORKGROUP };
    // The vec4 kernels count the rows from the qkv binding (see `forward`): one pipeline for every batch.
    if (suffix === "") constants.N = full.batch * full.seqLen;
    const heads4 = full.variant === "serial" && vec4Pairs(full.headDim);
    const [forward, backward] = await Promise.all([
      heads4
        ? kernels.pipeline("rope", "rope_forward_heads4", { ...constants, WG: HEADS4_WORKGROUP })
        : kernels.pipeline("rope", `rope_forward${suffix}`, constants),
      kernels.pipeline("rope", `rope_backward${suffix}`, constants),
    ]);
    const table = uploadBuffer(kernels.gpu, interleaved, "rope cos/sin table");
    const forwardGrid = heads4 ? grid((full.batch * full.seqLen * full.headDim) / 8, HEADS4_WORKGROUP) : null;
    return new Rope(kernels, full, table, forward, backward, forwardGrid);
  }

  /** Rotates the q and k blocks of `qkv [B·T, 3d]` in place. */
  forward(pass: GPUComputePassEncoder, qkv: Binding): void {
    const rows = this.shape.batch * this.shape.seqLen;
    // Bound at exactly [B·T, 3d]: the vec4 kernels take the row count from its length.
    this.#kernels.dispatch(pass, this.#forward, [
      this.#table,
      bindingPrefix(qkv, rows * 3 * this.shape.dModel * 4),
    ], this.#forwardGrid);
  }

  /** Rotates the dq and dk blocks of `dqkv [B·T, 3d]` back in place (the transpose of the forward). */
  backward(pass: GPUComputePassEncoder, dqkv: Binding): void {
    const rows = this.shape.batch * this.shape.seqLen;
    this.#kernels.dispatch(pass, this.#backward, [
      this.#table,
      bindingPrefix(dqkv, rows * 3 * this.shape.dModel * 4),
    ], this.#grid);
  }

  /** Frees the table. */
  destroy(): void {
    this.#table.destroy();
  }
}

/** Whether the vec4 entry points apply: four pairs at a time need HD/2 to be a multiple of 4. */
function vec4Pairs(headDim: number): boolean {
  return headDim % 8 === 0;
}
