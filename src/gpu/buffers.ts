/**
 * Storage buffers: creation with clear errors against the device's limits, uploads, and readbacks
 * of exactly the bytes asked for.
 *
 * @module
 */
import { GpuDevice, GpuError } from "./device.ts";

/** Usage of every storage buffer zsl makes: bindable, writable by the queue, readable back. */
export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x08 /* COPY_DST */ | 0x04; /* COPY_SRC */

/** Byte alignment of tensors placed inside a shared buffer (≥ every adapter's offset alignment). */
export const TENSOR_ALIGNMENT = 256;

/** Rounds `bytes` up to a multiple of `alignment`. */
export function alignUp(bytes: number, alignment = TENSOR_ALIGNMENT): number {
  return Math.ceil(bytes / alignment) * alignment;
}

/**
 * Creates a storage buffer of `bytes` (at least 4), zero-filled. Throws a clear error naming the
 * limit when the device cannot hold it.
 */
export function createBuffer(gpu: GpuDevice, bytes: number, label: string): GPUBuffer {
  const size = alignUp(Math.max(bytes, 4), 4);
  const limits = gpu.limits;
  if (size > limits.maxBufferSize) {
    throw new GpuError(
      `zsl: buffer "${label}" needs ${size} bytes but this adapter's maxBufferSize is ${limits.maxBufferSize}: ` +
        `use a smaller model, batch or sequence length, or a GPU with more memory`,
    );
  }
  return gpu.device.createBuffer({ label, size, usage: STORAGE_USAGE });
}

/** Creates a storage buffer holding `data`. */
export function uploadBuffer(gpu: GpuDevice, data: ArrayBufferView, label: string): GPUBuffer {
  const buffer = createBuffer(gpu, data.byteLength, label);
  writeBuffer(gpu, buffer, data);
  return buffer;
}

/** Writes `data` into `buffer` at `byteOffset` (padded to a multiple of 4 bytes). */
export function writeBuffer(gpu: GpuDevice, buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 === 0) {
    gpu.device.queue.writeBuffer(buffer, byteOffset, bytes);
  } else {
    const padded = new Uint8Array(alignUp(bytes.byteLength, 4));
    padded.set(bytes);
    gpu.device.queue.writeBuffer(buffer, byteOffset, padded);
  }
}

/**
 * Copies `byteLength` bytes of `buffer` from `byteOffset` back to the host. Submits any pending
 * work first (the queue is in order) and checks for GPU errors, so a failed kernel never reads back
 * as zeros.
 */
export async function readBuffer(
  gpu: GpuDevice,
  buffer: GPUBuffer,
  byteOffset = 0,
  byteLength = buffer.size - byteOffset,
): Promise<ArrayBuffer> {
  const size = alignUp(byteLength, 4);
  const staging = gpu.device.createBuffer({
    label: `readback of ${buffer.label}`,
    size,
    usage: 0x01 /* MAP_READ */ | 0x08, /* COPY_DST */
  });
  const encoder = gpu.device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
  gpu.device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(0x0001 /* READ */);
  } catch (error) {
    gpu.check();
    throw new GpuError(`zsl: reading back "${buffer.label}" failed: ${error}`);
  }
  gpu.check();
  const copy = staging.getMappedRange().slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}

/** Reads `count` float32 values of `buffer` starting at element `offset`. */
export async function readFloats(
  gpu: GpuDevice,
  buffer: GPUBuffer,
  offset = 0,
  count = buffer.size / 4 - offset,
): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, buffer, offset * 4, count * 4));
}
