/**
 * Exact per-example gradient statistics on the GPU (docs/method.md#per-example-gradients), streamed: no per-example
 * gradient is ever stored whole.
 *
 * Every parameter is a Linear weight or the tied embedding, so an example's gradient of a weight is
 * a sum of outer products Σ_r dy_r x_rᵀ over the rows its loss reaches. The model runs a backward
 * whose rows are grouped by example, and instead of summing the outer products into one gradient it
 * hands them to {@linkcode LinearExampleStats} / {@linkcode EmbeddingExampleStats}, which form each
 * example's gradient coordinate by coordinate and fold it into running per-coordinate sums
 * (Σ_i g_ij, Σ_i |g_ij|) and per-example sums (g_i·δ, Σ_j |g_ij δ_j|, ‖g_i‖², ‖g_i‖₁).
 *
 * Two granularities:
 * - **sequence**: an example is a whole sequence (its mean token loss): one ordinary backward of a
 *   batch of sequences, rows of sequence b forming example b.
 * - **token** (the paper's): an example is one predicted token, whose loss reaches every earlier
 *   position through attention. The target positions of a sequence are taken K at a time: K copies
 *   of the sequence's prefix up to the group's last target, each with the loss at one position only,
 *   back-propagated together as a batch of K. The copies' activations are copied from one forward of
 *   the whole sequence (attention is causal, so a prefix's activations are the prefix's alone),
 *   so the forward runs once per sequence; the backward covers Σ_c K·P_c rows, within (1 + K/T) of
 *   the method's floor of T(T−1)/2 (each target's backward over its own prefix). The per-example ops
 *   stop each copy at its target's row (later rows get exactly zero gradient), so their share of the
 *   work is the floor's. The copies of several sequences share one backward
 *   (`sequencesPerBackward`): every backward also streams all of the parameters' running sums and
 *   records dozens of dispatches and hundreds of copies, whatever its size, and on lavapipe that fixed
 *   cost was about 40% of the per-token time with one sequence per backward.
 *
 * @module
 */
import type { GpuDevice } from "../../gpu/device.ts";
import { createBuffer, readFloats, writeBuffer } from "../../gpu/buffers.ts";
import type { Binding } from "../../gpu/kernels.ts";
import { Kernels } from "../../gpu/kernels.ts";
import type { ModelConfig } from "../../model/config.ts";
import { validateConfig } from "../../model/config.ts";
import type { ParameterLayout, ParameterSpec } from "../../model/parameters.ts";
import { parameterLayout } from "../../model/parameters.ts";
import type { PerExampleGradientSink } from "../../model/transformer.ts";
import { dropLastPositions, NO_TARGET, Transformer } from "../../model/transformer.ts";
import { LossTangent } from "../../model/tangent.ts";
import {
  EmbeddingExampleStats,
  ExampleStatsReduce,
  LinearExampleStats,
  PositionExampleStats,
} from "../../ops/per_example.ts";
import { GradientProjector } from "../../ops/projection.ts";
import type { ProjectionOptions, ProjectionSlice } from "../../ops/projection.ts";
import type { Granularity } from "../../results/gradients.ts";
import { accumulateCoordinates, emptyCoordinateSums } from "./metrics.ts";
import type { CoordinateSums, ExampleSums } from "./metrics.ts";

export type { Granularity };

/** Options of {@linkcode GradientStatistics.create}. */
export interface GradientStatisticsOptions {
  /** Examples are tokens (the paper) or whole sequences. */
  granularity: Granularity;
  /** Sequences per forward (default 4 for tokens; for sequences, the examples of one backward: default 8). */
  sequencesPerPass?: number;
  /**
   * Token granularity: target positions back-propagated together (K; default ⌈(T−1)/4⌉, i.e. four
   * prefix lengths per sequence). Larger K means fewer, longer passes and more padding rows.
   */
  targetsPerPass?: number;
  /**
   * Token granularity: sequences whose prefix copies share one backward (default: as many of a forward's
   * sequences as keep a backward's activations within about 2²⁴ floats per layer-width unit, see
   * {@linkcode defaultSequencesPerBackward}). Each backward also streams every parameter's sums once, so
   * fewer, larger backwards cost less.
   */
  sequencesPerBackward?: number;
  /** Pipeline cache to share. */
  kernels?: Kernels;
  /**
   * Also project every example's gradient to kOut·kIn dimensions per parameter (seeded Kronecker
   * random projections, {@linkcode GradientProjector}); returned as `projected`.
   */
  projection?: ProjectionOptions;
}

