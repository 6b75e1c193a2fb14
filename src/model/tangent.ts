/**
 * The forward-mode derivative of every per-token loss along a parameter direction δ (a
 * Jacobian-vector product): ℓ̇_i = ∇_θ ℓ_i · δ = g_i·δ, the first-order prediction Δ̂ℓ_i of gradient
 * interference (docs/method.md#gradient-interference), for every token of a batch from ONE pass that
 * carries tangents beside the saved forward, instead of a backward per token.
 *
 * The tangent rules, layer by layer (a dot is a tangent; x, y, … are the forward's saved values):
 *
 * | layer | tangent | kernel |
 * | --- | --- | --- |
 * | embedding `x = E[tok]` (+ `wpe[s]`) | `ẋ = δE[tok]` (+ `δwpe[s]`) | the embedding's (and positions') forward on δ |
 * | RMSNorm `y = r·x` | `ẏ = r·(ẋ − y·mean(ẋ·y))` | RMSNorm's backward with dy := ẋ (its Jacobian is symmetric) |
 * | Linear `y = xWᵀ` | `ẏ = ẋWᵀ + x·δWᵀ` | two `xwT` products, the second accumulating |
 * | RoPE (linear) | `q̇ ← rope(q̇)` | RoPE's forward on the tangent |
 * | attention | `ẏ_t = Σ_j P_tj (v̇_j + ṡ_tj v_j) − (Σ_j P_tj ṡ_tj)·y_t` | `attention_tangent.wgsl` |
 * | SwiGLU | `ẏ = silu(g)·ẋ + silu'(g)·ġ·x` | `swiglu_tangent` |
 * | GELU (nanoGPT) | `ẏ = gelu'(x)·ẋ` | GELU's backward with dout := ẋ |
 * | residual adds | linear: the products accumulate into the tangent stream | |
 * | tied head `z = hEᵀ` | `ż = ḣEᵀ + h·δEᵀ` | two `xwT` products |
 * | token loss | `ℓ̇ = Σ_v softmax(z)_v ż_v − ż[target]` | `cross_entropy_tangent` |
 *
 * Cost: about two forwards' products plus one attention pass; the float64 reference is
 * `src/reference/tangent.ts`.
 *
 * @module
 */
import type { Binding } from "../gpu/kernels.ts";
import { createBuffer, readFloats, writeBuffer } from "../gpu/buffers.ts";
import { GpuError } from "../gpu/device.ts";
import { headDim, mlpHidden } from "./config.ts";
import type { BlockWeights, ParameterSpec } from "./parameters.ts";
import { blockWeights } from "./parameters.ts";
import { dropLastPositions, Transformer } from "./transformer.ts";
import { Matmul } from "../ops/matmul.ts";
import { RmsNorm } from "../ops/rmsnorm.ts";
import { Rope } from "../ops/rope.ts";
import { Embedding } from "../ops/embedding.ts";
import { PositionEmbedding } from "../ops/position.ts";
import { Gelu } from "../ops/gelu.ts";
import { AttentionTangent } from "../ops/attention_tangent.ts";
import type { AttentionVariant } from "../ops/attention.ts";
import { CrossEntropyTangent, SwiGluTangent } from "../ops/tangent.ts";

/** Options of {@linkcode LossTangent.create}. */
export interface LossTangentOptions {
  /**
   * Recompute the rotated q, k of each block (att_proj and RoPE on the saved norm output) instead of
   * reading the model's `qkv` (default: only when the model's `qkv` holds them unrotated).
   */
  recomputeQkv?: boolean;
  /** Upper bound on the bytes of one chunk of logits (and of their tangent); default 64 MiB. */
  logitsChunkBytes?: number;
  /** Attention tangent kernel variant (default `auto`: `register` on lavapipe, `tiled` on GPUs). */
  attentionVariant?: AttentionVariant;
}

/** The two products of a Linear's tangent `ẋWᵀ + x·δWᵀ`: the first overwriting (or not), the second adding. */
interface LinearTangent {
  first: Matmul;
  second: Matmul;
}

interface HeadChunk {
  rowStart: number;
  rows: number;
  products: LinearTangent;
  logits: Matmul;
  loss: CrossEntropyTangent;
}

