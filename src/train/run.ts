/**
 * A training run described by plain values (what `deno task train` and the sweep take), resolved
 * into a model config, data and {@linkcode TrainOptions}.
 *
 * @module
 */
import type { Architecture, ModelConfig } from "../model/config.ts";
import {
  kaplanPeakLr,
  parameterCount,
  presetByName,
  readConfigFile,
  validateConfig,
  withArchitecture,
} from "../model/config.ts";
import type { OptimizerKind, OptimizerOptions, OptimizerSpec } from "./optimizer.ts";
import { OPTIMIZER_DEFAULTS, optimizerSpecOf, resolveOptimizerOptions } from "./optimizer.ts";
import { flattenTensors, parameterLayout } from "../model/parameters.ts";
import { readSafetensors } from "../io/safetensors.ts";
import { BatchPlan, loadCorpus, tokenizeCorpus, tokenizerByName } from "../data/mod.ts";
import type { Tokenizer } from "../data/mod.ts";
import { IDS_TOKENIZER, idsTokenizer } from "../data/tokenizer.ts";
import type { ScheduleKind } from "./schedule.ts";
import { validateSchedule } from "./schedule.ts";
import { checkRunSpec } from "./spec_rules.ts";
import type { TrainOptions } from "./trainer.ts";
import { basename, join, resolve } from "../util/path.ts";

/** A run as plain values; every field but `out` has a default. */
export interface RunSpec {
  /** Run directory. */
  out: string;
  /** Model name in tables (default: the preset's name or the directory name). */
  name?: string;
  /** A preset name (see `PRESETS`), unless `config` is given. Default `cpu-s`. */
  preset?: string;
  /** Path of a JSON model config, or a config object. */
  config?: string | ModelConfig;
  /** Architecture of the preset (default `olmo`); with `config`, it must match the config's. */
  arch?: Architecture;
  /** Sequence length (overrides the preset's or config's seq_len). */
  seq?: number;
  /** Corpus: "brown" (default), a text file, a folder of .txt files, or a .npy token array. */
  data?: string;
  /**
   * Tokenizer of text corpora: "bytes" (default for small presets) or "gpt2" (default for the paper's
   * presets). Token files need none: any id below the model's vocab_size trains, and a named tokenizer
   * only decodes them and gives its EOS id.
   */
  tokenizer?: string;
  /** Token files: the id that ends a document (default: the named tokenizer's; none without one). */
  eosId?: number;
  /** The model's vocab_size, over the preset's or config's (token files of a larger vocabulary). */
  vocabSize?: number;
  /** Optimizer steps (default 200). */
  steps?: number;
  /** Sequences per global batch (default 16). */
  batch?: number;
  /** Sequences per microbatch (default: the batch). */
  microbatch?: number;
  /** Peak learning rate (default: Kaplan's formula of the non-embedding parameters). */
  lr?: number;
  /** Multiplier of the peak learning rate (`lr`, else Kaplan's; default 1): the sweep's `lrScales` axis. */
  lrScale?: number;
  /** Warmup steps (default: min(2000, ceil(steps / 20))). */
  warmup?: number;
  /** Learning-rate schedule (default `trapezoidal`). */
  schedule?: ScheduleKind;
  /** Trapezoidal decay steps at the end (default 0). */
  decay?: number;
  /** Shuffle the sequences (default true). */
  shuffle?: boolean;
  /** Initialisation seed (default 0). */
  seed?: number;
  /** Data order seed (default 6198, the paper's). */
  dataSeed?: number;
  /** Held-out evaluation sequences (default: 2% of the corpus, at least one microbatch, at most 256). */
  evalSequences?: number;
  /** Evaluate every this many steps (default: 10 evaluations per run). */
  evalEvery?: number;
  /** Initial weights (.safetensors) instead of the seeded initialisation. */
  init?: string;
  /** AdamW weight decay (default 0.1) and clipping threshold (default 1.0; 0 disables). */
  weightDecay?: number;
  /** Global gradient-norm clipping threshold (default 1.0; 0 disables). */
  clip?: number;
  /** Continue from the run directory's last checkpoint (default false). */
  resume?: boolean;
  /** Checkpoint every this many steps, replaced by the next (default 1000; 0: never). */
  checkpointEvery?: number;
  /** Checkpoint every this many minutes, replaced by the next (default 30; 0: never). */
  checkpointMinutes?: number;
  /** Optimizer (default `adamw`; docs/method.md#optimizers). */
  optimizer?: OptimizerKind;
  /** AdEMAMix: final α (default 8). */
  ademamixAlpha?: number;
  /** AdEMAMix: final β3 (default 0.9999). */
  ademamixBeta3?: number;
  /** AdEMAMix: warmup of α and β3 in steps (default the paper's 50,000, capped at `steps`; 0: none). */
  ademamixWarmup?: number;
  /** Muon: its learning rate over lr(t) (default 0.1). */
  muonLrScale?: number;
  /** Muon: Nesterov momentum (default 0.95). */
  muonMomentum?: number;
}