/** Streamed statistics of a set of examples. */
export interface ExampleStatistics {
  /** Per-coordinate sums, float64, over every parameter (the embedding left out of D(∇ℓ)). */
  coordinates: CoordinateSums;
  /** Per-example sums: Δ̂ℓ_i = g_i·δ, Σ_j|p_ij|, ‖g_i‖², ‖g_i‖₁. */
  examples: ExampleSums;
  /** Sequence of each example (index into the given sequences). */
  sequence: Int32Array;
  /** Predicted position of each token example (−1 for sequence examples). */
  position: Int32Array;
  /** Rows back-propagated, in all (the floor for tokens is S·T(T−1)/2). */
  rowsBackpropagated: number;
  /** With `projection`: the projected per-example gradients [examples, dims] and where each parameter lies. */
  projected?: { vectors: Float32Array; dims: number; slices: readonly ProjectionSlice[] };
  /** Δ̂ℓ_i again, by the forward-mode tangent (one pass per batch), and how far it is from `examples.predicted`. */
  jvp: JvpCrossCheck;
}

/**
 * The cross-check of Δ̂ℓ_i = g_i·δ between the per-example gradients (`examples.predicted`) and the
 * forward-mode tangent of the losses ({@linkcode LossTangent}): the two are float32 sums in different
 * orders of the same quantity.
 */
export interface JvpCrossCheck {
  /** Δ̂ℓ_i of every example by the tangent (token: ℓ̇_i; sequence: the mean of its tokens' ℓ̇). */
  predicted: Float64Array;
  /** max_i |Δ̂ℓ_i(tangent) − Δ̂ℓ_i(per-example)| (nats). */
  maxAbsDifference: number;
  /**
   * The tolerance it was held to: {@linkcode JVP_TOLERANCE} × max_i Σ_j |g_ij δ_j| (rounding in either
   * path scales with the terms' magnitudes, not with their cancelled sum).
   */
  bound: number;
}

/**
 * Relative tolerance of the cross-check, against the largest Σ_j |g_ij δ_j|: float32 rounding of either
 * path stays orders of magnitude below it (tests/gradient_statistics_test.ts prints the observed
 * ratio), while a wrong term of any layer moves Δ̂ℓ_i by a share of Σ_j |g_ij δ_j| comparable to 1.
 */
export const JVP_TOLERANCE = 1e-3;

/** One backward shape: a model of `batch` examples of `rows` rows and its statistics ops. */
interface PassShape {
  model: Transformer;
  examples: number;
  rowsPerExample: number;
  linear: Map<string, LinearExampleStats>;
  embedding: EmbeddingExampleStats;
  /** nanoGPT's position embedding (null for OLMo). */
  positions: PositionExampleStats | null;
  reduce: ExampleStatsReduce;
  /** Byte offset of each parameter's partials region. */
  regions: Map<string, number>;
  partials: GPUBuffer;
  exampleOut: GPUBuffer;
  projector: GradientProjector | null;
}

const EMBEDDING = "transformer.wte.weight";
const POSITIONS = "transformer.wpe.weight";

/** Where a pass's per-example results go. */
interface PassOutputs {
  examples: GPUBuffer;
  projected: GPUBuffer | null;
  /** Every row's loss tangent ℓ̇ [sequences·T] (the forward-mode cross-check). */
  tangents: GPUBuffer;
}

/**
 * Holds the models, kernels and accumulators of exact per-example gradient statistics for one model
 * config; {@linkcode GradientStatistics.compute} runs them for given parameters, update δ and tokens.
 *
 * @example
 * ```ts
 * import { openGpu } from "../../gpu/mod.ts";
 * import { initParameters, parameterLayout } from "../../model/mod.ts";
 * import { ODD_TINY_CONFIG } from "../../reference/mod.ts";
 * const gpu = await openGpu();
 * const stats = await GradientStatistics.create(gpu, ODD_TINY_CONFIG, { granularity: "token" });
 * const layout = parameterLayout(ODD_TINY_CONFIG);
 * const theta = initParameters(layout, 0);
 * const delta = new Float32Array(layout.totalLength).fill(1e-3);
 * const tokens = new Uint32Array(2 * ODD_TINY_CONFIG.seq_len).map((_, i) => i % 30);
 * const result = await stats.compute(theta, delta, tokens);
 * stats.destroy();
 * gpu.destroy();
 * ```
 */
