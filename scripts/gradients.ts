/**
 * `deno task gradients RUN_DIR… [--checkpoints 1,2,4] [--granularity token|sequence] [--sequences N]
 * [--out DIR]`: gradient interference (METHOD.md §6) of trained runs from exact per-example gradients.
 * Writes gradient_interference.arrow, gradient_coherence_histogram.arrow, gradients.md and figures
 * F5–F8 (zsl_f5 … zsl_f8) into --out; per-checkpoint work is cached in `RUN/gradients/`.
 *
 * @module
 */
import { numberOption, parseArgs, rangeOption, runMain, UsageError } from "../src/cli/args.ts";
import { analyseWithProgress, loadAnalysisRuns } from "../src/cli/analysis.ts";
import { join } from "../src/util/path.ts";
import { openGpu } from "../src/gpu/device.ts";
import type { GpuDevice } from "../src/gpu/device.ts";
import { analyseRunGradients, projectionFileName } from "../src/analysis/gradients/run.ts";
import {
  formatOpposedPairs,
  mostOpposedPairs,
  readProjections,
} from "../src/analysis/gradients/projection.ts";
import type { RunGradients } from "../src/analysis/gradients/run.ts";
import type { Granularity } from "../src/analysis/gradients/statistics.ts";
import { writeGradientReport } from "../src/analysis/gradients/table.ts";

const COMMAND = "deno task gradients RUN_DIR…";
const SUMMARY = "Gradient interference (Mircea et al. 2025, METHOD.md §6) of trained runs, from exact\n" +
  "per-example gradients: at each power-of-two checkpoint, one AdamW step δ (no clipping, lr(t)) on the\n" +
  "first batch training never saw, then every example's gradient g_i at θ_t on that batch, streamed into\n" +
  "D(∇ℓ) (per-coordinate interference), C_g, C_(u,G), C_(u,g), 1 − D(Δ̂ℓ) with the identity checked, and\n" +
  "the first-order predictions Δ̂ℓ_i = g_i·δ beside the true Δℓ_i. Examples are tokens (the paper's;\n" +
  "about (T−1)/2 backward passes per sequence) or whole sequences (one backward). Writes\n" +
  "gradient_interference.arrow, gradient_coherence_histogram.arrow, gradients.md and figures zsl_f5\n" +
  "(D(∇ℓ) vs t), zsl_f6 (C_j histograms), zsl_f7 (coherences vs t), zsl_f8 (Δℓ vs Δ̂ℓ) into --out.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    description: "output directory (default: RUN/gradients for one run, else <common parent>/gradients)",
  },
  granularity: {
    type: "string",
    short: "g",
    multiple: false,
    description: "what an example is: token (the paper's, exact) or sequence",
    default: "token",
  },
  checkpoints: {
    type: "string",
    short: "c",
    multiple: false,
    description: "comma-separated checkpoint steps (default: every power of two)",
  },
  sequences: {
    type: "string",
    short: "s",
    multiple: false,
    description: "sequences of the unseen batch whose examples are measured (default: 4 for tokens, the " +
      "whole batch for sequences)",
  },
  "targets-per-pass": {
    type: "string",
    short: "k",
    multiple: false,
    description: "token granularity: target positions back-propagated together (default ⌈(T−1)/4⌉)",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    description: "deceleration fit for the t_d band: fit only steps > this (default: as deno task decel)",
  },
  project: {
    type: "string",
    short: "p",
    multiple: false,
    description: "also project every example's gradient to K×K dimensions per parameter (seeded Kronecker " +
      "random projections) into RUN/gradients/projections_*.{npy,arrow,json}, and print the most opposed pairs",
  },
  seed: {
    type: "string",
    multiple: false,
    description: "seed of the projection matrices",
    default: "0",
  },
  force: {
    type: "boolean",
    short: "f",
    multiple: false,
    description: "recompute, ignoring the caches",
  },
} as const;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs(Deno.args, COMMAND, SUMMARY, OPTIONS, true);
  if (positionals.length === 0) {
    throw new UsageError("give at least one run directory\nRun with --help for the options.");
  }
  const granularity = values.granularity as Granularity;
  if (granularity !== "token" && granularity !== "sequence") {
    throw new UsageError(`--granularity must be token or sequence, got "${granularity}"`);
  }
  let checkpoints: number[] | undefined;
  if (typeof values.checkpoints === "string") {
    checkpoints = values.checkpoints.split(",").map((text) => {
      const step = Number(text.trim());
      if (!Number.isInteger(step) || step < 1) {
        throw new UsageError(`--checkpoints: "${text}" is not a positive integer step`);
      }
      return step;
    });
  }
  const sequences = rangeOption(values, "sequences", { min: 1, integer: true });
  const targetsPerPass = rangeOption(values, "targets-per-pass", { min: 1, integer: true });
  const minStep = rangeOption(values, "min-step", { min: 0 });
  const projectDims = numberOption(values, "project");
  if (projectDims !== undefined && (!Number.isInteger(projectDims) || projectDims < 1)) {
    throw new UsageError(`--project must be a positive integer (dimensions per side of each parameter)`);
  }
  const seed = rangeOption(values, "seed", { min: 0, integer: true }) ?? 0;
  const projection = projectDims ? { kOut: projectDims, kIn: projectDims, seed } : undefined;
  const { runs, out } = await loadAnalysisRuns(positionals, values.out as string | undefined, "gradients");
  let gpu: GpuDevice | null = null;
  const openDevice = async () => (gpu ??= await openGpu());
  let results: RunGradients[];
  try {
    results = await analyseWithProgress(runs, (run, onProgress) =>
      analyseRunGradients(openDevice, run, {
        granularity,
        checkpoints,
        sequences,
        targetsPerPass,
        projection,
        force: values.force === true,
        onProgress,
      }));
  } finally {
    (gpu as GpuDevice | null)?.destroy();
  }
  const { written } = await writeGradientReport(runs, results, out, { minStep });
  for (const result of results) {
    for (const c of result.checkpoints) {
      console.log(
        `${result.name} step ${c.step} (${c.examples} ${c.granularity} examples): D(∇ℓ) ${fmt(c.dGrad)}  ` +
          `C_g ${fmt(c.cG)}  C_(u,G)/C_(u,g) ${fmt(c.cUG / c.cUg)}  1−D(Δ̂ℓ) ${fmt(c.oneMinusDPredicted)}  ` +
          `identity error ${c.identityError.toExponential(1)}  Δ̂ℓ~Δℓ pearson ${fmt(c.agreement.pearson)}  ` +
          `${c.seconds.toFixed(2)} s`,
      );
    }
  }
  if (projection) {
    for (const result of results) {
      const last = result.checkpoints.at(-1)!;
      const dir = join(result.runDir, "gradients");
      const set = await readProjections(dir, projectionFileName(last.step, granularity));
      const run = runs.find((candidate) => candidate.runDir === result.runDir);
      const spec = run?.info.spec as { tokenizer?: string } | undefined;
      // Byte-level runs show their tokens as characters; others by id.
      const decode = spec?.tokenizer === "bytes" ? (token: number) => String.fromCharCode(token) : undefined;
      console.log(
        `${result.name} step ${last.step}: the most opposed example gradients (cosine of projections)`,
      );
      console.log(formatOpposedPairs(mostOpposedPairs(set, 5), decode));
    }
  }
  console.log(`wrote ${written.join(", ")}`);
}

function fmt(value: number): string {
  return Number.isFinite(value) ? value.toPrecision(4) : "NaN";
}

if (import.meta.main) await runMain(main);
