/**
 * Per-example gradients projected to a few dimensions per parameter, without ever forming them
 * (LoGra-style Kronecker random projections; issue 6, docs/method.md#per-example-gradients).
 *
 * A Linear W [out, in] has per-example gradient G_e = Σ_{r∈e} dy_r x_rᵀ. With seeded Gaussian matrices
 * P_out [kOut, out] (entries N(0, 1/kOut)) and P_in [kIn, in] (entries N(0, 1/kIn)), its projection is
 * P_out G_e P_inᵀ = Σ_{r∈e} (P_out dy_r)(P_in x_r)ᵀ: the rows are projected first (two `xwT` matmuls),
 * then each example's rows are summed as outer products (`kernels/projection.wgsl`: 8-lane subgroup
 * kernels on lavapipe, one invocation per output element on GPUs) into a kOut·kIn slice of that
 * example's output row. Because E[P_outᵀP_out] = I and E[P_inᵀP_in] = I with P_out
 * and P_in independent, ⟨proj A, proj B⟩ is an unbiased estimate of the Frobenius inner product ⟨A, B⟩
 * (so of gradient dot products, norms and, approximately, cosines).
 *
 * The tied embedding wte [V, d] has an LM-head part (dy = d(loss)/d(logits) [rows, V], x = the
 * final-norm output [rows, d]: a dense Linear) and an input part Σ_r onehot(id_r) ⊗ dEmb_r whose
 * projection Σ_r P_V[:, id_r] ⊗ (P_d dEmb_r) gathers a column of P_V instead of multiplying. Both parts
 * add into wte's slice. nanoGPT's position embedding wpe [T, d] has only an input part, gathered the same
 * way with the row's position r mod P in place of its token id: Σ_r P_T[:, pos_r] ⊗ (P_d dEmb_r).
 *
 * The matrices are generated on the host from one seed and each parameter's name, so every run and
 * every checkpoint analysed with the same seed and sizes uses the same projection.
 *
 * @module
 */
import { createBuffer, readFloats, TENSOR_ALIGNMENT, uploadBuffer, writeBuffer } from "../gpu/buffers.ts";
import { type Binding, grid, type Kernels } from "../gpu/kernels.ts";
import { Random } from "../util/random.ts";
import { defaultMatmulVariant, Matmul, type MatmulVariant } from "./matmul.ts";

/** A parameter tensor as a projection reads it from `parameterLayout`: its name and [out, in] shape. */
export interface ProjectedTensor {
  /** The parameter's name (`transformer.wte.weight`, `transformer.blocks.0.att_proj.weight`, …). */
  name: string;
  /** [out, in] for Linear weights, [vocab, d] for the embedding. */
  shape: [number, number];
}

/**
 * The parameters a projection can cover, in buffer order: a `ParameterLayout` is one (declared here, not
 * imported, so that ops never import the model).
 */
export interface ProjectedLayout {
  /** Every parameter, in the flat buffer's order. */
  specs: readonly ProjectedTensor[];
  /** The same parameters by name. */
  byName: ReadonlyMap<string, ProjectedTensor>;
}

/** The name of the tied embedding in every layout. */
const EMBEDDING_NAME = "transformer.wte.weight";
/** The name of nanoGPT's position embedding. */
const POSITIONS_NAME = "transformer.wpe.weight";

/** Sizes and seed of a projection. */
export interface ProjectionOptions {
  /** Rows of P_out: the projected out dimension of every parameter. */
  kOut: number;
  /** Rows of P_in: the projected in dimension of every parameter. */
  kIn: number;
  /** Seed of every matrix (each parameter's generator is seeded from it and the parameter's name). */
  seed: number;
  /**
   * Names of the parameters to project (default all, in layout order). The others are skipped: their
   * `linear` / `embedding` calls record nothing.
   */
  parameters?: readonly string[];
}

/** One parameter's projection matrices, row-major float32. */
export interface ProjectionMatrices {
  /** P_out [kOut, out], entries N(0, 1/kOut). For wte, out = V (the vocabulary). */
  out: Float32Array;
  /** P_in [kIn, in], entries N(0, 1/kIn). For wte, in = d. */
  in: Float32Array;
  /** Rows of `out`. */
  kOut: number;
  /** Rows of `in`. */
  kIn: number;
}

