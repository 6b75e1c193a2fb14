/**
 * The model's parameters: names and shapes as in OLMo (docs/method.md#model) or nanoGPT
 * (docs/method.md#the-nanogpt-variant), their place in one flat buffer, which get weight decay, and the
 * initialisation ("mitchell" for OLMo, GPT-2's for nanoGPT).
 *
 * @module
 */
import { Random } from "../util/random.ts";
import { alignUp } from "../gpu/buffers.ts";
import type { ModelConfig } from "./config.ts";
import { mlpHidden } from "./config.ts";
import type { Tensor } from "../io/safetensors.ts";

/** One parameter tensor and where it lives in the flat parameter buffer. */
export interface ParameterSpec {
  /** OLMo name, e.g. `transformer.blocks.0.att_proj.weight`. */
  name: string;
  /** [out, in] for Linear weights (as torch), [vocab, d] for the embedding. */
  shape: [number, number];
  /** Number of values. */
  length: number;
  /** Offset in float32 elements inside the flat buffer (aligned to 256 bytes). */
  offset: number;
  /** Decoupled weight decay applies (OLMo: Linear weights, not the embedding; nanoGPT: every tensor). */
  decay: boolean;
  /** Standard deviation of the initialisation. */
  initStd: number;
  /** 0-based block index, or -1 for the embeddings. */
  layer: number;
  /** The normal of the initialisation is truncated at ±initBound·σ (default 3, OLMo); 0: not truncated. */
  initBound?: number;
}

/** What a parameter is in the model, whatever the architecture calls it. */
export type ParameterRole =
  | "token-embedding"
  | "position-embedding"
  | "attention-qkv"
  | "attention-out"
  | "mlp-in"
  | "mlp-out";

/** The role of parameter `name` (OLMo or nanoGPT name). */
export function parameterRole(name: string): ParameterRole {
  if (name === "transformer.wte.weight") return "token-embedding";
  if (name === "transformer.wpe.weight") return "position-embedding";
  const suffixes: [string, ParameterRole][] = [
    [".att_proj.weight", "attention-qkv"],
    [".attn.c_attn.weight", "attention-qkv"],
    [".attn_out.weight", "attention-out"],
    [".attn.c_proj.weight", "attention-out"],
    [".ff_proj.weight", "mlp-in"],
    [".mlp.c_fc.weight", "mlp-in"],
    [".ff_out.weight", "mlp-out"],
    [".mlp.c_proj.weight", "mlp-out"],
  ];
  for (const [suffix, role] of suffixes) if (name.endsWith(suffix)) return role;
  throw new RangeError(`zsl: "${name}" is no parameter of an OLMo or nanoGPT model`);
}

/** The four weights of block `layer`, by role. */
export interface BlockWeights {
  /** Fused q, k, v projection [3d, d] (att_proj, attn.c_attn). */
  qkv: ParameterSpec;
  /** Attention output projection [d, d] (attn_out, attn.c_proj). */
  attnOut: ParameterSpec;
  /** MLP input projection (ff_proj, mlp.c_fc). */
  mlpIn: ParameterSpec;
  /** MLP output projection (ff_out, mlp.c_proj). */
  mlpOut: ParameterSpec;
}

/** The weights of block `layer` of `layout`, whichever architecture it is. */
export function blockWeights(layout: ParameterLayout, layer: number): BlockWeights {
  const found: Partial<Record<ParameterRole, ParameterSpec>> = {};
  for (const spec of layout.specs) if (spec.layer === layer) found[parameterRole(spec.name)] = spec;
  if (!found["attention-qkv"] || !found["attention-out"] || !found["mlp-in"] || !found["mlp-out"]) {
    throw new RangeError(`zsl: the layout has no complete block ${layer}`);
  }
  return {
    qkv: found["attention-qkv"],
    attnOut: found["attention-out"],
    mlpIn: found["mlp-in"],
    mlpOut: found["mlp-out"],
  };
}

/** The parameter layout of a config: specs in a fixed order and the flat buffer's length. */
export interface ParameterLayout {
  /** Every parameter in buffer order: the embedding, then per block att_proj, attn_out, ff_proj, ff_out. */
  specs: ParameterSpec[];
  /** The same specs keyed by OLMo name. */
  byName: Map<string, ParameterSpec>;
  /** Length of the flat buffer in float32 elements (with alignment padding). */
  totalLength: number;
}

/**
 * Names and shapes of every parameter, embedding first, then each block's four Linears. nanoGPT has
 * the position embedding `transformer.wpe.weight` [positions, d] after the token embedding, with
 * `positions` = `config.seq_len` unless given (a model of shorter sequences that shares the parameters
 * of a full-length one passes the full length).
 */
