/**
 * The OLMo-style decoder (docs/method.md#model) and the nanoGPT architecture of the authors' ablations
 * (docs/method.md#the-nanogpt-variant) on the GPU: every layer's forward and backward written out as kernel
 * dispatches, top to bottom, in the spirit of llm.c (the nanoGPT block beside OLMo's, sharing the ops). No
 * autograd.
 *
 * One {@linkcode Transformer} holds the parameters (one flat buffer), their gradients, and the
 * activations of one microbatch of `batch` sequences. A forward (and backward) of a microbatch is
 * recorded into one compute pass and submitted once.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { GpuError } from "../gpu/device.ts";
import { createBuffer, readFloats, writeBuffer } from "../gpu/buffers.ts";
import type { Binding } from "../gpu/kernels.ts";
import { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "./config.ts";
import { headDim, mlpHidden, validateConfig } from "./config.ts";
import type { BlockWeights, ParameterLayout, ParameterSpec } from "./parameters.ts";
import { blockWeights, parameterLayout } from "./parameters.ts";
import { Matmul } from "../ops/matmul.ts";
import { RmsNorm } from "../ops/rmsnorm.ts";
import { Rope } from "../ops/rope.ts";
import { Attention, fusesRope } from "../ops/attention.ts";
import { SwiGlu } from "../ops/swiglu.ts";
import { CrossEntropy, SumReduce } from "../ops/cross_entropy.ts";
import { Embedding, RowGather } from "../ops/embedding.ts";
import { Gelu } from "../ops/gelu.ts";
import { PositionEmbedding } from "../ops/position.ts";

/** Marks a row without a prediction target (the last position of each sequence). */
export const NO_TARGET = 0xffffffff;

/** Byte stride between loss-sum slots (a binding offset must be aligned on every adapter). */
const SLOT_STRIDE = 256;

/** Options for {@linkcode Transformer.create}. */
export interface TransformerOptions {
  /** Sequences per forward pass (the microbatch). */
  batch: number;
  /** Allocate gradients and keep every layer's activations for the backward (default true). */
  training?: boolean;
  /**
   * Sequences in the global batch whose mean loss the gradient is of (default `batch`): the
   * gradient of each microbatch is scaled by 1 / (globalBatch·(seq_len − 1)) so that accumulating
   * the microbatches gives the gradient of the global-batch mean.
   */
  globalBatch?: number;
  /** Loss-sum slots (one per microbatch of a step; default 64). */
  lossSlots?: number;
  /** Upper bound on the bytes of one logits chunk (default 256 MiB, capped by the binding limit). */
  logitsChunkBytes?: number;
  /**
   * Factor on d(loss)/d(logits) in the backward, overriding 1 / (globalBatch·(seq_len − 1)): 1 gives
   * the gradients of summed token losses (per-example gradients use it).
   */
  lossScale?: number;
  /**
   * Rows of nanoGPT's position embedding wpe (default seq_len): a model of shorter sequences (prefix
   * copies of per-example gradients) that shares the parameter layout of a full-length model passes the
   * full length; it uses the first seq_len rows.
   */
  positions?: number;
  /**
   * Run the LM head (logits, loss and their gradient) on at most this many rows per forward, a
   * multiple of `batch`: each sequence's rows that have a target, gathered (`headRows / batch` per
   * sequence, padded with rows without one). Rows without a target then cost nothing in the head: a
   * per-token pass has one target in each prefix copy. The losses of those rows go to
   * {@linkcode Transformer.headLosses} (`losses` stays zero). Default: every row, in chunks.
   */
  headRows?: number;
}

/**
 * Receives what a per-example backward produces instead of accumulating the weight gradients
 * ({@linkcode Transformer.record} with `perExample`): for each Linear, the gradient wrt its output `dy`
 * and its input `x` (rows of one example give that example's gradient Σ_r dy_r x_rᵀ); for the tied
 * embedding, d(loss)/d(logits), the final-norm output and the gradient wrt the embedding output.
 */
export interface PerExampleGradientSink {
  /** One Linear weight `spec` [out, in]: `dy` [rows, out], `x` [rows, in]. */
  linear(pass: GPUComputePassEncoder, spec: ParameterSpec, dy: Binding, x: Binding): void;
  /** The tied embedding: `dlogits` [rows, V], `final` [rows, d], `dEmbedding` [rows, d]. */
  embedding(pass: GPUComputePassEncoder, dlogits: Binding, final: Binding, dEmbedding: Binding): void;
  /**
   * nanoGPT's position embedding wpe (required for a nanoGPT model), called just before
   * {@linkcode PerExampleGradientSink.embedding}: `dEmbedding` [rows, d], the gradient wrt the embedding
   * output; row r is at position r mod seq_len of its sequence, so each example's gradient of wpe is its
   * rows of `dEmbedding`, one per position present.
   */
  positions?(pass: GPUComputePassEncoder, dEmbedding: Binding): void;
}

/** Options of {@linkcode Transformer.record}. */
export interface RecordOptions {
  /** Record the backward too (a model created with `training: true`). */
  backward: boolean;
  /** Loss-sum slot of this microbatch (default 0). */
  slot?: number;
  /**
   * Skip the embedding and the blocks' forward: their activations are already in place
   * ({@linkcode Transformer.copyPrefixFrom}); only the LM head and the loss run (default true).
   */
  forward?: boolean;
  /**
   * Hand every weight's per-row gradient factors to this sink instead of accumulating the
   * gradients (needs a single logits chunk: create the model with a large enough `logitsChunkBytes`).
   */
  perExample?: PerExampleGradientSink;
}

