/**
 * Causal multi-head self-attention on the GPU, flash-attention style (see `kernels/attention.wgsl`):
 * forward `qkv [B·T, 3d]` → `y [B·T, d]` plus the log-sum-exp `lse [B·H·T]`; backward → `dqkv`.
 * With `ropeTheta`, the backward also does RoPE's backward: `dqkv` is the gradient with respect to q
 * and k before `Rope.forward` rotated them (where the head dimension allows it, {@linkcode fusesRope}).
 *
 * @module
 */
import { type Binding, type Constants, createBuffer, grid, type Kernels, uploadBuffer } from "../gpu/mod.ts";
import { checkAttentionShape, checkRopeShape, ropeTable } from "./shapes.ts";

/**
 * Kernel variant: `register` (workgroups of one 8-lane subgroup, each lane holding one or two rows,
 * that share the other side's rows by subgroup shuffles: fast on lavapipe, needs subgroups of exactly
 * 8 lanes and head dimensions ≤ {@linkcode MAX_REGISTER_HEAD_DIM}), `tiled` (workgroups of 64 rows
 * sharing tiles of the other side in workgroup memory: GPUs), `auto` (`register` on a software
 * adapter that supports it, else `tiled`).
 */
export type AttentionVariant = "auto" | "register" | "tiled";

/** The shape an {@linkcode Attention} is built for. */
export interface AttentionShape {
  /** Sequences `B`. */
  batch: number;
  /** Tokens per sequence `T`. */
  seqLen: number;
  /** Model width `d`: q, k, v are each `d` columns of `qkv`. */
  dModel: number;
  /** Heads `H`; the head dimension `d / H` must be even and ≤ {@linkcode MAX_HEAD_DIM}. */
  nHeads: number;
  /** Kernel variant (default `auto`). */
  variant?: AttentionVariant;
  /**
   * RoPE base θ with which `Rope.forward` rotated q and k in `qkv`: the backward rotates dq and dk
   * back, so that `Rope.backward` is not needed (needs {@linkcode fusesRope}`(headDim)`). `null`
   * (default): `dqkv` is the gradient with respect to `qkv` as it is.
   */
  ropeTheta?: number | null;
}

/**
 * Whether {@linkcode Attention} can do RoPE's backward at this head dimension: its chunks of 4
 * elements hold both halves of two rotation pairs only when the half head dimension is even.
 * Otherwise run `Rope.backward` (src/ops/rope.ts) on `dqkv` after it.
 */
export function fusesRope(headDim: number): boolean {
  return headDim % 4 === 0;
}

/** Largest head dimension the kernels hold in registers (`MAX_HD4 · 4` in the WGSL). */
export const MAX_HEAD_DIM = 128;

/** Largest head dimension of the `register` kernels (`REG_E · 4` in the WGSL); `auto` takes `tiled` above. */
export const MAX_REGISTER_HEAD_DIM = 64;

/** `register`: lanes per workgroup, one lavapipe subgroup (its shuffles need it). */
const SUBGROUP = 8;
/** `register`: entries of a lane's row arrays (`REG_E` in the WGSL), R rows of ⌈hd/4⌉ chunks. */
const REGISTER_ENTRIES = 16;
/**
 * `register`: rows per lane at most (2 at hd ≤ 32). Measured on lavapipe (attention + RoPE CPU ms a
 * step, medians of 5): R = 2 took 7.2 / 15.9 / 25.3 ms at cpu-xs / cpu-s / cpu-m against 9.0 / 17.8 /
 * 30.2 for R = 1; R = 4 needs 32-entry arrays, which ran 3–4× slower.
 */
const REGISTER_ROWS_PER_LANE = 2;
/** `tiled`: rows per workgroup, a few warps. */
const TILED_ROWS = 64;

interface Pipelines {
  forward: GPUComputePipeline;
  dq: GPUComputePipeline;
  /** `register`: one pipeline for dk and dv; `tiled`: dk, then dv. */
  dkdv: GPUComputePipeline[];
}

/** The largest tile (rows of the other side) in {64, 32, 16, 8, 4, 2, 1} whose bytes fit `limit`. */
function tileRows(bytesPerRow: number, limit: number): number {
  for (let rows = 64; rows >= 1; rows /= 2) if (rows * bytesPerRow <= limit) return rows;
  throw new Error(
    `zsl: attention tiles of ${bytesPerRow} bytes per row exceed the workgroup memory (${limit})`,
  );
}

/**
 * Whether the `register` kernels can run here: they shuffle within subgroups of exactly 8 lanes
 * (and take head dimensions up to {@linkcode MAX_REGISTER_HEAD_DIM}, checked by the caller).
 */
