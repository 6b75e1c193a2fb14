/**
 * The model's parameters: names and shapes as in OLMo (docs/method.md#model), their place in one flat
 * buffer, which get weight decay, and the "mitchell" initialisation.
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
  /** Decoupled weight decay applies (Linear weights, not the embedding). */
  decay: boolean;
  /** Standard deviation of the truncated-normal initialisation. */
  initStd: number;
  /** 0-based block index, or -1 for the embedding. */
  layer: number;
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

/** Names and shapes of every parameter, embedding first, then each block's four Linears. */
export function parameterLayout(config: ModelConfig): ParameterLayout {
  const d = config.d_model;
  const hidden = mlpHidden(config);
  const specs: ParameterSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: [number, number], decay: boolean, initStd: number, layer: number) => {
    const length = shape[0] * shape[1];
    specs.push({ name, shape, length, offset, decay, initStd, layer });
    offset += alignUp(length * 4) / 4;
  };
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
 * Mitchell initialisation (OLMo): every tensor truncated normal at ±3σ with its σ, drawn in layout
 * order from one seeded generator. Returns the flat buffer's contents.
 */
export function initParameters(layout: ParameterLayout, seed: number): Float32Array {
  const flat = new Float32Array(layout.totalLength);
  const random = new Random(seed);
  for (const spec of layout.specs) {
    for (let i = 0; i < spec.length; i++) flat[spec.offset + i] = random.truncatedNormal(spec.initStd, 3);
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
          `(out×in): check d_model, n_layers, vocab_size and mlp_ratio`,
      );
    }
    flat.set(tensor.data, spec.offset);
  }
  const extra = [...tensors.keys()].filter((name) => !layout.byName.has(name));
  if (extra.length > 0) {
    throw new Error(
      `zsl: ${source} has tensors the config does not: ${extra.slice(0, 4).join(", ")}` +
        `${extra.length > 4 ? "…" : ""} (does n_layers match?)`,
    );
  }
  return flat;
}
