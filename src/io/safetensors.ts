/**
 * Safetensors files: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets}}` and optional `__metadata__` of strings), then raw
 * little-endian tensor data. zsl writes F32; it reads F32, F16 and BF16 (converted to F32) and F64.
 *
 * @module
 */
import { writeFileAtomic } from "./atomic.ts";

/** A tensor: float32 data with its shape. */
export interface Tensor {
  /** Dimensions, outermost first; their product is `data.length`. */
  shape: number[];
  /** The elements in row-major order (read F16/BF16/F64 are converted; the array is owned, not a view). */
  data: Float32Array;
}

/** The contents of a safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in the header's order. */
  tensors: Map<string, Tensor>;
  /** The header's `__metadata__` string map; empty when it has none. */
  metadata: Record<string, string>;
}

const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Serialises tensors (F32) and string metadata as safetensors bytes. Tensor order is kept. */
export function encodeSafetensors(
  tensors: Iterable<[string, Tensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const entries = [...tensors];
  let offset = 0;
  for (const [name, tensor] of entries) {
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (count !== tensor.data.length) {
      throw new Error(`zsl: tensor ${name} has shape [${tensor.shape}] but ${tensor.data.length} values`);
    }
    header[name] = { dtype: "F32", shape: tensor.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so that the data starts 8-byte aligned, as the reference writer does.
  const headerBytes = new Uint8Array(json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const [, tensor] of entries) {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), position);
    position += tensor.data.byteLength;
  }
  return out;
}

/** Writes tensors to `path` atomically. */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<[string, Tensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

function f16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/** Parses safetensors bytes; `source` names the file in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors data"): SafetensorsFile {
  const fail = (why: string): never => {
    throw new Error(`zsl: ${source} is not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`it has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail(`the header length ${headerLength} exceeds the file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    return fail(`its header is not JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    const width = BYTES_PER_ELEMENT[dtype];
    if (!width) fail(`tensor ${name} has dtype ${dtype}; zsl reads F32, F16, BF16 and F64`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (!Array.isArray(offsets) || offsets[1] - offsets[0] !== count * width) {
      fail(
        `tensor ${name} has shape [${shape}] but its data_offsets span ${offsets?.[1] - offsets?.[0]} bytes`,
      );
    }
    if (dataStart + offsets[1] > bytes.length) {
      fail(`tensor ${name} runs past the end of the file (truncated?)`);
    }
    const raw = bytes.slice(dataStart + offsets[0], dataStart + offsets[1]);
    let data: Float32Array;
    if (dtype === "F32") data = new Float32Array(raw.buffer);
    else if (dtype === "F64") data = Float32Array.from(new Float64Array(raw.buffer));
    else if (dtype === "BF16") data = bf16ToF32(new Uint16Array(raw.buffer));
    else data = f16ToF32(new Uint16Array(raw.buffer));
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}

/** Reads a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`zsl: cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}