/** The optimizer of a run spec with its defaults (AdEMAMix's warmup capped at the run's steps). */
export function runOptimizer(spec: RunSpec, steps: number): OptimizerSpec {
  const kind = spec.optimizer ?? "adamw";
  const resolved = resolveOptimizerOptions({
    kind,
    ademamixAlpha: spec.ademamixAlpha,
    ademamixBeta3: spec.ademamixBeta3,
    ademamixWarmup: spec.ademamixWarmup ?? Math.min(OPTIMIZER_DEFAULTS.ademamixWarmup, steps),
    muonLrScale: spec.muonLrScale,
    muonMomentum: spec.muonMomentum,
  });
  return optimizerSpecOf(resolved);
}

/** A resolved run: the options for `train` and what was chosen for the defaults. */
export interface ResolvedRun {
  /** Options for `train`; add `onStep` and `kernels` as needed. */
  options: Omit<TrainOptions, "onStep" | "kernels">;
  /** The model config, validated, seq and vocab size applied. */
  config: Required<ModelConfig>;
  /** The batch plan (also `options.data`). */
  plan: BatchPlan;
  /** Parameters outside the embedding (what Kaplan's learning-rate formula takes). */
  nonEmbeddingParams: number;
  /** All parameters, the (tied) embedding included. */
  totalParams: number;
}

