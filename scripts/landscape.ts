/**
 * `deno task landscape RUN_DIR… [--checkpoints 1,2,4] [--scale s] [--points k] [--out DIR]`: the loss
 * along the update (docs/method.md#loss-along-the-update) of trained runs. Writes landscape.arrow,
 * landscape.md and one figure per run (zsl_landscape_<run>) into --out; per-checkpoint work is cached in
 * `RUN/landscape/`.
 *
 * @module
 */
import { parseArgs, rangeOption, runMain, stepsOption, UsageError } from "../src/cli/args.ts";
import { analyseWithDevice, loadAnalysisRuns } from "../src/cli/analysis.ts";
import { openGpu } from "../src/gpu/device.ts";
import { analyseRunLandscape, LANDSCAPE_MAX_K, landscapeKs } from "../src/analysis/landscape.ts";
import { writeLandscapeResults } from "../src/sweep/analyse.ts";
import { markdownTable } from "../src/report/markdown.ts";
import { landscapeTable } from "../src/report/tables.ts";

const COMMAND = "deno task landscape RUN_DIR…";
const SUMMARY = "The loss along the update (docs/method.md#loss-along-the-update) of trained runs.\n\n" +
  "At each checkpoint t: one step δ of the run's own optimizer from θ_t with its state (no clipping,\n" +
  "lr(t)) on the first batch training never saw, then the per-token losses at θ_t + α·δ for\n" +
  "α = ±k/25·s on that batch and on an eval batch: the mean loss, and D, M of\n" +
  "Δℓ(α) = ℓ(θ_t + α·δ) − ℓ(θ_t) against α. Each α is two forwards of a batch. Writes landscape.arrow,\n" +
  "landscape.md and one figure per run (zsl_landscape_<run>: a line per checkpoint) into --out; cached\n" +
  "work newer than its checkpoint is reused.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    value: "DIR",
    description: "Where to write the table and figures. By default RUN/landscape for one run, else " +
      "landscape/ in the runs' common parent directory.",
  },
  checkpoints: {
    type: "string",
    short: "c",
    multiple: false,
    value: "STEPS",
    description: "The checkpoints to step from, as comma-separated steps. By default every power of two.",
  },
  scale: {
    type: "string",
    short: "s",
    multiple: false,
    value: "S",
    description: "The scale s of α = ±k/25·s: the grid reaches ±1.96·s, and α = s is the real step.",
    default: "1",
  },
  points: {
    type: "string",
    short: "k",
    multiple: false,
    value: "K",
    description: `α values per side, spread over k = 1…${LANDSCAPE_MAX_K} (k = 25, the real step, is ` +
      "always one). Fewer are faster: each α is two forwards of a batch.",
    default: String(LANDSCAPE_MAX_K),
  },
  "eval-sequences": {
    type: "string",
    short: "e",
    multiple: false,
    value: "N",
    description: "Sequences of the eval batch (the first of the eval split). By default the run's batch " +
      "size.",
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
  const checkpoints = stepsOption(values, "checkpoints");
  const scale = rangeOption(values, "scale", { min: 0, exclusiveMin: true }) ?? 1;
  const points = rangeOption(values, "points", { min: 1, integer: true }) ?? LANDSCAPE_MAX_K;
  if (points > LANDSCAPE_MAX_K) {
    throw new UsageError(
      `--points must be at most ${LANDSCAPE_MAX_K} (k = 1…${LANDSCAPE_MAX_K}), got ${points}`,
    );
  }
  const evalSequences = rangeOption(values, "eval-sequences", { min: 1, integer: true });
  const { runs, out } = await loadAnalysisRuns(positionals, values.out as string | undefined, "landscape");
  console.error(
    `zsl landscape: ${2 * landscapeKs(points).length} α per checkpoint (α = ±k/25·${scale}), ` +
      `${runs.length} run${runs.length === 1 ? "" : "s"}`,
  );
  const results = await analyseWithDevice(
    runs,
    openGpu,
    (device, run, onProgress) =>
      analyseRunLandscape(device, run, {
        checkpoints,
        scale,
        points,
        evalSequences,
        force: values.force === true,
        onProgress,
      }),
  );
  const { files } = await writeLandscapeResults(results, out);
  for (const result of results) {
    console.log(`${result.name}\n${markdownTable(landscapeTable(result.rows)).join("\n")}`);
  }
  console.log(`wrote ${files.join(", ")}`);
}

if (import.meta.main) await runMain(main);