/** The activations one block saves in the forward (per layer; {@linkcode Transformer.savedActivations}). */
export interface LayerActivations {
  /** RMSNorm of the block's input [rows, d]. */
  norm1: GPUBuffer;
  /** Its 1/rms [rows]. */
  rstd1: GPUBuffer;
  /** q, k, v [rows, 3d]. */
  qkv: GPUBuffer;
  /** Attention's output [rows, d]. */
  attention: GPUBuffer;
  /** Attention's log-sum-exp [batch·heads·seq_len]. */
  lse: GPUBuffer;
  /** RMSNorm of the stream after the attention branch [rows, d]. */
  norm2: GPUBuffer;
  /** Its 1/rms [rows]. */
  rstd2: GPUBuffer;
  /** The MLP's up projection [rows, mlp_ratio·d]. */
  up: GPUBuffer;
  /** Its activation (SwiGLU or GELU) [rows, hidden]. */
  gated: GPUBuffer;
}

interface LinearOps {
  forward: Matmul;
  inputGrad?: Matmul;
  weightGrad?: Matmul;
}

/** The LM head on gathered target rows (`TransformerOptions.headRows`). */
interface GatheredHead {
  rows: number;
  /** Rows of the forward each gathered row comes from (u32 [rows]). */
  index: GPUBuffer;
  /** The final-norm output of those rows [rows, d]. */
  final: GPUBuffer;
  targets: GPUBuffer;
  losses: GPUBuffer;
  /** d(loss)/d(final) of those rows [rows, d], scattered into the model's [N, d]. */
  dFinal: GPUBuffer | null;
  gather: RowGather | null;
  /** The last index uploaded: when it changes, the stale rows of the full d(final) are zeroed. */
  lastIndex: Uint32Array | null;
}

interface HeadChunk {
  rowStart: number;
  rows: number;
  ops: LinearOps;
  crossEntropy: CrossEntropy;
}

/**
 * The transformer on the GPU.
 *
 * @example
 * ```ts
 * import { openGpu } from "../gpu/mod.ts";
 * import { initParameters, parameterLayout, presetByName } from "./mod.ts";
 * const gpu = await openGpu();
 * const config = presetByName("tiny").config;
 * const model = await Transformer.create(gpu, config, { batch: 2, training: false });
 * model.setParameters(initParameters(parameterLayout(config), 0));
 * const losses = await model.forwardLosses(new Uint32Array(2 * config.seq_len));
 * model.destroy();
 * gpu.destroy();
 * ```
 */
export class Transformer {
  /** The device every buffer lives on. */
  readonly gpu: GpuDevice;
  /** The pipeline cache the model's ops were built from. */
  readonly kernels: Kernels;
  /** The validated config, defaults filled in. */
  readonly config: Required<ModelConfig>;
  /** Where each parameter lives in `parameters` and `gradients`. */
  readonly layout: ParameterLayout;
  /** Sequences per forward (the microbatch). */
  readonly batch: number;
  /** Whether gradients and every layer's activations are allocated (false: forward only, one layer's). */
  readonly training: boolean;
  /** All parameters, one flat float32 buffer in {@linkcode ParameterLayout} order. */
  readonly parameters: GPUBuffer;
  /** Gradients in the same layout (training only); kernels accumulate into it. */
  readonly gradients: GPUBuffer | null;
  /** Per-row token losses [batch·seq_len] of the last forward (0 at rows without a target). */
  readonly losses: GPUBuffer;
  /** Sums of the token losses, one slot per microbatch ({@linkcode Transformer.lossSlotBinding}). */
  readonly lossSums: GPUBuffer;
  /** Number of slots in `lossSums` (`TransformerOptions.lossSlots`). */
  readonly lossSlots: number;

