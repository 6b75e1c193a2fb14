/**
 * The first-order prediction Δ̂ℓ_i = g_i·δ of every token's loss change along an update δ
 * (docs/method.md#gradient-interference) by the forward-mode tangent alone: one forward carrying
 * tangents per batch of sequences ({@linkcode LossTangent}), about the cost of two or three forwards,
 * instead of the per-token gradients' (T − 1)/2 backward passes per sequence. Use it when Δ̂ℓ_i is all
 * that is needed; {@linkcode GradientStatistics} computes the per-example statistics and cross-checks
 * its Δ̂ℓ_i against this path.
 *
 * @module
 */
import type { GpuDevice } from "../../gpu/device.ts";
import { Kernels } from "../../gpu/kernels.ts";
import type { ModelConfig } from "../../model/config.ts";
import { validateConfig } from "../../model/config.ts";
import { parameterLayout } from "../../model/parameters.ts";
import { LossTangent } from "../../model/tangent.ts";
import { Transformer } from "../../model/transformer.ts";

/** Options of {@linkcode ForwardModePredictor.create}. */
export interface ForwardModePredictorOptions {
  /** Sequences per forward (default 8). */
  sequencesPerPass?: number;
  /** Pipeline cache to share. */
  kernels?: Kernels;
}

/**
 * Δ̂ℓ_i = g_i·δ of every predicted token, by one forward-mode pass per batch of sequences.
 *
 * @example
 * ```ts
 * import { openGpu } from "../../gpu/mod.ts";
 * import { initParameters, parameterLayout, presetByName } from "../../model/mod.ts";
 * const gpu = await openGpu();
 * const config = presetByName("tiny").config;
 * const layout = parameterLayout(config);
 * const predictor = await ForwardModePredictor.create(gpu, config, { sequencesPerPass: 2 });
 * const delta = new Float32Array(layout.totalLength).fill(1e-4);
 * const tokens = new Uint32Array(3 * config.seq_len).map((_, i) => i % 50);
 * const predicted = await predictor.predict(initParameters(layout, 0), delta, tokens); // [3·(seq_len − 1)]
 * predictor.destroy();
 * gpu.destroy();
 * ```
 */
export class ForwardModePredictor {
  /** The model config (validated). */
  readonly config: Required<ModelConfig>;
  /** Sequences per forward. */
  readonly sequencesPerPass: number;
  #model: Transformer;
  #tangent: LossTangent;

  private constructor(config: Required<ModelConfig>, model: Transformer, tangent: LossTangent) {
    this.config = config;
    this.sequencesPerPass = model.batch;
    this.#model = model;
    this.#tangent = tangent;
  }

  /** Builds the model (every layer's activations kept) and its tangent pass. */
  static async create(
    gpu: GpuDevice,
    config: ModelConfig,
    options: ForwardModePredictorOptions = {},
  ): Promise<ForwardModePredictor> {
    const valid = validateConfig(config);
    const batch = options.sequencesPerPass ?? 8;
    if (!Number.isInteger(batch) || batch < 1) {
      throw new Error(`zsl: sequencesPerPass must be a positive integer, got ${batch}`);
    }
    const kernels = options.kernels ?? new Kernels(gpu);
    const model = await Transformer.create(gpu, valid, { batch, training: true }, kernels);
    try {
      return new ForwardModePredictor(valid, model, await LossTangent.create(model));
    } catch (error) {
      model.destroy();
      throw error;
    }
  }

  /**
   * Δ̂ℓ_i = g_i·δ at `parameters` along `delta` (both flat, layout order) of every predicted token of
   * `tokens` (whole sequences of seq_len, row-major), ordered by sequence then position 0…T−2.
   */
  async predict(parameters: Float32Array, delta: Float32Array, tokens: Uint32Array): Promise<Float64Array> {
    const T = this.config.seq_len;
    const n = parameterLayout(this.config).totalLength;
    if (parameters.length !== n || delta.length !== n) {
      throw new Error(`zsl: parameters and δ must have ${n} values each (the model's layout)`);
    }
    if (tokens.length === 0 || tokens.length % T !== 0) {
      throw new Error(`zsl: ${tokens.length} tokens is not a positive multiple of seq_len ${T}`);
    }
    const sequences = tokens.length / T;
    const S = this.sequencesPerPass;
    this.#model.setParameters(parameters);
    this.#tangent.setDelta(delta);
    const out = new Float64Array(sequences * (T - 1));
    for (let first = 0; first < sequences; first += S) {
      const count = Math.min(S, sequences - first);
      // A short last batch is padded with copies of its last sequence; their tangents are dropped.
      const batch = new Uint32Array(S * T);
      for (let b = 0; b < S; b++) {
        const sequence = first + Math.min(b, count - 1);
        batch.set(tokens.subarray(sequence * T, (sequence + 1) * T), b * T);
      }
      const tangents = await this.#tangent.compute(batch);
      out.set(tangents.subarray(0, count * (T - 1)), first * (T - 1));
    }
    return out;
  }

  /** Frees the model and its tangent pass. */
  destroy(): void {
    this.#tangent.destroy();
    this.#model.destroy();
  }
}
