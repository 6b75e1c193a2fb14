/**
 * A sweep: a grid of training runs (model presets × architectures × optimizers × seeds × schedules ×
 * batch/sequence lengths) on one corpus, with the analyses to run on them. Defined in JSON
 * (`--sweep FILE.json`) or by a preset (`--preset NAME`: {@linkcode SWEEP_PRESETS}).
 *
 * @module
 */
import type { Architecture } from "../model/config.ts";
import type { OptimizerKind } from "../train/optimizer.ts";
import type { RunSpec } from "../train/run.ts";
import type { ScheduleKind } from "../train/schedule.ts";
import { checkSweepDefinition } from "./validate.ts";

/** The grid and the settings shared by every run of a sweep. */
export interface SweepDefinition {
  /** Sweep name (directory name by default). */
  name: string;
  /** Model presets (or config file paths), one run per entry and grid point. */
  models: string[];
  /** Architectures of the presets (docs/method.md#the-nanogpt-variant); default `["olmo"]`. */
  archs: Architecture[];
  /** Optimizers (docs/method.md#optimizers); default `["adamw"]`. */
  optimizers: OptimizerKind[];
  /** Initialisation seeds. */
  seeds: number[];
  /** Learning-rate schedules. */
  schedules: ScheduleKind[];
  /** Global batch sizes in sequences. */
  batches: number[];
  /** Sequence lengths (empty: each preset's own). */
  seqs: number[];
  /**
   * Warmup steps, one run per entry (0: none), the control of docs/method.md#warmup-control: runs that
   * differ only in warmup are paired by the analyses. Empty or absent: the warmup of `common` or
   * `perModel` (else the trainer's default), which must then not be set there.
   */
  warmups?: number[];
  /** Multipliers of each run's peak learning rate (its `lr`, else Kaplan's). Empty or absent: 1. */
  lrScales?: number[];
  /**
   * Settings every run shares (steps, data, warmup, …); `out`, `preset`, `arch`, `optimizer`, `seed`,
   * `schedule`, `batch`, `seq` come from the grid.
   */
  common: Omit<
    RunSpec,
    "out" | "preset" | "config" | "arch" | "optimizer" | "seed" | "schedule" | "batch" | "seq"
  >;
  /** Per-model overrides of the common settings (e.g. a smaller microbatch for a larger model). */
  perModel?: Record<string, Partial<RunSpec>>;
  /** Analyses run on every run after training. */
  analyses: {
    deceleration: boolean;
    /** Loss interference between consecutive power-of-two checkpoints (Δ_t^{2t}). */
    interferenceCheckpoints: boolean;
    /** Loss interference over one optimizer step from each checkpoint (Δ_t^{t+1}). */
    interferenceOneStep: boolean;
    /** Unseen batches per checkpoint for Δ_t^{t+1}. */
    oneStepBatches: number;
    /**
     * Gradient interference (docs/method.md#gradient-interference) at every power-of-two checkpoint from exact per-example
     * gradients: examples are "sequence"s (one backward) or "token"s (the paper's; about (T−1)/2
     * backward passes per sequence), or "none".
     */
    gradientInterference?: "none" | "sequence" | "token";
    /** Sequences of the unseen batch whose examples are measured (default: 4 for tokens, all for sequences). */
    gradientSequences?: number;
    /**
     * Loss along the update (docs/method.md#loss-along-the-update) at every power-of-two checkpoint:
     * per-token losses at θ + α·δ on the step's own batch and on an eval batch (default false).
     */
    landscape?: boolean;
    /** α values per side of the landscape, out of k = 1…49 (default 49: every α = ±k/25). */
    landscapePoints?: number;
    /** Scale s of the landscape's α = ±k/25·s (default 1: α = 1 is the real step). */
    landscapeScale?: number;
    /**
     * The deceleration fits (against the step, against S, and so the warmup control) fit only steps >
     * this (docs/method.md#preprocessing). Absent: `T^0.369` for T steps (10 for 512), which cuts off a break
     * in the first ten steps; the default sweep's fit starts at step 3 because its breaks come at
     * 14–40 steps (docs/warmup-study.md).
     */
    decelerationMinStep?: number;
  };
}

/** Where a run stands: finished, with checkpoints to resume from, or not started. */
export type RunStatus = "done" | "partial" | "new";

/** One run of a sweep: its directory name and its spec. */
export interface SweepRun {
  /**
   * Unique, directory-safe: the model, plus arch, optimizer, seed, schedule, batch, seq, peak-LR scale
   * (`lrx2`) and warmup (`w30`) where the sweep varies them (`cpu-xs_nanogpt_muon`, `cpu-s_w8`).
   */
  id: string;
  /** The id without the warmup: the runs that differ only in warmup share it (their warmup control). */
  group: string;
  /** The run's spec (`name` = `id`); `out` is empty until the sweep sets it to `<sweep>/runs/<id>`. */
  spec: RunSpec;
}