/** Where one parameter's projected gradient lies in an output row. */
export interface ProjectionSlice {
  /** The parameter's name. */
  name: string;
  /** First element of its kOut·kIn block in each example's row. */
  offset: number;
  /** Projected out dimension (rows of the block, row-major). */
  kOut: number;
  /** Projected in dimension (columns of the block). */
  kIn: number;
  /** The parameter's shape [out, in]. */
  shape: [number, number];
}

/**
 * The generator seed of one parameter's matrices: FNV-1a (32 bit) of the seed and the name, so that
 * adding, removing or reordering parameters never changes another parameter's matrices.
 */
export function projectionSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`${seed}\u0000${name}`)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash;
}

function checkProjectionOptions(options: ProjectionOptions, where: string): void {
  for (const name of ["kOut", "kIn"] as const) {
    const value = options[name];
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`zsl: ${where} needs a positive integer ${name}, got ${value}`);
    }
  }
  if (!Number.isSafeInteger(options.seed)) {
    throw new RangeError(`zsl: ${where} needs an integer seed, got ${options.seed}`);
  }
}

function selectedSpecs(
  layout: ProjectedLayout,
  options: ProjectionOptions,
  where: string,
): readonly ProjectedTensor[] {
  if (options.parameters === undefined) return layout.specs;
  const wanted = new Set(options.parameters);
  for (const name of wanted) {
    if (!layout.byName.has(name)) {
      throw new RangeError(
        `zsl: ${where}: no parameter named "${name}" (the layout has ${
          layout.specs.map((spec) => spec.name).slice(0, 3).join(", ")
        }, …): use names from parameterLayout`,
      );
    }
  }
  if (wanted.size === 0) throw new RangeError(`zsl: ${where}: parameters is empty: name at least one`);
  return layout.specs.filter((spec) => wanted.has(spec.name));
}

/**
 * The projection matrices of every (selected) parameter, by name: P_out [kOut, out] then P_in [kIn, in],
 * drawn from a generator seeded by {@linkcode projectionSeed}(seed, name). Same options → same values.
 */
export function projectionMatrices(
  layout: ProjectedLayout,
  options: ProjectionOptions,
): Map<string, ProjectionMatrices> {
  checkProjectionOptions(options, "projectionMatrices");
  const { kOut, kIn, seed } = options;
  const matrices = new Map<string, ProjectionMatrices>();
  for (const spec of selectedSpecs(layout, options, "projectionMatrices")) {
    const [rows, cols] = spec.shape;
    const random = new Random(projectionSeed(seed, spec.name));
    const out = random.fillNormal(new Float32Array(kOut * rows), 1 / Math.sqrt(kOut));
    const inputs = random.fillNormal(new Float32Array(kIn * cols), 1 / Math.sqrt(kIn));
    matrices.set(spec.name, { out, in: inputs, kOut, kIn });
  }
  return matrices;
}

/** Shape and options of {@linkcode GradientProjector}. */
export interface GradientProjectorOptions extends ProjectionOptions {
  /** Examples E per pass (rows of the output). */
  examples: number;
  /** Rows P of each example: rows e·P … e·P+P−1 of every input belong to example e. */
  rowsPerExample: number;
  /**
   * Kernel family (default `auto`: `register` on a software adapter with subgroups, else `tiled`):
   * `register` uses the matmul's register kernels for the row projections and the subgroup outer sums
   * (`outer_sum_sg`), `tiled` the tiled matmul and the plain outer sums.
   */
  variant?: "auto" | MatmulVariant;
}

interface ProjectedParameter {
  slice: ProjectionSlice;
  out: GPUBuffer;
  in: GPUBuffer;
  projectOut: Matmul;
  projectIn: Matmul;
  /** This parameter's 256-byte slot of per-dispatch values. */
  slot: Binding;
}

