/**
 * Model configuration: the OLMo-style decoder of docs/method.md#model and the nanoGPT architecture of the
 * authors' ablations (docs/method.md#the-nanogpt-variant), their presets, validation with errors that name
 * the problem, and parameter counts.
 *
 * @module
 */

/**
 * The architecture: `olmo` (docs/method.md#model: RoPE, SwiGLU, mitchell init) or `nanogpt` (#the-nanogpt-variant: learned
 * positions, GELU MLP of width 4d, GPT-2 init, RMSNorm eps 1e-6).
 */
export type Architecture = "olmo" | "nanogpt";

/** The architectures, the default first. */
export const ARCHITECTURES: readonly Architecture[] = ["olmo", "nanogpt"];

/**
 * A model's shape. Keys are snake_case because this is also the JSON config file format
 * (`--config FILE.json`).
 */
export interface ModelConfig {
  /** The architecture (default `olmo`). */
  arch?: Architecture;
  /** Residual width d. */
  d_model: number;
  /** Number of transformer blocks L. */
  n_layers: number;
  /** Attention heads; head dim = d_model / n_heads (even, for RoPE). */
  n_heads: number;
  /** Vocabulary size (padded; ≥ the largest token id + 1). */
  vocab_size: number;
  /** Sequence length T of training and evaluation. */
  seq_len: number;
  /**
   * OLMo: ff_proj maps d → mlp_ratio·d and SwiGLU halves it, so the MLP's hidden width is mlp_ratio·d/2
   * (1 in the paper). nanoGPT: c_fc maps d → mlp_ratio·d, the hidden width (must be 4). In a JSON config
   * it may be left out: 1 for OLMo, 4 for nanoGPT.
   */
  mlp_ratio: number;
  /** RoPE base θ (default 10000; OLMo only). */
  rope_theta?: number;
  /** RMSNorm epsilon (default 1e-5 for OLMo, 1e-6 for nanoGPT). */
  norm_eps?: number;
}

/** A named preset: a config plus the paper's microbatch where it has one. */
export interface Preset {
  /** The key in {@linkcode PRESETS} (`"14M"`, `"cpu-s"`), as given to `--preset`. */
  name: string;
  /** The model's shape (defaults of the optional fields apply). */
  config: ModelConfig;
  /** Short description for `--help` and reports. */
  description: string;
  /** Sequences per microbatch in the paper (paper presets only). */
  paperMicrobatch?: number;
}

const PAPER_VOCAB = 50304;
const BYTES_VOCAB = 320;

/** An OLMo config of width `d`, `layers` blocks, `heads` heads, MLP ratio 1. */
function sized(d: number, layers: number, heads: number, vocab: number, seqLen: number): ModelConfig {
  return { d_model: d, n_layers: layers, n_heads: heads, vocab_size: vocab, seq_len: seqLen, mlp_ratio: 1 };
}

function paper(name: string, d: number, layers: number, heads: number, microbatch: number): Preset {
  return {
    name,
    config: sized(d, layers, heads, PAPER_VOCAB, 1024),
    description: `the paper's ${name} (d ${d}, ${layers} layers, ${heads} heads, GPT-NeoX vocab, seq 1024)`,
    paperMicrobatch: microbatch,
  };
}

function small(name: string, d: number, layers: number, heads: number, seqLen: number): Preset {
  return {
    name,
    config: sized(d, layers, heads, BYTES_VOCAB, seqLen),
    description: `small model for CPUs (d ${d}, ${layers} layers, ${heads} heads, byte vocab, seq ${seqLen})`,
  };
}

/**
 * The presets: the paper's six sizes (docs/method.md#presets) and small models that train on a 2-core CPU
 * through lavapipe with the byte tokenizer.
 */
export const PRESETS: Record<string, Preset> = Object.fromEntries(
  [
    paper("14M", 256, 4, 4, 64),
    paper("37M", 512, 8, 8, 64),
    paper("78M", 768, 12, 12, 32),
    paper("144M", 1024, 16, 16, 32),
    paper("285M", 1536, 16, 16, 32),
    paper("472M", 2048, 16, 16, 32),
    small("tiny", 32, 2, 2, 32),
    small("cpu-xs", 64, 2, 2, 64),
    small("cpu-s", 96, 3, 3, 64),
    small("cpu-m", 128, 4, 4, 64),
    small("cpu-l", 192, 4, 6, 128),
  ].map((preset) => [preset.name, preset]),
);

