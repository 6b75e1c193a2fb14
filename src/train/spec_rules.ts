/**
 * What each field of a run's plain-value description (`RunSpec`, src/train/run.ts) may hold: one
 * table, used by `resolveRun` (messages name the command-line flag) and by the sweep definition's
 * validation (messages name the JSON path), so that both refuse the same values with the same words.
 *
 * @module
 */
import { ARCHITECTURES } from "../model/config.ts";
import { OPTIMIZER_KINDS } from "./optimizer.ts";

/** The kind and range of one field. */
export type FieldRule =
  | { kind: "string" }
  | { kind: "boolean" }
  | { kind: "integer"; min: number; max?: number }
  | { kind: "number"; min: number; exclusiveMin?: boolean }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "config" };

/** The rules of every `RunSpec` field, by field name. */
export const RUN_SPEC_RULES: Readonly<Record<string, FieldRule>> = {
  out: { kind: "string" },
  name: { kind: "string" },
  preset: { kind: "string" },
  config: { kind: "config" },
  seq: { kind: "integer", min: 2 },
  data: { kind: "string" },
  tokenizer: { kind: "string" },
  eosId: { kind: "integer", min: 0 },
  vocabSize: { kind: "integer", min: 1 },
  steps: { kind: "integer", min: 1 },
  batch: { kind: "integer", min: 1 },
  microbatch: { kind: "integer", min: 1 },
  lr: { kind: "number", min: 0, exclusiveMin: true },
  lrScale: { kind: "number", min: 0, exclusiveMin: true },
  warmup: { kind: "integer", min: 0 },
  schedule: { kind: "enum", values: ["trapezoidal", "cosine"] },
  decay: { kind: "integer", min: 0 },
  shuffle: { kind: "boolean" },
  seed: { kind: "integer", min: 0, max: 2 ** 32 - 1 },
  dataSeed: { kind: "integer", min: 0, max: 2 ** 32 - 1 },
  evalSequences: { kind: "integer", min: 1 },
  evalEvery: { kind: "integer", min: 0 },
  init: { kind: "string" },
  weightDecay: { kind: "number", min: 0 },
  clip: { kind: "number", min: 0 },
  resume: { kind: "boolean" },
  checkpointEvery: { kind: "integer", min: 0 },
  checkpointMinutes: { kind: "number", min: 0 },
  arch: { kind: "enum", values: ARCHITECTURES },
  optimizer: { kind: "enum", values: OPTIMIZER_KINDS },
  ademamixAlpha: { kind: "number", min: 0 },
  ademamixBeta3: { kind: "number", min: 0 },
  ademamixWarmup: { kind: "integer", min: 0 },
  muonLrScale: { kind: "number", min: 0, exclusiveMin: true },
  muonMomentum: { kind: "number", min: 0 },
};

/** The command-line flag of a `RunSpec` field: `dataSeed` → `--data-seed`. */
export function flagOf(field: string): string {
  return `--${field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** What is wrong with `value` under `rule`, as the end of a sentence ("must be …, got …"), or null. */
export function checkField(rule: FieldRule, value: unknown): string | null {
  const got = `got ${JSON.stringify(value) ?? String(value)}`;
  switch (rule.kind) {
    case "string":
      return typeof value === "string" && value !== "" ? null : `must be a non-empty string, ${got}`;
    case "boolean":
      return typeof value === "boolean" ? null : `must be true or false, ${got}`;
    case "integer": {
      const range = rule.max !== undefined ? `in ${rule.min} … ${rule.max}` : `≥ ${rule.min}`;
      return typeof value === "number" && Number.isInteger(value) && value >= rule.min &&
          (rule.max === undefined || value <= rule.max)
        ? null
        : `must be an integer ${range}, ${got}`;
    }
    case "number": {
      const ok = typeof value === "number" && Number.isFinite(value) &&
        (rule.exclusiveMin ? value > rule.min : value >= rule.min);
      return ok ? null : `must be a number ${rule.exclusiveMin ? ">" : "≥"} ${rule.min}, ${got}`;
    }
    case "enum":
      return typeof value === "string" && rule.values.includes(value)
        ? null
        : `must be one of ${rule.values.join(", ")}, ${got}`;
    case "config":
      return typeof value === "string" ||
          (typeof value === "object" && value !== null && !Array.isArray(value))
        ? null
        : `must be a config file path or a config object, ${got}`;
  }
}

/**
 * Checks every field of a run spec that is set; throws `zsl: <name> <problem>` for the first bad
 * one, where `name(field)` names it (a flag, a JSON path). Unknown fields are errors too.
 */
export function checkRunSpec(spec: Record<string, unknown>, name: (field: string) => string = flagOf): void {
  for (const [field, value] of Object.entries(spec)) {
    if (value === undefined) continue;
    const rule = RUN_SPEC_RULES[field];
    if (!rule) {
      throw new Error(
        `zsl: unknown setting ${name(field)}; settings: ${Object.keys(RUN_SPEC_RULES).join(", ")}`,
      );
    }
    const problem = checkField(rule, value);
    if (problem) throw new Error(`zsl: ${name(field)} ${problem}`);
  }
}