const WORKGROUP_SIZE = 64;
/** Output rows and columns per workgroup of the subgroup kernels (SR and 8·SC in the WGSL). */
const SUBGROUP_ROWS = 8;
const SUBGROUP_COLUMNS = 32;
const SLOT_BYTES = TENSOR_ALIGNMENT;

function bindingBytes(binding: Binding): number {
  if (binding instanceof GPUBuffer) return binding.size;
  return binding.size ?? binding.buffer.size - (binding.offset ?? 0);
}

/**
 * Holds the projection matrices on the GPU and the projected per-example gradients [E, dims] of one
 * pass. It has the shape of a per-example gradient sink: the transformer's per-example backward calls
 * {@linkcode GradientProjector.linear} for each Linear and {@linkcode GradientProjector.embedding} for
 * the tied embedding, and each adds into its parameter's slice of every example's row.
 *
 * @example
 * ```ts
 * import type { GpuDevice, Kernels } from "../gpu/mod.ts";
 * import type { ParameterLayout, Transformer } from "../model/mod.ts";
 * declare const gpu: GpuDevice, kernels: Kernels, layout: ParameterLayout, model: Transformer, ids: Uint32Array;
 * const projector = await GradientProjector.create(kernels, layout, {
 *   examples: 64, rowsPerExample: 128, kOut: 16, kIn: 16, seed: 0,
 * });
 * projector.writeIds(ids);                     // token ids of the E·P rows (the embedding's input part)
 * const encoder = gpu.device.createCommandEncoder();
 * projector.clear(encoder);
 * const pass = encoder.beginComputePass();
 * model.record(pass, { backward: true, perExample: projector });
 * pass.end();
 * gpu.device.queue.submit([encoder.finish()]);
 * const vectors = await projector.read();      // [64, projector.dims]
 * ```
 */
export class GradientProjector {
  /** Σ over the projected parameters of kOut·kIn: the length of one example's row. */
  readonly dims: number;
  /** Examples E (rows of the output). */
  readonly examples: number;
  /** Rows P per example. */
  readonly rowsPerExample: number;
  /** The projected per-example gradients [E, dims], float32; cleared by {@linkcode GradientProjector.clear}. */
  readonly output: GPUBuffer;
  /** The kernel family in use (see {@linkcode GradientProjectorOptions.variant}). */
  readonly variant: MatmulVariant;
  /** Each projected parameter's place in a row, in layout order. */
  readonly slices: readonly ProjectionSlice[];
  readonly #kernels: Kernels;
  readonly #parameters: Map<string, ProjectedParameter>;
  readonly #outerSum: GPUComputePipeline;
  readonly #outerGather: GPUComputePipeline;
  readonly #workgroups: [number, number, number];
  readonly #a: GPUBuffer;
  readonly #b: GPUBuffer;
  readonly #ids: GPUBuffer;
  readonly #positions: GPUBuffer;
  readonly #slots: GPUBuffer;
  readonly #layoutNames: ReadonlySet<string>;
  #idsWritten = false;

  private constructor(
    kernels: Kernels,
    examples: number,
    rowsPerExample: number,
    dims: number,
    layoutNames: ReadonlySet<string>,
    parameters: Map<string, ProjectedParameter>,
    outerSum: GPUComputePipeline,
    outerGather: GPUComputePipeline,
    workgroups: [number, number, number],
    variant: MatmulVariant,
    scratch: { a: GPUBuffer; b: GPUBuffer; ids: GPUBuffer; positions: GPUBuffer; slots: GPUBuffer },
  ) {
    this.variant = variant;
    this.#kernels = kernels;
    this.examples = examples;
    this.rowsPerExample = rowsPerExample;
    this.dims = dims;
    this.#layoutNames = layoutNames;
    this.#parameters = parameters;
    this.slices = [...parameters.values()].map((parameter) => parameter.slice);
    this.#outerSum = outerSum;
    this.#outerGather = outerGather;
    this.#a = scratch.a;
    this.#b = scratch.b;
    this.#ids = scratch.ids;
    this.#positions = scratch.positions;
    this.#slots = scratch.slots;
    this.#workgroups = workgroups;
    this.output = createBuffer(kernels.gpu, examples * dims * 4, "projected per-example gradients");
  }

