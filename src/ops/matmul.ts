/**
 * The three matrix products of a Linear layer (weights stored out×in, as torch), row-major float32:
 *
 * | layout | product | use |
 * | --- | --- | --- |
 * | `xwT` | `C[N,M] = X[N,K] · W[M,K]ᵀ` | forward |
 * | `dyW` | `C[N,K] = dY[N,M] · W[M,K]` | input gradient |
 * | `dyTx` | `C[M,K] = dY[N,M]ᵀ · X[N,K]` | weight gradient (reduction over the N token rows) |
 *
 * For every layout N = token rows, M = the Linear's out features, K = its in features. With
 * `accumulate`, C += product (gradient accumulation across microbatches, tied embeddings).
 *
 * Two kernel families: `register` (`kernels/matmul.wgsl`: one 8-lane subgroup per workgroup, register
 * blocks, subgroup shuffles; fast on lavapipe) and `tiled` (`kernels/matmul_tiled.wgsl`: 64 × 64 blocks
 * staged in workgroup memory, split-K for long reductions; GPUs). Both sum in a fixed order, so results
 * are bit-identical run to run on one adapter.
 *
 * @module
 */
import { createBuffer, type GpuDevice } from "../gpu/mod.ts";
import { type Binding, type Constants, grid, type Kernels } from "../gpu/kernels.ts";
import { bindingPrefix } from "./forward_backward.ts";

/** Which product: see the module documentation. */
export type MatmulLayout = "xwT" | "dyW" | "dyTx";

/** Kernel family; `auto` picks `register` on a software adapter with subgroups, else `tiled`. */
export type MatmulVariant = "register" | "tiled";

/** The shape a {@linkcode Matmul} is built for. */
export interface MatmulShape {
  /** Which product: forward `xwT`, input gradient `dyW`, weight gradient `dyTx`. */
  layout: MatmulLayout;
  /** Token rows N. */
  n: number;
  /** Out features M (rows of W). */
  m: number;
  /** In features K (columns of W). */
  k: number;
  /** C += product instead of C = product (default false). */
  accumulate?: boolean;
  /** Kernel family (default `auto`). */
  variant?: "auto" | MatmulVariant;
  /**
   * Workgroups per dispatch dimension (default: the device's limit, 65535). Tests lower it to exercise
   * the folding of large grids into the z dimension.
   */
  maxWorkgroupsPerDimension?: number;
}

/** The output and reduction sizes of a layout, and the element counts of its operands. */
export interface MatmulDims {
  /** Rows of C. */
  rows: number;
  /** Columns of C. */
  cols: number;
  /** Length of the reduction. */
  red: number;
  /** Elements of A (binding 0). */
  aElements: number;
  /** Elements of B (binding 1). */
  bElements: number;
  /** Elements of C (binding 2). */
  cElements: number;
}

/** Sizes of `layout` for N = `n`, M = `m`, K = `k`. */
export function matmulDims(layout: MatmulLayout, n: number, m: number, k: number): MatmulDims {
  switch (layout) {
    case "xwT":
      return { rows: n, cols: m, red: k, aElements: n * k, bElements: m * k, cElements: n * m };
    case "dyW":
      return { rows: n, cols: k, red: m, aElements: n * m, bElements: m * k, cElements: n * k };
    case "dyTx":
      return { rows: m, cols: k, red: n, aElements: n * m, bElements: n * k, cElements: m * k };
    default:
      throw new RangeError(`zsl: unknown matmul layout "${layout}": use "xwT", "dyW" or "dyTx"`);
  }
}

/** Whether `gpu` can run the `register` family (it needs subgroups of at least 8 invocations). */
export function registerVariantSupported(gpu: GpuDevice): boolean {
  return gpu.features.includes("subgroups") && (gpu.adapter.subgroupMinSize ?? 8) >= 8;
}

/** The variant `auto` resolves to on `gpu`. */
export function defaultMatmulVariant(gpu: GpuDevice): MatmulVariant {
  return gpu.adapter.isSoftware && registerVariantSupported(gpu) ? "register" : "tiled";
}