/** Resolves a {@linkcode RunSpec}: loads the config, tokenizer, corpus, batch plan and initial weights. */
export async function resolveRun(spec: RunSpec): Promise<ResolvedRun> {
  checkRunSpec(spec as unknown as Record<string, unknown>);
  if (spec.preset && spec.config) throw new Error("zsl: give --preset or --config, not both");
  let config: Required<ModelConfig>;
  let presetName: string | undefined;
  let paperPreset = false;
  if (spec.config) {
    config = typeof spec.config === "string"
      ? await readConfigFile(spec.config)
      : validateConfig(spec.config);
    if (spec.arch !== undefined && spec.arch !== config.arch) {
      throw new Error(
        `zsl: --arch ${spec.arch} differs from the config's arch ${config.arch}: ` +
          `set "arch" in the config file, or use --preset with --arch`,
      );
    }
  } else {
    const preset = presetByName(spec.preset ?? "cpu-s");
    presetName = preset.name;
    paperPreset = preset.paperMicrobatch !== undefined;
    config = validateConfig(withArchitecture(preset.config, spec.arch ?? "olmo"));
  }
  if (spec.seq !== undefined) config = validateConfig({ ...config, seq_len: spec.seq });
  const batch = spec.batch ?? 16;
  const microbatch = spec.microbatch ?? batch;
  const steps = spec.steps ?? 200;
  const source = await loadCorpus(spec.data ?? "brown");
  const named = spec.tokenizer === IDS_TOKENIZER ? undefined : spec.tokenizer;
  let tokenizer: Tokenizer;
  if (source.kind === "tokens") {
    // Token files: the model's vocab_size bounds the ids; a tokenizer only decodes and gives the EOS id.
    if (named) {
      const base = await tokenizerByName(named);
      if (!spec.config && spec.vocabSize === undefined) config = { ...config, vocab_size: base.vocabSize };
    }
    if (spec.vocabSize !== undefined) config = { ...config, vocab_size: spec.vocabSize };
    const vocabSize = config.vocab_size;
    if (named) {
      const base = await tokenizerByName(named);
      const eosId = spec.eosId ?? base.eosId;
      if (eosId >= vocabSize) {
        throw new Error(`zsl: --eos-id ${eosId} is outside the model's vocabulary (vocab_size ${vocabSize})`);
      }
      tokenizer = { ...base, vocabSize, tokenCount: vocabSize, eosId };
    } else {
      tokenizer = idsTokenizer(vocabSize, spec.eosId);
    }
  } else {
    if (spec.eosId !== undefined) {
      throw new Error(
        `zsl: --eos-id applies to token files (.npy, .bin); a text corpus gets its tokenizer's EOS`,
      );
    }
    tokenizer = await tokenizerByName(named ?? (paperPreset ? "gpt2" : "bytes"));
    if (spec.vocabSize !== undefined) config = { ...config, vocab_size: spec.vocabSize };
    else if (!spec.config) config = { ...config, vocab_size: tokenizer.vocabSize };
    if (tokenizer.vocabSize > config.vocab_size) {
      throw new Error(
        `zsl: the ${tokenizer.name} tokenizer needs vocab_size ≥ ${tokenizer.vocabSize}, ` +
          `but the model has ${config.vocab_size}: raise vocab_size or use another --tokenizer`,
      );
    }
  }
  const corpus = tokenizeCorpus(source, tokenizer, { vocabSize: config.vocab_size });
  const sequences = Math.floor(corpus.tokens.length / config.seq_len);
  const evalSequences = spec.evalSequences ??
    Math.min(256, Math.max(microbatch, Math.round(0.02 * sequences / microbatch) * microbatch));
  const peakLr = (spec.lr ?? kaplanPeakLr(parameterCount(config).nonEmbedding)) * (spec.lrScale ?? 1);
  const decay = peakLr * (spec.weightDecay ?? 0.1);
  if (decay >= 1) {
    throw new Error(
      `zsl: ${
        spec.lrScale === undefined
          ? `--lr ${spec.lr}`
          : `the peak learning rate ${peakLr} (--lr-scale ${spec.lrScale})`
      } × --weight-decay ${spec.weightDecay ?? 0.1} = ${decay} ≥ 1: the decoupled decay ` +
        `p ← p·(1 − lr·wd) would zero or flip the weights every step; lower --lr or --weight-decay`,
    );
  }
  if (spec.lr === undefined && !(kaplanPeakLr(parameterCount(config).nonEmbedding) > 0)) {
    throw new Error(
      `zsl: Kaplan's learning-rate formula gives no positive rate for ${
        parameterCount(config).nonEmbedding.toExponential(2)
      } non-embedding parameters (it ends at 1.2e10): give --lr`,
    );
  }
  const plan = new BatchPlan({
    corpus,
    seqLen: config.seq_len,
    batchSequences: batch,
    evalSequences,
    seed: spec.dataSeed ?? 6198,
    shuffle: spec.shuffle ?? true,
  });
  const counts = parameterCount(config);
  let init: Float32Array | undefined;
  if (spec.init) {
    const file = await readSafetensors(spec.init);
    init = flattenTensors(parameterLayout(config), file.tensors, spec.init);
  }
  const presetLabel = presetName && config.arch !== "olmo" ? `${config.arch}-${presetName}` : presetName;
  const name = spec.name ?? presetLabel ?? basename(spec.out);
  const schedule = {
    kind: spec.schedule ?? "trapezoidal",
    peakLr,
    warmup: spec.warmup ?? Math.min(2000, Math.ceil(steps / 20)),
    decaySteps: spec.decay ?? 0,
  };
  validateSchedule({ ...schedule, totalSteps: steps });
  return {
    config,
    plan,
    nonEmbeddingParams: counts.nonEmbedding,
    totalParams: counts.total,
    options: {
      runDir: spec.out,
      name,
      model: config,
      data: plan,
      steps,
      batch,
      microbatch,
      schedule,
      seed: spec.seed ?? 0,
      init,
      adamw: { weightDecay: spec.weightDecay ?? 0.1, maxNorm: spec.clip ?? 1.0 },
      optimizer: runOptimizer(spec, steps),
      evalEvery: spec.evalEvery ?? Math.max(1, Math.ceil(steps / 10)),
      resume: spec.resume ?? false,
      checkpointEvery: spec.checkpointEvery,
      checkpointMinutes: spec.checkpointMinutes,
      info: {
        preset: presetName ?? null,
        tokenizer: tokenizer.name,
        nonEmbeddingParams: counts.nonEmbedding,
        totalParams: counts.total,
        init: spec.init ?? null,
        // Enough to rebuild the same model and batch plan from any working directory (loadRun).
        spec: {
          ...spec,
          out: undefined,
          resume: undefined,
          checkpointEvery: undefined,
          checkpointMinutes: undefined,
          preset: undefined,
          seq: undefined,
          config,
          name,
          data: spec.data && spec.data !== "brown" ? resolve(spec.data) : "brown",
          tokenizer: tokenizer.name,
          evalSequences,
        },
      },
    },
  };
}

