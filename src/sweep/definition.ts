/**
 * A sweep: a grid of training runs (model presets × seeds × schedules × batch/sequence lengths) on one
 * corpus, with the analyses to run on them. Defined in JSON (`--sweep FILE.json`) or by CLI flags.
 *
 * @module
 */
import type { RunSpec } from "../train/run.ts";
import type { ScheduleKind } from "../train/schedule.ts";
import { checkSweepDefinition } from "./validate.ts";

/** The grid and the settings shared by every run of a sweep. */
export interface SweepDefinition {
  /** Sweep name (directory name by default). */
  name: string;
  /** Model presets (or config file paths), one run per entry and grid point. */
  models: string[];
  /** Initialisation seeds. */
  seeds: number[];
  /** Learning-rate schedules. */
  schedules: ScheduleKind[];
  /** Global batch sizes in sequences. */
  batches: number[];
  /** Sequence lengths (empty: each preset's own). */
  seqs: number[];
  /** Settings every run shares (steps, data, warmup, …); `out`, `preset`, `seed`, `schedule`, `batch`, `seq` come from the grid. */
  common: Omit<RunSpec, "out" | "preset" | "config" | "seed" | "schedule" | "batch" | "seq">;
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
  };
}

/** Where a run stands: finished, with checkpoints to resume from, or not started. */
export type RunStatus = "done" | "partial" | "new";

/** One run of a sweep: its directory name and its spec. */
export interface SweepRun {
  /** Unique, directory-safe: the model, plus seed, schedule, batch and seq where the sweep varies them. */
  id: string;
  /** The run's spec (`name` = `id`); `out` is empty until the sweep sets it to `<sweep>/runs/<id>`. */
  spec: RunSpec;
}

/** The default sweep: three small models on Brown (bytes) that decelerate within the run. */
export function defaultSweep(): SweepDefinition {
  return {
    name: "default",
    models: ["cpu-xs", "cpu-s", "cpu-m"],
    seeds: [0],
    schedules: ["trapezoidal"],
    batches: [16],
    seqs: [],
    common: { steps: 600, warmup: 30, data: "brown", tokenizer: "bytes", evalSequences: 32 },
    analyses: {
      deceleration: true,
      interferenceCheckpoints: true,
      interferenceOneStep: true,
      oneStepBatches: 3,
      gradientInterference: "sequence",
    },
  };
}

/** The paper's six sizes and settings (docs/method.md#presets, #training), for GPUs. */
export function paperSweep(): SweepDefinition {
  return {
    name: "paper",
    models: ["14M", "37M", "78M", "144M", "285M", "472M"],
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

/** Checks a sweep definition (e.g. read from JSON), naming the bad field. */
export function validateSweep(raw: unknown, source = "sweep definition"): SweepDefinition {
  const base = defaultSweep();
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
  for (const field of ["models", "seeds", "schedules", "batches", "seqs"] as const) {
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

/** The runs of a sweep, one per grid point, with directory-safe ids. */
export function expandSweep(definition: SweepDefinition): SweepRun[] {
  const runs: SweepRun[] = [];
  const seqs = definition.seqs.length > 0 ? definition.seqs : [undefined];
  const varying = {
    seed: definition.seeds.length > 1,
    schedule: definition.schedules.length > 1,
    batch: definition.batches.length > 1,
    seq: seqs.length > 1,
  };
  for (const model of definition.models) {
    for (const seed of definition.seeds) {
      for (const schedule of definition.schedules) {
        for (const batch of definition.batches) {
          for (const seq of seqs) {
            const isFile = model.endsWith(".json");
            const base = isFile ? model.replace(/^.*\//, "").replace(/\.json$/, "") : model;
            const parts = [base];
            if (varying.seed) parts.push(`s${seed}`);
            if (varying.schedule) parts.push(schedule);
            if (varying.batch) parts.push(`b${batch}`);
            if (varying.seq) parts.push(`t${seq}`);
            const id = parts.join("_").replace(/[^A-Za-z0-9._-]/g, "-");
            runs.push({
              id,
              spec: {
                ...definition.common,
                ...definition.perModel?.[model],
                out: "",
                name: id,
                ...(isFile ? { config: model } : { preset: model }),
                seed,
                schedule,
                batch,
                ...(seq !== undefined ? { seq } : {}),
              },
            });
          }
        }
      }
    }
  }
  const ids = new Set<string>();
  for (const run of runs) {
    if (ids.has(run.id)) throw new Error(`zsl: two runs of the sweep are both called ${run.id}`);
    ids.add(run.id);
  }
  return runs;
}
