/**
 * The sweep a notebook reads: the directory named by `ZSL_SWEEP`, or else a tiny sweep (two small
 * models, a few hundred steps on the embedded Brown Corpus) that the notebook trains itself in a minute
 * or two on a CPU, so that every notebook runs headless on a fresh machine. A finished tiny sweep is
 * reused; an interrupted one resumes. The ablations' notebook reads `ZSL_ABLATION_SWEEP`, or else its own
 * tiny sweep over optimizers and architectures ({@linkcode tinyAblationSweep}).
 *
 * @module
 */
import { openGpu } from "../gpu/device.ts";
import type { GpuDevice } from "../gpu/device.ts";
import type { SweepDefinition } from "../sweep/definition.ts";
import { expandSweep, validateSweep } from "../sweep/definition.ts";
import { runSweepLocally } from "../sweep/local.ts";
import {
  readSweepDefinitionJson,
  SWEEP_DEFINITION_FILE,
  sweepResultsDir,
  sweepRunDir,
} from "../results/sweep.ts";
import { DECELERATION_TABLE } from "../results/deceleration.ts";
import { exists } from "../util/files.ts";
import { join, resolve } from "../util/path.ts";

/** The environment variable naming the sweep directory a notebook reads. */
export const SWEEP_ENV = "ZSL_SWEEP";

/** The name of {@linkcode tinySweep}; a directory holding a sweep of this name may be (re)trained. */
export const TINY_SWEEP_NAME = "notebook-tiny";

/** The environment variable naming the sweep the ablations' notebook reads. */
export const ABLATION_SWEEP_ENV = "ZSL_ABLATION_SWEEP";

/** The name of {@linkcode tinyAblationSweep}. */
export const TINY_ABLATION_SWEEP_NAME = "notebook-ablation";

/**
 * Two small models (`tiny`, `cpu-xs`) for 256 steps on Brown (bytes), batch 8, with every analysis
 * (gradient interference per sequence): both decelerate within the run (t_d of a few dozen steps).
 */
export function tinySweep(): SweepDefinition {
  return validateSweep({
    name: TINY_SWEEP_NAME,
    models: ["tiny", "cpu-xs"],
    seeds: [0],
    schedules: ["trapezoidal"],
    batches: [8],
    seqs: [],
    common: { steps: 256, warmup: 10, data: "brown", tokenizer: "bytes", evalSequences: 8 },
    analyses: {
      deceleration: true,
      interferenceCheckpoints: true,
      interferenceOneStep: true,
      oneStepBatches: 2,
      gradientInterference: "token",
    },
  }, "the notebooks' tiny sweep");
}

/**
 * `tiny` as OLMo and as nanoGPT, each with AdamW and with Muon, for 128 steps on Brown (bytes), batch 8:
 * the deceleration fit, Δ_t^{2t}, the loss along the update (4 α a side) and the ablations' comparison.
 */
export function tinyAblationSweep(): SweepDefinition {
  return validateSweep({
    name: TINY_ABLATION_SWEEP_NAME,
    models: ["tiny"],
    archs: ["olmo", "nanogpt"],
    optimizers: ["adamw", "muon"],
    batches: [8],
    common: { steps: 128, warmup: 4, data: "brown", tokenizer: "bytes", evalSequences: 8 },
    analyses: {
      deceleration: true,
      interferenceCheckpoints: true,
      interferenceOneStep: false,
      gradientInterference: "none",
      landscape: true,
      landscapePoints: 4,
    },
  }, "the ablations notebook's tiny sweep");
}

/** Which sweep a notebook reads: its environment variable and the tiny sweep it trains without one. */
const NOTEBOOK_SWEEPS: Record<"main" | "ablation", { env: string; tiny: () => SweepDefinition }> = {
  main: { env: SWEEP_ENV, tiny: tinySweep },
  ablation: { env: ABLATION_SWEEP_ENV, tiny: tinyAblationSweep },
};

/** Options of {@linkcode openNotebookSweep}. */
export interface NotebookSweepOptions {
  /**
   * Which sweep: `main` (`ZSL_SWEEP`, else {@linkcode tinySweep}; the default) or `ablation`
   * (`ZSL_ABLATION_SWEEP`, else {@linkcode tinyAblationSweep}).
   */
  sweep?: "main" | "ablation";
  /**
   * Where the tiny sweep goes when `ZSL_SWEEP` is unset (relative to the working directory, which is
   * the notebook's directory in Jupyter).
   */
  defaultDir: string;
  /** Files under `results/` the notebook reads (default `deceleration.arrow`). */
  needs?: string[];
  /** The device to train on, when the tiny sweep must be trained (default: opened and destroyed here). */
  gpu?: GpuDevice;
  /** Progress lines (default `console.log`, which a notebook shows under the cell). */
  log?: (line: string) => void;
}

/** One run of a notebook's sweep. */
export interface NotebookRun {
  /** The run id: its directory name and the model name in the result tables. */
  id: string;
  /** The run directory (`metrics.arrow`, checkpoints). */
  dir: string;
}

