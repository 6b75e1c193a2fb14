/**
 * Field-by-field validation of a sweep definition (what `--sweep FILE.json` holds), recursively: every
 * field of `common`, `perModel.<model>` and `analyses` is checked against its kind and range, unknown
 * and misspelled fields are refused (with the nearest known name), and every message names the path of
 * the bad field (`common.stpes`, `seeds[0]`, `perModel.14M.microbtch`).
 *
 * The run settings share their rules with `deno task train`'s flags (src/train/spec_rules.ts).
 *
 * @example
 * ```ts
 * import { checkSweepDefinition } from "./validate.ts";
 * import { defaultSweep } from "./definition.ts";
 * const { analyses, ...fields } = defaultSweep();
 * checkSweepDefinition({ models: ["tiny"], common: { stpes: 100 } }, "sweep.json", { fields, analyses });
 * // throws: zsl: sweep.json: common.stpes is not a run setting (did you mean "steps"?); …
 * ```
 *
 * @module
 */
import { checkField, RUN_SPEC_RULES } from "../train/spec_rules.ts";
import type { FieldRule } from "../train/spec_rules.ts";
import { PRESETS } from "../model/config.ts";

/** Run settings the grid sets for every run (and the sweep itself: `out`, `name`, `resume`). */
const GRID_FIELDS: Readonly<Record<string, string>> = {
  out: "the sweep sets it (SWEEP/runs/<id>)",
  name: "the sweep names each run by its id",
  resume: "the sweep resumes unfinished runs by itself",
  preset: "the grid sets it: list presets in models",
  config: "the grid sets it: list config files in models",
  arch: "the grid sets it: use archs",
  optimizer: "the grid sets it: use optimizers",
  seed: "the grid sets it: use seeds",
  schedule: "the grid sets it: use schedules",
  batch: "the grid sets it: use batches",
  seq: "the grid sets it: use seqs",
};

/** Rules of the analyses' fields. */
const ANALYSES_RULES: Readonly<Record<string, FieldRule>> = {
  deceleration: { kind: "boolean" },
  interferenceCheckpoints: { kind: "boolean" },
  interferenceOneStep: { kind: "boolean" },
  oneStepBatches: { kind: "integer", min: 1 },
  gradientInterference: { kind: "enum", values: ["none", "sequence", "token"] },
  gradientSequences: { kind: "integer", min: 1 },
  landscape: { kind: "boolean" },
  landscapePoints: { kind: "integer", min: 1, max: 49 },
  landscapeScale: { kind: "number", min: 0, exclusiveMin: true },
  decelerationMinStep: { kind: "integer", min: 0 },
};

/** Rules of the grid's list fields: each element's rule. */
const LIST_RULES: Readonly<Record<string, FieldRule>> = {
  archs: RUN_SPEC_RULES.arch,
  optimizers: RUN_SPEC_RULES.optimizer,
  seeds: RUN_SPEC_RULES.seed,
  schedules: RUN_SPEC_RULES.schedule,
  batches: RUN_SPEC_RULES.batch,
  seqs: RUN_SPEC_RULES.seq,
  warmups: RUN_SPEC_RULES.warmup,
  lrScales: RUN_SPEC_RULES.lrScale,
};

