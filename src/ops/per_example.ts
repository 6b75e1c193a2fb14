/**
 * Streaming statistics of per-example gradients (gradient interference, docs/method.md#per-example-gradients), without storing
 * any per-example gradient. Kernels in `kernels/per_example.wgsl`.
 *
 * A batch holds E examples of P rows each (rows e·P … e·P + P − 1 are example e's). For a Linear
 * weight W [out, in] example e's gradient is G_e = Σ_{r∈e} dy_r x_rᵀ; for the tied embedding wte [V, d]
 * it is Σ_{r∈e} dlogits_r final_rᵀ plus dEmbedding_r added into row id_r for each r ∈ e. Each op adds
 * G_e[j] and |G_e[j]| into per-coordinate sums (`sumG`, `sumAbsG`, one invocation per coordinate, so
 * deterministic) and writes per-example partial sums over its coordinates,
 * (Σ_j G_e[j]·δ_j, Σ_j |G_e[j]·δ_j|, Σ_j G_e[j]², Σ_j |G_e[j]|), into its region of a partials buffer
 * `[partialColumns][E][4]` (float32). {@linkcode ExampleStatsReduce} then sums a whole partials buffer
 * over its columns in a fixed order into `[E][4]`.
 *
 * Several ops share one partials buffer: each op's region (`partialColumns · E · 4` floats) starts at a
 * 256-byte-aligned offset, and the padding columns between regions must hold zeros (they are never
 * written: keep them as the zero-filled buffer was created), because the reduce sums every column.
 *
 * Two kernel families: `register` (one 8-lane subgroup per workgroup, register blocks, subgroup
 * shuffles; lavapipe; needs out and in, or V and d, multiples of 4 — other sizes use the tiled kernel)
 * and `tiled` (workgroup memory, 64 × 64 blocks, examples split over workgroups for small weights;
 * GPUs). `auto` picks `register` on a software adapter with subgroups.
 *
 * One op may be recorded several times in a pass (every layer of the same shape): its only state
 * between dispatches is the tiled kernel's per-slice scratch, which each record consumes before the
 * next one writes it. On lavapipe a Linear record costs about as much as the `dyTx` weight-gradient
 * matmul of the same E·P rows at P = 64, and about 1.25× at P = 16 (`perExampleBench`).
 *
 * @module
 */
import { alignUp, createBuffer, writeBuffer } from "../gpu/buffers.ts";
import { type Binding, grid, type Kernels } from "../gpu/kernels.ts";
import { buildTokenIndex } from "./embedding.ts";
import { registerVariantSupported } from "./matmul.ts";
import { checkPositiveSizes } from "./shapes.ts";

/** Kernel family of the per-example statistics ops. */
export type PerExampleVariant = "register" | "tiled";

/** Shape of {@linkcode LinearExampleStats}. */
export interface LinearExampleShape {
  /** Examples E per record. */
  examples: number;
  /** Rows P of each example (rows e·P … e·P + P − 1 are example e's). */
  rowsPerExample: number;
  /** Out features: rows of W. */
  out: number;
  /** In features: columns of W. */
  in: number;
  /** Kernel family (default `auto`: `register` on a software adapter with subgroups, else `tiled`). */
  variant?: "auto" | PerExampleVariant;
  /**
   * Row blocks of W each workgroup walks through (default: chosen so that there are enough workgroups
   * and not too many columns of partials). Tests set it to exercise the multi-block path.
   */
  rowBlocksPerWorkgroup?: number;
  /** Examples per slice of the tiled kernel (default: chosen from the block count; E: no slicing). */
  examplesPerSlice?: number;
  /**
   * Rows of example e whose dy can be nonzero: the leading min(P, first + e·perExample) (default: all
   * P). A per-token pass's copy e holds its loss at row first − 1 + e, and causal attention leaves every
   * later row's gradient exactly zero, so those rows are skipped (same result, less work).
   */
  liveRows?: LiveRows;
}

/**
 * The leading rows of each example that can carry a nonzero gradient: example e's first
 * min(P, first + (e mod period)·perExample) rows (first ≥ 1, perExample ≥ 0, period ≥ 1).
 */
export interface LiveRows {
  /** Live rows of example 0. */
  first: number;
  /** Live rows added per example. */
  perExample: number;
  /** Examples after which the count starts again at `first` (default: never, E). */
  period?: number;
}