/** The sweep a notebook reads. */
export interface NotebookSweep {
  /** The sweep directory, absolute. */
  dir: string;
  /** `dir/results`: the Arrow tables and figures of the analyses. */
  resultsDir: string;
  /** The sweep's definition (`sweep.json`). */
  definition: SweepDefinition;
  /** Its runs, in the definition's order. */
  runs: NotebookRun[];
  /** Whether the directory came from the environment variable or is the default tiny sweep. */
  source: "env" | "default";
  /** Whether this call trained or analysed anything (false: every result was there). */
  computed: boolean;
}

async function readDefinition(dir: string): Promise<SweepDefinition | null> {
  const raw = await readSweepDefinitionJson(dir, "fix or remove it");
  return raw === null ? null : validateSweep(raw, join(dir, SWEEP_DEFINITION_FILE));
}

async function isEmptyDirectory(dir: string): Promise<boolean> {
  for await (const _ of Deno.readDir(dir)) return false;
  return true;
}

/**
 * Opens the sweep a notebook reads. `ZSL_SWEEP` (`ZSL_ABLATION_SWEEP` for `sweep: "ablation"`) names a
 * sweep directory (from `deno task sweep`, with its `results/`) by an absolute path; when it is unset,
 * `options.defaultDir` is used. A directory that does not exist yet, is empty, or holds an unfinished
 * {@linkcode tinySweep} (or {@linkcode tinyAblationSweep}) gets that tiny sweep trained
 * and analysed in it (finished runs are skipped). Throws, naming the fix, when another sweep lacks a
 * result the notebook needs, or when the directory holds something that is not a sweep.
 */
export async function openNotebookSweep(options: NotebookSweepOptions): Promise<NotebookSweep> {
  const { env: envName, tiny } = NOTEBOOK_SWEEPS[options.sweep ?? "main"];
  const fromEnv = Deno.env.get(envName);
  // Absolute: "/…" (POSIX) or "C:\…", "\\server\…" (Windows).
  if (fromEnv && !/^([A-Za-z]:)?[\\/]/.test(fromEnv)) {
    // The kernel runs in the notebook's folder, not where Jupyter was started: a relative path would
    // silently name another directory.
    throw new Error(
      `zsl: ${envName}=${fromEnv} is a relative path: give an absolute one ` +
        `(e.g. ${envName}=$PWD/${fromEnv})`,
    );
  }
  const source = fromEnv ? "env" : "default";
  const dir = resolve(fromEnv || options.defaultDir);
  const resultsDir = sweepResultsDir(dir);
  const needs = options.needs ?? [DECELERATION_TABLE.file];
  const log = options.log ?? ((line: string) => console.log(line));
  const missing = async () => {
    const out: string[] = [];
    for (const name of needs) if (!(await exists(join(resultsDir, name)))) out.push(name);
    return out;
  };

  let definition = await readDefinition(dir);
  let computed = false;
  const absent = definition ? await missing() : needs;
  if (absent.length > 0) {
    if (definition && definition.name !== tiny().name) {
      throw new Error(
        `zsl: the sweep in ${dir} has no results/${absent.join(", results/")}: finish it with ` +
          `\`deno task sweep --sweep ${
            join(dir, SWEEP_DEFINITION_FILE)
          } --out ${dir}\`, or point ${envName} ` +
          `at a finished sweep (unset it to train the notebooks' tiny sweep)`,
      );
    }
    if (!definition && (await exists(dir)) && !(await isEmptyDirectory(dir))) {
      throw new Error(
        `zsl: ${dir} is not a sweep directory (no sweep.json) and not empty: point ${envName} at a ` +
          `sweep directory (sweeps/<name> of \`deno task sweep\`), or at a new directory for the tiny sweep`,
      );
    }
    definition = tiny();
    log(
      `zsl: running the notebooks' tiny sweep (${definition.models.join(", ")}) in ${dir} ` +
        `(finished runs are skipped)`,
    );
    const gpu = options.gpu ?? (await openGpu());
    const started = performance.now();
    try {
      await runSweepLocally(gpu, definition, dir, {
        onEvent: (event) => {
          if (event.kind === "run-start" && event.status === "done") {
            log(`  ${event.run.id}: finished, skipped`);
          }
          if (event.kind === "run-done") log(`  ${event.run.id}: trained in ${event.seconds.toFixed(1)} s`);
          if (event.kind === "analysis") log(`  ${event.what}`);
        },
      });
    } finally {
      if (!options.gpu) gpu.destroy();
    }
    log(`zsl: tiny sweep done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    computed = true;
    const still = await missing();
    if (still.length > 0) {
      throw new Error(
        `zsl: the tiny sweep did not write results/${still.join(", results/")}: this version of the ` +
          `sweep does not produce them; point ${envName} at a sweep that has them`,
      );
    }
  }
  if (!definition) throw new Error(`zsl: ${join(dir, SWEEP_DEFINITION_FILE)} is missing after the sweep ran`);
  const runs = expandSweep(definition).map((run) => ({ id: run.id, dir: sweepRunDir(dir, run.id) }));
  return { dir, resultsDir, definition, runs, source, computed };
}