/**
 * The default sweep (docs/warmup-study.md): three small models (cpu-xs, cpu-s, cpu-m) on Brown (bytes),
 * 512 steps of 16 × 64 tokens at Kaplan's peak LR, each trained twice — with a warmup of 4 steps and
 * without one — so that the report's warmup control can say whether each break follows the warmup. The
 * breaks of these models come at 14–40 steps (the end of the unigram stage), inside the first ten steps'
 * cut of the default fit, so the fits start at step 3 (`analyses.decelerationMinStep`).
 */
export function defaultSweep(): SweepDefinition {
  return {
    name: "default",
    models: ["cpu-xs", "cpu-s", "cpu-m"],
    archs: ["olmo"],
    optimizers: ["adamw"],
    seeds: [0],
    schedules: ["trapezoidal"],
    batches: [16],
    seqs: [],
    warmups: [4, 0],
    lrScales: [],
    common: { steps: 512, data: "brown", tokenizer: "bytes", evalSequences: 32 },
    analyses: {
      deceleration: true,
      decelerationMinStep: 3,
      interferenceCheckpoints: true,
      interferenceOneStep: true,
      oneStepBatches: 3,
      gradientInterference: "sequence",
    },
  };
}

/**
 * The default sweep in about half the time: the same three models and warmup control for 256 steps (the
 * first 256 steps of the default's runs: the schedule is constant after the warmup), with only the
 * deceleration fit and the loss interference between checkpoints. Its breaks (14–28 steps) are the
 * default's within 24% (the seed moves them more) and its L_d within 0.035 nats; its r_d is about 0.01
 * higher (docs/warmup-study.md).
 */
export function quickSweep(): SweepDefinition {
  const sweep = defaultSweep();
  return {
    ...sweep,
    name: "quick",
    common: { ...sweep.common, steps: 256 },
    analyses: {
      ...sweep.analyses,
      interferenceOneStep: false,
      gradientInterference: "none",
    },
  };
}

/** The paper's six sizes and settings (docs/method.md#presets, #training), for GPUs. */
export function paperSweep(): SweepDefinition {
  return {
    name: "paper",
    models: ["14M", "37M", "78M", "144M", "285M", "472M"],
    archs: ["olmo"],
    optimizers: ["adamw"],
    seeds: [0],
    schedules: ["trapezoidal"],
    batches: [512],
    seqs: [1024],
    common: { steps: 262144, warmup: 2000, tokenizer: "gpt2", evalSequences: 1024 },
    perModel: {
      "14M": { microbatch: 64 },
      "37M": { microbatch: 64 },
      "78M": { microbatch: 32 },
      "144M": { microbatch: 32 },
      "285M": { microbatch: 32 },
      "472M": { microbatch: 32 },
    },
    analyses: {
      deceleration: true,
      interferenceCheckpoints: true,
      interferenceOneStep: true,
      oneStepBatches: 5,
      gradientInterference: "sequence",
    },
  };
}

/**
 * The warmup control at the paper's scale (docs/method.md#warmup-control), for GPUs: 14M with the paper's
 * settings, trained with warmups of 0, 500, 1,000, 2,000 (the paper's) and 4,000 steps.
 */
export function paperWarmupSweep(): SweepDefinition {
  const paper = paperSweep();
  const { warmup: _, ...common } = paper.common;
  return {
    ...paper,
    name: "paper-warmup",
    models: ["14M"],
    warmups: [0, 500, 1000, 2000, 4000],
    common,
    perModel: { "14M": paper.perModel!["14M"] },
  };
}

/**
 * The authors' optimizer ablation (docs/method.md#optimizers): the nanoGPT 144M with
 * AdamW, Cautious AdamW, AdEMAMix and Muon, each with the paper's 144M settings (batch 512 × 1024 tokens,
 * 262,144 steps, warmup 2000, trapezoidal, the optimizers' defaults: AdEMAMix's warmup 50,000 steps, Muon
 * at 0.1·lr(t)), for GPUs. Every analysis, the loss along the update included.
 */
export function ablationOptimizersSweep(): SweepDefinition {
  return {
    ...paperSweep(),
    name: "ablation-optimizers",
    models: ["144M"],
    archs: ["nanogpt"],
    optimizers: ["adamw", "cautious", "ademamix", "muon"],
    perModel: { "144M": { microbatch: 32 } },
    analyses: { ...paperSweep().analyses, landscape: true },
  };
}

/**
 * The optimizer ablation on a CPU: the small `cpu-xs` as OLMo and as nanoGPT, each with the four
 * optimizers (8 runs of 512 steps, batch 8, warmup 8, on Brown bytes), with every analysis; the landscape
 * at 8 α values per side. A laptop runs it in minutes on lavapipe (README: its measured time).
 */