/** Names of the paper's six presets, smallest first. */
export const PAPER_PRESETS = ["14M", "37M", "78M", "144M", "285M", "472M"] as const;

/** An invalid model configuration; the message names the field and the fix. */
export class ConfigError extends Error {
  /** `message` names the field and the fix; `zsl: invalid model config: ` is put before it. */
  constructor(message: string) {
    super(`zsl: invalid model config: ${message}`);
    this.name = "ConfigError";
  }
}

/** The preset called `name`, with an error listing the presets when there is none. */
export function presetByName(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) {
    throw new ConfigError(`unknown preset "${name}"; presets: ${Object.keys(PRESETS).join(", ")}`);
  }
  return { ...preset, config: { ...preset.config } };
}

const REQUIRED_FIELDS = ["d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "mlp_ratio"] as const;

/** The MLP ratio nanoGPT uses (its MLP is d → 4d → d). */
const NANOGPT_MLP_RATIO = 4;

/** The default RMSNorm epsilon of an architecture (docs/method.md#model and #the-nanogpt-variant). */
export function defaultNormEps(arch: Architecture): number {
  return arch === "nanogpt" ? 1e-6 : 1e-5;
}

/**
 * `config` as the architecture `arch` (a preset's shape with another architecture): the MLP ratio and
 * the norm epsilon become that architecture's defaults unless `config` names the same architecture.
 */
export function withArchitecture(config: ModelConfig, arch: Architecture): ModelConfig {
  if (!ARCHITECTURES.includes(arch)) {
    throw new ConfigError(`unknown arch "${arch}"; architectures: ${ARCHITECTURES.join(", ")}`);
  }
  if ((config.arch ?? "olmo") === arch) return { ...config, arch };
  const { mlp_ratio: _ratio, norm_eps: _eps, rope_theta: _theta, ...shape } = config;
  return arch === "nanogpt"
    ? { ...shape, arch, mlp_ratio: NANOGPT_MLP_RATIO }
    : { ...shape, arch, mlp_ratio: 1 };
}

/**
 * The most layers a model may have. One backward pass records every layer's dispatches into one
 * compute pass, and Dawn crashed the process (SIGSEGV, no message) recording it for 2,500 layers on
 * lavapipe (2,300 worked); the paper's largest model has 16, OLMo-7B 32.
 */
export const MAX_LAYERS = 1024;

/**
 * Checks a config (from a file or code) and returns it with defaults filled in. Every error names
 * the field and what would be valid.
 */
export function validateConfig(raw: unknown): Required<ModelConfig> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`expected a JSON object with ${REQUIRED_FIELDS.join(", ")}`);
  }
  const object = raw as Record<string, unknown>;
  const arch = (object.arch ?? "olmo") as Architecture;
  if (!ARCHITECTURES.includes(arch)) {
    throw new ConfigError(
      `arch must be one of ${ARCHITECTURES.join(", ")}, got ${JSON.stringify(object.arch)}`,
    );
  }
  for (const field of REQUIRED_FIELDS) {
    const value = object[field];
    if (value === undefined && field === "mlp_ratio") continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new ConfigError(`${field} must be a positive integer, got ${JSON.stringify(value)}`);
    }
  }
  if ((object.n_layers as number) > MAX_LAYERS) {
    throw new ConfigError(
      `n_layers ${object.n_layers} is above ${MAX_LAYERS}, the most zsl records in one pass: use fewer layers`,
    );
  }
  const known = new Set<string>(["arch", ...REQUIRED_FIELDS, "rope_theta", "norm_eps"]);
  const unknown = Object.keys(object).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown field(s) ${unknown.join(", ")}; fields: ${[...known].join(", ")}`);
  }
  const nanogpt = arch === "nanogpt";
  const config: Required<ModelConfig> = {
    arch,
    d_model: object.d_model as number,
    n_layers: object.n_layers as number,
    n_heads: object.n_heads as number,
    vocab_size: object.vocab_size as number,
    seq_len: object.seq_len as number,
    mlp_ratio: (object.mlp_ratio as number | undefined) ?? (nanogpt ? NANOGPT_MLP_RATIO : 1),
    rope_theta: (object.rope_theta as number | undefined) ?? 10000,
    norm_eps: (object.norm_eps as number | undefined) ?? defaultNormEps(arch),
  };
  if (nanogpt && config.mlp_ratio !== NANOGPT_MLP_RATIO) {
    throw new ConfigError(
      `mlp_ratio ${config.mlp_ratio} with arch nanogpt: its MLP is d → 4d → d, so leave mlp_ratio out or set 4`,
    );
  }
  if (config.d_model % config.n_heads !== 0) {
    throw new ConfigError(
      `d_model ${config.d_model} is not divisible by n_heads ${config.n_heads}: choose n_heads dividing d_model`,
    );
  }
  const headDim = config.d_model / config.n_heads;
  if (headDim % 2 !== 0) {
    throw new ConfigError(
      `head dim d_model/n_heads = ${headDim} is odd; ` +
        (nanogpt ? "the attention kernels need it even" : "RoPE rotates pairs, so it must be even"),
    );
  }
  if (!nanogpt && (config.mlp_ratio * config.d_model) % 2 !== 0) {
    throw new ConfigError(
      `mlp_ratio·d_model = ${config.mlp_ratio * config.d_model} must be even (SwiGLU halves it)`,
    );
  }
  if (config.seq_len < 2) {
    throw new ConfigError(`seq_len ${config.seq_len} must be at least 2 (a token and its successor)`);
  }
  if (!(config.rope_theta > 0) || !(config.norm_eps > 0)) {
    throw new ConfigError(`rope_theta and norm_eps must be positive`);
  }
  return config;
}

/** Reads and validates a JSON config file. */
export async function readConfigFile(path: string): Promise<Required<ModelConfig>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path} is not JSON: ${(error as Error).message}`);
  }
  try {
    return validateConfig(raw);
  } catch (error) {
    throw new ConfigError(`${path}: ${(error as Error).message.replace("zsl: invalid model config: ", "")}`);
  }
}