/** Shape of {@linkcode EmbeddingExampleStats}. */
export interface EmbeddingExampleShape {
  /** Examples E per record. */
  examples: number;
  /** Rows P of each example. */
  rowsPerExample: number;
  /** Vocabulary V: rows of wte. */
  vocab: number;
  /** Model dimension d: columns of wte. */
  d: number;
  /** Kernel family (default `auto`). */
  variant?: "auto" | PerExampleVariant;
  /** As {@linkcode LinearExampleShape.rowBlocksPerWorkgroup}. */
  rowBlocksPerWorkgroup?: number;
  /** As {@linkcode LinearExampleShape.examplesPerSlice}. */
  examplesPerSlice?: number;
  /**
   * Rows of each example in dlogits and final, the LM-head part (default `rowsPerExample`): 1 when the
   * head ran on each example's target row only (per-token passes), while dEmbedding keeps P rows.
   */
  headRowsPerExample?: number;
  /**
   * As {@linkcode LinearExampleShape.liveRows}, for the LM-head part when it keeps P rows per example
   * (the input part always walks its hits).
   */
  liveRows?: LiveRows;
}

/** Shape of {@linkcode ExampleStatsReduce}. */
export interface ExampleStatsReduceShape {
  /** Examples E. */
  examples: number;
  /** Columns of the partials buffer (every op's region and the padding between them). */
  columns: number;
}

/** The variant `auto` resolves to on the adapter behind `kernels`. */
export function defaultPerExampleVariant(kernels: Kernels): PerExampleVariant {
  const gpu = kernels.gpu;
  return gpu.adapter.isSoftware && registerVariantSupported(gpu) ? "register" : "tiled";
}

/**
 * A region's column count rounded up so that the next region of a shared partials buffer starts at a
 * multiple of `alignmentBytes` (default 256): the smallest multiple of alignment / gcd(alignment, 16·E)
 * columns that holds `columns`. Region k starts at column Σ_{i<k} paddedPartialColumns(columns_i, E).
 */
export function paddedPartialColumns(columns: number, examples: number, alignmentBytes = 256): number {
  let a = alignmentBytes;
  let b = examples * 16;
  while (b !== 0) [a, b] = [b, a % b];
  const step = alignmentBytes / a;
  return Math.ceil(columns / step) * step;
}

// Blocks of W per workgroup, as in the WGSL.
const REGISTER_ROWS = 16;
const REGISTER_COLS = 32;
const TILE = 64;
/** Workgroups worth having before grouping row blocks (register: a CPU; tiled: a GPU). */
const TARGET_WORKGROUPS = { register: 256, tiled: 2048 } as const;
/** Tiled: split the examples into slices while there are fewer blocks than this. */
const SLICE_TARGET_BLOCKS = 256;
const MAX_SLICES = 64;
const REDUCE_WORKGROUP = 256;
const PARAMS_BYTES = 64;
const UNIFORM_USAGE = 0x40 /* UNIFORM */ | 0x08; /* COPY_DST */

function bindingBytes(binding: Binding): number {
  if (binding instanceof GPUBuffer) return binding.size;
  return binding.size ?? binding.buffer.size - (binding.offset ?? 0);
}

function checkBindings(op: string, bindings: [string, Binding, number][]): void {
  for (const [name, binding, floats] of bindings) {
    if (bindingBytes(binding) < floats * 4) {
      throw new RangeError(
        `zsl: ${op} needs ${floats * 4} bytes for ${name} but its binding has ${bindingBytes(binding)}: ` +
          `bind a range of at least that size`,
      );
    }
  }
}

function uniformBuffer(kernels: Kernels, fields: number[], label: string): GPUBuffer {
  const buffer = kernels.gpu.device.createBuffer({ label, size: PARAMS_BYTES, usage: UNIFORM_USAGE });
  const data = new Uint32Array(PARAMS_BYTES / 4);
  data.set(fields);
  writeBuffer(kernels.gpu, buffer, data);
  return buffer;
}

interface StatsShape {
  examples: number;
  rows: number;
  /** Rows per example of dy and x (default `rows`; the embedding's LM-head part may have fewer). */
  headRows?: number;
  out: number;
  in: number;
  variant: "auto" | PerExampleVariant;
  rowBlocksPerWorkgroup?: number;
  examplesPerSlice?: number;
  liveRows?: LiveRows;
}

