/**
 * `deno task gradients RUN_DIR… [--checkpoints 1,2,4] [--granularity token|sequence] [--sequences N]
 * [--out DIR]`: gradient interference (docs/method.md#gradient-interference) of trained runs from exact per-example gradients.
 * Writes gradient_interference.arrow, gradient_coherence_histogram.arrow, gradients.md and figures
 * F5–F8 (zsl_f5 … zsl_f8) into --out; per-checkpoint work is cached in `RUN/gradients/`.
 *
 * @module
 */
import { numberOption, parseArgs, rangeOption, runMain, stepsOption, UsageError } from "../src/cli/args.ts";
import { analyseWithDevice, loadAnalysisRuns } from "../src/cli/analysis.ts";
import { openGpu } from "../src/gpu/device.ts";
import { analyseRunGradients } from "../src/analysis/gradients/run.ts";
import { mostOpposedPairs } from "../src/analysis/gradients/projection.ts";
import { gradientInterferenceRows } from "../src/analysis/gradients/rows.ts";
import type { Granularity } from "../src/results/gradients.ts";
import { gradientsDir, projectionFilesBase } from "../src/results/gradients.ts";
import { readProjections } from "../src/results/projections.ts";
import { fitBreaks, writeGradientResults } from "../src/sweep/analyse.ts";
import { formatOpposedPairs, gradientSummary } from "../src/report/summary.ts";

const COMMAND = "deno task gradients RUN_DIR…";
const SUMMARY =
  "Gradient interference (Mircea et al. 2025; docs/method.md#gradient-interference) of trained runs,\n" +
  "from exact per-example gradients: at each power-of-two checkpoint, one step δ of the run's own\n" +
  "optimizer (with its state, no clipping, lr(t)) on the first batch training never saw, then every\n" +
  "example's gradient g_i at θ_t on that batch, streamed into D(∇ℓ) (per-coordinate interference),\n" +
  "C_g, C_(u,G), C_(u,g), 1 − D(Δ̂ℓ) with the identity checked, and the first-order predictions\n" +
  "Δ̂ℓ_i = g_i·δ beside the true Δℓ_i. Examples are tokens (the paper's; about (T−1)/2 backward passes\n" +
  "per sequence) or whole sequences (one backward). Writes gradient_interference.arrow,\n" +
  "gradient_coherence_histogram.arrow, gradients.md and figures zsl_f5 (D(∇ℓ) vs t), zsl_f6 (C_j\n" +
  "histograms), zsl_f7 (coherences vs t), zsl_f8 (Δℓ vs Δ̂ℓ) into --out.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    value: "DIR",
    description: "Where to write the tables and figures. By default RUN/gradients for one run, else " +
      "gradients/ in the runs' common parent directory.",
  },
  granularity: {
    type: "string",
    short: "g",
    multiple: false,
    value: "KIND",
    description: "What an example is: token (the paper's; exact) or sequence.",
    default: "token",
  },
  checkpoints: {
    type: "string",
    short: "c",
    multiple: false,
    value: "STEPS",
    description: "The checkpoints to measure, as comma-separated steps. By default every power of two.",
  },
  sequences: {
    type: "string",
    short: "s",
    multiple: false,
    value: "N",
    description: "How many sequences of the unseen batch to take the examples from. By default 4 for " +
      "tokens and the whole batch for sequences.",
  },
  "targets-per-pass": {
    type: "string",
    short: "k",
    multiple: false,
    value: "K",
    description: "With token examples, how many target positions are back-propagated together. By " +
      "default ⌈(T−1)/4⌉.",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    value: "N",
    description: "For the deceleration fit that places the t_d band: fit only the steps after N. By " +
      "default as deno task decel.",
  },
  project: {
    type: "string",
    short: "p",
    multiple: false,
    value: "K",
    description: "Also project every example's gradient to K×K dimensions per parameter (seeded Kronecker " +
      "random projections) into RUN/gradients/projections_*.{npy,arrow,json}, and print the most opposed " +
      "pairs of examples.",
  },
  seed: {
    type: "string",
    multiple: false,
    value: "N",
    description: "Seed of the projection matrices.",
    default: "0",
  },
  force: {
    type: "boolean",
    short: "f",
    multiple: false,
    description: "Recompute everything, ignoring the cached results of each checkpoint.",
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
  const checkpoints = stepsOption(values, "checkpoints");
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
  const results = await analyseWithDevice(
    runs,
    openGpu,
    (device, run, onProgress) =>
      analyseRunGradients(device, run, {
        granularity,
        checkpoints,
        sequences,
        targetsPerPass,
        projection,
        force: values.force === true,
        onProgress,
      }),
  );
  const written = await writeGradientResults(runs, results, out, { breaks: await fitBreaks(runs, minStep) });
  for (const row of gradientInterferenceRows(results)) console.log(gradientSummary(row));
  if (projection) {
    for (const result of results) {
      const last = result.checkpoints.at(-1)!;
      const set = await readProjections(
        gradientsDir(result.runDir),
        projectionFilesBase(last.step, granularity),
      );
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

if (import.meta.main) await runMain(main);