/**
 * The tangents ℓ̇_i = g_i·δ of the per-token losses of a {@linkcode Transformer} along δ, recorded
 * after (or in the same pass as) the model's forward, whose saved activations it reads: the model
 * must be created with `training: true` (every layer's activations kept).
 *
 * @example
 * ```ts
 * import { openGpu } from "../gpu/mod.ts";
 * import { initParameters, parameterLayout, presetByName, Transformer } from "./mod.ts";
 * const gpu = await openGpu();
 * const config = presetByName("tiny").config;
 * const model = await Transformer.create(gpu, config, { batch: 2, training: true });
 * const layout = parameterLayout(config);
 * model.setParameters(initParameters(layout, 0));
 * const tangent = await LossTangent.create(model);
 * tangent.setDelta(new Float32Array(layout.totalLength).fill(1e-3));
 * const predicted = await tangent.compute(new Uint32Array(2 * config.seq_len)); // [2, seq_len − 1]
 * tangent.destroy();
 * model.destroy();
 * gpu.destroy();
 * ```
 */
export class LossTangent {
  /** The model whose forward it differentiates. */
  readonly model: Transformer;
  /** The tangent of each row's loss [batch·seq_len] (0 at rows without a target) after a record. */
  readonly tangents: GPUBuffer;
  /** Whether q, k are recomputed from the saved norm output (see {@linkcode LossTangentOptions}). */
  readonly recomputeQkv: boolean;
  #delta: GPUBuffer;
  #blocks: BlockWeights[];
  #owned: GPUBuffer[] = [];
  #buffers: {
    stream: GPUBuffer;
    norm: GPUBuffer;
    qkv: GPUBuffer;
    rotated: GPUBuffer | null;
    attention: GPUBuffer;
    up: GPUBuffer;
    gated: GPUBuffer;
    final: GPUBuffer;
    logits: GPUBuffer;
    tangentLogits: GPUBuffer;
  };
  #ops!: {
    embedding: Embedding;
    positions: PositionEmbedding | null;
    norm: RmsNorm;
    rope: Rope | null;
    attention: AttentionTangent;
    swiglu: SwiGluTangent | null;
    gelu: Gelu | null;
    attProj: LinearTangent;
    attnOut: LinearTangent;
    ffProj: LinearTangent;
    ffOut: LinearTangent;
    head: HeadChunk[];
  };

  private constructor(model: Transformer, recomputeQkv: boolean, chunkRows: number) {
    this.model = model;
    this.recomputeQkv = recomputeQkv;
    const c = model.config;
    const N = model.rows;
    const d = c.d_model;
    const buffer = (floats: number, label: string) => {
      const created = createBuffer(model.gpu, floats * 4, `loss tangent: ${label}`);
      this.#owned.push(created);
      return created;
    };
    this.#blocks = Array.from({ length: c.n_layers }, (_, l) => blockWeights(model.layout, l));
    this.tangents = buffer(N, "per-row loss tangents");
    this.#delta = buffer(model.layout.totalLength, "direction δ");
    this.#buffers = {
      stream: buffer(N * d, "residual stream"),
      norm: buffer(N * d, "norm output"),
      qkv: buffer(N * 3 * d, "qkv"),
      rotated: recomputeQkv ? buffer(N * 3 * d, "recomputed rotated qkv (values)") : null,
      attention: buffer(N * d, "attention output"),
      up: buffer(N * c.mlp_ratio * d, "ff_proj output"),
      gated: buffer(N * mlpHidden(c), "MLP activation"),
      final: buffer(N * d, "final norm"),
      logits: buffer(chunkRows * c.vocab_size, "logits chunk (values)"),
      tangentLogits: buffer(chunkRows * c.vocab_size, "logits chunk"),
    };
  }

  /** Builds the buffers and pipelines for `model` (created with `training: true`). */
  static async create(model: Transformer, options: LossTangentOptions = {}): Promise<LossTangent> {
    if (!model.training) {
      throw new GpuError(
        "zsl: the loss tangent reads every layer's saved activations: create the model with training: true",
      );
    }
    const c = model.config;
    const N = model.rows;
    const rowBytes = c.vocab_size * 4;
    const budget = Math.min(
      options.logitsChunkBytes ?? 64 * 2 ** 20,
      model.gpu.limits.maxStorageBufferBindingSize,
    );
    // A multiple of 64 rows keeps every chunk's binding offsets aligned.
    const chunkRows = N * rowBytes <= budget ? N : Math.max(64, Math.floor(budget / rowBytes / 64) * 64);
    const recompute = options.recomputeQkv ?? !model.savedActivations().qkvRotated;
    const tangent = new LossTangent(model, recompute, chunkRows);
    await tangent.#createOps(chunkRows, options.attentionVariant);
    return tangent;
  }

  async #createOps(chunkRows: number, attentionVariant?: AttentionVariant): Promise<void> {
    const k = this.model.kernels;
    const c = this.model.config;
    const N = this.model.rows;
    const d = c.d_model;
    const up = c.mlp_ratio * d;
    const hidden = mlpHidden(c);
    const olmo = c.arch === "olmo";
    // `overwrite`: the first product writes the output; otherwise both add onto it (the residual stream).
    const linear = async (m: number, inner: number, rows = N, overwrite = true): Promise<LinearTangent> => ({
      first: await Matmul.create(k, { layout: "xwT", n: rows, m, k: inner, accumulate: !overwrite }),
      second: await Matmul.create(k, { layout: "xwT", n: rows, m, k: inner, accumulate: true }),
    });
    const head: HeadChunk[] = [];
    for (let rowStart = 0; rowStart < N; rowStart += chunkRows) {
      const rows = Math.min(chunkRows, N - rowStart);
      const same = head.find((chunk) => chunk.rows === rows);
      const products = same?.products ?? await linear(c.vocab_size, d, rows);
      head.push({
        rowStart,
        rows,
        products,
        logits: products.first,
        loss: same?.loss ?? await CrossEntropyTangent.create(k, { rows, vocab: c.vocab_size }),
      });
    }
    this.#ops = {
      embedding: await Embedding.create(k, { rows: N, vocab: c.vocab_size, d }),
      positions: olmo
        ? null
        : await PositionEmbedding.create(k, { batch: this.model.batch, seqLen: c.seq_len, d }),
      norm: await RmsNorm.create(k, { rows: N, d, eps: c.norm_eps }),
      rope: olmo
        ? await Rope.create(k, {
          batch: this.model.batch,
          seqLen: c.seq_len,
          dModel: d,
          headDim: headDim(c),
          theta: c.rope_theta,
        })
        : null,
      attention: await AttentionTangent.create(k, {
        batch: this.model.batch,
        seqLen: c.seq_len,
        dModel: d,
        nHeads: c.n_heads,
        variant: attentionVariant,
      }),
      swiglu: olmo ? await SwiGluTangent.create(k, { rows: N, width: up }) : null,
      gelu: olmo ? null : await Gelu.create(k, { length: N * hidden }),
      attProj: await linear(3 * d, d),
      attnOut: await linear(d, d, N, false),
      ffProj: await linear(up, d),
      ffOut: await linear(d, hidden, N, false),
      head,
    };
  }

  /** Uploads the direction δ (flat, in the model's parameter layout). */
  setDelta(delta: Float32Array): void {
    if (delta.length !== this.model.layout.totalLength) {
      throw new GpuError(
        `zsl: δ must have ${this.model.layout.totalLength} values (the model's layout), got ${delta.length}`,
      );
    }
    writeBuffer(this.model.gpu, this.#delta, delta);
  }

  #tensor(buffer: GPUBuffer, spec: ParameterSpec): Binding {
    return { buffer, offset: spec.offset * 4, size: spec.length * 4 };
  }

  /** The Linear tangent `out (+)= ẋWᵀ + x·δWᵀ`. */
  #linear(
    pass: GPUComputePassEncoder,
    op: LinearTangent,
    spec: ParameterSpec,
    x: Binding,
    tangentX: Binding,
    out: Binding,
  ) {
    op.first.record(pass, tangentX, this.#tensor(this.model.parameters, spec), out);
    op.second.record(pass, x, this.#tensor(this.#delta, spec), out);
  }

  /**
   * Records the tangent pass into `pass`, after the model's forward of this batch (recorded earlier in
   * the same pass, or submitted before): `tangents[r] = ℓ̇_r` for every row.
   */
  record(pass: GPUComputePassEncoder): void {
    const model = this.model;
    const saved = model.savedActivations();
    const ops = this.#ops;
    const t = this.#buffers;
    const c = model.config;
    const d = c.d_model;
    const p = model.parameters;
    const wte = model.layout.specs[0];
    ops.embedding.forward(pass, this.#tensor(this.#delta, wte), saved.ids, t.stream);
    if (ops.positions) {
      const wpe = model.layout.byName.get("transformer.wpe.weight")!;
      ops.positions.forward(
        pass,
        { buffer: this.#delta, offset: wpe.offset * 4, size: c.seq_len * d * 4 },
        t.stream,
      );
    }
    for (let l = 0; l < c.n_layers; l++) {
      const a = saved.layers[l];
      const w = this.#blocks[l];
      // stream˙ += attn_out˙(attention˙(rope(att_proj˙(norm˙(stream˙)))))
      ops.norm.backward(pass, t.stream, a.norm1, a.rstd1, t.norm);
      this.#linear(pass, ops.attProj, w.qkv, a.norm1, t.norm, t.qkv);
      let qkv: GPUBuffer = a.qkv;
      if (t.rotated) {
        ops.attProj.first.record(pass, a.norm1, this.#tensor(p, w.qkv), t.rotated);
        ops.rope?.forward(pass, t.rotated);
        qkv = t.rotated;
      }
      ops.rope?.forward(pass, t.qkv);
      ops.attention.record(pass, qkv, t.qkv, a.attention, a.lse, t.attention);
      this.#linear(pass, ops.attnOut, w.attnOut, a.attention, t.attention, t.stream);
      // stream˙ += ff_out˙(swiglu˙ or gelu˙(ff_proj˙(norm˙(stream˙))))
      ops.norm.backward(pass, t.stream, a.norm2, a.rstd2, t.norm);
      this.#linear(pass, ops.ffProj, w.mlpIn, a.norm2, t.norm, t.up);
      if (ops.swiglu) ops.swiglu.record(pass, a.up, t.up, t.gated);
      else ops.gelu!.backward(pass, t.up, a.up, t.gated);
      this.#linear(pass, ops.ffOut, w.mlpOut, a.gated, t.gated, t.stream);
    }
    ops.norm.backward(pass, t.stream, saved.final, saved.rstdFinal, t.final);
    for (const chunk of ops.head) {
      const rows = (floats: number, buffer: GPUBuffer): Binding => ({
        buffer,
        offset: chunk.rowStart * floats * 4,
        size: chunk.rows * floats * 4,
      });
      const size = chunk.rows * c.vocab_size * 4;
      const logits: Binding = { buffer: t.logits, offset: 0, size };
      const tangentLogits: Binding = { buffer: t.tangentLogits, offset: 0, size };
      chunk.logits.record(pass, rows(d, saved.final), this.#tensor(p, wte), logits);
      this.#linear(pass, chunk.products, wte, rows(d, saved.final), rows(d, t.final), tangentLogits);
      chunk.loss.record(pass, logits, tangentLogits, rows(1, saved.targets), rows(1, this.tangents));
    }
  }

  /**
   * The forward of `tokens` (`batch`·seq_len ids, next-token targets) and its tangent along the last
   * {@linkcode LossTangent.setDelta}, in one submit: ℓ̇ of every predicted token, [batch, seq_len − 1].
   */
  async compute(tokens: Uint32Array): Promise<Float32Array> {
    const model = this.model;
    model.setTokens(tokens);
    const encoder = model.gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    model.record(pass, { backward: false });
    this.record(pass);
    pass.end();
    model.gpu.device.queue.submit([encoder.finish()]);
    return dropLastPositions(await readFloats(model.gpu, this.tangents), model.batch, model.config.seq_len);
  }

  /** Frees the buffers and ops it owns (not the model). */
  destroy(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned = [];
    this.#ops?.embedding.destroy();
    this.#ops?.rope?.destroy();
    this.#ops?.attention.destroy();
  }
}