/** Grid lists that may be empty (the runs' own setting), with the run setting each one sets. */
const OPTIONAL_LISTS: Readonly<Record<string, string | null>> = {
  seqs: null,
  warmups: "warmup",
  lrScales: "lrScale",
};

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** ` (did you mean "steps"?)` when a known name is close to `name`, else "". */
export function suggestion(name: string, known: Iterable<string>): string {
  let best = "";
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${best}"?)` : "";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The JSON path of `key` below `path`: `common.steps`, `perModel["cpu s"]`. */
function child(path: string, key: string): string {
  const name = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return path ? (name.startsWith('"') ? `${path}[${name}]` : `${path}.${name}`) : name;
}

/**
 * Checks a sweep definition as read from JSON, before defaults are merged in. Throws on the first
 * problem: `zsl: <source>: <path> <what is wrong>`. `defaults` are the top-level fields and the
 * analyses a definition may have (those of `defaultSweep()`): a field added there is accepted, checked
 * against its default's type.
 */
export function checkSweepDefinition(
  raw: unknown,
  source: string,
  defaults: { fields: Record<string, unknown>; analyses: Record<string, unknown> },
): void {
  const fail = (path: string, problem: string): never => {
    throw new Error(`zsl: ${source}: ${path} ${problem}`);
  };
  const typeOf = (value: unknown) => Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  const got = (value: unknown) => `got ${JSON.stringify(value) ?? String(value)}`;
  if (!isObject(raw)) {
    throw new Error(
      `zsl: ${source} must be a JSON object with fields ${
        Object.keys(defaults.fields).join(", ")
      }, perModel; ` +
        got(raw),
    );
  }
  const topFields = new Set([...Object.keys(defaults.fields), "perModel"]);
  for (const key of Object.keys(raw)) {
    if (!topFields.has(key)) {
      fail(
        child("", key),
        `is not a sweep field${suggestion(key, topFields)}; fields: ${[...topFields].join(", ")}`,
      );
    }
  }
  const runSettings = (value: unknown, path: string) => {
    if (!isObject(value)) fail(path, `must be an object of run settings, ${got(value)}`);
    const allowed = Object.keys(RUN_SPEC_RULES).filter((field) => !(field in GRID_FIELDS));
    for (const [field, setting] of Object.entries(value as Record<string, unknown>)) {
      const at = child(path, field);
      if (field in GRID_FIELDS) fail(at, `cannot be set here: ${GRID_FIELDS[field]}`);
      const rule = RUN_SPEC_RULES[field];
      if (!rule) {
        fail(at, `is not a run setting${suggestion(field, allowed)}; settings: ${allowed.join(", ")}`);
      }
      const problem = checkField(rule, setting);
      if (problem) fail(at, problem);
    }
  };

  if ("name" in raw) {
    const name = raw.name;
    if (typeof name !== "string" || name.trim() === "" || /[\n\r\0]/.test(name)) {
      fail("name", `must be a non-empty single-line string (it names the sweep), ${got(name)}`);
    }
  }
  if ("models" in raw) {
    const models = raw.models;
    if (!Array.isArray(models)) {
      fail("models", `must be an array of presets or config .json files, ${got(models)}`);
    }
    if ((models as unknown[]).length === 0) fail("models", "is empty: name at least one preset");
    (models as unknown[]).forEach((model, index) => {
      const at = `models[${index}]`;
      if (typeof model !== "string" || model === "") {
        fail(at, `must be a preset name or a config .json path, ${got(model)}`);
      }
      if (!(model as string).endsWith(".json") && !((model as string) in PRESETS)) {
        fail(
          at,
          `is "${model}", neither a preset${
            suggestion(model as string, Object.keys(PRESETS))
          } nor a config ` +
            `.json file; presets: ${Object.keys(PRESETS).join(", ")}`,
        );
      }
    });
  }
  for (const [field, rule] of Object.entries(LIST_RULES)) {
    if (!(field in raw)) continue;
    const list = raw[field];
    if (!Array.isArray(list)) fail(field, `must be an array, ${got(list)}`);
    (list as unknown[]).forEach((value, index) => {
      const problem = checkField(rule, value);
      if (problem) fail(`${field}[${index}]`, problem);
    });
    if (!(field in OPTIONAL_LISTS) && (list as unknown[]).length === 0) {
      fail(field, "is empty: give at least one value");
    }
    // A setting the grid lists cannot also be set per run: say where.
    const setting = OPTIONAL_LISTS[field];
    if (setting && (list as unknown[]).length > 0) {
      const places: [string, unknown][] = [
        ["common", raw.common],
        ...Object.entries(
          isObject(raw.perModel) ? raw.perModel : {},
        ).map(([model, settings]) => [child("perModel", model), settings] as [string, unknown]),
      ];
      for (const [at, settings] of places) {
        if (isObject(settings) && setting in settings) {
          fail(child(at, setting), `cannot be set when "${field}" lists values: give them in ${field} only`);
        }
      }
    }
  }
  if ("common" in raw) runSettings(raw.common, "common");
  if ("perModel" in raw) {
    const perModel = raw.perModel;
    if (!isObject(perModel)) fail("perModel", `must be an object of run settings by model, ${got(perModel)}`);
    const models = Array.isArray(raw.models) ? raw.models as string[] : defaults.fields.models as string[];
    for (const [model, settings] of Object.entries(perModel as Record<string, unknown>)) {
      const at = child("perModel", model);
      if (!models.includes(model)) {
        fail(at, `names no model of the sweep${suggestion(model, models)}; models: ${models.join(", ")}`);
      }
      runSettings(settings, at);
    }
  }
  if ("analyses" in raw) {
    const analyses = raw.analyses;
    if (!isObject(analyses)) fail("analyses", `must be an object (which analyses to run), ${got(analyses)}`);
    const known = new Set([...Object.keys(ANALYSES_RULES), ...Object.keys(defaults.analyses)]);
    for (const [field, value] of Object.entries(analyses as Record<string, unknown>)) {
      const at = child("analyses", field);
      const rule = ANALYSES_RULES[field];
      if (rule) {
        const problem = checkField(rule, value);
        if (problem) fail(at, problem);
      } else if (field in defaults.analyses) {
        const expected = typeOf(defaults.analyses[field]);
        if (typeOf(value) !== expected) fail(at, `must be a ${expected}, ${got(value)}`);
      } else {
        fail(at, `is not an analysis setting${suggestion(field, known)}; settings: ${[...known].join(", ")}`);
      }
    }
  }
  for (const [field, value] of Object.entries(raw)) {
    const handled = ["name", "models", "common", "perModel", "analyses", ...Object.keys(LIST_RULES)];
    if (handled.includes(field) || !(field in defaults.fields)) continue;
    const expected = typeOf(defaults.fields[field]);
    if (typeOf(value) !== expected) fail(field, `must be a ${expected}, ${got(value)}`);
  }
}