  /**
   * Generates the matrices ({@linkcode projectionMatrices}), uploads them, compiles (or takes from the
   * cache) the pipelines and allocates the output [E, dims] and the scratch rows [E·P, kOut] and
   * [E·P, kIn].
   */
  static async create(
    kernels: Kernels,
    layout: ProjectedLayout,
    options: GradientProjectorOptions,
  ): Promise<GradientProjector> {
    checkProjectionOptions(options, "GradientProjector");
    const { examples, rowsPerExample, kOut, kIn } = options;
    for (const [name, value] of [["examples", examples], ["rowsPerExample", rowsPerExample]] as const) {
      if (!(Number.isInteger(value) && value > 0)) {
        throw new RangeError(`zsl: GradientProjector needs a positive integer ${name}, got ${value}`);
      }
    }
    const gpu = kernels.gpu;
    const rows = examples * rowsPerExample;
    const specs = selectedSpecs(layout, options, "GradientProjector");
    const matrices = projectionMatrices(layout, options);
    const dims = specs.length * kOut * kIn;
    const outputBytes = examples * dims * 4;
    if (outputBytes > gpu.limits.maxStorageBufferBindingSize) {
      throw new RangeError(
        `zsl: the projected gradients of ${examples} examples × ${dims} dims need ${outputBytes} bytes, ` +
          `more than one binding holds (${gpu.limits.maxStorageBufferBindingSize}): use fewer examples per ` +
          `pass, smaller kOut/kIn, or fewer parameters`,
      );
    }
    const requested = options.variant ?? "auto";
    if (requested !== "auto" && requested !== "register" && requested !== "tiled") {
      throw new RangeError(
        `zsl: unknown GradientProjector variant "${requested}": use "auto", "register" or "tiled"`,
      );
    }
    const variant = requested === "auto" ? defaultMatmulVariant(gpu) : requested;
    const subgroup = variant === "register";
    const suffix = subgroup ? "_sg" : "";
    const constants = { KO: kOut, KI: kIn, WG: WORKGROUP_SIZE };
    const [outerSum, outerGather] = await Promise.all([
      kernels.pipeline("projection", `outer_sum${suffix}`, constants),
      kernels.pipeline("projection", `outer_gather${suffix}`, constants),
    ]);
    const maxPerDim = gpu.limits.maxComputeWorkgroupsPerDimension;
    let workgroups: [number, number, number];
    if (subgroup) {
      // x: output blocks of 8 rows × 32 columns; y, z: examples (as in the WGSL).
      const [y, z] = grid(examples, 1, maxPerDim);
      workgroups = [Math.ceil(kOut / SUBGROUP_ROWS) * Math.ceil(kIn / SUBGROUP_COLUMNS), y, z];
    } else {
      const [x, y] = grid(examples * kOut * kIn, WORKGROUP_SIZE, maxPerDim);
      workgroups = [x, y, 1];
    }
    const matmuls = new Map<string, Promise<Matmul>>();
    const project = (m: number, k: number): Promise<Matmul> => {
      const key = `${m}x${k}`;
      let matmul = matmuls.get(key);
      if (!matmul) {
        matmul = Matmul.create(kernels, { layout: "xwT", n: rows, m, k, variant });
        matmuls.set(key, matmul);
      }
      return matmul;
    };
    const slots = createBuffer(gpu, specs.length * SLOT_BYTES, "projection slots");
    const slotValues = new Uint32Array(specs.length * SLOT_BYTES / 4);
    const parameters = new Map<string, ProjectedParameter>();
    for (const [index, spec] of specs.entries()) {
      const [out, inputs] = spec.shape;
      const offset = index * kOut * kIn;
      const matrix = matrices.get(spec.name)!;
      const [projectOut, projectIn] = await Promise.all([project(kOut, out), project(kIn, inputs)]);
      slotValues.set([offset, rowsPerExample, examples, dims, out], index * SLOT_BYTES / 4);
      parameters.set(spec.name, {
        slice: { name: spec.name, offset, kOut, kIn, shape: [out, inputs] },
        out: uploadBuffer(gpu, matrix.out, `projection P_out of ${spec.name}`),
        in: uploadBuffer(gpu, matrix.in, `projection P_in of ${spec.name}`),
        projectOut,
        projectIn,
        slot: { buffer: slots, offset: index * SLOT_BYTES, size: 5 * 4 },
      });
    }
    writeBuffer(gpu, slots, slotValues);
    const scratch = {
      a: createBuffer(gpu, rows * kOut * 4, "projected rows of dy"),
      b: createBuffer(gpu, rows * kIn * 4, "projected rows of x"),
      ids: createBuffer(gpu, rows * 4, "projection token ids"),
      positions: uploadBuffer(
        gpu,
        Uint32Array.from({ length: rows }, (_, r) => r % rowsPerExample),
        "projection positions",
      ),
      slots,
    };
    return new GradientProjector(
      kernels,
      examples,
      rowsPerExample,
      dims,
      new Set(layout.byName.keys()),
      parameters,
      outerSum,
      outerGather,
      workgroups,
      variant,
      scratch,
    );
  }

