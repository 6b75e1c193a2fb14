/**
 * Per-token losses of a {@linkcode Transformer} on the GPU, read back in few mappings:
 * {@linkcode modelTokenLosses} (and {@linkcode TokenLossReader}, which keeps its buffer) runs forward
 * passes over whole sequences and copies each pass's token losses into one mappable GPU buffer, so the
 * host maps it once per 64 MiB of losses instead of once per pass.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import type { Transformer } from "./transformer.ts";

/** Bytes of losses gathered on the GPU before one readback. */
const GATHER_BYTES = 64 * 2 ** 20;

/** Options of {@linkcode modelTokenLosses}. */
export interface TokenLossOptions {
  /** Called after each forward with the sequences done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Bytes of losses gathered on the GPU per readback (default 64 MiB; at least one forward's). */
  gatherBytes?: number;
}

/**
 * Reads per-token losses of a model through one persistent host-mappable buffer: each forward's
 * losses are copied into it on the GPU, and it is mapped once per 64 MiB (or at the end). Keep one
 * for repeated measurements (the live probe); {@linkcode modelTokenLosses} makes a temporary one.
 */
export class TokenLossReader {
  /** The model whose forwards (current parameters) give the losses. */
  readonly model: Transformer;
  /** Bytes of losses gathered on the GPU per readback (default 64 MiB; at least one forward's). */
  readonly gatherBytes: number;
  #staging: GPUBuffer | null = null;
  #capacity = 0;

  /** A reader for `model`; the GPU buffer is made on the first read. */
  constructor(model: Transformer, options: { gatherBytes?: number } = {}) {
    this.model = model;
    this.gatherBytes = options.gatherBytes ?? GATHER_BYTES;
  }

  /** A mappable buffer for `sequences` sequences of losses (reused while large enough). */
  #buffer(sequences: number): GPUBuffer {
    if (this.#staging && this.#capacity >= sequences) return this.#staging;
    this.#staging?.destroy();
    const gpu = this.model.gpu;
    const bytes = sequences * this.model.config.seq_len * 4;
    if (bytes > gpu.limits.maxBufferSize) {
      throw new Error(
        `zsl: a token-loss readback of ${bytes} bytes exceeds maxBufferSize: lower gatherBytes`,
      );
    }
    this.#staging = gpu.device.createBuffer({
      label: "token-loss readback",
      size: bytes,
      usage: 0x01 /* MAP_READ */ | 0x08, /* COPY_DST */
    });
    this.#capacity = sequences;
    return this.#staging;
  }

  /**
   * Per-token losses of the model (its current parameters) on `tokens`, whole sequences of
   * `config.seq_len` tokens row-major: [sequences, seq_len − 1] flattened, position s predicting
   * token s+1. The last forward is padded with token 0 when the sequences do not fill it.
   * Overwrites the model's activations, token losses and loss slot 0.
   */
  async read(tokens: Uint32Array, options: TokenLossOptions = {}): Promise<Float32Array> {
    const model = this.model;
    const T = model.config.seq_len;
    if (tokens.length === 0 || tokens.length % T !== 0) {
      throw new Error(
        `zsl: ${tokens.length} tokens are not whole sequences of seq_len ${T}: give sequences × ${T} tokens`,
      );
    }
    const gpu: GpuDevice = model.gpu;
    const sequences = tokens.length / T;
    const B = model.batch;
    // The readback holds whole forwards: a multiple of the batch, at least one, at most all.
    const perGather = Math.min(
      Math.ceil(sequences / B) * B,
      Math.max(B, Math.floor((options.gatherBytes ?? this.gatherBytes) / (T * 4 * B)) * B),
    );
    const staging = this.#buffer(perGather);
    const out = new Float32Array(sequences * (T - 1));
    const input = new Uint32Array(B * T);
    let segmentStart = 0;
    let gathered = 0;
    const flush = async () => {
      if (gathered === 0) return;
      try {
        await staging.mapAsync(0x0001, /* READ */ 0, gathered * T * 4);
      } catch (error) {
        gpu.check();
        throw new Error(`zsl: reading back token losses failed: ${error}`);
      }
      gpu.check();
      const rows = new Float32Array(staging.getMappedRange(0, gathered * T * 4));
      for (let k = 0; k < gathered; k++) {
        out.set(rows.subarray(k * T, k * T + T - 1), (segmentStart + k) * (T - 1));
      }
      staging.unmap();
      segmentStart += gathered;
      gathered = 0;
    };
    for (let first = 0; first < sequences; first += B) {
      const count = Math.min(B, sequences - first);
      if (gathered + count > perGather) await flush();
      if (count === B) {
        model.setTokens(tokens.subarray(first * T, (first + B) * T));
      } else {
        input.fill(0);
        input.set(tokens.subarray(first * T, (first + count) * T));
        model.setTokens(input);
      }
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      model.record(pass, { backward: false, slot: 0 });
      pass.end();
      encoder.copyBufferToBuffer(model.losses, 0, staging, gathered * T * 4, count * T * 4);
      gpu.device.queue.submit([encoder.finish()]);
      gathered += count;
      options.onProgress?.(first + count, sequences);
    }
    await flush();
    return out;
  }

  /** Frees the readback buffer. */
  destroy(): void {
    this.#staging?.destroy();
    this.#staging = null;
    this.#capacity = 0;
  }
}

/**
 * Per-token losses of `model` (its current parameters) on `tokens` (whole sequences), through a
 * temporary {@linkcode TokenLossReader}: [sequences, seq_len − 1] flattened.
 */
export async function modelTokenLosses(
  model: Transformer,
  tokens: Uint32Array,
  options: TokenLossOptions = {},
): Promise<Float32Array> {
  const reader = new TokenLossReader(model, options);
  try {
    return await reader.read(tokens, options);
  } finally {
    reader.destroy();
  }
}