  #ids: GPUBuffer;
  #targets: GPUBuffer;
  #nextTokenTargets: Uint32Array | null = null;
  #stream: GPUBuffer;
  #final: GPUBuffer;
  #rstdFinal: GPUBuffer;
  #logits: GPUBuffer;
  #head: GatheredHead | null = null;
  #layers: LayerActivations[];
  #grads: {
    dStream: GPUBuffer;
    dFinal: GPUBuffer;
    dNorm: GPUBuffer;
    dQkv: GPUBuffer;
    dAttention: GPUBuffer;
    dUp: GPUBuffer;
    dGated: GPUBuffer;
  } | null;
  #ops!: {
    embedding: Embedding;
    norm: RmsNorm;
    normAccumulate: RmsNorm | null;
    rope: Rope | null;
    attention: Attention;
    swiglu: SwiGlu | null;
    gelu: Gelu | null;
    positions: PositionEmbedding | null;
    attProj: LinearOps;
    attnOut: LinearOps;
    ffProj: LinearOps;
    ffOut: LinearOps;
    head: HeadChunk[];
    lossSum: SumReduce;
  };
  #owned: GPUBuffer[] = [];
  #blocks: BlockWeights[];

  private constructor(
    gpu: GpuDevice,
    kernels: Kernels,
    config: Required<ModelConfig>,
    options: TransformerOptions,
  ) {
    this.gpu = gpu;
    this.kernels = kernels;
    this.config = config;
    const positions = options.positions ?? config.seq_len;
    if (!Number.isInteger(positions) || positions < config.seq_len) {
      throw new GpuError(`zsl: positions must be an integer ≥ seq_len ${config.seq_len}, got ${positions}`);
    }
    this.layout = parameterLayout(config, positions);
    this.#blocks = Array.from({ length: config.n_layers }, (_, l) => blockWeights(this.layout, l));
    this.batch = options.batch;
    this.training = options.training ?? true;
    this.lossSlots = options.lossSlots ?? 64;
    checkLimits(gpu, config, options.batch, this.layout);
    const N = this.rows;
    const d = config.d_model;
    const up = config.mlp_ratio * d;
    const hidden = mlpHidden(config);
    const buffer = (floats: number, label: string) => {
      const created = createBuffer(gpu, floats * 4, label);
      this.#owned.push(created);
      return created;
    };
    this.parameters = buffer(this.layout.totalLength, "parameters");
    this.gradients = this.training ? buffer(this.layout.totalLength, "gradients") : null;
    this.losses = buffer(N, "token losses");
    this.lossSums = buffer((this.lossSlots * SLOT_STRIDE) / 4, "loss sums");
    this.#ids = buffer(N, "token ids");
    this.#targets = buffer(N, "targets");
    this.#stream = buffer(N * d, "residual stream");
    this.#final = buffer(N * d, "final norm");
    this.#rstdFinal = buffer(N, "final norm rstd");
    const headRows = options.headRows;
    if (headRows !== undefined) {
      if (!Number.isInteger(headRows) || headRows < options.batch || headRows % options.batch !== 0) {
        throw new GpuError(
          `zsl: headRows must be a positive multiple of the batch (${options.batch}), got ${headRows}`,
        );
      }
      if (headRows > N) throw new GpuError(`zsl: headRows ${headRows} exceeds the ${N} rows of a forward`);
      this.#head = {
        rows: headRows,
        index: buffer(headRows, "head rows"),
        final: buffer(headRows * d, "final norm of the head rows"),
        targets: buffer(headRows, "targets of the head rows"),
        losses: buffer(headRows, "losses of the head rows"),
        dFinal: this.training ? buffer(headRows * d, "d final norm of the head rows") : null,
        gather: null,
        lastIndex: null,
      };
    }
    const chunkRows = headRows ?? headChunkRows(gpu, config, N, options.logitsChunkBytes);
    this.#logits = buffer(chunkRows * config.vocab_size, "logits chunk");
    const layerCount = this.training ? config.n_layers : 1;
    this.#layers = [];
    for (let l = 0; l < layerCount; l++) {
      this.#layers.push({
        norm1: buffer(N * d, `block ${l} norm1`),
        rstd1: buffer(N, `block ${l} rstd1`),
        qkv: buffer(N * 3 * d, `block ${l} qkv`),
        attention: buffer(N * d, `block ${l} attention`),
        lse: buffer(options.batch * config.n_heads * config.seq_len, `block ${l} lse`),
        norm2: buffer(N * d, `block ${l} norm2`),
        rstd2: buffer(N, `block ${l} rstd2`),
        up: buffer(N * up, `block ${l} ff_proj out`),
        gated: buffer(N * hidden, `block ${l} swiglu out`),
      });
    }
    this.#grads = this.training
      ? {
        dStream: buffer(N * d, "d residual stream"),
        dFinal: buffer(N * d, "d final norm"),
        dNorm: buffer(N * d, "d norm"),
        dQkv: buffer(N * 3 * d, "d qkv"),
        dAttention: buffer(N * d, "d attention"),
        dUp: buffer(N * up, "d ff_proj out"),
        dGated: buffer(N * hidden, "d swiglu out"),
      }
      : null;
  }

  /** Builds the model's buffers and pipelines for `options.batch` sequences per forward. */
  static async create(
    gpu: GpuDevice,
    config: ModelConfig,
    options: TransformerOptions,
    kernels: Kernels = new Kernels(gpu),
  ): Promise<Transformer> {
    const valid = validateConfig(config);
    if (!Number.isInteger(options.batch) || options.batch < 1) {
      throw new GpuError(`zsl: batch must be a positive integer, got ${options.batch}`);
    }
    const model = new Transformer(gpu, kernels, valid, options);
    await model.#createOps(options);
    return model;
  }

  /** Token rows per forward: batch·seq_len. */
  get rows(): number {
    return this.batch * this.config.seq_len;
  }

  async #createOps(options: TransformerOptions): Promise<void> {
    const k = this.kernels;
    const c = this.config;
    const N = this.rows;
    const d = c.d_model;
    const up = c.mlp_ratio * d;
    const hidden = mlpHidden(c);
    const training = this.training;
    // `residual`: the forward adds its product onto the output (the residual stream) in place.
    const linear = async (m: number, inner: number, rows = N, residual = false): Promise<LinearOps> => ({
      forward: await Matmul.create(k, { layout: "xwT", n: rows, m, k: inner, accumulate: residual }),
      inputGrad: training ? await Matmul.create(k, { layout: "dyW", n: rows, m, k: inner }) : undefined,
      weightGrad: training
        ? await Matmul.create(k, { layout: "dyTx", n: rows, m, k: inner, accumulate: true })
        : undefined,
    });
    const scale = options.lossScale ?? 1 / ((options.globalBatch ?? this.batch) * (c.seq_len - 1));
    const chunkRows = this.#logits.size / 4 / c.vocab_size;
    const headRows = this.#head?.rows ?? N;
    if (this.#head) {
      this.#head.gather = await RowGather.create(k, { rows: this.#head.rows, tableRows: N, d });
    }
    const head: HeadChunk[] = [];
    const olmo = c.arch === "olmo";
    for (let rowStart = 0; rowStart < headRows; rowStart += chunkRows) {
      const rows = Math.min(chunkRows, headRows - rowStart);
      const same = head.find((chunk) => chunk.rows === rows);
      head.push({
        rowStart,
        rows,
        ops: same?.ops ?? await linear(c.vocab_size, d, rows),
        crossEntropy: same?.crossEntropy ??
          await CrossEntropy.create(k, { rows, vocab: c.vocab_size, scale }),
      });
    }
    this.#ops = {
      embedding: await Embedding.create(k, { rows: N, vocab: c.vocab_size, d }),
      norm: await RmsNorm.create(k, { rows: N, d, eps: c.norm_eps }),
      normAccumulate: training
        ? await RmsNorm.create(k, { rows: N, d, eps: c.norm_eps, accumulate: true })
        : null,
      rope: olmo
        ? await Rope.create(k, {
          batch: this.batch,
          seqLen: c.seq_len,
          dModel: d,
          headDim: headDim(c),
          theta: c.rope_theta,
        })
        : null,
      attention: await Attention.create(k, {
        batch: this.batch,
        seqLen: c.seq_len,
        dModel: d,
        nHeads: c.n_heads,
        // RoPE's backward inside attention's where the head dimension allows it
        ropeTheta: olmo && fusesRope(headDim(c)) ? c.rope_theta : null,
      }),
      swiglu: olmo ? await SwiGlu.create(k, { rows: N, width: up }) : null,
      gelu: olmo ? null : await Gelu.create(k, { length: N * hidden }),
      positions: olmo ? null : await PositionEmbedding.create(k, { batch: this.batch, seqLen: c.seq_len, d }),
      attProj: await linear(3 * d, d),
      attnOut: await linear(d, d, N, true),
      ffProj: await linear(up, d),
      ffOut: await linear(d, hidden, N, true),
      head,
      lossSum: await SumReduce.create(k, { n: headRows }),
    };
  }

  /** The binding of parameter `spec` inside `buffer` (parameters or gradients). */
  #tensor(buffer: GPUBuffer, spec: ParameterSpec): Binding {
    return { buffer, offset: spec.offset * 4, size: spec.length * 4 };
  }

  #weight(layer: number, name: string): ParameterSpec {
    return this.layout.byName.get(`transformer.blocks.${layer}.${name}.weight`)!;
  }

  /** The 1-float binding of loss-sum slot `slot`. */
  lossSlotBinding(slot: number): Binding {
    if (slot < 0 || slot >= this.lossSlots) {
      throw new GpuError(`zsl: loss slot ${slot} outside 0…${this.lossSlots - 1}`);
    }
    return { buffer: this.lossSums, offset: slot * SLOT_STRIDE, size: 4 };
  }

  /** Uploads all parameters (a flat buffer in layout order). */
  setParameters(flat: Float32Array): void {
    if (flat.length !== this.layout.totalLength) {
      throw new GpuError(`zsl: expected ${this.layout.totalLength} parameter values, got ${flat.length}`);
    }
    writeBuffer(this.gpu, this.parameters, flat);
  }

  /** Reads all parameters back. */
  getParameters(): Promise<Float32Array> {
    return readFloats(this.gpu, this.parameters);
  }

  /** Reads all gradients back (training only). */
  getGradients(): Promise<Float32Array> {
    if (!this.gradients) {
      throw new GpuError("zsl: this model was created without gradients (training: false)");
    }
    return readFloats(this.gpu, this.gradients);
  }

  /** Records zeroing of the gradients (before the first microbatch of a step). */
  zeroGradients(encoder: GPUCommandEncoder): void {
    if (this.gradients) encoder.clearBuffer(this.gradients);
  }

  /**
   * Uploads the tokens of the next microbatch (`batch`·seq_len ids, row-major) with their targets
   * and the embedding-gradient index. Ids must be below vocab_size. The targets default to the next
   * token ({@linkcode NO_TARGET} at each sequence's last position); `targets` replaces them (one per
   * row, a token id or NO_TARGET), e.g. to take the loss at chosen positions only.
   */
  setTokens(tokens: Uint32Array, targets?: Uint32Array): void {
    const T = this.config.seq_len;
    if (tokens.length !== this.rows) {
      throw new GpuError(
        `zsl: expected ${this.rows} tokens (${this.batch} sequences of ${T}), got ${tokens.length}`,
      );
    }
    const vocab = this.config.vocab_size;
    if (targets && targets.length !== tokens.length) {
      throw new GpuError(`zsl: expected ${tokens.length} targets (one per token row), got ${targets.length}`);
    }
    // The next-token targets go through one array reused for every batch (queue writes copy it).
    const rowTargets = targets ?? (this.#nextTokenTargets ??= new Uint32Array(this.rows));
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] >= vocab) {
        throw new GpuError(
          `zsl: token id ${tokens[i]} at position ${i} is not below vocab_size ${vocab}: ` +
            `use a config whose vocab_size exceeds the largest token id (or the matching tokenizer)`,
        );
      }
      if (!targets) rowTargets[i] = i % T === T - 1 ? NO_TARGET : tokens[i + 1];
      else if (targets[i] !== NO_TARGET && targets[i] >= vocab) {
        throw new GpuError(`zsl: target ${targets[i]} at row ${i} is neither NO_TARGET nor below vocab_size`);
      }
    }
    writeBuffer(this.gpu, this.#ids, tokens);
    writeBuffer(this.gpu, this.#targets, rowTargets);
    if (this.training) this.#ops.embedding.writeIndex(tokens);
    if (this.#head) this.#writeHeadRows(rowTargets);
  }

  /**
   * The head rows of a batch: each sequence's rows with a target, in order, then rows without one to
   * fill its `headRows / batch` slots (their target NO_TARGET: no loss, no gradient).
   */
  #writeHeadRows(rowTargets: Uint32Array): void {
    const head = this.#head!;
    const T = this.config.seq_len;
    const perSequence = head.rows / this.batch;
    const index = new Uint32Array(head.rows);
    const targets = new Uint32Array(head.rows).fill(NO_TARGET);
    for (let b = 0; b < this.batch; b++) {
      let slot = b * perSequence;
      for (let r = b * T; r < (b + 1) * T; r++) {
        if (rowTargets[r] === NO_TARGET) continue;
        if (slot === (b + 1) * perSequence) {
          throw new GpuError(
            `zsl: sequence ${b} has more than ${perSequence} rows with a target, the model's headRows / batch`,
          );
        }
        index[slot] = r;
        targets[slot++] = rowTargets[r];
      }
      // Fill with distinct rows that have no target (the scatter writes each row once).
      for (let r = b * T; slot < (b + 1) * perSequence; r++) {
        if (rowTargets[r] === NO_TARGET) index[slot++] = r;
      }
    }
    writeBuffer(this.gpu, head.index, index);
    writeBuffer(this.gpu, head.targets, targets);
    const changed = !head.lastIndex || head.lastIndex.some((row, i) => row !== index[i]);
    if (changed && head.lastIndex && this.#grads) {
      // Rows that held the head's gradient before and may not now: start d(final) from zero again.
      writeBuffer(this.gpu, this.#grads.dFinal, new Float32Array(this.rows * this.config.d_model));
    }
    head.lastIndex = index;
  }

  /**
   * The buffers a forward leaves behind, for passes recorded beside it (the loss tangent,
   * `tangent.ts`): token ids and targets [rows], each block's saved activations (a model created with
   * `training: true`), the final norm's output [rows, d] and rstd [rows]. `qkvRotated`: whether `qkv`
   * holds q and k after RoPE (true while RoPE runs as its own op before attention).
   */
  savedActivations(): {
    ids: GPUBuffer;
    targets: GPUBuffer;
    layers: readonly LayerActivations[];
    final: GPUBuffer;
    rstdFinal: GPUBuffer;
    qkvRotated: boolean;
  } {
    return {
      ids: this.#ids,
      targets: this.#targets,
      layers: this.#layers,
      final: this.#final,
      rstdFinal: this.#rstdFinal,
      qkvRotated: true,
    };
  }

  /** Losses of the head rows, [headRows] in sequence order (a model created with `headRows`). */
  get headLosses(): GPUBuffer | null {
    return this.#head?.losses ?? null;
  }

  /**
   * Records the forward pass into `pass`: per-token losses into {@linkcode Transformer.losses},
   * their sum into loss slot `slot`. With `backward`, also the backward pass, accumulating the
   * gradients of this microbatch into {@linkcode Transformer.gradients}.
   */
  record(pass: GPUComputePassEncoder, options: RecordOptions): void {
    const backward = options.backward;
    if (backward && !this.training) {
      throw new GpuError("zsl: backward needs a model created with training: true");
    }
    const sink = options.perExample;
    if (sink && (!backward || this.#ops.head.length !== 1)) {
      throw new GpuError(
        "zsl: a per-example backward needs backward: true and one logits chunk: create the model with " +
          "logitsChunkBytes ≥ batch·seq_len·vocab_size·4",
      );
    }
    const ops = this.#ops;
    const c = this.config;
    const d = c.d_model;
    const wte = this.#tensor(this.parameters, this.layout.specs[0]);
    const nanogpt = c.arch === "nanogpt";
    if (sink && nanogpt && !sink.positions) {
      throw new GpuError("zsl: a per-example backward of a nanoGPT model needs a sink with positions()");
    }
    if (options.forward ?? true) {
      ops.embedding.forward(pass, wte, this.#ids, this.#stream);
      if (nanogpt) ops.positions!.forward(pass, this.#positionsOf(this.parameters), this.#stream);
      for (let l = 0; l < c.n_layers; l++) {
        if (nanogpt) this.#recordNanoGptBlockForward(pass, l);
        else this.#recordBlockForward(pass, l);
      }
      ops.norm.forward(pass, this.#stream, this.#final, this.#rstdFinal);
    } else if (!this.training) {
      throw new GpuError("zsl: forward: false reuses kept activations: create the model with training: true");
    }
    if (this.#head) this.#recordGatheredHead(pass, backward, sink !== undefined, wte);
    else {
      for (const chunk of ops.head) {
        const rows = (floats: number, buffer: GPUBuffer): Binding => ({
          buffer,
          offset: chunk.rowStart * floats * 4,
          size: chunk.rows * floats * 4,
        });
        const logits: Binding = { buffer: this.#logits, offset: 0, size: chunk.rows * c.vocab_size * 4 };
        chunk.ops.forward.record(pass, rows(d, this.#final), wte, logits);
        if (!backward) {
          chunk.crossEntropy.forward(pass, logits, rows(1, this.#targets), rows(1, this.losses));
          continue;
        }
        // In place: the logits become d(loss)/d(logits).
        chunk.crossEntropy.forwardBackward(pass, logits, rows(1, this.#targets), rows(1, this.losses));
        chunk.ops.inputGrad!.record(pass, logits, wte, rows(d, this.#grads!.dFinal));
        if (sink) continue; // the head's share of wte's gradient goes to the sink with the embedding's
        chunk.ops.weightGrad!.record(
          pass,
          logits,
          rows(d, this.#final),
          this.#tensor(this.gradients!, this.layout.specs[0]),
        );
      }
    }
    ops.lossSum.record(pass, this.#head?.losses ?? this.losses, this.lossSlotBinding(options.slot ?? 0));
    if (!backward) return;
    const g = this.#grads!;
    ops.norm.backward(pass, g.dFinal, this.#final, this.#rstdFinal, g.dStream);
    for (let l = c.n_layers - 1; l >= 0; l--) {
      if (nanogpt) this.#recordNanoGptBlockBackward(pass, l, sink);
      else this.#recordBlockBackward(pass, l, sink);
    }
    if (sink) {
      const headRows = this.#head?.rows ?? this.rows;
      const logits: Binding = { buffer: this.#logits, offset: 0, size: headRows * c.vocab_size * 4 };
      // Positions first: the embedding is the sink's last call (GradientStatistics reduces after it).
      if (nanogpt) sink.positions!(pass, g.dStream);
      sink.embedding(pass, logits, this.#head?.final ?? this.#final, g.dStream);
    } else {
      ops.embedding.backward(pass, g.dStream, this.#tensor(this.gradients!, this.layout.specs[0]));
      if (nanogpt) ops.positions!.backward(pass, g.dStream, this.#positionsOf(this.gradients!));
    }
  }

  /** The rows of wpe this model uses (its first seq_len) inside `buffer` (parameters or gradients). */
  #positionsOf(buffer: GPUBuffer): Binding {
    const spec = this.layout.byName.get("transformer.wpe.weight")!;
    return { buffer, offset: spec.offset * 4, size: this.config.seq_len * this.config.d_model * 4 };
  }

  /**
   * The LM head on the gathered head rows: logits, loss (and its gradient) of those rows only; the
   * gradient wrt their final-norm output is written back into those rows of d(final), whose other
   * rows stay zero.
   */
  #recordGatheredHead(pass: GPUComputePassEncoder, backward: boolean, toSink: boolean, wte: Binding): void {
    const head = this.#head!;
    const chunk = this.#ops.head[0];
    const logits: Binding = { buffer: this.#logits, offset: 0, size: head.rows * this.config.vocab_size * 4 };
    head.gather!.gather(pass, this.#final, head.index, head.final);
    chunk.ops.forward.record(pass, head.final, wte, logits);
    if (!backward) {
      chunk.crossEntropy.forward(pass, logits, head.targets, head.losses);
      return;
    }
    chunk.crossEntropy.forwardBackward(pass, logits, head.targets, head.losses);
    chunk.ops.inputGrad!.record(pass, logits, wte, head.dFinal!);
    head.gather!.scatter(pass, head.dFinal!, head.index, this.#grads!.dFinal);
    if (toSink) return; // the head's share of wte's gradient goes to the sink with the embedding's
    chunk.ops.weightGrad!.record(
      pass,
      logits,
      head.final,
      this.#tensor(this.gradients!, this.layout.specs[0]),
    );
  }

  /**
   * Records copies of the activations of sequence `sequence` of `source` (a training model of the
   * same config, seq_len ≥ this one's) into every sequence of this model: rows 0…seq_len−1 of that
   * sequence, i.e. its prefix. Because attention is causal, a prefix's activations are those of the
   * prefix alone, so a following `record(pass, { forward: false, backward: true })` back-propagates
   * through the prefix without recomputing the forward. With an array, sequence e of this model takes
   * the prefix of source sequence `sequence[e]` (one entry per sequence of this model's batch).
   */
  copyPrefixFrom(
    encoder: GPUCommandEncoder,
    source: Transformer,
    sequence: number | readonly number[],
  ): void {
    const P = this.config.seq_len;
    const T = source.config.seq_len;
    const c = this.config;
    if (!this.training || !source.training) {
      throw new GpuError("zsl: copyPrefixFrom needs two models created with training: true");
    }
    if (
      T < P || source.config.d_model !== c.d_model || source.config.n_layers !== c.n_layers ||
      source.config.arch !== c.arch
    ) {
      throw new GpuError(
        "zsl: copyPrefixFrom needs a source of the same architecture, width and depth and seq_len ≥ this one's",
      );
    }
    const sequences = typeof sequence === "number" ? new Array<number>(this.batch).fill(sequence) : sequence;
    if (sequences.length !== this.batch) {
      throw new GpuError(
        `zsl: copyPrefixFrom got ${sequences.length} source sequences for a batch of ${this.batch}: give one per sequence`,
      );
    }
    for (const s of sequences) {
      if (!Number.isInteger(s) || s < 0 || s >= source.batch) {
        throw new GpuError(`zsl: sequence ${s} outside the source's batch of ${source.batch}`);
      }
    }
    const copyRows = (from: GPUBuffer, to: GPUBuffer, floatsPerRow: number) => {
      const bytes = P * floatsPerRow * 4;
      for (let e = 0; e < this.batch; e++) {
        encoder.copyBufferToBuffer(from, sequences[e] * T * floatsPerRow * 4, to, e * bytes, bytes);
      }
    };
    const d = c.d_model;
    const H = c.n_heads;
    for (let l = 0; l < c.n_layers; l++) {
      const a = source.#layers[l];
      const b = this.#layers[l];
      copyRows(a.norm1, b.norm1, d);
      copyRows(a.rstd1, b.rstd1, 1);
      copyRows(a.qkv, b.qkv, 3 * d);
      copyRows(a.attention, b.attention, d);
      copyRows(a.norm2, b.norm2, d);
      copyRows(a.rstd2, b.rstd2, 1);
      copyRows(a.up, b.up, c.mlp_ratio * d);
      copyRows(a.gated, b.gated, mlpHidden(c));
      // lse is [batch, heads, seq_len]: one run of P values per (copy, head).
      for (let e = 0; e < this.batch; e++) {
        for (let h = 0; h < H; h++) {
          encoder.copyBufferToBuffer(
            a.lse,
            ((sequences[e] * H + h) * T) * 4,
            b.lse,
            ((e * H + h) * P) * 4,
            P * 4,
          );
        }
      }
    }
    copyRows(source.#final, this.#final, d);
    copyRows(source.#rstdFinal, this.#rstdFinal, 1);
  }

  #recordBlockForward(pass: GPUComputePassEncoder, l: number): void {
    const ops = this.#ops;
    const a = this.#layers[this.training ? l : 0];
    const p = this.parameters;
    // stream += attn_out(attention(rope(att_proj(norm(stream))))): the product adds onto the stream
    ops.norm.forward(pass, this.#stream, a.norm1, a.rstd1);
    ops.attProj.forward.record(pass, a.norm1, this.#tensor(p, this.#weight(l, "att_proj")), a.qkv);
    ops.rope!.forward(pass, a.qkv);
    ops.attention.forward(pass, a.qkv, a.attention, a.lse);
    ops.attnOut.forward.record(pass, a.attention, this.#tensor(p, this.#weight(l, "attn_out")), this.#stream);
    // stream += ff_out(swiglu(ff_proj(norm(stream))))
    ops.norm.forward(pass, this.#stream, a.norm2, a.rstd2);
    ops.ffProj.forward.record(pass, a.norm2, this.#tensor(p, this.#weight(l, "ff_proj")), a.up);
    ops.swiglu!.forward(pass, a.up, a.gated);
    ops.ffOut.forward.record(pass, a.gated, this.#tensor(p, this.#weight(l, "ff_out")), this.#stream);
  }

  /** Backward of block `l`: dStream holds d(loss)/d(block output) and leaves as d/d(block input). */
  #recordBlockBackward(pass: GPUComputePassEncoder, l: number, sink?: PerExampleGradientSink): void {
    const ops = this.#ops;
    const a = this.#layers[l];
    const g = this.#grads!;
    const p = this.parameters;
    const grads = this.gradients!;
    const ffOut = this.#weight(l, "ff_out");
    const ffProj = this.#weight(l, "ff_proj");
    const attnOut = this.#weight(l, "attn_out");
    const attProj = this.#weight(l, "att_proj");
    // MLP branch; the skip path's gradient stays in dStream and the norm's backward adds onto it.
    ops.ffOut.inputGrad!.record(pass, g.dStream, this.#tensor(p, ffOut), g.dGated);
    if (sink) sink.linear(pass, ffOut, g.dStream, a.gated);
    else ops.ffOut.weightGrad!.record(pass, g.dStream, a.gated, this.#tensor(grads, ffOut));
    ops.swiglu!.backward(pass, g.dGated, a.up, g.dUp);
    ops.ffProj.inputGrad!.record(pass, g.dUp, this.#tensor(p, ffProj), g.dNorm);
    if (sink) sink.linear(pass, ffProj, g.dUp, a.norm2);
    else ops.ffProj.weightGrad!.record(pass, g.dUp, a.norm2, this.#tensor(grads, ffProj));
    ops.normAccumulate!.backward(pass, g.dNorm, a.norm2, a.rstd2, g.dStream);
    // Attention branch.
    ops.attnOut.inputGrad!.record(pass, g.dStream, this.#tensor(p, attnOut), g.dAttention);
    if (sink) sink.linear(pass, attnOut, g.dStream, a.attention);
    else ops.attnOut.weightGrad!.record(pass, g.dStream, a.attention, this.#tensor(grads, attnOut));
    ops.attention.backward(pass, g.dAttention, a.qkv, a.attention, a.lse, g.dQkv);
    if (ops.attention.shape.ropeTheta === null) ops.rope!.backward(pass, g.dQkv);
    ops.attProj.inputGrad!.record(pass, g.dQkv, this.#tensor(p, attProj), g.dNorm);
    if (sink) sink.linear(pass, attProj, g.dQkv, a.norm1);
    else ops.attProj.weightGrad!.record(pass, g.dQkv, a.norm1, this.#tensor(grads, attProj));
    ops.normAccumulate!.backward(pass, g.dNorm, a.norm1, a.rstd1, g.dStream);
  }

  /**
   * Forward of nanoGPT block `l` (docs/method.md#the-nanogpt-variant): as OLMo's without RoPE, with an exact-GELU MLP of
   * width 4d (`up` holds c_fc's output, `gated` the GELU's).
   */
  #recordNanoGptBlockForward(pass: GPUComputePassEncoder, l: number): void {
    const ops = this.#ops;
    const a = this.#layers[this.training ? l : 0];
    const p = this.parameters;
    const w = this.#blocks[l];
    // stream += attn.c_proj(attention(attn.c_attn(norm(stream)))): the product adds onto the stream
    ops.norm.forward(pass, this.#stream, a.norm1, a.rstd1);
    ops.attProj.forward.record(pass, a.norm1, this.#tensor(p, w.qkv), a.qkv);
    ops.attention.forward(pass, a.qkv, a.attention, a.lse);
    ops.attnOut.forward.record(pass, a.attention, this.#tensor(p, w.attnOut), this.#stream);
    // stream += mlp.c_proj(gelu(mlp.c_fc(norm(stream))))
    ops.norm.forward(pass, this.#stream, a.norm2, a.rstd2);
    ops.ffProj.forward.record(pass, a.norm2, this.#tensor(p, w.mlpIn), a.up);
    ops.gelu!.forward(pass, a.up, a.gated);
    ops.ffOut.forward.record(pass, a.gated, this.#tensor(p, w.mlpOut), this.#stream);
  }

  /** Backward of nanoGPT block `l`: dStream holds d(loss)/d(block output) and leaves as d/d(block input). */
  #recordNanoGptBlockBackward(pass: GPUComputePassEncoder, l: number, sink?: PerExampleGradientSink): void {
    const ops = this.#ops;
    const a = this.#layers[l];
    const g = this.#grads!;
    const p = this.parameters;
    const grads = this.gradients!;
    const w = this.#blocks[l];
    // MLP branch; the skip path's gradient stays in dStream and the norm's backward adds onto it.
    ops.ffOut.inputGrad!.record(pass, g.dStream, this.#tensor(p, w.mlpOut), g.dGated);
    if (sink) sink.linear(pass, w.mlpOut, g.dStream, a.gated);
    else ops.ffOut.weightGrad!.record(pass, g.dStream, a.gated, this.#tensor(grads, w.mlpOut));
    ops.gelu!.backward(pass, g.dGated, a.up, g.dUp);
    ops.ffProj.inputGrad!.record(pass, g.dUp, this.#tensor(p, w.mlpIn), g.dNorm);
    if (sink) sink.linear(pass, w.mlpIn, g.dUp, a.norm2);
    else ops.ffProj.weightGrad!.record(pass, g.dUp, a.norm2, this.#tensor(grads, w.mlpIn));
    ops.normAccumulate!.backward(pass, g.dNorm, a.norm2, a.rstd2, g.dStream);
    // Attention branch.
    ops.attnOut.inputGrad!.record(pass, g.dStream, this.#tensor(p, w.attnOut), g.dAttention);
    if (sink) sink.linear(pass, w.attnOut, g.dStream, a.attention);
    else ops.attnOut.weightGrad!.record(pass, g.dStream, a.attention, this.#tensor(grads, w.attnOut));
    ops.attention.backward(pass, g.dAttention, a.qkv, a.attention, a.lse, g.dQkv);
    ops.attProj.inputGrad!.record(pass, g.dQkv, this.#tensor(p, w.qkv), g.dNorm);
    if (sink) sink.linear(pass, w.qkv, g.dQkv, a.norm1);
    else ops.attProj.weightGrad!.record(pass, g.dQkv, a.norm1, this.#tensor(grads, w.qkv));
    ops.normAccumulate!.backward(pass, g.dNorm, a.norm1, a.rstd1, g.dStream);
  }

  /**
   * Per-token losses of `batch` sequences, [batch, seq_len − 1] (evaluation: forward only, one
   * submit, one readback).
   */
  async forwardLosses(tokens: Uint32Array): Promise<Float32Array> {
    this.#perRowLosses("forwardLosses");
    this.setTokens(tokens);
    const encoder = this.gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.record(pass, { backward: false });
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    const rows = await readFloats(this.gpu, this.losses);
    return dropLastPositions(rows, this.batch, this.config.seq_len);
  }

  /**
   * Mean loss, per-token losses and gradients of one batch (zeroes the gradients first). Tests and
   * analyses use it; the trainer records microbatches itself.
   */
  async lossAndGradients(tokens: Uint32Array): Promise<{ meanLoss: number; losses: Float32Array }> {
    this.#perRowLosses("lossAndGradients");
    this.setTokens(tokens);
    const encoder = this.gpu.device.createCommandEncoder();
    this.zeroGradients(encoder);
    const pass = encoder.beginComputePass();
    this.record(pass, { backward: true, slot: 0 });
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    const rows = await readFloats(this.gpu, this.losses);
    const sum = (await readFloats(this.gpu, this.lossSums, 0, 1))[0];
    return {
      meanLoss: sum / (this.batch * (this.config.seq_len - 1)),
      losses: dropLastPositions(rows, this.batch, this.config.seq_len),
    };
  }

  #perRowLosses(what: string): void {
    if (this.#head) {
      throw new GpuError(`zsl: ${what} reads per-row losses: use a model created without headRows`);
    }
  }

  /** Frees every buffer the model owns. */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
    for (const op of [this.#ops?.rope, this.#ops?.attention, this.#ops?.embedding, this.#ops?.lossSum]) {
      op?.destroy();
    }
  }
}

/** Drops the rows of the last position (no target): [batch·T] → [batch, T−1]. */
export function dropLastPositions(rows: Float32Array, batch: number, seqLen: number): Float32Array {
  const out = new Float32Array(batch * (seqLen - 1));
  for (let b = 0; b < batch; b++) {
    out.set(rows.subarray(b * seqLen, b * seqLen + seqLen - 1), b * (seqLen - 1));
  }
  return out;
}

/** Rows per logits chunk: as many as fit the budget, a multiple of 64 (so offsets stay aligned). */
function headChunkRows(
  gpu: GpuDevice,
  config: ModelConfig,
  rows: number,
  budgetBytes = 256 * 2 ** 20,
): number {
  const rowBytes = config.vocab_size * 4;
  const budget = Math.min(budgetBytes, gpu.limits.maxStorageBufferBindingSize);
  if (rowBytes * 64 > budget && rows > 64) {
    throw new GpuError(
      `zsl: one row of logits (vocab_size ${config.vocab_size}) × 64 rows exceeds this adapter's ` +
        `maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}: use a smaller vocabulary`,
    );
  }
  if (rows * rowBytes <= budget) return rows;
  return Math.max(64, Math.floor(budget / rowBytes / 64) * 64);
}

/** Checks that every tensor the model binds fits the adapter's binding limit, naming the one that does not. */
function checkLimits(
  gpu: GpuDevice,
  config: Required<ModelConfig>,
  batch: number,
  layout: ParameterLayout,
): void {
  const limit = gpu.limits.maxStorageBufferBindingSize;
  const rows = batch * config.seq_len;
  const d = config.d_model;
  const bindings: [string, number][] = [
    ["the embedding transformer.wte.weight", config.vocab_size * d * 4],
    ["the qkv activations (batch·seq_len·3·d_model floats)", rows * 3 * d * 4],
    ["the ff_proj activations (batch·seq_len·mlp_ratio·d_model floats)", rows * config.mlp_ratio * d * 4],
  ];
  for (const [what, bytes] of bindings) {
    if (bytes > limit) {
      throw new GpuError(
        `zsl: ${what} needs ${bytes} bytes in one binding, over this adapter's maxStorageBufferBindingSize ` +
          `${limit}: use a smaller microbatch (--microbatch), sequence length or model`,
      );
    }
  }
  if (layout.totalLength * 4 > gpu.limits.maxBufferSize) {
    throw new GpuError(
      `zsl: the parameters need ${layout.totalLength * 4} bytes, over this adapter's maxBufferSize ` +
        `${gpu.limits.maxBufferSize}: use a smaller model`,
    );
  }
}