export function parameterLayout(config: ModelConfig, positions = config.seq_len): ParameterLayout {
  const d = config.d_model;
  const hidden = mlpHidden(config);
  const specs: ParameterSpec[] = [];
  let offset = 0;
  const add = (
    name: string,
    shape: [number, number],
    decay: boolean,
    initStd: number,
    layer: number,
    initBound?: number,
  ) => {
    const length = shape[0] * shape[1];
    specs.push({
      name,
      shape,
      length,
      offset,
      decay,
      initStd,
      layer,
      ...(initBound === undefined ? {} : { initBound }),
    });
    offset += alignUp(length * 4) / 4;
  };
  if (config.arch === "nanogpt") {
    // GPT-2 init: N(0, 0.02) everywhere, the two residual projections N(0, 0.02/√(2L)); every tensor
    // decays (docs/method.md#the-nanogpt-variant).
    const std = 0.02;
    const residual = 0.02 / Math.sqrt(2 * config.n_layers);
    add("transformer.wte.weight", [config.vocab_size, d], true, std, -1, 0);
    add("transformer.wpe.weight", [positions, d], true, std, -1, 0);
    for (let l = 0; l < config.n_layers; l++) {
      const prefix = `transformer.h.${l}`;
      add(`${prefix}.attn.c_attn.weight`, [3 * d, d], true, std, l, 0);
      add(`${prefix}.attn.c_proj.weight`, [d, d], true, residual, l, 0);
      add(`${prefix}.mlp.c_fc.weight`, [hidden, d], true, std, l, 0);
      add(`${prefix}.mlp.c_proj.weight`, [d, hidden], true, residual, l, 0);
    }
    return { specs, byName: new Map(specs.map((spec) => [spec.name, spec])), totalLength: offset };
  }
  add("transformer.wte.weight", [config.vocab_size, d], false, 1 / Math.sqrt(d), -1);
  for (let l = 0; l < config.n_layers; l++) {
    const prefix = `transformer.blocks.${l}`;
    add(`${prefix}.att_proj.weight`, [3 * d, d], true, 1 / Math.sqrt(d), l);
    add(`${prefix}.attn_out.weight`, [d, d], true, 1 / Math.sqrt(2 * d * (l + 1)), l);
    add(`${prefix}.ff_proj.weight`, [config.mlp_ratio * d, d], true, 1 / Math.sqrt(d), l);
    add(`${prefix}.ff_out.weight`, [d, hidden], true, 1 / Math.sqrt(2 * hidden * (l + 1)), l);
  }
  return { specs, byName: new Map(specs.map((spec) => [spec.name, spec])), totalLength: offset };
}

/**
 * Initialisation, every tensor drawn in layout order from one seeded generator: mitchell (OLMo), a
 * normal truncated at ±3σ with each tensor's σ; GPT-2 (nanoGPT), plain normals. Returns the flat
 * buffer's contents.
 */
export function initParameters(layout: ParameterLayout, seed: number): Float32Array {
  const flat = new Float32Array(layout.totalLength);
  const random = new Random(seed);
  for (const spec of layout.specs) {
    const bound = spec.initBound ?? 3;
    for (let i = 0; i < spec.length; i++) {
      flat[spec.offset + i] = bound > 0
        ? random.truncatedNormal(spec.initStd, bound)
        : random.normal() * spec.initStd;
    }
  }
  return flat;
}

/** The tensors of a flat buffer by name (views, not copies), in layout order. */
export function tensorsOf(layout: ParameterLayout, flat: Float32Array): Map<string, Tensor> {
  return new Map(
    layout.specs.map((spec) => [
      spec.name,
      { shape: [...spec.shape], data: flat.subarray(spec.offset, spec.offset + spec.length) },
    ]),
  );
}

/**
 * Packs named tensors (e.g. from a checkpoint) into a flat buffer, checking that every parameter is
 * present with the right shape and that nothing else is.
 */
export function flattenTensors(
  layout: ParameterLayout,
  tensors: Map<string, Tensor>,
  source: string,
): Float32Array {
  const flat = new Float32Array(layout.totalLength);
  for (const spec of layout.specs) {
    const tensor = tensors.get(spec.name);
    if (!tensor) {
      throw new Error(
        `zsl: ${source} has no tensor ${spec.name}; does the config match the checkpoint? ` +
          `(it holds ${tensors.size} tensors: ${[...tensors.keys()].slice(0, 4).join(", ")}…)`,
      );
    }
    const shape = tensor.shape.join("×");
    if (shape !== spec.shape.join("×")) {
      throw new Error(
        `zsl: ${source}: ${spec.name} has shape ${shape}, but the config needs ${spec.shape.join("×")} ` +
          `(out×in): check d_model, n_layers, vocab_size, seq_len and mlp_ratio`,
      );
    }
    flat.set(tensor.data, spec.offset);
  }
  const extra = [...tensors.keys()].filter((name) => !layout.byName.has(name));
  if (extra.length > 0) {
    throw new Error(
      `zsl: ${source} has tensors the config does not: ${extra.slice(0, 4).join(", ")}` +
        `${extra.length > 4 ? "…" : ""} (do n_layers and arch match?)`,
    );
  }
  return flat;
}