export function attentionRegisterSupported(kernels: Kernels): boolean {
  const { adapter, features } = kernels.gpu;
  return features.includes("subgroups") && adapter.subgroupMinSize === 8 && adapter.subgroupMaxSize === 8;
}

/**
 * The attention variant to build at `headDim` (`auto`: `register` on a software adapter that has 8-lane
 * subgroups and a head dimension ≤ `maxRegisterHeadDim`, else `tiled`), after checking the head
 * dimension, the variant's name and what `register` needs; `what` names the kernels in the errors.
 */
export function resolveAttentionVariant(
  kernels: Kernels,
  requested: AttentionVariant,
  headDim: number,
  maxRegisterHeadDim: number,
  what: string,
): "register" | "tiled" {
  if (headDim % 2 !== 0 || headDim > MAX_HEAD_DIM) {
    throw new Error(
      `zsl: attention head dimension d_model/n_heads = ${headDim} must be even and ≤ ${MAX_HEAD_DIM}: ` +
        `change n_heads`,
    );
  }
  if (!["auto", "register", "tiled"].includes(requested)) {
    throw new Error(`zsl: unknown attention variant "${requested}": use auto, register or tiled`);
  }
  const registerRuns = attentionRegisterSupported(kernels);
  if (requested === "register" && !registerRuns) {
    const { subgroupMinSize, subgroupMaxSize } = kernels.gpu.adapter;
    throw new Error(
      `zsl: the register attention ${what} need subgroups of exactly 8 lanes (this adapter: ` +
        `${subgroupMinSize ?? "?"}–${subgroupMaxSize ?? "?"}): use variant "tiled" or "auto"`,
    );
  }
  if (requested === "register" && headDim > maxRegisterHeadDim) {
    throw new Error(
      `zsl: the register attention ${what} take head dimensions ≤ ${maxRegisterHeadDim}, got ` +
        `${headDim}: use variant "tiled" or "auto"`,
    );
  }
  if (requested !== "auto") return requested;
  return kernels.gpu.adapter.isSoftware && registerRuns && headDim <= maxRegisterHeadDim
    ? "register"
    : "tiled";
}

/**
 * Attention for one shape: the pipelines of the chosen variant (specialised by head dimension only;
 * the other sizes come from a small uniform buffer), that uniform, and a scratch buffer of
 * `(lse_t, D_t = dy_t·y_t)` pairs (`[B·H·T]`) passed from the dq kernel to the dk and dv kernels.
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * const gpu = await openGpu();
 * const attention = await Attention.create(new Kernels(gpu), { batch: 2, seqLen: 16, dModel: 64, nHeads: 4 });
 * console.log(attention.variant, attention.lseLength);
 * attention.destroy();
 * gpu.destroy();
 * ```
 */
export class Attention {
  /** The shape it was built for; `variant` as requested (`Attention.variant` is the one in use). */
  readonly shape: Readonly<Required<AttentionShape>>;
  /** The variant in use (`auto` resolved). */
  readonly variant: "register" | "tiled";
  /** Elements of the `lse` buffer the forward writes: `B·H·T`. */
  readonly lseLength: number;
  #kernels: Kernels;
  #pipelines: Pipelines;
  #params: GPUBuffer;
  #ld: GPUBuffer;
  /** (cos, sin) per position and rotation pair under RoPE; otherwise a placeholder the kernels never read. */
  #rope: GPUBuffer;
  #grid: [number, number];