/** Head dimension d / n_heads. */
export function headDim(config: ModelConfig): number {
  return config.d_model / config.n_heads;
}

/** The MLP's first projection's output width: mlp_ratio·d (OLMo's default ratio 1, nanoGPT's 4). */
export function mlpWidth(config: ModelConfig): number {
  return config.mlp_ratio * config.d_model;
}

/** Hidden width of the MLP: mlp_ratio·d/2 after OLMo's SwiGLU, mlp_ratio·d = 4d for nanoGPT's GELU. */
export function mlpHidden(config: ModelConfig): number {
  return config.arch === "nanogpt" ? mlpWidth(config) : mlpWidth(config) / 2;
}

/**
 * Parameter counts: non-embedding (the scaling-law N) and total (tied embedding counted once; the
 * nanoGPT position embedding counts as embedding, as nanoGPT's `get_num_params` does).
 */
export function parameterCount(config: ModelConfig): { nonEmbedding: number; total: number } {
  const d = config.d_model;
  const perLayer = 3 * d * d + d * d + mlpWidth(config) * d + mlpHidden(config) * d;
  const nonEmbedding = perLayer * config.n_layers;
  const positions = config.arch === "nanogpt" ? config.seq_len * d : 0;
  return { nonEmbedding, total: nonEmbedding + config.vocab_size * d + positions };
}

/** The paper's peak learning rate for a model of `nonEmbeddingParams` (Kaplan et al.). */
export function kaplanPeakLr(nonEmbeddingParams: number): number {
  return 0.003239 - 0.0001395 * Math.log(nonEmbeddingParams);
}

/**
 * The fields of `config.json` for `config`: the shape, and the architecture, RoPE base and norm
 * epsilon where they differ from the defaults (so an OLMo config reads as before).
 */
export function configFileFields(config: ModelConfig): ModelConfig {
  const valid = validateConfig(config);
  const fields: ModelConfig = {
    d_model: valid.d_model,
    n_layers: valid.n_layers,
    n_heads: valid.n_heads,
    vocab_size: valid.vocab_size,
    seq_len: valid.seq_len,
    mlp_ratio: valid.mlp_ratio,
  };
  if (valid.arch !== "olmo") fields.arch = valid.arch;
  if (valid.rope_theta !== 10000) fields.rope_theta = valid.rope_theta;
  if (valid.norm_eps !== defaultNormEps(valid.arch)) fields.norm_eps = valid.norm_eps;
  return fields;
}

/** Training FLOPs per token (forward + backward): 6·N plus attention's 6·L·T·d (causal half of 12). */
export function trainingFlopsPerToken(config: ModelConfig): number {
  const { nonEmbedding } = parameterCount(config);
  const lmHead = config.vocab_size * config.d_model;
  return 6 * (nonEmbedding + lmHead) + 6 * config.n_layers * config.seq_len * config.d_model;
}