/** A finished or running run directory, reopened for analysis. */
export interface LoadedRun {
  /** The run directory, as given. */
  runDir: string;
  /** Contents of run.json. */
  info: Record<string, unknown> & { name: string };
  /** The model config, re-resolved from `run.json`'s spec. */
  config: Required<ModelConfig>;
  /** The batch plan the run trained with (same order, eval split and unseen batches). */
  plan: BatchPlan;
  /** The schedule, with totalSteps. */
  schedule: import("./schedule.ts").Schedule;
  /** Global batch and microbatch in sequences. */
  batch: number;
  /** Sequences per microbatch. */
  microbatch: number;
  /** The run's total optimizer steps (not the steps done so far). */
  steps: number;
  /** The run's optimizer with every setting (clipping included): what one-step analyses re-run. */
  optimizer: Required<OptimizerOptions>;
}

/**
 * Reopens a run directory written by `train` through `resolveRun` (it reads `run.json`): its model
 * config, the very same batch plan, and the schedule.
 */
export async function loadRun(runDir: string): Promise<LoadedRun> {
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(await Deno.readTextFile(join(runDir, "run.json")));
  } catch (error) {
    throw new Error(
      `zsl: ${runDir} is not a run directory (no readable run.json: ${(error as Error).message})`,
    );
  }
  const spec = info.spec as RunSpec | undefined;
  if (!spec) {
    throw new Error(`zsl: ${join(runDir, "run.json")} has no "spec": it was not written by deno task train`);
  }
  if (!info.data) {
    throw new Error(`zsl: ${join(runDir, "run.json")} has no "data": it was not written by deno task train`);
  }
  const resolved = await resolveRun({ ...spec, out: runDir, init: undefined });
  resolved.plan.checkSameData(info.data as never);
  return {
    runDir,
    info: info as LoadedRun["info"],
    config: resolved.config,
    plan: resolved.plan,
    schedule: { ...resolved.options.schedule, totalSteps: resolved.options.steps },
    batch: resolved.options.batch,
    microbatch: resolved.options.microbatch,
    steps: resolved.options.steps,
    optimizer: resolveOptimizerOptions({ ...resolved.options.adamw, ...resolved.options.optimizer }),
  };
}