  private constructor(
    kernels: Kernels,
    shape: Required<AttentionShape>,
    variant: "register" | "tiled",
    pipelines: Pipelines,
    rows: number,
    rope: GPUBuffer,
  ) {
    this.#rope = rope;
    this.#kernels = kernels;
    this.shape = shape;
    this.variant = variant;
    this.#pipelines = pipelines;
    const bh = shape.batch * shape.nHeads;
    this.lseLength = bh * shape.seqLen;
    const device = kernels.gpu.device;
    this.#params = device.createBuffer({
      label: "attention shape",
      size: 32,
      usage: 0x40 /* UNIFORM */ | 0x08, /* COPY_DST */
    });
    // struct Shape { T, D, H, BH, hd4 } (padded to 32 bytes)
    const hd4 = Math.ceil(shape.dModel / shape.nHeads / 4);
    const fields = new Uint32Array([shape.seqLen, shape.dModel, shape.nHeads, bh, hd4, 0, 0, 0]);
    device.queue.writeBuffer(this.#params, 0, fields);
    this.#ld = createBuffer(kernels.gpu, this.lseLength * 8, "attention (lse, D = rowsum(dy·y))");
    this.#grid = grid(bh * Math.ceil(shape.seqLen / rows), 1);
  }

  /** Builds the pipelines of `shape.variant` (default `auto`: `register` on lavapipe, else `tiled`). */
  static async create(kernels: Kernels, shape: AttentionShape): Promise<Attention> {
    const full: Required<AttentionShape> = {
      ...shape,
      variant: shape.variant ?? "auto",
      ropeTheta: shape.ropeTheta ?? null,
    };
    const headDim = checkAttentionShape(full.batch, full.seqLen, full.dModel, full.nHeads);
    if (full.ropeTheta !== null) {
      checkRopeShape(full.seqLen, full.dModel, headDim);
      if (!fusesRope(headDim)) {
        throw new Error(
          `zsl: attention does RoPE's backward only at head dimensions divisible by 4, got ${headDim}: ` +
            `leave ropeTheta unset and run Rope.backward on dqkv`,
        );
      }
    }
    const variant = resolveAttentionVariant(kernels, full.variant, headDim, MAX_REGISTER_HEAD_DIM, "kernels");
    const hd4 = Math.ceil(headDim / 4);
    const perLane = Math.min(REGISTER_ROWS_PER_LANE, Math.floor(REGISTER_ENTRIES / hd4));
    const rows = variant === "register" ? SUBGROUP * perLane : TILED_ROWS;
    const rope = full.ropeTheta !== null;
    const base: Constants = { HD: headDim, HD4: hd4, SCALE: 1 / Math.sqrt(headDim), WG: rows, ROPE: rope };
    let pipelines: Promise<GPUComputePipeline>[];
    if (variant === "register") {
      const register = (name: string) =>
        kernels.pipeline("attention", `attention_${name}_register`, { ...base, R: perLane });
      pipelines = [register("forward"), register("backward_dq"), register("backward_dkdv")];
    } else {
      const limit = kernels.gpu.limits.maxComputeWorkgroupStorageSize;
      const kvTile = tileRows(2 * hd4 * 16, limit); // k and v chunks
      const qTile = tileRows(2 * hd4 * 16 + 8, limit); // q and dy chunks, (lse, D)
      const tiled = (name: string, bc: number, extra: Constants = {}) =>
        kernels.pipeline("attention", `attention_${name}_tiled`, {
          ...base,
          BC: bc,
          TILE4: bc * hd4,
          ...extra,
        });
      pipelines = [
        tiled("forward", kvTile),
        tiled("backward_dq", kvTile),
        tiled("backward_dkdv", qTile, { DV: false }),
        tiled("backward_dkdv", qTile, { DV: true }),
      ];
    }
    const [forward, dq, ...dkdv] = await Promise.all(pipelines);
    let table = new Float32Array(4);
    if (rope) {
      const { cos, sin } = ropeTable(full.seqLen, headDim, full.ropeTheta!);
      table = new Float32Array(2 * cos.length);
      for (let e = 0; e < cos.length; e++) {
        table[2 * e] = cos[e];
        table[2 * e + 1] = sin[e];
      }
    }
    const ropeBuffer = uploadBuffer(
      kernels.gpu,
      table,
      rope ? "attention RoPE table" : "attention RoPE placeholder",
    );
    return new Attention(kernels, full, variant, { forward, dq, dkdv }, rows, ropeBuffer);
  }

  /** Writes `y [B·T, d]` and `lse [B·H·T]` from `qkv [B·T, 3d]` (q and k already rotated). */
  forward(pass: GPUComputePassEncoder, qkv: Binding, y: Binding, lse: Binding): void {
    this.#kernels.dispatch(pass, this.#pipelines.forward, [this.#params, qkv, y, lse], this.#grid);
  }

  /**
   * Writes all of `dqkv [B·T, 3d]` (not accumulated) from `dy [B·T, d]` and the forward's `qkv`, `y`
   * and `lse`; under `ropeTheta` dq and dk with respect to q and k before their rotation.
   */
  backward(
    pass: GPUComputePassEncoder,
    dy: Binding,
    qkv: Binding,
    y: Binding,
    lse: Binding,
    dqkv: Binding,
  ): void {
    const ld = this.#ld;
    const rope = this.#rope;
    this.#kernels.dispatch(
      pass,
      this.#pipelines.dq,
      [this.#params, dy, qkv, y, lse, ld, dqkv, rope],
      this.#grid,
    );
    for (const pipeline of this.#pipelines.dkdv) {
      this.#kernels.dispatch(pass, pipeline, [this.#params, dy, qkv, ld, dqkv, rope], this.#grid);
    }
  }

  /** Frees the uniform, the scratch buffer and the RoPE table. */
  destroy(): void {
    this.#params.destroy();
    this.#ld.destroy();
    this.#rope.destroy();
  }
}