/**
 * The dispatches shared by the Linear and the embedding op: pipeline, grid, params uniform and (tiled,
 * sliced) the scratch planes and their reduce.
 */
class StatsKernel {
  readonly variant: PerExampleVariant;
  readonly entryPoint: string;
  readonly partialColumns: number;
  readonly slices: number;
  readonly rowBlocksPerWorkgroup: number;
  readonly #kernels: Kernels;
  readonly #main: GPUComputePipeline;
  readonly #workgroups: [number, number, number];
  readonly #params: GPUBuffer;
  readonly #sliceReduce: { pipeline: GPUComputePipeline; workgroups: [number, number, number] } | null;
  readonly #scratch: GPUBuffer | null;
  readonly #plane: number;

  private constructor(
    kernels: Kernels,
    fields: {
      variant: PerExampleVariant;
      entryPoint: string;
      main: GPUComputePipeline;
      workgroups: [number, number, number];
      params: GPUBuffer;
      sliceReduce: { pipeline: GPUComputePipeline; workgroups: [number, number, number] } | null;
      scratch: GPUBuffer | null;
      plane: number;
      group: number;
    },
  ) {
    this.#kernels = kernels;
    this.variant = fields.variant;
    this.entryPoint = fields.entryPoint;
    this.#main = fields.main;
    this.#workgroups = fields.workgroups;
    this.#params = fields.params;
    this.#sliceReduce = fields.sliceReduce;
    this.#scratch = fields.scratch;
    this.#plane = fields.plane;
    this.partialColumns = fields.workgroups[0] * fields.workgroups[1];
    this.slices = fields.workgroups[2];
    this.rowBlocksPerWorkgroup = fields.group;
  }

  static async create(kernels: Kernels, op: string, kind: "linear" | "embed", shape: StatsShape) {
    const gpu = kernels.gpu;
    const requested = shape.variant;
    if (requested !== "auto" && requested !== "register" && requested !== "tiled") {
      throw new RangeError(`zsl: unknown ${op} variant "${requested}": use "auto", "register" or "tiled"`);
    }
    if (requested === "register" && !registerVariantSupported(gpu)) {
      throw new RangeError(
        `zsl: the register ${op} needs subgroups of at least 8 invocations, which ${gpu.adapter.description} ` +
          `does not offer: use variant "tiled" or "auto"`,
      );
    }
    const family = requested === "auto" ? defaultPerExampleVariant(kernels) : requested;
    // The register kernels load vec4s along both dimensions of W; other sizes take the tiled kernel.
    const variant: PerExampleVariant = family === "register" && shape.out % 4 === 0 && shape.in % 4 === 0
      ? "register"
      : "tiled";
    const blockRows = variant === "register" ? REGISTER_ROWS : TILE;
    const blockCols = variant === "register" ? REGISTER_COLS : TILE;
    const rowBlocks = Math.ceil(shape.out / blockRows);
    const colBlocks = Math.ceil(shape.in / blockCols);
    const maxPerDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (colBlocks > maxPerDim) {
      throw new RangeError(`zsl: ${op}: in = ${shape.in} needs more than ${maxPerDim} column blocks`);
    }
    const group = shape.rowBlocksPerWorkgroup ??
      Math.max(1, Math.min(rowBlocks, Math.floor((rowBlocks * colBlocks) / TARGET_WORKGROUPS[variant])));
    checkPositiveSizes(op, { rowBlocksPerWorkgroup: group, examplesPerSlice: shape.examplesPerSlice });
    const headRows = shape.headRows ?? shape.rows;
    const live = shape.liveRows ?? { first: headRows, perExample: 0 };
    const period = live.period ?? shape.examples;
    if (
      !Number.isInteger(live.first) || live.first < 1 || !Number.isInteger(live.perExample) ||
      live.perExample < 0 || !Number.isInteger(period) || period < 1
    ) {
      throw new RangeError(
        `zsl: ${op}: liveRows needs integers first ≥ 1, perExample ≥ 0 and period ≥ 1, got ` +
          `${JSON.stringify(live)}: leave it out to use every row`,
      );
    }
    const rowGroups = Math.ceil(rowBlocks / group);
    if (rowGroups > maxPerDim) {
      throw new RangeError(
        `zsl: ${op}: ${rowGroups} row groups exceed ${maxPerDim} workgroups: raise rowBlocksPerWorkgroup`,
      );
    }
    let chunk = shape.examples;
    if (variant === "tiled") {
      if (shape.examplesPerSlice !== undefined) {
        chunk = Math.min(shape.examplesPerSlice, shape.examples);
      } else if (rowGroups * colBlocks < SLICE_TARGET_BLOCKS) {
        const wanted = Math.ceil(SLICE_TARGET_BLOCKS / (rowGroups * colBlocks));
        chunk = Math.ceil(shape.examples / Math.min(wanted, shape.examples, MAX_SLICES));
      }
    }
    const slices = Math.ceil(shape.examples / chunk);
    const plane = shape.out * shape.in;
    const entryPoint = `${kind}_${variant === "register" ? "v4" : "tiled"}`;
    const constants = { OUT: shape.out, IN: shape.in };
    const main = await kernels.pipeline("per_example", entryPoint, constants);
    const sliced = slices > 1;
    const params = uniformBuffer(
      kernels,
      [
        shape.examples,
        shape.rows,
        group,
        rowBlocks,
        chunk,
        sliced ? 1 : 0,
        plane,
        slices,
        REGISTER_ROWS,
        headRows,
        Math.min(live.first, headRows),
        live.perExample,
        period,
      ],
      `${op} params`,
    );
    let sliceReduce = null;
    let scratch = null;
    if (sliced) {
      const pipeline = await kernels.pipeline("per_example", "slice_reduce", { WG: REDUCE_WORKGROUP });
      const [x, y] = grid(plane, REDUCE_WORKGROUP, maxPerDim);
      sliceReduce = { pipeline, workgroups: [x, y, 1] as [number, number, number] };
      scratch = createBuffer(gpu, 2 * alignUp(slices * plane * 4), `${op} per-slice sums`);
    }
    return new StatsKernel(kernels, {
      variant,
      entryPoint,
      main,
      workgroups: [colBlocks, rowGroups, slices],
      params,
      sliceReduce,
      scratch,
      plane,
      group,
    });
  }