export class GradientStatistics {
  /** The device. */
  readonly gpu: GpuDevice;
  /** The model config (validated). */
  readonly config: Required<ModelConfig>;
  /** The flat parameter layout. */
  readonly layout: ParameterLayout;
  /** What an example is. */
  readonly granularity: Granularity;
  /** Sequences per forward. */
  readonly sequencesPerPass: number;
  /** Target positions per backward (token granularity). */
  readonly targetsPerPass: number;
  /** Sequences whose prefix copies share a backward (token granularity; 1 for sequences). */
  readonly sequencesPerBackward: number;
  #kernels: Kernels;
  #projection: ProjectionOptions | null;
  #source: Transformer | null;
  #shapes = new Map<number, PassShape>();
  /** The forward-mode tangent of each forward model (the token source, or the sequence pass's model). */
  #tangents = new Map<Transformer, LossTangent>();
  #sumG: GPUBuffer;
  #sumAbsG: GPUBuffer;
  #delta: GPUBuffer;

  private constructor(
    gpu: GpuDevice,
    config: Required<ModelConfig>,
    options: GradientStatisticsOptions,
    kernels: Kernels,
    source: Transformer | null,
    sequencesPerPass: number,
    targetsPerPass: number,
    sequencesPerBackward: number,
  ) {
    this.gpu = gpu;
    this.config = config;
    this.layout = parameterLayout(config);
    this.granularity = options.granularity;
    this.sequencesPerPass = sequencesPerPass;
    this.targetsPerPass = targetsPerPass;
    this.sequencesPerBackward = sequencesPerBackward;
    this.#kernels = kernels;
    this.#projection = options.projection ?? null;
    this.#source = source;
    const bytes = this.layout.totalLength * 4;
    this.#sumG = createBuffer(gpu, bytes, "per-example stats: Σ_i g_ij");
    this.#sumAbsG = createBuffer(gpu, bytes, "per-example stats: Σ_i |g_ij|");
    this.#delta = createBuffer(gpu, bytes, "per-example stats: update δ");
  }

  /** Builds the accumulators and, for tokens, the forward model; pass shapes are built on first use. */
  static async create(
    gpu: GpuDevice,
    config: ModelConfig,
    options: GradientStatisticsOptions,
  ): Promise<GradientStatistics> {
    const valid = validateConfig(config);
    const T = valid.seq_len;
    if (options.granularity !== "token" && options.granularity !== "sequence") {
      throw new Error(`zsl: unknown granularity "${options.granularity}": use token or sequence`);
    }
    const token = options.granularity === "token";
    const sequencesPerPass = options.sequencesPerPass ?? (token ? 4 : 8);
    const targetsPerPass = options.targetsPerPass ?? Math.max(2, Math.ceil((T - 1) / 4));
    if (!Number.isInteger(sequencesPerPass) || sequencesPerPass < 1) {
      throw new Error(`zsl: sequencesPerPass must be a positive integer, got ${sequencesPerPass}`);
    }
    if (!Number.isInteger(targetsPerPass) || targetsPerPass < 2 || targetsPerPass > T - 1) {
      throw new Error(
        `zsl: targetsPerPass must be an integer in 2…${T - 1} (seq_len − 1), got ${targetsPerPass}`,
      );
    }
    const sequencesPerBackward = token
      ? options.sequencesPerBackward ??
        defaultSequencesPerBackward(valid, sequencesPerPass, targetsPerPass, options.projection !== undefined)
      : 1;
    if (
      !Number.isInteger(sequencesPerBackward) || sequencesPerBackward < 1 ||
      sequencesPerBackward > sequencesPerPass
    ) {
      throw new Error(
        `zsl: sequencesPerBackward must be an integer in 1…${sequencesPerPass} (sequencesPerPass), got ` +
          `${sequencesPerBackward}`,
      );
    }
    const kernels = options.kernels ?? new Kernels(gpu);
    const source = token
      ? await Transformer.create(gpu, valid, { batch: sequencesPerPass, training: true }, kernels)
      : null;
    return new GradientStatistics(
      gpu,
      valid,
      options,
      kernels,
      source,
      sequencesPerPass,
      targetsPerPass,
      sequencesPerBackward,
    );
  }

  /** Prefix lengths of the token passes: (c+1)·K capped at T − 1. */
  get prefixLengths(): number[] {
    const T = this.config.seq_len;
    const K = this.targetsPerPass;
    const lengths: number[] = [];
    for (let start = 0; start < T - 1; start += K) lengths.push(Math.min(start + K, T - 1));
    return lengths;
  }

