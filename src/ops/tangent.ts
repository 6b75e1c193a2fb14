/**
 * The forward-mode derivatives (tangents) of the elementwise and row-wise ops that have no linear
 * kernel to reuse: SwiGLU's (`kernels/swiglu.wgsl`, beside its forward and backward) and the per-token
 * loss's (`kernels/cross_entropy.wgsl`). The other ops' tangents reuse their own kernels: a Linear's is
 * two products, RMSNorm's is its backward (its Jacobian is symmetric), RoPE and the embedding are
 * linear, GELU's is its backward (elementwise). Attention's is `attention_tangent.ts`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { defaultRowVariant, rowWorkgroupSize, SERIAL_WORKGROUP_SIZE } from "./rmsnorm.ts";
import type { RowVariant } from "./rmsnorm.ts";
import type { SwiGluShape } from "./swiglu.ts";
import { checkPositiveSizes, checkSwiGluShape } from "./shapes.ts";

const SWIGLU_WORKGROUP_SIZE = 256;

/**
 * The tangent of SwiGLU: `ẏ = silu(gate)·ẋ + silu'(gate)·ġate·x` for `u = [x | gate]` and its tangent
 * `u̇` ([rows, width] each), `ẏ` [rows, width/2].
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const u: GPUBuffer, tangentU: GPUBuffer, tangentOut: GPUBuffer;
 * const tangent = await SwiGluTangent.create(kernels, { rows: 1024, width: 256 });
 * tangent.record(pass, u, tangentU, tangentOut); // tangentOut: [1024, 128]
 * ```
 */
export class SwiGluTangent {
  /** The shape it was built for. */
  readonly shape: Readonly<SwiGluShape>;
  readonly #kernels: Kernels;
  readonly #pipeline: GPUComputePipeline;
  readonly #grid: [number, number];

  private constructor(
    kernels: Kernels,
    shape: SwiGluShape,
    pipeline: GPUComputePipeline,
    workgroups: [number, number],
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#pipeline = pipeline;
    this.#grid = workgroups;
  }

  /** Compiles (or takes from the cache) the pipeline for `shape`. */
  static async create(kernels: Kernels, shape: SwiGluShape): Promise<SwiGluTangent> {
    const { rows, width } = shape;
    checkSwiGluShape(rows, width);
    const lanes = width % 8 === 0 ? 4 : 1; // the vec4 entry point when the half width allows
    const pipeline = await kernels.pipeline("swiglu", lanes === 4 ? "swiglu_tangent4" : "swiglu_tangent", {
      ROWS: rows,
      HALF: width / 2,
      WG: SWIGLU_WORKGROUP_SIZE,
    });
    return new SwiGluTangent(
      kernels,
      { rows, width },
      pipeline,
      grid((rows * width) / 2 / lanes, SWIGLU_WORKGROUP_SIZE),
    );
  }

  /** Records `tangentOut` ([rows, width/2], overwritten) from the forward's input `u` and its tangent. */
  record(pass: GPUComputePassEncoder, u: Binding, tangentU: Binding, tangentOut: Binding): void {
    this.#kernels.dispatch(pass, this.#pipeline, [u, tangentU, tangentOut], this.#grid);
  }
}

/** Shape of {@linkcode CrossEntropyTangent}. */
export interface CrossEntropyTangentShape {
  /** Rows of logits. */
  rows: number;
  /** Vocabulary: the row width. */
  vocab: number;
  /** Kernel variant; default by adapter ({@linkcode defaultRowVariant}). */
  variant?: RowVariant;
}

/**
 * The tangent of each row's token loss along a tangent `ż` of its logits `z`:
 * `ℓ̇ = Σ_v softmax(z)_v ż_v − ż[target]` (0 on rows without a target). Deterministic, fixed order.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const logits: GPUBuffer, tangentLogits: GPUBuffer, targets: GPUBuffer, out: GPUBuffer;
 * const tangent = await CrossEntropyTangent.create(kernels, { rows: 1024, vocab: 50304 });
 * tangent.record(pass, logits, tangentLogits, targets, out); // out [1024]
 * ```
 */
export class CrossEntropyTangent {
  /** The shape it was built for, the variant resolved. */
  readonly shape: Readonly<Required<CrossEntropyTangentShape>>;
  readonly #kernels: Kernels;
  readonly #pipeline: GPUComputePipeline;
  readonly #grid: [number, number];

  private constructor(
    kernels: Kernels,
    shape: Required<CrossEntropyTangentShape>,
    pipeline: GPUComputePipeline,
    workgroups: [number, number],
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#pipeline = pipeline;
    this.#grid = workgroups;
  }

  /** Compiles (or takes from the cache) the pipeline for `shape`. */
  static async create(kernels: Kernels, shape: CrossEntropyTangentShape): Promise<CrossEntropyTangent> {
    const { rows, vocab } = shape;
    checkPositiveSizes("CrossEntropyTangent", { rows, vocab });
    const variant = shape.variant ?? defaultRowVariant(kernels);
    const serial = variant === "serial";
    const wg = serial ? SERIAL_WORKGROUP_SIZE : rowWorkgroupSize(vocab);
    const pipeline = await kernels.pipeline(
      "cross_entropy",
      `cross_entropy_tangent_${serial ? "serial" : "wg"}`,
      {
        ROWS: rows,
        V: vocab,
        WG: wg,
      },
    );
    return new CrossEntropyTangent(
      kernels,
      { rows, vocab, variant },
      pipeline,
      serial ? grid(rows, wg) : grid(rows, 1),
    );
  }

  /** Records `out[r] = ℓ̇_r` from `logits`, `tangentLogits` ([rows, vocab]) and `targets` (u32 [rows]). */
  record(
    pass: GPUComputePassEncoder,
    logits: Binding,
    tangentLogits: Binding,
    targets: Binding,
    out: Binding,
  ): void {
    this.#kernels.dispatch(pass, this.#pipeline, [logits, tangentLogits, targets, out], this.#grid);
  }
}