  record(pass: GPUComputePassEncoder, inputs: Binding[], sumG: Binding, sumAbsG: Binding, extra: Binding[]) {
    const kernels = this.#kernels;
    const [dy, x, delta, partials] = inputs;
    if (this.#sliceReduce === null) {
      kernels.dispatch(
        pass,
        this.#main,
        [dy, x, delta, sumG, sumAbsG, partials, this.#params, ...extra],
        this.#workgroups,
      );
      return;
    }
    const bytes = this.slices * this.#plane * 4;
    const scratchG = { buffer: this.#scratch!, offset: 0, size: bytes };
    const scratchAbs = { buffer: this.#scratch!, offset: alignUp(bytes), size: bytes };
    kernels.dispatch(
      pass,
      this.#main,
      [dy, x, delta, scratchG, scratchAbs, partials, this.#params, ...extra],
      this.#workgroups,
    );
    kernels.dispatch(
      pass,
      this.#sliceReduce.pipeline,
      [scratchG, scratchAbs, sumG, sumAbsG, this.#params as Binding],
      this.#sliceReduce.workgroups,
    );
  }

  destroy(): void {
    this.#params.destroy();
    this.#scratch?.destroy();
  }
}

/**
 * Per-coordinate and per-example statistics of the per-example gradients of one Linear weight
 * W [out, in].
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder;
 * declare const dy: GPUBuffer, x: GPUBuffer, delta: GPUBuffer, sumG: GPUBuffer, sumAbsG: GPUBuffer, partials: GPUBuffer;
 * const stats = await LinearExampleStats.create(kernels, { examples: 16, rowsPerExample: 64, out: 384, in: 128 });
 * // partials: this op's region, stats.partialColumns · 16 · 4 floats
 * stats.record(pass, dy, x, delta, sumG, sumAbsG, partials);
 * ```
 */
export class LinearExampleStats {
  /** The shape, with the variant requested. */
  readonly shape: Readonly<LinearExampleShape>;
  /** Kernel family in use (`tiled` also when `register` was asked for sizes that are not multiples of 4). */
  readonly variant: PerExampleVariant;
  /** Kernel entry point (`linear_v4` or `linear_tiled`). */
  readonly entryPoint: string;
  /** Columns of per-example partial sums this op writes (its region of the partials buffer). */
  readonly partialColumns: number;
  /** Example slices of the tiled kernel (1: none). */
  readonly slices: number;
  /** Floating-point operations per record counted like a weight-gradient matmul: 2·E·P·out·in. */
  readonly flops: number;
  readonly #stats: StatsKernel;

  private constructor(shape: LinearExampleShape, stats: StatsKernel) {
    this.shape = shape;
    this.#stats = stats;
    this.variant = stats.variant;
    this.entryPoint = stats.entryPoint;
    this.partialColumns = stats.partialColumns;
    this.slices = stats.slices;
    this.flops = 2 * shape.examples * shape.rowsPerExample * shape.out * shape.in;
  }

  /** Compiles (or takes from the cache) the pipelines for `shape`; allocates its small buffers. */
  static async create(kernels: Kernels, shape: LinearExampleShape): Promise<LinearExampleStats> {
    const { examples, rowsPerExample, out } = shape;
    checkPositiveSizes("LinearExampleStats", { examples, rowsPerExample, out, in: shape.in });
    const stats = await StatsKernel.create(kernels, "LinearExampleStats", "linear", {
      examples,
      rows: rowsPerExample,
      out,
      in: shape.in,
      variant: shape.variant ?? "auto",
      rowBlocksPerWorkgroup: shape.rowBlocksPerWorkgroup,
      examplesPerSlice: shape.examplesPerSlice,
      liveRows: shape.liveRows,
    });
    return new LinearExampleStats({ ...shape }, stats);
  }

  /**
   * For every example e: G_e = Σ_{r in e} dy_r x_rᵀ; adds G_e[j] into sumG[j] and |G_e[j]| into
   * sumAbsG[j] (+=, deterministic: one thread owns a coordinate), and writes example e's partial sums
   * over this op's coordinates — (Σ_j G_e[j]·δ_j, Σ_j |G_e[j]·δ_j|, Σ_j G_e[j]², Σ_j |G_e[j]|) — into
   * partials [partialColumns][examples][4] (fixed-order reductions only; overwrite, not +=).
   *
   * Bindings: dy [E·P, out], x [E·P, in], delta / sumG / sumAbsG [out·in] (W's layout), partials this
   * op's region; float32, byte ranges of larger buffers allowed.
   */
  record(
    pass: GPUComputePassEncoder,
    dy: Binding,
    x: Binding,
    delta: Binding,
    sumG: Binding,
    sumAbsG: Binding,
    partials: Binding,
  ): void {
    const { examples, rowsPerExample, out } = this.shape;
    const rows = examples * rowsPerExample;
    const coordinates = out * this.shape.in;
    checkBindings(
      `LinearExampleStats (E=${examples}, P=${rowsPerExample}, out=${out}, in=${this.shape.in})`,
      [
        ["dy", dy, rows * out],
        ["x", x, rows * this.shape.in],
        ["delta", delta, coordinates],
        ["sumG", sumG, coordinates],
        ["sumAbsG", sumAbsG, coordinates],
        ["partials", partials, this.partialColumns * examples * 4],
      ],
    );
    this.#stats.record(pass, [dy, x, delta, partials], sumG, sumAbsG, []);
  }

  /** Frees the params uniform and the per-slice scratch. */
  destroy(): void {
    this.#stats.destroy();
  }
}

/**
 * The same statistics for the tied embedding wte [V, d]: example e's gradient is the LM-head part
 * Σ_{r∈e} dlogits[r, v]·final[r, k] plus the input part Σ_{r∈e, id_r = v} dEmbedding[r, k], summed
 * before taking |·|.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, ids: Uint32Array, dlogits: GPUBuffer;
 * declare const final: GPUBuffer, dEmbedding: GPUBuffer, delta: GPUBuffer, sumG: GPUBuffer, sumAbsG: GPUBuffer;
 * declare const partials: GPUBuffer;
 * const stats = await EmbeddingExampleStats.create(kernels, { examples: 16, rowsPerExample: 64, vocab: 320, d: 128 });
 * stats.writeIndex(ids);  // per batch, before the submit that records with it
 * stats.record(pass, dlogits, final, dEmbedding, delta, sumG, sumAbsG, partials);
 * ```
 */
export class EmbeddingExampleStats {
  /** The shape, with the variant requested. */
  readonly shape: Readonly<EmbeddingExampleShape>;
  /** Kernel family in use. */
  readonly variant: PerExampleVariant;
  /** Kernel entry point (`embed_v4` or `embed_tiled`). */
  readonly entryPoint: string;
  /** Columns of per-example partial sums this op writes (its region of the partials buffer). */
  readonly partialColumns: number;
  /** Example slices of the tiled kernel (1: none). */
  readonly slices: number;
  readonly #kernels: Kernels;
  readonly #stats: StatsKernel;
  readonly #index: GPUBuffer;

  private constructor(kernels: Kernels, shape: EmbeddingExampleShape, stats: StatsKernel) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#stats = stats;
    this.variant = stats.variant;
    this.entryPoint = stats.entryPoint;
    this.partialColumns = stats.partialColumns;
    this.slices = stats.slices;
    const rows = shape.examples * shape.rowsPerExample;
    this.#index = createBuffer(kernels.gpu, 2 * rows * 4, "per-example embedding index");
  }

  /** Compiles (or takes from the cache) the pipelines for `shape`; allocates its buffers. */
  static async create(kernels: Kernels, shape: EmbeddingExampleShape): Promise<EmbeddingExampleStats> {
    const { examples, rowsPerExample, vocab, d } = shape;
    const headRows = shape.headRowsPerExample ?? rowsPerExample;
    checkPositiveSizes("EmbeddingExampleStats", { examples, rowsPerExample, vocab, d, headRows });
    const stats = await StatsKernel.create(kernels, "EmbeddingExampleStats", "embed", {
      examples,
      rows: rowsPerExample,
      headRows,
      out: vocab,
      in: d,
      variant: shape.variant ?? "auto",
      rowBlocksPerWorkgroup: shape.rowBlocksPerWorkgroup,
      examplesPerSlice: shape.examplesPerSlice,
      liveRows: shape.liveRows,
    });
    return new EmbeddingExampleStats(kernels, { ...shape }, stats);
  }

  /**
   * Uploads the token ids of the E·P rows (`queue.writeBuffer`): per example, its rows sorted by token
   * id. Write it before the submit whose records use it; a later write only affects later submits.
   * Throws on a wrong count or an id outside 0…V − 1.
   */
  writeIndex(ids: ArrayLike<number>): void {
    const { examples, rowsPerExample: p, vocab } = this.shape;
    const rows = examples * p;
    if (ids.length !== rows) {
      throw new RangeError(
        `zsl: EmbeddingExampleStats.writeIndex needs E·P = ${examples}·${p} = ${rows} ids, got ${ids.length}`,
      );
    }
    writeBuffer(this.#kernels.gpu, this.#index, exampleTokenIndex(ids, examples, p, vocab));
  }

  /**
   * As {@linkcode LinearExampleStats.record} for wte: dlogits [E·H, V], final [E·H, d] (H the head rows
   * per example, default P), dEmbedding
   * [E·P, d], delta / sumG / sumAbsG [V·d], partials this op's region; the token ids of the last
   * {@linkcode EmbeddingExampleStats.writeIndex}.
   */
  record(
    pass: GPUComputePassEncoder,
    dlogits: Binding,
    final: Binding,
    dEmbedding: Binding,
    delta: Binding,
    sumG: Binding,
    sumAbsG: Binding,
    partials: Binding,
  ): void {
    const { examples, rowsPerExample, vocab, d } = this.shape;
    const rows = examples * rowsPerExample;
    const headRows = examples * (this.shape.headRowsPerExample ?? rowsPerExample);
    checkBindings(`EmbeddingExampleStats (E=${examples}, P=${rowsPerExample}, V=${vocab}, d=${d})`, [
      ["dlogits", dlogits, headRows * vocab],
      ["final", final, headRows * d],
      ["dEmbedding", dEmbedding, rows * d],
      ["delta", delta, vocab * d],
      ["sumG", sumG, vocab * d],
      ["sumAbsG", sumAbsG, vocab * d],
      ["partials", partials, this.partialColumns * examples * 4],
    ]);
    this.#stats.record(pass, [dlogits, final, delta, partials], sumG, sumAbsG, [dEmbedding, this.#index]);
  }

  /** Frees the index, the params uniform and the per-slice scratch. */
  destroy(): void {
    this.#index.destroy();
    this.#stats.destroy();
  }
}

/** Shape of {@linkcode PositionExampleStats}. */
export interface PositionExampleShape {
  /** Examples E per record. */
  examples: number;
  /** Rows P of each example: positions 0…P−1 (the positions present). */
  rowsPerExample: number;
  /** Model dimension d: columns of wpe. */
  d: number;
}

/** Coordinates of wpe per column of partials of {@linkcode PositionExampleStats}. */
const POSITION_BLOCK = 256;
const POSITION_WORKGROUP = 64;

/**
 * The same statistics for nanoGPT's position embedding wpe [positions, d] (`kernels/
 * per_example_position.wgsl`): row e·P + s is at position s, so example e's gradient of wpe is its P rows
 * of dEmbedding at rows 0…P−1 of wpe — compact, touching only the positions present; rows ≥ P of sumG,
 * sumAbsG and δ are neither read nor written.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, dEmbedding: GPUBuffer, delta: GPUBuffer;
 * declare const sumG: GPUBuffer, sumAbsG: GPUBuffer, partials: GPUBuffer;
 * const stats = await PositionExampleStats.create(kernels, { examples: 16, rowsPerExample: 64, d: 128 });
 * stats.record(pass, dEmbedding, delta, sumG, sumAbsG, partials);
 * ```
 */
export class PositionExampleStats {
  /** The shape. */
  readonly shape: Readonly<PositionExampleShape>;
  /** Columns of per-example partial sums this op writes (its region of the partials buffer). */
  readonly partialColumns: number;
  readonly #kernels: Kernels;
  readonly #sums: GPUComputePipeline;
  readonly #partials: GPUComputePipeline;
  readonly #params: GPUBuffer;

  private constructor(
    kernels: Kernels,
    shape: PositionExampleShape,
    sums: GPUComputePipeline,
    partials: GPUComputePipeline,
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#sums = sums;
    this.#partials = partials;
    this.partialColumns = Math.ceil((shape.rowsPerExample * shape.d) / POSITION_BLOCK);
    this.#params = uniformBuffer(
      kernels,
      [shape.examples, shape.rowsPerExample, shape.d, POSITION_BLOCK],
      "PositionExampleStats params",
    );
  }

  /** Compiles (or takes from the cache) the two pipelines (one for every shape); allocates the params. */
  static async create(kernels: Kernels, shape: PositionExampleShape): Promise<PositionExampleStats> {
    const { examples, rowsPerExample, d } = shape;
    checkPositiveSizes("PositionExampleStats", { examples, rowsPerExample, d });
    const constants = { WG: POSITION_WORKGROUP };
    const [sums, partials] = await Promise.all([
      kernels.pipeline("per_example_position", "position_sums", constants),
      kernels.pipeline("per_example_position", "position_partials", constants),
    ]);
    return new PositionExampleStats(kernels, { examples, rowsPerExample, d }, sums, partials);
  }

  /**
   * For every example e, G_e = its rows of `dEmbedding` at wpe's rows 0…P−1: adds Σ_e G_e[j] into
   * sumG[j] and Σ_e |G_e[j]| into sumAbsG[j] for the P·d coordinates present, and writes the per-example
   * partial sums over them into partials [partialColumns][E][4] (overwritten).
   *
   * Bindings: dEmbedding [E·P, d], delta / sumG / sumAbsG wpe's ranges (at least P·d floats: rows
   * 0…P−1 of wpe), partials this op's region.
   */
  record(
    pass: GPUComputePassEncoder,
    dEmbedding: Binding,
    delta: Binding,
    sumG: Binding,
    sumAbsG: Binding,
    partials: Binding,
  ): void {
    const { examples, rowsPerExample, d } = this.shape;
    const coordinates = rowsPerExample * d;
    checkBindings(`PositionExampleStats (E=${examples}, P=${rowsPerExample}, d=${d})`, [
      ["dEmbedding", dEmbedding, examples * coordinates],
      ["delta", delta, coordinates],
      ["sumG", sumG, coordinates],
      ["sumAbsG", sumAbsG, coordinates],
      ["partials", partials, this.partialColumns * examples * 4],
    ]);
    const max = this.#kernels.gpu.limits.maxComputeWorkgroupsPerDimension;
    this.#kernels.dispatch(
      pass,
      this.#sums,
      [dEmbedding, sumG, sumAbsG, this.#params],
      grid(coordinates, POSITION_WORKGROUP, max),
    );
    this.#kernels.dispatch(
      pass,
      this.#partials,
      [dEmbedding, delta, partials, this.#params],
      grid(this.partialColumns * examples, POSITION_WORKGROUP, max),
    );
  }

  /** Frees the params uniform. */
  destroy(): void {
    this.#params.destroy();
  }
}

/**
 * The index {@linkcode EmbeddingExampleStats} reads (u32 [2·E·P]): for each example e, its P rows
 * sorted by token id, rows ascending within an id — `[e·P + j]` the id, `[E·P + e·P + j]` the row.
 */
export function exampleTokenIndex(
  ids: ArrayLike<number>,
  examples: number,
  rowsPerExample: number,
  vocab: number,
): Uint32Array {
  const rows = examples * rowsPerExample;
  // Grouped by id with rows ascending (validates the ids); dealt out to examples in that order, each
  // example's list comes out sorted by (id, row).
  const index = buildTokenIndex(ids, vocab);
  const packed = new Uint32Array(2 * rows);
  const filled = new Uint32Array(examples);
  for (let u = 0; u < index.uniqueIds.length; u++) {
    for (let at = index.offsets[u]; at < index.offsets[u + 1]; at++) {
      const row = index.order[at];
      const e = Math.floor(row / rowsPerExample);
      const slot = e * rowsPerExample + filled[e]++;
      packed[slot] = index.uniqueIds[u];
      packed[rows + slot] = row;
    }
  }
  return packed;
}

/**
 * Sums a partials buffer [columns][examples][4] over its columns, in column order, into out
 * [examples][4]: per example (Σ_j p_ij, Σ_j |p_ij|, ‖g_i‖₂², ‖g_i‖₁) over every op whose region the
 * buffer holds.
 *
 * @example
 * ```ts
 * import type { Kernels } from "../gpu/mod.ts";
 * declare const kernels: Kernels, pass: GPUComputePassEncoder, partials: GPUBuffer, out: GPUBuffer;
 * const reduce = await ExampleStatsReduce.create(kernels, { examples: 16, columns: 1200 });
 * reduce.record(pass, partials, out);
 * ```
 */
export class ExampleStatsReduce {
  /** The shape it was built for. */
  readonly shape: Readonly<ExampleStatsReduceShape>;
  readonly #kernels: Kernels;
  readonly #pipeline: GPUComputePipeline;
  readonly #params: GPUBuffer;
  readonly #workgroups: [number, number];

  private constructor(kernels: Kernels, shape: ExampleStatsReduceShape, pipeline: GPUComputePipeline) {
    this.#kernels = kernels;
    this.shape = shape;
    this.#pipeline = pipeline;
    this.#params = uniformBuffer(kernels, [shape.examples, shape.columns], "example stats reduce params");
    this.#workgroups = grid(
      shape.examples,
      REDUCE_WORKGROUP,
      kernels.gpu.limits.maxComputeWorkgroupsPerDimension,
    );
  }

  /** Compiles (or takes from the cache) the reduce pipeline. */
  static async create(kernels: Kernels, shape: ExampleStatsReduceShape): Promise<ExampleStatsReduce> {
    checkPositiveSizes("ExampleStatsReduce", { examples: shape.examples, columns: shape.columns });
    const pipeline = await kernels.pipeline("per_example", "example_reduce", { WG: REDUCE_WORKGROUP });
    return new ExampleStatsReduce(kernels, { examples: shape.examples, columns: shape.columns }, pipeline);
  }

  /** Records out[e] = Σ_c partials[c][e] (4 floats each), c ascending; out is overwritten. */
  record(pass: GPUComputePassEncoder, partials: Binding, out: Binding): void {
    const { examples, columns } = this.shape;
    checkBindings(`ExampleStatsReduce (E=${examples}, columns=${columns})`, [
      ["partials", partials, columns * examples * 4],
      ["out", out, examples * 4],
    ]);
    this.#kernels.dispatch(pass, this.#pipeline, [partials, out, this.#params], this.#workgroups);
  }

  /** Frees the params uniform. */
  destroy(): void {
    this.#params.destroy();
  }
}