  /** Rows E·P of every input. */
  get rows(): number {
    return this.examples * this.rowsPerExample;
  }

  /** The slice of parameter `name`, or undefined when it is not projected. */
  sliceOf(name: string): ProjectionSlice | undefined {
    return this.#parameters.get(name)?.slice;
  }

  /** Records zeroing of {@linkcode GradientProjector.output} (before a pass's first `linear`/`embedding`). */
  clear(encoder: GPUCommandEncoder): void {
    encoder.clearBuffer(this.output);
  }

  /**
   * Records the projection of Linear `parameter`'s per-example gradients Σ_{r∈e} dy_r x_rᵀ, added into
   * its slice: `dy` [E·P, out], `x` [E·P, in]. A parameter that is not projected records nothing.
   */
  linear(pass: GPUComputePassEncoder, parameter: string | { name: string }, dy: Binding, x: Binding): void {
    const name = typeof parameter === "string" ? parameter : parameter.name;
    if (name === EMBEDDING_NAME || name === POSITIONS_NAME) {
      throw new RangeError(
        `zsl: ${name} is an embedding, not a Linear: project it with GradientProjector.embedding or .positions`,
      );
    }
    const projected = this.#parameters.get(name);
    if (!projected) {
      if (this.#layoutNames.has(name)) return; // left out of `parameters`
      throw new RangeError(`zsl: GradientProjector.linear: no parameter named "${name}" in the layout`);
    }
    const [out, inputs] = projected.slice.shape;
    this.#checkRows(name, "dy", dy, out);
    this.#checkRows(name, "x", x, inputs);
    projected.projectOut.record(pass, dy, projected.out, this.#a);
    projected.projectIn.record(pass, x, projected.in, this.#b);
    this.#kernels.dispatch(
      pass,
      this.#outerSum,
      [this.#a, this.#b, this.output, projected.slot],
      this.#workgroups,
    );
  }

  /**
   * Records the projection of the tied embedding's per-example gradients, both parts, added into its
   * slice: `dlogits` [E·P, V] (gradient wrt the logits), `final` [E·P, d] (final-norm output),
   * `dEmbedding` [E·P, d] (gradient wrt the embedding output), with the ids of the last
   * {@linkcode GradientProjector.writeIds}. Records nothing when wte is not projected.
   */
  embedding(pass: GPUComputePassEncoder, dlogits: Binding, final: Binding, dEmbedding: Binding): void {
    const projected = this.#parameters.get(EMBEDDING_NAME);
    if (!projected) return;
    if (!this.#idsWritten) {
      throw new Error(
        "zsl: GradientProjector.embedding needs the token ids of the rows: call writeIds(ids) first",
      );
    }
    const [vocab, d] = projected.slice.shape;
    this.#checkRows(EMBEDDING_NAME, "dlogits", dlogits, vocab);
    this.#checkRows(EMBEDDING_NAME, "final", final, d);
    this.#checkRows(EMBEDDING_NAME, "dEmbedding", dEmbedding, d);
    const kernels = this.#kernels;
    // LM head: Σ_r (P_V dlogits_r)(P_d final_r)ᵀ.
    projected.projectOut.record(pass, dlogits, projected.out, this.#a);
    projected.projectIn.record(pass, final, projected.in, this.#b);
    kernels.dispatch(pass, this.#outerSum, [this.#a, this.#b, this.output, projected.slot], this.#workgroups);
    // Input embedding: Σ_r P_V[:, id_r] (P_d dEmb_r)ᵀ.
    projected.projectIn.record(pass, dEmbedding, projected.in, this.#b);
    kernels.dispatch(
      pass,
      this.#outerGather,
      [projected.out, this.#ids, this.#b, this.output, projected.slot],
      this.#workgroups,
    );
  }

  /**
   * Records the projection of nanoGPT's position embedding's per-example gradients, added into its
   * slice: row r of `dEmbedding` [E·P, d] is at position r mod P, so the projection is
   * Σ_r P_T[:, r mod P] (P_d dEmb_r)ᵀ. Records nothing when wpe is not projected.
   */
  positions(pass: GPUComputePassEncoder, dEmbedding: Binding): void {
    const projected = this.#parameters.get(POSITIONS_NAME);
    if (!projected) return;
    this.#checkRows(POSITIONS_NAME, "dEmbedding", dEmbedding, projected.slice.shape[1]);
    if (projected.slice.shape[0] < this.rowsPerExample) {
      throw new RangeError(
        `zsl: GradientProjector: wpe has ${
          projected.slice.shape[0]
        } positions, fewer than the ${this.rowsPerExample} ` +
          `rows per example`,
      );
    }
    projected.projectIn.record(pass, dEmbedding, projected.in, this.#b);
    this.#kernels.dispatch(
      pass,
      this.#outerGather,
      [projected.out, this.#positions, this.#b, this.output, projected.slot],
      this.#workgroups,
    );
  }

  /**
   * Uploads the token ids of the E·P rows (`queue.writeBuffer`) for the next
   * {@linkcode GradientProjector.embedding}: write them per batch, before submitting its pass.
   */
  writeIds(ids: ArrayLike<number>): void {
    const rows = this.rows;
    if (ids.length !== rows) {
      throw new RangeError(
        `zsl: GradientProjector.writeIds needs ${rows} ids (examples × rowsPerExample), got ${ids.length}`,
      );
    }
    const vocab = this.#vocab();
    const values = new Uint32Array(rows);
    for (let r = 0; r < rows; r++) {
      const id = ids[r];
      if (!(Number.isInteger(id) && id >= 0 && (vocab === null || id < vocab))) {
        throw new RangeError(
          `zsl: token id ${id} at row ${r} is not an integer in 0…${(vocab ?? 2 ** 32) - 1}: ` +
            `pass the ids the model was run on`,
        );
      }
      values[r] = id;
    }
    writeBuffer(this.#kernels.gpu, this.#ids, values);
    this.#idsWritten = true;
  }

  /** Reads {@linkcode GradientProjector.output} back: [E, dims] (submits pending work first). */
  read(): Promise<Float32Array> {
    return readFloats(this.#kernels.gpu, this.output, 0, this.examples * this.dims);
  }

  /** Frees the matrices, the output and the scratch buffers. */
  destroy(): void {
    for (const parameter of this.#parameters.values()) {
      parameter.out.destroy();
      parameter.in.destroy();
    }
    for (const buffer of [this.output, this.#a, this.#b, this.#ids, this.#positions, this.#slots]) {
      buffer.destroy();
    }
  }

  #vocab(): number | null {
    return this.#parameters.get(EMBEDDING_NAME)?.slice.shape[0] ?? null;
  }

  #checkRows(name: string, operand: string, binding: Binding, columns: number): void {
    const needed = this.rows * columns * 4;
    if (bindingBytes(binding) < needed) {
      throw new RangeError(
        `zsl: GradientProjector: ${operand} of ${name} needs ${this.rows} rows × ${columns} floats ` +
          `(${needed} bytes) but its binding has ${bindingBytes(binding)}: pass rows of all E·P = ` +
          `${this.examples}·${this.rowsPerExample} rows`,
      );
    }
  }
}
