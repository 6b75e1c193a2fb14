/**
 * Token cross-entropy with the per-token losses kept on the GPU: a forward for evaluation, the fused
 * loss-and-gradient of training (the logits are overwritten in place by `(softmax − onehot)·scale`),
 * and {@linkcode SumReduce}, a fixed-order sum for the mean loss. Kernels in
 * `kernels/cross_entropy.wgsl`.
 *
 * @module
 */
import { createBuffer } from "../gpu/buffers.ts";
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { defaultRowVariant, rowWorkgroupSize, SERIAL_WORKGROUP_SIZE } from "./rmsnorm.ts";
import type { RowVariant } from "./rmsnorm.ts";

/** The target id that marks a row without a prediction (a sequence's last position). */
export const NO_TARGET = 0xffffffff;

/** Shape and options of {@linkcode CrossEntropy}. */
export interface CrossEntropyShape {
  /** Rows of logits (token positions of one chunk). */
  rows: number;
  /** Vocabulary: the row width. */
  vocab: number;
  /** Gradient scale of {@linkcode CrossEntropy.forwardBackward}: 1 / (predicted tokens in the global batch). */
  scale?: number;
  /** Kernel variant; default by adapter ({@linkcode defaultRowVariant}). */
  variant?: RowVariant;
}

/**
 * Cross-entropy over rows of logits. Targets are u32, {@linkcode NO_TARGET} for "no target" (loss 0,
 * gradient 0). A target that is neither must be below `vocab` (validate on the host): the kernel
 * never reads out of the row and writes NaN for such a row's loss and gradient.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const logits: GPUBuffer, targets: GPUBuffer, losses: GPUBuffer;
 * const ce = await CrossEntropy.create(kernels, { rows: 1024, vocab: 50304, scale: 1 / 523776 });
 * ce.forwardBackward(pass, logits, targets, losses); // losses [1024]; logits ← ∂(mean loss)/∂logits
 * ```
 */
export class CrossEntropy {
  /** The shape it was built for, defaults filled in (`scale` 1, `variant` by adapter). */
  readonly shape: Readonly<Required<CrossEntropyShape>>;
  readonly #kernels: Kernels;
  readonly #forward: GPUComputePipeline;
  readonly #train: GPUComputePipeline;
  readonly #workgroups: [number, number];

  private constructor(
    kernels: Kernels,
    shape: Required<CrossEntropyShape>,
    forward: GPUComputePipeline,
    train: GPUComputePipeline,
    workgroups: [number, number],
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#forward = forward;
    this.#train = train;
    this.#workgroups = workgroups;
  }

  /** Compiles (or takes from the cache) the pipelines for `shape`. */
  static async create(kernels: Kernels, shape: CrossEntropyShape): Promise<CrossEntropy> {
    const { rows, vocab } = shape;
    if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(vocab) && vocab > 0)) {
      throw new RangeError(
        `zsl: CrossEntropy needs positive integer rows and vocab, got rows=${rows}, vocab=${vocab}`,
      );
    }
    const full: Required<CrossEntropyShape> = {
      rows,
      vocab,
      scale: shape.scale ?? 1,
      variant: shape.variant ?? defaultRowVariant(kernels),
    };
    const serial = full.variant === "serial";
    const wg = serial ? SERIAL_WORKGROUP_SIZE : rowWorkgroupSize(vocab);
    // serial4 (vocab a multiple of 4): vec4 loads, 1.9 → 1.05 ms CPU for cpu-s's 1,024 × 320 logits.
    const suffix = serial ? (vocab % 4 === 0 ? "serial4" : "serial") : "wg";
    const constants = { ROWS: rows, V: vocab, SCALE: full.scale, WG: wg };
    const [forward, train] = await Promise.all([
      kernels.pipeline("cross_entropy", `cross_entropy_forward_${suffix}`, constants),
      kernels.pipeline("cross_entropy", `cross_entropy_train_${suffix}`, constants),
    ]);
    return new CrossEntropy(kernels, full, forward, train, serial ? grid(rows, wg) : grid(rows, 1));
  }

  /**
   * Records the per-token losses into `losses` ([rows]); the logits ([rows, vocab]) are left as they
   * are. `targets`: u32 [rows].
   */
  forward(pass: GPUComputePassEncoder, logits: Binding, targets: Binding, losses: Binding): void {
    this.#kernels.dispatch(pass, this.#forward, [logits, targets, losses], this.#workgroups);
  }

  /**
   * Records the per-token losses and overwrites the logits with `∂(scale·Σ losses)/∂logits =
   * (softmax − onehot)·scale` (0 on rows without a target).
   */
  forwardBackward(pass: GPUComputePassEncoder, logits: Binding, targets: Binding, losses: Binding): void {
    this.#kernels.dispatch(pass, this.#train, [logits, targets, losses], this.#workgroups);
  }
}

