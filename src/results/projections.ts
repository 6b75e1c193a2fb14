/**
 * Projected per-example gradients on disk (`RUN/gradients/projections_step-NNNNNNN_<granularity>.*`).
 *
 * A {@linkcode ProjectionWriter} streams the rows of `GradientProjector.output` (one projected gradient
 * per example: a token's loss, or a whole sequence's) into three files in a directory:
 *
 * - `<name>.npy`: the vectors, float32 [count, dims], C order. `numpy.load(path, mmap_mode="r")` maps
 *   it without reading it whole.
 * - `<name>.arrow`: one row per vector: `sequence`, `position` (the predicting position s; −1 for a
 *   whole-sequence example), `token` (the input token at s), `target` (the token at s + 1 whose loss
 *   the gradient is of); int32, −1 where not applicable.
 * - `<name>.json`: seed, kOut, kIn and each parameter's slice of a vector, written last (a directory
 *   without it holds an unfinished or failed write).
 *
 * Why `.npy` and not an Arrow FixedSizeList column: `src/io/arrow.ts` has no FixedSizeList column, and an
 * Arrow IPC file is built from a table held in memory, whereas the vectors can outgrow memory (10⁵
 * tokens × 4 096 dims is 1.6 GB). A `.npy` file is streamed: a fixed-size header, the rows appended
 * batch by batch to a temporary name, the header rewritten with the final row count, then renamed, so
 * the file appears atomically and memory stays at one batch. The small row table stays Arrow.
 *
 * @module
 */
import { readArrow, writeArrow } from "../io/arrow.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { readNpy } from "../io/npy.ts";
import { dirname, join } from "../util/path.ts";

/**
 * A projected parameter's place in each vector, as `GradientProjector.slices` lists it: its name and [out,
 * in] shape, and its kOut·kIn block (row-major) from `offset`.
 */
export type ProjectionSlice = {
  name: string;
  offset: number;
  kOut: number;
  kIn: number;
  shape: [number, number];
};

/** What the vectors are: the projection's seed and sizes, and each parameter's slice. */
export interface ProjectionMetadata {
  /** Seed of the projection matrices. */
  seed: number;
  /** Projected out dimension per parameter. */
  kOut: number;
  /** Projected in dimension per parameter. */
  kIn: number;
  /** Each projected parameter's place in a vector (`GradientProjector.slices`); their sizes sum to dims. */
  slices: ProjectionSlice[];
  /** Anything else worth keeping with the vectors (checkpoint step, granularity, run name). */
  extra?: Record<string, unknown>;
}

/** Identification of each vector of a batch, one entry per vector (−1 where not applicable). */
export interface ProjectionRows {
  /** Sequence index in the analysed batch. */
  sequence: ArrayLike<number>;
  /** Predicting position s (−1 for a whole-sequence example). */
  position: ArrayLike<number>;
  /** Input token at s (−1 for a whole-sequence example). */
  token: ArrayLike<number>;
  /** Target token at s + 1 (−1 for a whole-sequence example). */
  target: ArrayLike<number>;
}

/** The files a finished {@linkcode ProjectionWriter} wrote. */
export interface ProjectionFiles {
  /** `<name>.npy`: float32 [count, dims]. */
  vectors: string;
  /** `<name>.arrow`: sequence, position, token, target. */
  rows: string;
  /** `<name>.json`: {@linkcode ProjectionMetadata} with count and dims. */
  metadata: string;
  /** Vectors written. */
  count: number;
  /** Length of each vector. */
  dims: number;
}

/** Projected vectors with their row identification, as {@linkcode readProjections} returns them. */
export interface ProjectionSet {
  /** Number of vectors. */
  count: number;
  /** Length of each vector. */
  dims: number;
  /** The vectors, float32 [count, dims]. */
  vectors: Float32Array;
  /** Sequence of each vector. */
  sequence: Int32Array;
  /** Predicting position of each vector (−1: whole sequence). */
  position: Int32Array;
  /** Input token of each vector (−1: whole sequence). */
  token: Int32Array;
  /** Target token of each vector (−1: whole sequence). */
  target: Int32Array;
  /** The projection's seed, sizes and slices, when read from disk. */
  metadata?: ProjectionMetadata;
}