export function ablationCpuSweep(): SweepDefinition {
  return {
    name: "ablation-cpu",
    models: ["cpu-xs"],
    archs: ["olmo", "nanogpt"],
    optimizers: ["adamw", "cautious", "ademamix", "muon"],
    seeds: [0],
    schedules: ["trapezoidal"],
    batches: [8],
    seqs: [],
    common: { steps: 512, warmup: 8, data: "brown", tokenizer: "bytes", evalSequences: 16 },
    analyses: {
      deceleration: true,
      interferenceCheckpoints: true,
      interferenceOneStep: true,
      oneStepBatches: 2,
      gradientInterference: "sequence",
      landscape: true,
      landscapePoints: 8,
    },
  };
}

/** The sweeps `deno task sweep --preset NAME` runs, by name, with a line each for `--help`. */
export const SWEEP_PRESETS: Readonly<Record<string, { make: () => SweepDefinition; description: string }>> = {
  default: {
    make: defaultSweep,
    description: "three small models (cpu-xs, cpu-s, cpu-m), each with warmup 4 and none, for a CPU",
  },
  quick: {
    make: quickSweep,
    description: "the default's models and warmup control for 256 steps, with fewer analyses, for a CPU",
  },
  paper: { make: paperSweep, description: "the paper's six sizes and settings, for GPUs" },
  "paper-warmup": {
    make: paperWarmupSweep,
    description: "14M with the paper's settings and warmups 0, 500, 1000, 2000 and 4000, for GPUs",
  },
  "ablation-optimizers": {
    make: ablationOptimizersSweep,
    description: "the authors' nanoGPT 144M with each of the four optimizers, for GPUs",
  },
  "ablation-cpu": {
    make: ablationCpuSweep,
    description: "cpu-xs as OLMo and nanoGPT × the four optimizers, for a CPU",
  },
};

/** The sweep preset `name`, with an error listing the presets when there is none. */
export function sweepPreset(name: string): SweepDefinition {
  const preset = SWEEP_PRESETS[name];
  if (!preset) {
    throw new Error(
      `zsl: unknown sweep preset "${name}": use ${
        Object.keys(SWEEP_PRESETS).join(", ")
      }, or --sweep FILE.json`,
    );
  }
  return preset.make();
}

/** Checks a sweep definition (e.g. read from JSON), naming the bad field. */
export function validateSweep(raw: unknown, source = "sweep definition"): SweepDefinition {
  // A field the definition leaves out takes the default sweep's value, except its warmup control and
  // fit start, which suit only its own runs: a definition without "warmups" keeps its runs' warmup.
  const { decelerationMinStep: _, ...analyses } = defaultSweep().analyses;
  const base: SweepDefinition = { ...defaultSweep(), warmups: [], lrScales: [], analyses };
  checkSweepDefinition(raw, source, { fields: { ...base }, analyses: { ...base.analyses } });
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`zsl: ${source} must be a JSON object with fields ${Object.keys(base).join(", ")}`);
  }
  const object = raw as Record<string, unknown>;
  const unknown = Object.keys(object).filter((key) => !(key in base) && key !== "perModel");
  if (unknown.length > 0) {
    throw new Error(
      `zsl: ${source} has unknown field(s) ${unknown.join(", ")}; fields: ${
        Object.keys(base).join(", ")
      }, perModel`,
    );
  }
  const merged = {
    ...base,
    ...object,
    analyses: { ...base.analyses, ...(object.analyses as object ?? {}) },
  } as SweepDefinition;
  for (
    const field of [
      "models",
      "archs",
      "optimizers",
      "seeds",
      "schedules",
      "batches",
      "seqs",
      "warmups",
      "lrScales",
    ] as const
  ) {
    if (!Array.isArray(merged[field])) throw new Error(`zsl: ${source}: "${field}" must be an array`);
  }
  const gradients = merged.analyses.gradientInterference ?? "none";
  if (!["none", "sequence", "token"].includes(gradients)) {
    throw new Error(
      `zsl: ${source}: analyses.gradientInterference is "${gradients}": use "none", "sequence" or "token"`,
    );
  }
  if (merged.models.length === 0) {
    throw new Error(`zsl: ${source}: "models" is empty: name at least one preset`);
  }
  return merged;
}

/** A grid axis that may be empty: its values, or one `undefined` (the run's own setting). */
function axis<T>(values: readonly T[] | undefined): (T | undefined)[] {
  return values && values.length > 0 ? [...values] : [undefined];
}

/** A directory-safe id from its parts. */
function runId(parts: string[]): string {
  return parts.join("_").replace(/[^A-Za-z0-9._-]/g, "-");
}

