/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): 1-D and 2-D little-endian arrays in C order.
 *
 * Token corpora (OLMo, nanoGPT) are 1-D `uint16`/`uint32`/`int32`/`int64` arrays; analysis results are
 * 2-D `float32`/`float64` tables. Every error names the file and what was expected.
 *
 * @example
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * await writeNpy("tokens.npy", new Uint16Array([464, 3290, 50256]));
 * const { dtype, shape, data } = await readNpy("tokens.npy"); // "uint16", [3], Uint16Array
 * ```
 *
 * @module
 */
import { writeFileAtomic } from "./atomic.ts";

/** The element types zsl reads and writes. */
export type NpyDtype =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64";

/** The typed array that holds each dtype. */
export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** An array read from a `.npy` file. */
export interface NpyArray {
  /** The element type as stored (little-endian); `data` is the matching typed array. */
  dtype: NpyDtype;
  /** `[n]` or `[rows, columns]`. */
  shape: number[];
  /** The elements in C (row-major) order. */
  data: NpyData;
}

/** What a reader expects; a file that does not match gets an error naming the expectation. */
export interface NpyExpectation {
  /** Required number of dimensions. */
  ndim?: 1 | 2;
  /** Accepted dtypes. */
  dtypes?: readonly NpyDtype[];
}

interface DtypeInfo {
  dtype: NpyDtype;
  descr: string;
  size: number;
  make: (buffer: ArrayBuffer, length: number) => NpyData;
}

const DTYPES: DtypeInfo[] = [
  { dtype: "uint8", descr: "|u1", size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  { dtype: "int8", descr: "|i1", size: 1, make: (b, n) => new Int8Array(b, 0, n) },
  { dtype: "uint16", descr: "<u2", size: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  { dtype: "int16", descr: "<i2", size: 2, make: (b, n) => new Int16Array(b, 0, n) },
  { dtype: "uint32", descr: "<u4", size: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  { dtype: "int32", descr: "<i4", size: 4, make: (b, n) => new Int32Array(b, 0, n) },
  { dtype: "int64", descr: "<i8", size: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  { dtype: "uint64", descr: "<u8", size: 8, make: (b, n) => new BigUint64Array(b, 0, n) },
  { dtype: "float32", descr: "<f4", size: 4, make: (b, n) => new Float32Array(b, 0, n) },
  { dtype: "float64", descr: "<f8", size: 8, make: (b, n) => new Float64Array(b, 0, n) },
];

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const SUPPORTED = DTYPES.map((info) => `${info.dtype} (${info.descr})`).join(", ");

// Typed arrays use the host's byte order; .npy data here is little-endian. Every WebGPU host zsl runs on
// (x86-64, arm64) is little-endian, so this only guards against a surprise.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether `bytes` starts with the `.npy` magic string `\x93NUMPY`. */
export function hasNpyMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((value, index) => bytes[index] === value);
}

/**
 * Parses the bytes of a `.npy` file. `name` (the file path) is used in error messages.
 *
 * Errors: no magic string, unknown format version, big-endian or unsupported dtype (the supported ones
 * are listed), Fortran order, more than 2 dimensions (or not `expect.ndim`), truncated data, trailing
 * bytes after the data.
 */
export function parseNpy(bytes: Uint8Array, name = "<bytes>", expect: NpyExpectation = {}): NpyArray {
  checkHost();
  if (!hasNpyMagic(bytes)) {
    throw new Error(
      `zsl: ${name} is not a .npy file (it does not start with the magic string \\x93NUMPY); ` +
        `write it with numpy.save, or pass a raw token dump as a .bin file`,
    );
  }
  if (bytes.length < 10) throw new Error(`zsl: ${name} is truncated inside the .npy header`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`zsl: ${name} is truncated inside the .npy header`);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(
      `zsl: ${name} has .npy format version ${major}.${bytes[7]}; zsl reads versions 1, 2 and 3`,
    );
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) {
    throw new Error(
      `zsl: ${name} is truncated: its .npy header is ${headerLength} bytes long but the file has only ` +
        `${bytes.length - headerStart} bytes after the preamble`,
    );
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataStart),
  );

  const descrMatch = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  if (!descrMatch) {
    throw new Error(
      `zsl: ${name} has an unsupported dtype (header ${header.trim()}): structured arrays are not ` +
        `supported; save a plain numeric array, one of ${SUPPORTED}`,
    );
  }
  const descr = descrMatch[1];
  const info = dtypeFromDescr(descr);
  if (!info) {
    const hint = descr.startsWith(">")
      ? "it is big-endian; convert with array.astype(array.dtype.newbyteorder('<'))"
      : `supported dtypes are ${SUPPORTED}`;
    throw new Error(`zsl: ${name} has dtype '${descr}', which zsl does not read: ${hint}`);
  }
  if (expect.dtypes && !expect.dtypes.includes(info.dtype)) {
    throw new Error(
      `zsl: ${name} has dtype ${info.dtype} ('${descr}'); expected one of ${expect.dtypes.join(", ")}`,
    );
  }

  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortranMatch) {
    throw new Error(`zsl: ${name} has a .npy header without fortran_order: ${header.trim()}`);
  }
  if (fortranMatch[1] === "True") {
    throw new Error(
      `zsl: ${name} is stored in Fortran (column-major) order; zsl reads C order: ` +
        `save numpy.ascontiguousarray(array) instead`,
    );
  }

  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) throw new Error(`zsl: ${name} has a .npy header without a shape: ${header.trim()}`);
  const shape = shapeMatch[1].split(",").map((part) => part.trim()).filter((part) => part !== "").map(
    (part) => Number(part.replace(/L$/, "")),
  );
  if (shape.some((extent) => !Number.isSafeInteger(extent) || extent < 0)) {
    throw new Error(`zsl: ${name} has an invalid shape (${shapeMatch[1]})`);
  }
  const expectedShape = expect.ndim === 1 ? "a 1-D array" : expect.ndim === 2 ? "a 2-D array" : "1-D or 2-D";
  if ((expect.ndim !== undefined && shape.length !== expect.ndim) || shape.length < 1 || shape.length > 2) {
    throw new Error(`zsl: ${name} has shape (${shape.join(", ")}); expected ${expectedShape}`);
  }

  const length = shape.reduce((product, extent) => product * extent, 1);
  const byteLength = length * info.size;
  const available = bytes.length - dataStart;
  if (available < byteLength) {
    throw new Error(
      `zsl: ${name} is truncated: shape (${shape.join(", ")}) of ${info.dtype} needs ${byteLength} bytes ` +
        `of data but only ${available} follow the header`,
    );
  }
  if (available > byteLength) {
    throw new Error(
      `zsl: ${name} has ${available - byteLength} unexpected bytes after its data ` +
        `(shape (${shape.join(", ")}) of ${info.dtype} is ${byteLength} bytes): the file is damaged`,
    );
  }
  // Copy into a fresh buffer: the data offset need not be a multiple of the element size.
  const buffer = new ArrayBuffer(byteLength);
  new Uint8Array(buffer).set(bytes.subarray(dataStart, dataStart + byteLength));
  return { dtype: info.dtype, shape, data: info.make(buffer, length) };
}

/** Reads a `.npy` file; see `parseNpy` for the checks. */
export async function readNpy(path: string, expect: NpyExpectation = {}): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
  }
  return parseNpy(bytes, path, expect);
}

/** The dtype of a typed array, or an error for arrays `.npy` cannot hold. */
export function npyDtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof BigUint64Array) return "uint64";
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  throw new Error(`zsl: cannot write ${Object.prototype.toString.call(data)} as .npy: pass a typed array`);
}

/**
 * Encodes a typed array as a version 1.0 `.npy` file (C order, little-endian, header padded so the data
 * starts at a multiple of 64 bytes, as numpy does). `shape` defaults to `[data.length]`.
 */
export function encodeNpy(data: NpyData, shape: number[] = [data.length]): Uint8Array {
  checkHost();
  const dtype = npyDtypeOf(data);
  const info = DTYPES.find((candidate) => candidate.dtype === dtype)!;
  if (
    shape.length < 1 || shape.length > 2 ||
    shape.some((extent) => !Number.isSafeInteger(extent) || extent < 0)
  ) {
    throw new Error(`zsl: cannot write shape [${shape.join(", ")}] as .npy: give [n] or [rows, columns]`);
  }
  const length = shape.reduce((product, extent) => product * extent, 1);
  if (length !== data.length) {
    throw new Error(
      `zsl: shape [${shape.join(", ")}] holds ${length} elements but the array has ${data.length}`,
    );
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${info.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const preamble = 10;
  const padding = (64 - ((preamble + header.length + 1) % 64)) % 64;
  header += " ".repeat(padding) + "\n";
  const bytes = new Uint8Array(preamble + header.length + data.byteLength);
  bytes.set(MAGIC, 0);
  bytes[6] = 1;
  bytes[7] = 0;
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) bytes[preamble + i] = header.charCodeAt(i);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), preamble + header.length);
  return bytes;
}

/** Writes a typed array to a `.npy` file atomically (see `encodeNpy`). */
export async function writeNpy(path: string, data: NpyData, shape?: number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}

function dtypeFromDescr(descr: string): DtypeInfo | undefined {
  return DTYPES.find((info) => {
    if (info.descr === descr) return true;
    // numpy writes '|u1' for bytes; '<u1' and '=' (native, little-endian here) mean the same.
    const body = info.descr.slice(1);
    return descr === `=${body}` || (info.size === 1 && descr === `<${body}`) || descr === body;
  });
}

function checkHost(): void {
  if (!HOST_LITTLE_ENDIAN) throw new Error("zsl: .npy support needs a little-endian host");
}