/** Bytes of the `.npy` header (preamble included): fixed, so it can be rewritten in place at the end. */
const NPY_HEADER_BYTES = 128;

/** A version 1.0 `.npy` header for float32 [rows, dims], padded to {@linkcode NPY_HEADER_BYTES}. */
function npyHeader(rows: number, dims: number): Uint8Array {
  const dictionary = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dims}), }`;
  const textLength = NPY_HEADER_BYTES - 10;
  if (dictionary.length + 1 > textLength) {
    throw new RangeError(
      `zsl: a .npy header for shape (${rows}, ${dims}) does not fit ${NPY_HEADER_BYTES} bytes`,
    );
  }
  const bytes = new Uint8Array(NPY_HEADER_BYTES);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, textLength, true);
  const text = dictionary + " ".repeat(textLength - dictionary.length - 1) + "\n";
  for (let i = 0; i < text.length; i++) bytes[10 + i] = text.charCodeAt(i);
  return bytes;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

function checkInteger(name: string, value: number, where: string): number {
  if (!(Number.isInteger(value) && value >= -1 && value <= 0x7fffffff)) {
    throw new RangeError(`zsl: ${where}: ${name} ${value} is not an integer ≥ −1 (use −1 for "none")`);
  }
  return value;
}

/**
 * Streams projected per-example gradients to `<directory>/<name>.{npy,arrow,json}` (see the module
 * documentation). Memory: the row identification (16 bytes a vector); the vectors go to disk per batch.
 *
 * @example
 * ```ts
 * import type { GradientProjector } from "../ops/projection.ts";
 * declare const projector: GradientProjector;
 * declare const sequence: Int32Array, position: Int32Array, token: Int32Array, target: Int32Array;
 * const writer = await ProjectionWriter.create("runs/x/projections", {
 *   seed: 0, kOut: 16, kIn: 16, slices: [...projector.slices],
 * });
 * await writer.append({ sequence, position, token, target }, await projector.read());
 * const files = await writer.finish();
 * ```
 */
export class ProjectionWriter {
  /** Length of each vector (Σ of the slices' kOut·kIn). */
  readonly dims: number;
  readonly #files: Omit<ProjectionFiles, "count" | "dims">;
  readonly #temporary: string;
  readonly #metadata: ProjectionMetadata;
  readonly #file: Deno.FsFile;
  #count = 0;
  #rows: { sequence: number[]; position: number[]; token: number[]; target: number[] } = {
    sequence: [],
    position: [],
    token: [],
    target: [],
  };
  #state: "open" | "finished" | "aborted" = "open";

  private constructor(
    files: Omit<ProjectionFiles, "count" | "dims">,
    temporary: string,
    metadata: ProjectionMetadata,
    dims: number,
    file: Deno.FsFile,
  ) {
    this.#files = files;
    this.#temporary = temporary;
    this.#metadata = metadata;
    this.dims = dims;
    this.#file = file;
  }

  /** Opens the vectors' temporary file in `directory` (created if needed) for `metadata`'s slices. */
  static async create(
    directory: string,
    metadata: ProjectionMetadata,
    name = "projections",
  ): Promise<ProjectionWriter> {
    if (metadata.slices.length === 0) {
      throw new RangeError("zsl: ProjectionWriter needs the projector's slices (GradientProjector.slices)");
    }
    const dims = metadata.slices.reduce((sum, slice) => sum + slice.kOut * slice.kIn, 0);
    const files = {
      vectors: join(directory, `${name}.npy`),
      rows: join(directory, `${name}.arrow`),
      metadata: join(directory, `${name}.json`),
    };
    await Deno.mkdir(dirname(files.vectors), { recursive: true });
    const temporary = `${files.vectors}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    } catch (error) {
      throw new Error(
        `zsl: cannot write projections into ${directory} (${
          (error as Error).message
        }): choose a writable directory`,
      );
    }
    await writeAll(file, npyHeader(0, dims));
    return new ProjectionWriter(files, temporary, { ...metadata, slices: [...metadata.slices] }, dims, file);
  }

  /** Vectors appended so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * Appends a batch: `vectors` float32 [n, dims] (e.g. `GradientProjector.read()`, or its first n rows)
   * with each vector's identification in `rows` (arrays of length n).
   */
  async append(rows: ProjectionRows, vectors: Float32Array): Promise<void> {
    if (this.#state !== "open") throw new Error(`zsl: ProjectionWriter.append after ${this.#state}`);
    if (vectors.length % this.dims !== 0) {
      throw new RangeError(
        `zsl: ProjectionWriter.append: ${vectors.length} values are not whole vectors of ${this.dims} dims`,
      );
    }
    const n = vectors.length / this.dims;
    for (const key of ["sequence", "position", "token", "target"] as const) {
      if (rows[key].length !== n) {
        throw new RangeError(
          `zsl: ProjectionWriter.append: ${n} vectors but ${
            rows[key].length
          } entries of ${key}: give one per vector`,
        );
      }
      for (let i = 0; i < n; i++) {
        this.#rows[key].push(checkInteger(key, rows[key][i], "ProjectionWriter.append"));
      }
    }
    await writeAll(this.#file, new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength));
    this.#count += n;
  }

  /**
   * Writes the final `.npy` header, renames the vectors into place, writes the row table and, last, the
   * metadata.
   */
  async finish(): Promise<ProjectionFiles> {
    if (this.#state !== "open") throw new Error(`zsl: ProjectionWriter.finish after ${this.#state}`);
    this.#state = "finished";
    try {
      await this.#file.seek(0, Deno.SeekMode.Start);
      await writeAll(this.#file, npyHeader(this.#count, this.dims));
      this.#file.close();
      await Deno.rename(this.#temporary, this.#files.vectors);
    } catch (error) {
      await Deno.remove(this.#temporary).catch(() => {});
      throw error;
    }
    const rows = this.#rows;
    await writeArrow(this.#files.rows, {
      sequence: Int32Array.from(rows.sequence),
      position: Int32Array.from(rows.position),
      token: Int32Array.from(rows.token),
      target: Int32Array.from(rows.target),
    });
    await writeJsonAtomic(this.#files.metadata, { ...this.#metadata, count: this.#count, dims: this.dims });
    return { ...this.#files, count: this.#count, dims: this.dims };
  }

  /** Closes and removes the temporary file; nothing is left under the final names. */
  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    this.#file.close();
    await Deno.remove(this.#temporary).catch(() => {});
  }
}

/** Reads what a {@linkcode ProjectionWriter} wrote to `<directory>/<name>.{npy,arrow,json}`. */
export async function readProjections(directory: string, name = "projections"): Promise<ProjectionSet> {
  const metadataPath = join(directory, `${name}.json`);
  let metadata: ProjectionMetadata & { count: number; dims: number };
  try {
    metadata = JSON.parse(await Deno.readTextFile(metadataPath));
  } catch (error) {
    throw new Error(
      `zsl: cannot read ${metadataPath} (${(error as Error).message}): it is written last, so the ` +
        `projections in ${directory} are missing or unfinished`,
    );
  }
  const npyPath = join(directory, `${name}.npy`);
  const array = await readNpy(npyPath, { ndim: 2, dtypes: ["float32"] });
  const rowsPath = join(directory, `${name}.arrow`);
  const table = await readArrow(rowsPath);
  const [count, dims] = array.shape;
  if (count !== metadata.count || dims !== metadata.dims || table.numRows !== count) {
    throw new Error(
      `zsl: ${directory}: ${npyPath} holds ${count} × ${dims}, ${rowsPath} ${table.numRows} rows, and ` +
        `${metadataPath} says ${metadata.count} × ${metadata.dims}: the files come from different writes`,
    );
  }
  const column = (key: string) => {
    const values = table.columns[key];
    if (!values) throw new Error(`zsl: ${rowsPath} has no column "${key}"`);
    return Int32Array.from(values as ArrayLike<number>);
  };
  const { count: _count, dims: _dims, ...rest } = metadata;
  return {
    count,
    dims,
    vectors: array.data as Float32Array,
    sequence: column("sequence"),
    position: column("position"),
    token: column("token"),
    target: column("target"),
    metadata: rest,
  };
}