// Block sizes, as in the WGSL (rows × columns of C per workgroup).
const REGISTER_BLOCKS = {
  xwt_v4: { rows: 16, cols: 32, colUnit: 1 },
  any_s: { rows: 8, cols: 32, colUnit: 1 },
} as const;
/**
 * `stationary_b`: the longest reduction chunk it holds with 1–2 column groups a lane and with 3 (4 · SB_MAX4
 * and 4 · SB_WIDE_MAX4 in the WGSL).
 */
const STATIONARY_MAX_CHUNK = 128;
const STATIONARY_MAX_CHUNK_3 = 96;
/** `stationary_b`: the most column groups of 4 a lane owns (SB_GROUPS; 4 ran slower than 1). */
const STATIONARY_MAX_GROUPS = 3;
/** `dytx_stationary`: the longest chunk of token rows it holds (4 · SB_MAX4 in the WGSL). */
const DYTX_MAX_CHUNK = 128;
/** `dytx_stationary`: fewest output rows a workgroup streams (its preload of X costs about 32 rows). */
const DYTX_MIN_ROWS_PER_GROUP = 32;
const TILE = 64;
const TILE_K = 16;

/** Output blocks below which the tiled variant splits the reduction (about two per streaming processor). */
const SPLIT_TARGET_BLOCKS = 256;
/** Smallest reduction slice worth a split. */
const SPLIT_MIN_SLICE = 512;
const MAX_SPLITS = 64;

interface Dispatch {
  pipeline: GPUComputePipeline;
  workgroups: [number, number, number];
}

// One scratch buffer per device, shared by every split-K matmul on it: dispatches run in order, and each
// matmul's reduce consumes the partial sums before the next matmul overwrites them.
const scratchBuffers = new WeakMap<Kernels, GPUBuffer>();

function scratchFor(kernels: Kernels, bytes: number): GPUBuffer {
  const cached = scratchBuffers.get(kernels);
  if (cached && cached.size >= bytes) return cached;
  const buffer = createBuffer(kernels.gpu, bytes, "matmul split-K partial sums");
  scratchBuffers.set(kernels, buffer);
  return buffer;
}

function bindingBytes(binding: Binding): number {
  if (binding instanceof GPUBuffer) return binding.size;
  return binding.size ?? binding.buffer.size - (binding.offset ?? 0);
}

/**
 * One matrix product of fixed shape: pipelines compiled (and cached) at creation, dispatches recorded
 * into a compute pass.
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * declare const x: GPUBuffer, w: GPUBuffer, y: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer;
 * const gpu = await openGpu();
 * const kernels = new Kernels(gpu);
 * // y[N,M] = x[N,K] · W[M,K]ᵀ for N = 4096 tokens, a 256 → 768 Linear
 * const forward = await Matmul.create(kernels, { layout: "xwT", n: 4096, m: 768, k: 256 });
 * // dW[M,K] += dY[N,M]ᵀ · x[N,K], accumulated over microbatches
 * const weightGrad = await Matmul.create(kernels, { layout: "dyTx", n: 4096, m: 768, k: 256, accumulate: true });
 * const encoder = gpu.device.createCommandEncoder();
 * const pass = encoder.beginComputePass();
 * forward.record(pass, x, w, y);
 * weightGrad.record(pass, dy, x, dw);
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * ```
 */
export class Matmul {
  /** The shape, with defaults filled in. */
  readonly shape: Readonly<Required<Omit<MatmulShape, "variant">>>;
  /** The variant in use. */
  readonly variant: MatmulVariant;
  /** The kernel entry point (`stationary_b`, `dytx_stationary`, `xwt_v4`, `any_s` or `tiled`). */
  readonly entryPoint: string;
  /** Reduction slices of the tiled variant (1: no split). */
  readonly splits: number;
  /** Floating-point operations per record: 2·N·M·K. */
  readonly flops: number;
  /** Output and operand sizes. */
  readonly dims: MatmulDims;
  readonly #kernels: Kernels;
  readonly #main: Dispatch;
  readonly #reduce: Dispatch | null;
  readonly #scratch: GPUBuffer | null;