/** Shape and options of {@linkcode SumReduce}. */
export interface SumReduceShape {
  /** Values to sum. */
  n: number;
  /** Kernel variant; default by adapter (`serial` on software adapters). */
  variant?: RowVariant;
}

/** Up to this many values are summed in one pass; beyond, partial sums come first. */
const SINGLE_PASS_MAX = 32768;

/**
 * A deterministic sum of `n` floats into one float (the numerator of the mean loss). Fixed order:
 * bit-identical run to run on one adapter.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, losses: GPUBuffer, sums: GPUBuffer, step: number;
 * const sum = await SumReduce.create(kernels, { n: 1024 });
 * sum.record(pass, losses, { buffer: sums, offset: 256 * step, size: 4 }); // offsets: multiples of 256
 * ```
 */
export class SumReduce {
  /** Number of floats summed. */
  readonly n: number;
  /** The kernel variant in use. */
  readonly variant: RowVariant;
  readonly #kernels: Kernels;
  readonly #partial:
    | { pipeline: GPUComputePipeline; workgroups: [number, number]; scratch: GPUBuffer }
    | null;
  readonly #final: GPUComputePipeline;

  private constructor(
    kernels: Kernels,
    n: number,
    variant: RowVariant,
    partial: { pipeline: GPUComputePipeline; workgroups: [number, number]; scratch: GPUBuffer } | null,
    final: GPUComputePipeline,
  ) {
    this.#kernels = kernels;
    this.n = n;
    this.variant = variant;
    this.#partial = partial;
    this.#final = final;
  }

  /** Compiles (or takes from the cache) the pipelines for `n` values; owns a scratch buffer when `n` is large. */
  static async create(kernels: Kernels, shape: SumReduceShape): Promise<SumReduce> {
    const { n } = shape;
    if (!(Number.isInteger(n) && n > 0)) {
      throw new RangeError(`zsl: SumReduce needs a positive integer n, got ${n}`);
    }
    const variant = shape.variant ?? defaultRowVariant(kernels);
    const serial = variant === "serial";
    const finalEntry = serial ? "loss_sum_final_serial" : "loss_sum_final_wg";
    if (n <= SINGLE_PASS_MAX) {
      const final = await kernels.pipeline("cross_entropy", finalEntry, { N: n, WG: 256 });
      return new SumReduce(kernels, n, variant, null, final);
    }
    // *_wg: one partial per 256·16 values; *_serial: one per 256 values, 64 per workgroup.
    const wg = serial ? 64 : 256;
    const items = serial ? 256 : 16;
    const groups = Math.ceil(n / (wg * items));
    const count = serial ? groups * wg : groups;
    const [partial, final] = await Promise.all([
      kernels.pipeline("cross_entropy", serial ? "loss_sum_partials_serial" : "loss_sum_partials_wg", {
        N: n,
        WG: wg,
        ITEMS: items,
      }),
      kernels.pipeline("cross_entropy", finalEntry, { N: count, WG: 256 }),
    ]);
    const scratch = createBuffer(kernels.gpu, count * 4, "loss sum partials");
    return new SumReduce(
      kernels,
      n,
      variant,
      { pipeline: partial, workgroups: grid(groups, 1), scratch },
      final,
    );
  }

  /**
   * Records `output[0] = Σ input[0…n)`. `output` is a one-float binding: place it with a byte
   * offset (a multiple of the adapter's `minStorageBufferOffsetAlignment`, 256).
   */
  record(pass: GPUComputePassEncoder, input: Binding, output: Binding): void {
    if (this.#partial) {
      const { pipeline, workgroups, scratch } = this.#partial;
      this.#kernels.dispatch(pass, pipeline, [input, scratch], workgroups);
      this.#kernels.dispatch(pass, this.#final, [scratch, output], [1, 1]);
    } else {
      this.#kernels.dispatch(pass, this.#final, [input, output], [1, 1]);
    }
  }

  /** Frees the scratch buffer (if any). */
  destroy(): void {
    this.#partial?.scratch.destroy();
  }
}
