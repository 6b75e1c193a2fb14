/**
 * RMSNorm without affine weights (OLMo's parameter-free norm, eps 1e-5): `y = x / sqrt(mean(x²) + eps)`
 * per row, and its backward `dx = rstd·(dy − y·mean(dy·y))`. Kernels in `kernels/rmsnorm.wgsl`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { bindingPrefix, compilePair, ForwardBackwardOp } from "./forward_backward.ts";

/**
 * How a row-wise kernel maps onto the device: `serial` is one invocation per row with serial loops
 * (best on software adapters, where workgroup memory and barriers are slow; RMSNorm at widths that are
 * multiples of 4 up to 128 uses an 8-lane subgroup per row instead); `workgroup` is one
 * workgroup per row with a fixed-order tree reduction (GPUs). Both are deterministic.
 */
export type RowVariant = "serial" | "workgroup";

/** The default variant for the adapter behind `kernels`. */
export function defaultRowVariant(kernels: Kernels): RowVariant {
  return kernels.gpu.adapter.isSoftware ? "serial" : "workgroup";
}

/** Invocations per workgroup of the `workgroup` variant for rows of `width`: a power of two in 32…256. */
export function rowWorkgroupSize(width: number): number {
  let size = 32;
  while (size < 256 && size < width) size *= 2;
  return size;
}

/** Invocations per workgroup of the `serial` variant (one row each). */
export const SERIAL_WORKGROUP_SIZE = 16;

// The serial variant's register kernels (an 8-lane subgroup per row, the row held in registers) take
// widths that are multiples of 4 up to this, 32 rows a workgroup.
const REGISTER_MAX_WIDTH = 128;
const REGISTER_ROWS_PER_WORKGROUP = 32;

/** Whether the adapter runs 8-lane subgroup kernels (subgroups of at least 8 invocations). */
function eightLaneSubgroups(kernels: Kernels): boolean {
  const gpu = kernels.gpu;
  return gpu.features.includes("subgroups") && (gpu.adapter.subgroupMinSize ?? 8) >= 8;
}

/** Shape and options of {@linkcode RmsNorm}. */
export interface RmsNormShape {
  /** Rows (tokens). */
  rows: number;
  /** Row width (model dimension). */
  d: number;
  /** Added to mean(x²) before the square root (default 1e-5, OLMo's). */
  eps?: number;
  /** Backward adds into `dx` instead of overwriting it (default false). */
  accumulate?: boolean;
  /** Kernel variant; default by adapter ({@linkcode defaultRowVariant}). */
  variant?: RowVariant;
}

/**
 * RMSNorm forward and backward for one shape.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const x: GPUBuffer, y: GPUBuffer, rstd: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer;
 * const norm = await RmsNorm.create(kernels, { rows: 1024, d: 256, accumulate: true });
 * norm.forward(pass, x, y, rstd);
 * norm.backward(pass, dy, y, rstd, dx); // dx += ∂L/∂x
 * ```
 */
export class RmsNorm extends ForwardBackwardOp<Required<RmsNormShape>> {
  /** Compiles (or takes from the cache) the pipelines for `shape`. */
  static async create(kernels: Kernels, shape: RmsNormShape): Promise<RmsNorm> {
    const { rows, d } = shape;
    if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(d) && d > 0)) {
      throw new RangeError(`zsl: RmsNorm needs positive integer rows and d, got rows=${rows}, d=${d}`);
    }
    const full: Required<RmsNormShape> = {
      rows,
      d,
      eps: shape.eps ?? 1e-5,
      accumulate: shape.accumulate ?? false,
      variant: shape.variant ?? defaultRowVariant(kernels),
    };
    const serial = full.variant === "serial";
    if (serial && d % 4 === 0 && d <= REGISTER_MAX_WIDTH && eightLaneSubgroups(kernels)) {
      // No ROWS: the kernels count the rows from the rstd binding (see `forward`).
      const base = { D: d, EPS: full.eps, ROWS_PER_WG: REGISTER_ROWS_PER_WORKGROUP };
      const pipelines = await compilePair(
        kernels,
        "rmsnorm",
        ["rmsnorm_forward_register", "rmsnorm_backward_register"],
        base,
        { ...base, ACCUMULATE: full.accumulate },
      );
      return new RmsNorm(kernels, full, pipelines, grid(rows, REGISTER_ROWS_PER_WORKGROUP));
    }
    const wg = serial ? SERIAL_WORKGROUP_SIZE : rowWorkgroupSize(d);
    const suffix = serial ? (d % 4 === 0 ? "serial4" : "serial") : "wg";
    const base = { ROWS: rows, D: d, EPS: full.eps, WG: wg };
    const pipelines = await compilePair(
      kernels,
      "rmsnorm",
      [`rmsnorm_forward_${suffix}`, `rmsnorm_backward_${suffix}`],
      base,
      { ...base, ACCUMULATE: full.accumulate },
    );
    return new RmsNorm(kernels, full, pipelines, serial ? grid(rows, wg) : grid(rows, 1));
  }

  /** Records `y = x·rstd` and saves `rstd` ([rows]). `x`, `y`: [rows, d]. */
  forward(pass: GPUComputePassEncoder, x: Binding, y: Binding, rstd: Binding): void {
    // rstd bound at exactly `rows` floats: the register kernels take the row count from its length.
    this.recordForward(pass, [x, y, bindingPrefix(rstd, this.shape.rows * 4)]);
  }

  /**
   * Records `dx = rstd·(dy − y·mean(dy·y))` (or `dx +=` with `accumulate`), from the forward's
   * output `y` and saved `rstd`.
   */
  backward(pass: GPUComputePassEncoder, dy: Binding, y: Binding, rstd: Binding, dx: Binding): void {
    this.recordBackward(pass, [dy, y, bindingPrefix(rstd, this.shape.rows * 4), dx]);
  }
}