  private constructor(
    kernels: Kernels,
    shape: Required<Omit<MatmulShape, "variant">>,
    variant: MatmulVariant,
    entryPoint: string,
    splits: number,
    main: Dispatch,
    reduce: Dispatch | null,
    scratch: GPUBuffer | null,
  ) {
    this.#kernels = kernels;
    this.shape = shape;
    this.variant = variant;
    this.entryPoint = entryPoint;
    this.splits = splits;
    this.#main = main;
    this.#reduce = reduce;
    this.#scratch = scratch;
    this.dims = matmulDims(shape.layout, shape.n, shape.m, shape.k);
    this.flops = 2 * shape.n * shape.m * shape.k;
  }

  /** Compiles (or takes from the cache) the pipelines for `shape`. */
  static async create(kernels: Kernels, shape: MatmulShape): Promise<Matmul> {
    const { layout, n, m, k } = shape;
    for (const [name, value] of [["n", n], ["m", m], ["k", k]] as const) {
      if (!(Number.isInteger(value) && value > 0)) {
        throw new RangeError(`zsl: Matmul needs positive integer n, m, k, got ${name}=${value}`);
      }
    }
    const dims = matmulDims(layout, n, m, k);
    const gpu = kernels.gpu;
    const maxPerDim = shape.maxWorkgroupsPerDimension ?? gpu.limits.maxComputeWorkgroupsPerDimension;
    const full = {
      layout,
      n,
      m,
      k,
      accumulate: shape.accumulate ?? false,
      maxWorkgroupsPerDimension: maxPerDim,
    };
    const requested = shape.variant ?? "auto";
    if (requested !== "auto" && requested !== "register" && requested !== "tiled") {
      throw new RangeError(`zsl: unknown matmul variant "${requested}": use "auto", "register" or "tiled"`);
    }
    const variant = requested === "auto" ? defaultMatmulVariant(gpu) : requested;
    if (variant === "register" && !registerVariantSupported(gpu)) {
      throw new RangeError(
        `zsl: the register matmul needs subgroups of at least 8 invocations, which ${gpu.adapter.description} ` +
          `does not offer: use variant "tiled" or "auto"`,
      );
    }
    const base: Constants = { ROWS: dims.rows, COLS: dims.cols, RED: dims.red, ACCUMULATE: full.accumulate };
    if (variant === "register" && layout === "dyTx" && dims.rows % 4 === 0 && dims.cols % 4 === 0) {
      return await Matmul.#stationaryDyTx(kernels, full, dims, maxPerDim);
    }
    if (
      variant === "register" && layout !== "dyTx" && dims.cols % 4 === 0 && dims.red % 4 === 0
    ) {
      return await Matmul.#stationary(kernels, full, dims, maxPerDim);
    }
    if (variant === "register") {
      const entry = registerEntry(layout, k);
      const block = REGISTER_BLOCKS[entry];
      const constants: Constants = entry === "any_s" ? { ...base, ...scalarStrides(layout, n, m, k) } : base;
      const pipeline = await kernels.pipeline("matmul", entry, constants);
      const colGroups = Math.ceil(dims.cols / block.colUnit / block.cols);
      const workgroups = foldRows(colGroups, Math.ceil(dims.rows / block.rows), 1, maxPerDim);
      return new Matmul(kernels, full, variant, entry, 1, { pipeline, workgroups }, null, null);
    }
    const tiles = Math.ceil(dims.rows / TILE) * Math.ceil(dims.cols / TILE);
    const splits = splitCount(tiles, dims.red);
    const transposed = { A_T: layout === "dyTx", B_T: layout !== "xwT" };
    const pipeline = await kernels.pipeline("matmul_tiled", "tiled", {
      ...base,
      ...transposed,
      SPLITS: splits,
    });
    const workgroups = foldRows(Math.ceil(dims.cols / TILE), Math.ceil(dims.rows / TILE), splits, maxPerDim);
    if (splits === 1) {
      return new Matmul(kernels, full, variant, "tiled", 1, { pipeline, workgroups }, null, null);
    }
    const reducePipeline = await kernels.pipeline("matmul_tiled", "tiled_reduce", {
      ROWS: dims.rows,
      COLS: dims.cols,
      ACCUMULATE: full.accumulate,
      SPLITS: splits,
      WG: 256,
    });
    const [rx, ry] = grid(dims.cElements, 256, maxPerDim);
    const scratch = scratchFor(kernels, splits * dims.cElements * 4);
    return new Matmul(
      kernels,
      full,
      variant,
      "tiled",
      splits,
      { pipeline, workgroups },
      { pipeline: reducePipeline, workgroups: [rx, ry, 1] },
      scratch,
    );
  }

