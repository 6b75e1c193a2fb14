/**
 * SwiGLU (OLMo): `u` [rows, width] → `silu(u[:, width/2:]) · u[:, :width/2]` [rows, width/2], and its
 * backward. Kernels in `kernels/swiglu.wgsl`.
 *
 * @module
 */
import { grid } from "../gpu/kernels.ts";
import type { Binding, Kernels } from "../gpu/kernels.ts";
import { bindingPrefix, compilePair, ForwardBackwardOp } from "./forward_backward.ts";
import { defaultRowVariant, type RowVariant } from "./rmsnorm.ts";
import { checkSwiGluShape } from "./shapes.ts";

/** Shape of {@linkcode SwiGlu}. */
export interface SwiGluShape {
  /** Rows (tokens). */
  rows: number;
  /** Input width (even): the output is half as wide. */
  width: number;
  /**
   * Kernel variant; default by adapter ({@linkcode defaultRowVariant}). `serial` (software adapters,
   * width a multiple of 8): a row per invocation; otherwise four columns (or one) per invocation.
   */
  variant?: RowVariant;
}

const WORKGROUP_SIZE = 256;
const ROWS4_WORKGROUP_SIZE = 64;

/**
 * SwiGLU forward and backward for one shape.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const u: GPUBuffer, out: GPUBuffer, dout: GPUBuffer, du: GPUBuffer;
 * const swiglu = await SwiGlu.create(kernels, { rows: 1024, width: 256 });
 * swiglu.forward(pass, u, out);        // out: [1024, 128]
 * swiglu.backward(pass, dout, u, du);  // du: [1024, 256], overwritten
 * ```
 */
export class SwiGlu extends ForwardBackwardOp<Required<SwiGluShape>> {
  /** Compiles (or takes from the cache) the pipelines for `shape`. */
  static async create(kernels: Kernels, shape: SwiGluShape): Promise<SwiGlu> {
    const { rows, width } = shape;
    checkSwiGluShape(rows, width);
    const variant = shape.variant ?? defaultRowVariant(kernels);
    if (variant === "serial" && width % 8 === 0) {
      const pipelines = await compilePair(
        kernels,
        "swiglu",
        ["swiglu_forward_rows4", "swiglu_backward_rows4"],
        { HALF: width / 2, WG: ROWS4_WORKGROUP_SIZE }, // rows: from the bindings (see `forward`)
      );
      return new SwiGlu(kernels, { rows, width, variant }, pipelines, grid(rows, ROWS4_WORKGROUP_SIZE));
    }
    const suffix = width % 8 === 0 ? "4" : ""; // the vec4 entry points when the half width allows
    const pipelines = await compilePair(
      kernels,
      "swiglu",
      [`swiglu_forward${suffix}`, `swiglu_backward${suffix}`],
      { ROWS: rows, HALF: width / 2, WG: WORKGROUP_SIZE },
    );
    const lanes = width % 8 === 0 ? 4 : 1;
    const workgroups = grid((rows * width) / 2 / lanes, WORKGROUP_SIZE);
    return new SwiGlu(kernels, { rows, width, variant }, pipelines, workgroups);
  }

  /** Records `out = silu(gate)·x` (`u` [rows, width] → `out` [rows, width/2]). */
  forward(pass: GPUComputePassEncoder, u: Binding, out: Binding): void {
    // `out` and `dout` bound at exactly their size: the rows4 kernels count the rows from their length.
    this.recordForward(pass, [u, bindingPrefix(out, this.shape.rows * this.shape.width * 2)]);
  }

  /** Records `du` ([rows, width], both halves overwritten) from `dout` ([rows, width/2]) and `u`. */
  backward(pass: GPUComputePassEncoder, dout: Binding, u: Binding, du: Binding): void {
    this.recordBackward(pass, [bindingPrefix(dout, this.shape.rows * this.shape.width * 2), u, du]);
  }
}
