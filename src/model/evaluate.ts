/**
 * Per-token losses of a model on a token stream, chunked into sequences as OLMo does: sequence k is
 * tokens[k·T, (k+1)·T) (the tail that does not fill a sequence is dropped) and position s predicts
 * token s+1, for s = 0…T−2.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import type { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "./config.ts";
import { Transformer } from "./transformer.ts";
import { modelTokenLosses } from "./token_losses.ts";

/** Per-token losses in long form: one row per predicted token. */
export interface TokenLosses {
  /** Sequence index k. */
  seq: Uint32Array;
  /** Position s within the sequence (predicting token s+1). */
  pos: Uint32Array;
  /** Cross-entropy loss in nats. */
  loss: Float32Array;
}

/**
 * Converts token ids of any integer array type to u32, with an error naming the first id that is
 * negative or not below `vocabSize` (and where it is).
 */
export function toTokenIds(
  data: ArrayLike<number | bigint>,
  vocabSize: number,
  source = "tokens",
): Uint32Array {
  const out = new Uint32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const id = Number(data[i]);
    if (!(id >= 0 && id < vocabSize) || !Number.isInteger(id)) {
      throw new Error(
        `zsl: ${source}: token id ${data[i]} at index ${i} is outside 0…${
          vocabSize - 1
        } (vocab_size ${vocabSize}): ` +
          `use the config the tokens were made for`,
      );
    }
    out[i] = id;
  }
  return out;
}

/** Options of {@linkcode evaluateTokenLosses}. */
export interface EvaluateOptions {
  /** Sequences per forward pass (default: as many as keep activations near 64 MiB, at most 64). */
  batch?: number;
  /** Evaluate at most this many sequences. */
  maxSequences?: number;
  /** Called after each batch with the sequences done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Pipeline cache to reuse (on the same device); default a new one. */
  kernels?: Kernels;
}

/** The default evaluation batch: activations of about 64 MiB, between 1 and 64 sequences. */
export function defaultEvalBatch(config: ModelConfig): number {
  const bytesPerSequence = config.seq_len * (8 * config.d_model + Math.min(config.vocab_size, 65536)) * 4;
  return Math.max(1, Math.min(64, Math.floor((64 * 2 ** 20) / bytesPerSequence)));
}

/**
 * Per-token losses of the model with parameters `flat` (layout order) on `tokens`.
 *
 * @example
 * ```ts
 * import { evaluateTokenLosses } from "./mod.ts";
 * // const { seq, pos, loss } = await evaluateTokenLosses(gpu, config, flat, tokens);
 * ```
 */
export async function evaluateTokenLosses(
  gpu: GpuDevice,
  config: ModelConfig,
  flat: Float32Array,
  tokens: Uint32Array,
  options: EvaluateOptions = {},
): Promise<TokenLosses> {
  const T = config.seq_len;
  let sequences = Math.floor(tokens.length / T);
  if (options.maxSequences !== undefined) sequences = Math.min(sequences, options.maxSequences);
  if (sequences < 1) {
    throw new Error(`zsl: ${tokens.length} tokens do not fill one sequence of seq_len ${T}`);
  }
  const batch = Math.min(options.batch ?? defaultEvalBatch(config), sequences);
  const model = await Transformer.create(gpu, config, { batch, training: false }, options.kernels);
  const perSequence = T - 1;
  const result: TokenLosses = {
    seq: new Uint32Array(sequences * perSequence),
    pos: new Uint32Array(sequences * perSequence),
    loss: new Float32Array(sequences * perSequence),
  };
  try {
    model.setParameters(flat);
    result.loss.set(
      await modelTokenLosses(model, tokens.subarray(0, sequences * T), { onProgress: options.onProgress }),
    );
  } finally {
    model.destroy();
  }
  for (let k = 0; k < sequences; k++) {
    for (let s = 0; s < perSequence; s++) {
      result.seq[k * perSequence + s] = k;
      result.pos[k * perSequence + s] = s;
    }
  }
  return result;
}