  /**
   * The `stationary_b` kernel for xwT and dyW: 1–3 column groups per lane ({@linkcode stationaryGroups}),
   * rows cut into as few chunks as keep two threads busy; a reduction longer than 128 (96 with 3 groups)
   * runs in equal chunks of at most that (the last one zero-padded by less than a vec4 per chunk), which
   * add onto C in order.
   */
  static async #stationary(
    kernels: Kernels,
    full: Required<Omit<MatmulShape, "variant">>,
    dims: MatmulDims,
    maxPerDim: number,
  ): Promise<Matmul> {
    const red4 = dims.red / 4;
    const groups = stationaryGroups(dims.cols / 4, red4);
    const colBlocks = Math.ceil(dims.cols / 4 / (8 * groups));
    // Two workgroups or more, an even count where the rows allow it: each thread of lavapipe's two gets
    // the same share, and no workgroup loads its B columns more often than needed.
    let rowChunks = Math.ceil(2 / colBlocks);
    if ((colBlocks * rowChunks) % 2 === 1) rowChunks *= 2;
    rowChunks = Math.max(1, Math.min(rowChunks, Math.ceil(dims.rows / 16)));
    const rowsPerGroup = Math.ceil(dims.rows / rowChunks);
    const chunk4 = equalChunk(red4, stationaryMaxChunk(groups) / 4);
    // No ROWS or ROWS_PER_WG: the kernel takes them from C's binding and the grid, so the pipeline
    // serves every row count (batch size, eval batch, prefix copies) without a new compile.
    const pipeline = await kernels.pipeline("matmul", "stationary_b", {
      COLS: dims.cols,
      RED: dims.red,
      ACCUMULATE: full.accumulate,
      B_T: full.layout === "dyW",
      SB_CHUNK4: chunk4,
      SB_GROUPS: groups,
    });
    const workgroups = foldRows(colBlocks, Math.ceil(dims.rows / rowsPerGroup), 1, maxPerDim);
    return new Matmul(kernels, full, "register", "stationary_b", 1, { pipeline, workgroups }, null, null);
  }

  /**
   * The `dytx_stationary` kernel: X held for 8 lanes' output columns, chunk by chunk of at most 128
   * token rows, while the workgroup's output rows stream through. Its preload of X costs as many loads
   * as about 32 streamed rows, so a workgroup streams as many rows as it can: all M of its column block,
   * or half of them where an odd number of column blocks would leave one of two threads idle.
   */
  static async #stationaryDyTx(
    kernels: Kernels,
    full: Required<Omit<MatmulShape, "variant">>,
    dims: MatmulDims,
    maxPerDim: number,
  ): Promise<Matmul> {
    const colBlocks = Math.ceil(dims.cols / 4 / 8);
    const rowChunks = colBlocks % 2 === 1 && dims.rows >= DYTX_MIN_ROWS_PER_GROUP * 2 ? 2 : 1;
    const rowsPerGroup = Math.ceil(dims.rows / rowChunks);
    const red4 = Math.ceil(dims.red / 4);
    const chunk4 = equalChunk(red4, DYTX_MAX_CHUNK / 4);
    // No RED: the kernel counts the token rows from X's binding, so batch sizes whose chunks are alike
    // share the pipeline.
    const pipeline = await kernels.pipeline("matmul", "dytx_stationary", {
      ROWS: dims.rows,
      COLS: dims.cols,
      ACCUMULATE: full.accumulate,
      ROWS_PER_WG: rowsPerGroup,
      SB_CHUNK4: chunk4,
      SX_EXACT: dims.red % (4 * chunk4) === 0,
    });
    const workgroups = foldRows(colBlocks, rowChunks, 1, maxPerDim);
    return new Matmul(kernels, full, "register", "dytx_stationary", 1, { pipeline, workgroups }, null, null);
  }

  /**
   * Records the product into `pass`: `a` (binding 0) is X for `xwT` and dY otherwise, `b` (binding 1)
   * is W for `xwT` and `dyW` and X for `dyTx`, `c` (binding 2) receives the product (or has it added).
   * Bindings may be byte ranges of larger buffers.
   */
  record(pass: GPUComputePassEncoder, a: Binding, b: Binding, c: Binding): void {
    const d = this.dims;
    for (
      const [name, binding, elements] of [["a", a, d.aElements], ["b", b, d.bElements], [
        "c",
        c,
        d.cElements,
      ]] as const
    ) {
      if (bindingBytes(binding) < elements * 4) {
        throw new RangeError(
          `zsl: Matmul ${this.shape.layout} (n=${this.shape.n}, m=${this.shape.m}, k=${this.shape.k}) needs ` +
            `${elements * 4} bytes for ${name} but its binding has ${bindingBytes(binding)}`,
        );
      }
    }
    const kernels = this.#kernels;
    if (this.entryPoint === "stationary_b") {
      // The kernel counts C's rows from the length of its binding: bind exactly the product's bytes.
      const bindings = [a, b, bindingPrefix(c, d.cElements * 4)];
      kernels.dispatch(pass, this.#main.pipeline, bindings, this.#main.workgroups);
      return;
    }
    if (this.entryPoint === "dytx_stationary") {
      // The kernel counts the token rows from the length of X's binding: bind exactly X's bytes.
      const bindings = [a, bindingPrefix(b, d.bElements * 4), c];
      kernels.dispatch(pass, this.#main.pipeline, bindings, this.#main.workgroups);
      return;
    }
    if (this.#reduce === null) {
      kernels.dispatch(pass, this.#main.pipeline, [a, b, c], this.#main.workgroups);
      return;
    }
    const scratch = { buffer: this.#scratch!, offset: 0, size: this.splits * d.cElements * 4 };
    kernels.dispatch(pass, this.#main.pipeline, [a, b, scratch], this.#main.workgroups);
    kernels.dispatch(pass, this.#reduce.pipeline, [scratch, c], this.#reduce.workgroups);
  }
}

/**
 * Column groups of 4 per lane for `stationary_b` at `cols4` groups of output columns and `red4` vec4
 * steps of reduction: the count with the lowest estimated instructions per output column and row of A
 * ({@linkcode stationaryCost}), the larger count on a tie. E.g. 96 columns at a reduction of 96: 3 (one
 * block of 96); 320 columns: 2 (5 blocks of 64); 384 at a reduction of 128: 2 (one pass over C instead
 * of two); 96 columns at a reduction of 320: 3 (4 passes, against 3 with one group).
 */
function stationaryGroups(cols4: number, red4: number): number {
  let best = { groups: 1, cost: Infinity };
  for (let groups = STATIONARY_MAX_GROUPS; groups >= 1; groups--) {
    const cost = stationaryCost(cols4, red4, groups);
    if (cost < best.cost) best = { groups, cost };
  }
  return best.groups;
}

/**
 * Estimated lavapipe instructions per column group of C and row of A for `stationary_b` with `groups`
 * groups a lane (GALLIVM_DEBUG=asm at the cpu presets' shapes): loading a row of A costs ~8 per float
 * (a lane loop with a bounds check), shared by the groups; the products ~10 per reduction index and
 * group; a store of a lane's vec4 ~256 over 8 lanes, and each further pass over C a read and a write,
 * ~512. Lanes whose groups fall past the last column count as work. This ranks the choices as measured
 * on a 2-core Zen 4 at 1,024 rows (e.g. 384 × 128: 2 groups 59 GFLOP/s, 3 groups 53; dyW 320 → 96:
 * 3 groups 42, 1 group 36).
 */
function stationaryCost(cols4: number, red4: number, groups: number): number {
  const red = 4 * red4;
  const passes = Math.ceil(red4 / (stationaryMaxChunk(groups) / 4));
  const perGroup = (8 * red) / groups + 10 * red + 256 + 512 * (passes - 1);
  const allocated = Math.ceil(cols4 / (8 * groups)) * 8 * groups;
  return (perGroup * allocated) / cols4;
}

/**
 * The length of the equal chunks that cut `length` into as few as possible of at most `max`: the last
 * chunk is short by less than one per chunk, so a kernel pads it with a few zeros at most.
 */
function equalChunk(length: number, max: number): number {
  return Math.ceil(length / Math.ceil(length / max));
}

/** The longest reduction chunk `stationary_b` holds with `groups` column groups a lane. */
function stationaryMaxChunk(groups: number): number {
  return groups > 2 ? STATIONARY_MAX_CHUNK_3 : STATIONARY_MAX_CHUNK;
}

/**
 * The register entry point for a layout that `stationary_b` does not take: the vec4 kernel when the
 * contiguous sizes allow it (dyW and dyTx with both multiples of 4 go to `stationary_b` and
 * `dytx_stationary`).
 */
function registerEntry(layout: MatmulLayout, k: number): keyof typeof REGISTER_BLOCKS {
  return layout === "xwT" && k % 4 === 0 ? "xwt_v4" : "any_s";
}

/** Element strides of A and B for the scalar register kernel (see `any_s` in the WGSL). */
function scalarStrides(layout: MatmulLayout, _n: number, m: number, k: number): Constants {
  switch (layout) {
    case "xwT":
      return { A_ROW: k, A_RED: 1, B_COL: k, B_RED: 1 };
    case "dyW":
      return { A_ROW: m, A_RED: 1, B_COL: 1, B_RED: k };
    case "dyTx":
      return { A_ROW: 1, A_RED: m, B_COL: 1, B_RED: k };
  }
}

/** Reduction slices for the tiled variant: enough blocks to fill a GPU, slices of at least 512. */
function splitCount(tiles: number, red: number): number {
  if (tiles >= SPLIT_TARGET_BLOCKS) return 1;
  const wanted = Math.ceil(SPLIT_TARGET_BLOCKS / tiles);
  const possible = Math.floor(red / SPLIT_MIN_SLICE);
  const splits = Math.max(1, Math.min(wanted, possible, MAX_SPLITS));
  // Every slice holds whole TILE_K steps and none is empty.
  const chunk = Math.ceil(red / (splits * TILE_K)) * TILE_K;
  return Math.ceil(red / chunk);
}

/**
 * The grid for `cols` column blocks and `rows` row blocks: row blocks beyond the per-dimension limit
 * continue in z (row block = y + (z / splits)·nwg.y), and z also carries the split index.
 */
function foldRows(cols: number, rows: number, splits: number, maxPerDim: number): [number, number, number] {
  if (cols > maxPerDim) {
    throw new RangeError(
      `zsl: Matmul needs ${cols} column blocks, more than the ${maxPerDim} workgroups a dispatch dimension ` +
        `holds: split the product into column ranges`,
    );
  }
  const [y, z] = grid(rows, 1, maxPerDim);
  if (z * splits > maxPerDim) {
    throw new RangeError(`zsl: Matmul needs ${rows} row blocks, beyond what one dispatch holds`);
  }
  return [cols, y, z * splits];
}