  async #shape(rowsPerExample: number, examples: number): Promise<PassShape> {
    const cached = this.#shapes.get(rowsPerExample);
    if (cached) return cached;
    const c = this.config;
    const kernels = this.#kernels;
    const token = this.granularity === "token";
    const rows = examples * rowsPerExample;
    // Token passes: one target per prefix copy, so the LM head runs on those rows only (the projector
    // reads the head's per-row factors of every row: it keeps the full head).
    const gatheredHead = token && !this.#projection;
    // Copy k of token pass c has its loss at row c·K + k (see #tokens): its later rows get exactly zero
    // gradient, which the per-example ops skip.
    const K = this.targetsPerPass;
    const liveRows = token
      ? { first: this.prefixLengths.indexOf(rowsPerExample) * K + 1, perExample: 1, period: K }
      : undefined;
    const model = await Transformer.create(
      this.gpu,
      { ...c, seq_len: rowsPerExample },
      {
        batch: examples,
        training: true,
        // Token examples: the gradient of one token's loss; sequence examples: of the mean token loss.
        lossScale: token ? 1 : 1 / (c.seq_len - 1),
        logitsChunkBytes: Math.max(rows * c.vocab_size * 4, 256),
        // nanoGPT: the prefix model keeps the full model's wpe, so the parameter layout is the same.
        positions: c.seq_len,
        headRows: gatheredHead ? examples : undefined,
      },
      kernels,
    );
    const linear = new Map<string, LinearExampleStats>();
    const regions = new Map<string, number>();
    // Each region starts on a 256-byte boundary that is also a column boundary of the partials.
    const columnFloats = 4 * examples;
    const alignFloats = lcm(64, columnFloats);
    let floats = 0;
    const place = (name: string, columns: number) => {
      regions.set(name, floats * 4);
      floats += Math.ceil((columns * columnFloats) / alignFloats) * alignFloats;
    };
    const embedding = await EmbeddingExampleStats.create(kernels, {
      examples,
      rowsPerExample,
      vocab: c.vocab_size,
      d: c.d_model,
      headRowsPerExample: gatheredHead ? 1 : undefined,
      liveRows,
    });
    place(EMBEDDING, embedding.partialColumns);
    const positions = c.arch === "nanogpt"
      ? await PositionExampleStats.create(kernels, { examples, rowsPerExample, d: c.d_model })
      : null;
    if (positions) place(POSITIONS, positions.partialColumns);
    for (const spec of this.layout.specs) {
      if (spec.name === EMBEDDING || spec.name === POSITIONS) continue;
      const [out, inner] = spec.shape;
      const key = `${out}x${inner}`;
      let op = linear.get(key);
      if (!op) {
        op = await LinearExampleStats.create(kernels, { examples, rowsPerExample, out, in: inner, liveRows });
        linear.set(key, op);
      }
      place(spec.name, op.partialColumns);
    }
    const reduce = await ExampleStatsReduce.create(kernels, { examples, columns: floats / columnFloats });
    const shape: PassShape = {
      model,
      examples,
      rowsPerExample,
      linear,
      embedding,
      positions,
      reduce,
      regions,
      partials: createBuffer(this.gpu, floats * 4, "per-example partial sums"),
      exampleOut: createBuffer(this.gpu, examples * 16, "per-example sums of one pass"),
      projector: this.#projection
        ? await GradientProjector.create(kernels, this.layout, {
          ...this.#projection,
          examples,
          rowsPerExample,
        })
        : null,
    };
    this.#shapes.set(rowsPerExample, shape);
    return shape;
  }

  #sink(shape: PassShape): PerExampleGradientSink {
    const tensor = (buffer: GPUBuffer, spec: ParameterSpec): Binding => ({
      buffer,
      offset: spec.offset * 4,
      size: spec.length * 4,
    });
    const region = (name: string, columns: number): Binding => ({
      buffer: shape.partials,
      offset: shape.regions.get(name)!,
      size: columns * shape.examples * 16,
    });
    return {
      linear: (pass, spec, dy, x) => {
        shape.projector?.linear(pass, spec, dy, x);
        const op = shape.linear.get(`${spec.shape[0]}x${spec.shape[1]}`)!;
        op.record(
          pass,
          dy,
          x,
          tensor(this.#delta, spec),
          tensor(this.#sumG, spec),
          tensor(this.#sumAbsG, spec),
          region(spec.name, op.partialColumns),
        );
      },
      positions: (pass, dEmbedding) => {
        shape.projector?.positions(pass, dEmbedding);
        const spec = this.layout.byName.get(POSITIONS)!;
        shape.positions!.record(
          pass,
          dEmbedding,
          tensor(this.#delta, spec),
          tensor(this.#sumG, spec),
          tensor(this.#sumAbsG, spec),
          region(POSITIONS, shape.positions!.partialColumns),
        );
      },
      embedding: (pass, dlogits, final, dEmbedding) => {
        shape.projector?.embedding(pass, dlogits, final, dEmbedding);
        const spec = this.layout.specs[0];
        shape.embedding.record(
          pass,
          dlogits,
          final,
          dEmbedding,
          tensor(this.#delta, spec),
          tensor(this.#sumG, spec),
          tensor(this.#sumAbsG, spec),
          region(EMBEDDING, shape.embedding.partialColumns),
        );
        shape.reduce.record(pass, shape.partials, shape.exampleOut);
      },
    };
  }

  /**
   * The statistics of every example of `tokens` (whole sequences of seq_len, row-major) at
   * parameters `parameters` for the update `delta` (both flat, layout order). For tokens, examples
   * are ordered by sequence then position (positions 0…T−2); for sequences, by sequence.
   */
  async compute(
    parameters: Float32Array,
    delta: Float32Array,
    tokens: Uint32Array,
    onProgress?: (done: number, total: number) => void,
  ): Promise<ExampleStatistics> {
    const T = this.config.seq_len;
    const n = this.layout.totalLength;
    if (parameters.length !== n || delta.length !== n) {
      throw new Error(`zsl: parameters and δ must have ${n} values each (the model's layout)`);
    }
    if (tokens.length === 0 || tokens.length % T !== 0) {
      throw new Error(`zsl: ${tokens.length} tokens is not a positive multiple of seq_len ${T}`);
    }
    const sequences = tokens.length / T;
    const token = this.granularity === "token";
    const perSequence = token ? T - 1 : 1;
    const exampleCount = sequences * perSequence;
    const exampleBuffer = createBuffer(this.gpu, exampleCount * 16, "per-example sums");
    const tangentBuffer = createBuffer(this.gpu, sequences * T * 4, "loss tangents of every row");
    const dims = this.#projection ? (await this.#shape(...this.#firstShape())).projector!.dims : 0;
    const projected = dims > 0
      ? createBuffer(this.gpu, exampleCount * dims * 4, "projected gradients")
      : null;
    writeBuffer(this.gpu, this.#delta, delta);
    const encoder = this.gpu.device.createCommandEncoder();
    encoder.clearBuffer(this.#sumG);
    encoder.clearBuffer(this.#sumAbsG);
    this.gpu.device.queue.submit([encoder.finish()]);
    let rowsBackpropagated = 0;
    try {
      const outputs = { examples: exampleBuffer, projected, tangents: tangentBuffer };
      if (token) rowsBackpropagated = await this.#tokens(parameters, delta, tokens, outputs, onProgress);
      else rowsBackpropagated = await this.#sequences(parameters, delta, tokens, outputs, onProgress);
      await this.gpu.check();
      const slices = dims > 0 ? (await this.#shape(...this.#firstShape())).projector!.slices : [];
      const examples = splitExampleSums(await readFloats(this.gpu, exampleBuffer), exampleCount);
      const rows = dropLastPositions(await readFloats(this.gpu, tangentBuffer), sequences, T);
      return {
        projected: projected ? { vectors: await readFloats(this.gpu, projected), dims, slices } : undefined,
        coordinates: await this.#coordinateSums(delta),
        examples,
        jvp: jvpCrossCheck(examples, token ? Float64Array.from(rows) : sequenceMeans(rows, T - 1)),
        sequence: Int32Array.from({ length: exampleCount }, (_, i) => Math.floor(i / perSequence)),
        position: Int32Array.from({ length: exampleCount }, (_, i) => token ? i % perSequence : -1),
        rowsBackpropagated,
      };
    } finally {
      exampleBuffer.destroy();
      tangentBuffer.destroy();
      projected?.destroy();
    }
  }

  /** (rowsPerExample, examples) of the first pass shape. */
  #firstShape(): [number, number] {
    return this.granularity === "token"
      ? [this.prefixLengths[0], this.sequencesPerBackward * this.targetsPerPass]
      : [this.config.seq_len, this.sequencesPerPass];
  }

  /** The forward-mode tangent of `model`, built on first use, along `delta`. */
  async #tangent(model: Transformer, delta: Float32Array): Promise<LossTangent> {
    let tangent = this.#tangents.get(model);
    if (!tangent) {
      tangent = await LossTangent.create(model);
      this.#tangents.set(model, tangent);
    }
    tangent.setDelta(delta);
    return tangent;
  }

  async #sequences(
    parameters: Float32Array,
    delta: Float32Array,
    tokens: Uint32Array,
    outputs: PassOutputs,
    onProgress?: (done: number, total: number) => void,
  ): Promise<number> {
    const T = this.config.seq_len;
    const sequences = tokens.length / T;
    const S = this.sequencesPerPass;
    const shape = await this.#shape(T, S);
    shape.model.setParameters(parameters);
    const sink = this.#sink(shape);
    const tangent = await this.#tangent(shape.model, delta);
    for (let first = 0; first < sequences; first += S) {
      const { batch, count } = paddedBatch(tokens, T, first, S);
      // The padding sequences get no targets, so nothing of them reaches the per-coordinate sums.
      const targets = new Uint32Array(S * T).fill(NO_TARGET);
      for (let r = 0; r < count * T; r++) if (r % T !== T - 1) targets[r] = batch[r + 1];
      shape.model.setTokens(batch, targets);
      shape.embedding.writeIndex(batch);
      shape.projector?.writeIds(batch);
      const encoder = this.gpu.device.createCommandEncoder();
      shape.projector?.clear(encoder);
      const pass = encoder.beginComputePass();
      shape.model.record(pass, { backward: true, perExample: sink });
      tangent.record(pass); // reads the forward's activations, which the backward leaves as they are
      pass.end();
      this.#collect(encoder, shape, outputs, 0, first, count);
      encoder.copyBufferToBuffer(tangent.tangents, 0, outputs.tangents, first * T * 4, count * T * 4);
      this.gpu.device.queue.submit([encoder.finish()]);
      onProgress?.(first + count, sequences);
    }
    return sequences * T;
  }

  async #tokens(
    parameters: Float32Array,
    delta: Float32Array,
    tokens: Uint32Array,
    outputs: PassOutputs,
    onProgress?: (done: number, total: number) => void,
  ): Promise<number> {
    const T = this.config.seq_len;
    const K = this.targetsPerPass;
    const S = this.sequencesPerPass;
    const G = this.sequencesPerBackward;
    const sequences = tokens.length / T;
    const source = this.#source!;
    source.setParameters(parameters);
    const lengths = this.prefixLengths;
    const shapes: PassShape[] = [];
    for (const P of lengths) {
      const shape = await this.#shape(P, G * K);
      shape.model.setParameters(parameters);
      shapes.push(shape);
    }
    const sinks = shapes.map((shape) => this.#sink(shape));
    const tangent = await this.#tangent(source, delta);
    const inFlight: Promise<void>[] = [];
    let rows = 0;
    for (let first = 0; first < sequences; first += S) {
      const { batch, count } = paddedBatch(tokens, T, first, S);
      source.setTokens(batch);
      const forward = this.gpu.device.createCommandEncoder();
      const pass = forward.beginComputePass();
      source.record(pass, { backward: false });
      tangent.record(pass);
      pass.end();
      forward.copyBufferToBuffer(tangent.tangents, 0, outputs.tangents, first * T * 4, count * T * 4);
      this.gpu.device.queue.submit([forward.finish()]);
      // Backwards of G sequences at a time: copy g·K + k is sequence b0 + g's copy k (g ≥ count − b0:
      // padding, no target).
      for (let b0 = 0; b0 < count; b0 += G) {
        const group = Math.min(G, count - b0);
        const copySource = Array.from(
          { length: G * K },
          (_, e) => b0 + Math.min(Math.floor(e / K), group - 1),
        );
        for (const [c, shape] of shapes.entries()) {
          const P = shape.rowsPerExample;
          const firstTarget = c * K;
          const valid = Math.min(K, T - 1 - firstTarget);
          // Copy k predicts position firstTarget + k from the prefix 0…P−1; the other rows have no loss.
          const ids = new Uint32Array(G * K * P);
          const targets = new Uint32Array(G * K * P).fill(NO_TARGET);
          for (let e = 0; e < G * K; e++) {
            const b = copySource[e];
            const sequence = batch.subarray(b * T, (b + 1) * T);
            const k = e % K;
            ids.set(sequence.subarray(0, P), e * P);
            if (k < valid && Math.floor(e / K) < group) {
              targets[e * P + firstTarget + k] = sequence[firstTarget + k + 1];
            }
          }
          shape.model.setTokens(ids, targets);
          shape.embedding.writeIndex(ids);
          shape.projector?.writeIds(ids);
          const encoder = this.gpu.device.createCommandEncoder();
          shape.projector?.clear(encoder);
          shape.model.copyPrefixFrom(encoder, source, copySource);
          const backward = encoder.beginComputePass();
          shape.model.record(backward, { backward: true, forward: false, perExample: sinks[c] });
          backward.end();
          for (let g = 0; g < group; g++) {
            this.#collect(encoder, shape, outputs, g * K, (first + b0 + g) * (T - 1) + firstTarget, valid);
          }
          this.gpu.device.queue.submit([encoder.finish()]);
          rows += G * K * P;
        }
        onProgress?.(first + b0 + group, sequences);
        // Keep the queue from running far ahead of the host (and the host's uploads from piling up),
        // but never dry: the host records the next backwards while the ones before still run.
        inFlight.push(this.gpu.device.queue.onSubmittedWorkDone());
        if (inFlight.length > 1) await inFlight.shift();
      }
    }
    await Promise.all(inFlight);
    this.gpu.check();
    return rows;
  }

  /**
   * Copies `count` examples' sums (and projections) of a pass, from its example `from` on, to examples
   * `to`… of the outputs.
   */
  #collect(
    encoder: GPUCommandEncoder,
    shape: PassShape,
    outputs: PassOutputs,
    from: number,
    to: number,
    count: number,
  ) {
    encoder.copyBufferToBuffer(shape.exampleOut, from * 16, outputs.examples, to * 16, count * 16);
    if (shape.projector && outputs.projected) {
      const bytes = shape.projector.dims * 4;
      encoder.copyBufferToBuffer(
        shape.projector.output,
        from * bytes,
        outputs.projected,
        to * bytes,
        count * bytes,
      );
    }
  }

  async #coordinateSums(delta: Float32Array): Promise<CoordinateSums> {
    const sums = emptyCoordinateSums();
    const sumG = await readFloats(this.gpu, this.#sumG);
    const sumAbsG = await readFloats(this.gpu, this.#sumAbsG);
    for (const spec of this.layout.specs) {
      const range = [spec.offset, spec.offset + spec.length] as const;
      accumulateCoordinates(
        sums,
        sumG.subarray(...range),
        sumAbsG.subarray(...range),
        delta.subarray(...range),
        { interference: spec.name !== EMBEDDING && spec.name !== POSITIONS },
      );
    }
    return sums;
  }

  /**
   * Reads the per-coordinate sums of the last {@linkcode GradientStatistics.compute}: Σ_i g_ij and
   * Σ_i |g_ij|, flat in layout order (tests; Σ_i g_ij is the batch gradient of the summed losses).
   */
  async readSums(): Promise<{ sumG: Float32Array; sumAbsG: Float32Array }> {
    return {
      sumG: await readFloats(this.gpu, this.#sumG),
      sumAbsG: await readFloats(this.gpu, this.#sumAbsG),
    };
  }

  /** Frees every buffer and model. */
  destroy(): void {
    for (const shape of this.#shapes.values()) {
      shape.model.destroy();
      shape.embedding.destroy();
      shape.positions?.destroy();
      for (const op of shape.linear.values()) op.destroy();
      shape.reduce.destroy();
      shape.partials.destroy();
      shape.exampleOut.destroy();
      shape.projector?.destroy();
    }
    this.#shapes.clear();
    for (const tangent of this.#tangents.values()) tangent.destroy();
    this.#tangents.clear();
    this.#source?.destroy();
    this.#sumG.destroy();
    this.#sumAbsG.destroy();
    this.#delta.destroy();
  }
}

/**
 * Sequences `first`… of `tokens` as a batch of `size` (a short last batch padded with copies of its
 * last sequence), and how many are real.
 */
/** Activation floats per layer and model width a token backward may hold: 2²⁴ (a few hundred MB in all). */
const BACKWARD_ROW_BUDGET = 2 ** 24;
/** Logit floats a token backward may hold when the LM head keeps every row (projections): 2²⁶. */
const BACKWARD_LOGIT_BUDGET = 2 ** 26;

/**
 * Sequences whose prefix copies share a token backward by default: up to `sequencesPerPass`, while the
 * largest backward's rows, G·K·(T − 1), times d_model · n_layers stay within 2²⁴ (and, when the LM
 * head keeps every row for the projections, times the vocabulary within 2²⁶). Each backward streams
 * every parameter's running sums once and costs dozens of dispatches, whatever its size, so on lavapipe
 * four cpu-s sequences in one backward instead of one each took the per-token pass from 1.4–1.5× its
 * floor to about 1.1×.
 *
 * @example
 * ```ts
 * import { presetByName } from "../../model/config.ts";
 * import { validateConfig } from "../../model/config.ts";
 * const g = defaultSequencesPerBackward(validateConfig(presetByName("cpu-s").config), 4, 16, false);
 * ```
 */
export function defaultSequencesPerBackward(
  config: Required<ModelConfig>,
  sequencesPerPass: number,
  targetsPerPass: number,
  projection: boolean,
): number {
  const rows = targetsPerPass * (config.seq_len - 1);
  let fits = Math.floor(BACKWARD_ROW_BUDGET / (rows * config.d_model * config.n_layers));
  if (projection) fits = Math.min(fits, Math.floor(BACKWARD_LOGIT_BUDGET / (rows * config.vocab_size)));
  return Math.max(1, Math.min(sequencesPerPass, fits));
}

function paddedBatch(tokens: Uint32Array, T: number, first: number, size: number) {
  const count = Math.min(size, tokens.length / T - first);
  const batch = new Uint32Array(size * T);
  for (let b = 0; b < size; b++) {
    const sequence = first + Math.min(b, count - 1);
    batch.set(tokens.subarray(sequence * T, (sequence + 1) * T), b * T);
  }
  return { batch, count };
}

/**
 * Compares Δ̂ℓ_i of the per-example gradients (`examples`) with `predicted` by the forward-mode tangent,
 * and throws when they differ beyond {@linkcode JVP_TOLERANCE} (a kernel of one path is wrong on this
 * adapter).
 *
 * @example
 * ```ts
 * import type { ExampleSums } from "./metrics.ts";
 * declare const examples: ExampleSums, tangent: Float64Array;
 * const { maxAbsDifference, bound } = jvpCrossCheck(examples, tangent);
 * ```
 */
export function jvpCrossCheck(examples: ExampleSums, predicted: Float64Array): JvpCrossCheck {
  let maxAbsDifference = 0;
  let largestTerms = 0;
  for (let i = 0; i < predicted.length; i++) {
    const difference = Math.abs(predicted[i] - examples.predicted[i]);
    maxAbsDifference = Number.isNaN(difference) ? Infinity : Math.max(maxAbsDifference, difference);
    largestTerms = Math.max(largestTerms, examples.absPredicted[i]);
  }
  const bound = JVP_TOLERANCE * largestTerms;
  if (!(maxAbsDifference <= bound)) {
    throw new Error(
      `zsl: Δ̂ℓ_i = g_i·δ by the per-example gradients and by the forward-mode tangent differ by up to ` +
        `${maxAbsDifference.toExponential(3)}, over the bound ${
          bound.toExponential(3)
        } (${JVP_TOLERANCE} of the ` +
        `largest Σ_j|g_ij δ_j|): a kernel is wrong on this adapter; run \`deno task doctor\` and report it`,
    );
  }
  return { predicted, maxAbsDifference, bound };
}

/**
 * Means of consecutive runs of `perSequence` values: a sequence example's Δ̂ℓ or Δℓ, the mean of its
 * tokens'.
 *
 * @example
 * ```ts
 * import { sequenceMeans } from "./statistics.ts";
 * console.log(sequenceMeans([1, 3, 2, 4], 2)); // Float64Array [2, 3]
 * ```
 */
export function sequenceMeans(values: ArrayLike<number>, perSequence: number): Float64Array {
  const out = new Float64Array(values.length / perSequence);
  for (let b = 0; b < out.length; b++) {
    let sum = 0;
    for (let s = 0; s < perSequence; s++) sum += values[b * perSequence + s];
    out[b] = sum / perSequence;
  }
  return out;
}

/** [examples, 4] float32 (Δ̂ℓ, Σ|p|, ‖g‖², ‖g‖₁) → float64 columns. */
function splitExampleSums(flat: Float32Array, count: number): ExampleSums {
  const column = (k: number) => Float64Array.from({ length: count }, (_, i) => flat[i * 4 + k]);
  return { predicted: column(0), absPredicted: column(1), gradSq: column(2), gradAbs: column(3) };
}

function lcm(a: number, b: number): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  return (a / gcd(a, b)) * b;
}