/** The runs of a sweep, one per grid point, with directory-safe ids. */
export function expandSweep(definition: SweepDefinition): SweepRun[] {
  const seqs = definition.seqs.length > 0 ? definition.seqs : [undefined];
  // Sweeps written before the arch and optimizer axes have neither.
  const archs = definition.archs ?? ["olmo"];
  const optimizers = definition.optimizers ?? ["adamw"];
  const warmups = axis(definition.warmups);
  const lrScales = axis(definition.lrScales);
  const gridSets = (field: "warmup" | "lrScale", list: string) => {
    const where = [
      ...(definition.common[field] !== undefined ? ["common"] : []),
      ...Object.entries(definition.perModel ?? {}).filter(([, spec]) => spec[field] !== undefined)
        .map(([model]) => `perModel.${model}`),
    ];
    if (where.length > 0) {
      throw new Error(
        `zsl: the sweep lists ${list} and also sets ${where.map((at) => `${at}.${field}`).join(", ")}: ` +
          `give each value in ${list} only (or an empty ${list} to keep the setting)`,
      );
    }
  };
  if (warmups[0] !== undefined) gridSets("warmup", "warmups");
  if (lrScales[0] !== undefined) gridSets("lrScale", "lrScales");
  // Warmup innermost: the runs of one warmup control are neighbours.
  const points = cartesian({
    model: definition.models,
    arch: archs,
    optimizer: optimizers,
    seed: definition.seeds,
    schedule: definition.schedules,
    batch: definition.batches,
    seq: seqs,
    lrScale: lrScales,
    warmup: warmups,
  });
  // The id names each axis the sweep varies, in this order; the warmup last, so that the id without it
  // names the run's warmup control (its `group`).
  const idPart: Record<string, (value: unknown) => string> = {
    arch: String,
    optimizer: String,
    seed: (seed) => `s${seed}`,
    schedule: String,
    batch: (batch) => `b${batch}`,
    seq: (seq) => `t${seq}`,
    lrScale: (scale) => `lrx${scale}`,
  };
  const varies = (axis: string) => new Set(points.map((point) => point[axis as keyof typeof point])).size > 1;
  const varying = Object.keys(idPart).filter(varies);
  const warmupVaries = varies("warmup");
  const runs = points.map((point) => {
    const { model, arch, optimizer, seed, schedule, batch, seq, lrScale, warmup } = point;
    const isFile = model.endsWith(".json");
    const base = isFile ? model.replace(/^.*\//, "").replace(/\.json$/, "") : model;
    const parts = [base, ...varying.map((axis) => idPart[axis](point[axis as keyof typeof point]))];
    const group = runId(parts);
    const id = warmupVaries ? runId([...parts, `w${warmup}`]) : group;
    const spec: RunSpec = {
      ...definition.common,
      ...definition.perModel?.[model],
      out: "",
      name: id,
      ...(isFile ? { config: model } : { preset: model }),
      // The defaults stay out of the spec: runs of sweeps without these axes keep their specs, and a
      // config file its own "arch".
      ...(arch !== "olmo" ? { arch } : {}),
      ...(optimizer !== "adamw" ? { optimizer } : {}),
      seed,
      schedule,
      batch,
      ...(seq !== undefined ? { seq } : {}),
      ...(warmup !== undefined ? { warmup } : {}),
      ...(lrScale !== undefined ? { lrScale } : {}),
    };
    return { id, group, spec };
  });
  const ids = new Set<string>();
  for (const run of runs) {
    if (ids.has(run.id)) throw new Error(`zsl: two runs of the sweep are both called ${run.id}`);
    ids.add(run.id);
  }
  return runs;
}

/**
 * The warmup controls of a sweep's runs: the runs grouped by everything but the warmup (their `group`),
 * in sweep order. Throws when two runs of a group differ in anything else (a definition that names two
 * models alike).
 */
export function warmupControls(runs: readonly SweepRun[]): Map<string, SweepRun[]> {
  const groups = new Map<string, SweepRun[]>();
  const settings = (run: SweepRun) => JSON.stringify({ ...run.spec, name: undefined, warmup: undefined });
  for (const run of runs) {
    const group = groups.get(run.group);
    if (!group) groups.set(run.group, [run]);
    else if (settings(group[0]) !== settings(run)) {
      throw new Error(
        `zsl: runs ${group[0].id} and ${run.id} share the warmup control ${run.group} but differ in more ` +
          `than the warmup: give their models distinct names`,
      );
    } else group.push(run);
  }
  return groups;
}

/** Every combination of the axes' values, the first axis outermost. */
function cartesian<T extends Record<string, readonly unknown[]>>(
  axes: T,
): { [K in keyof T]: T[K][number] }[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [axis, values] of Object.entries(axes)) {
    points = points.flatMap((point) => values.map((value) => ({ ...point, [axis]: value })));
  }
  return points as { [K in keyof T]: T[K][number] }[];
}
