/**
 * `deno task zsl RUN_DIR… [--out DIR] [--batches K] [--lr …] [--no-one-step]`: zero-sum learning
 * (docs/method.md#loss-interference) of trained runs. For each run: the eval split's per-token losses of every
 * power-of-two checkpoint, D, M, |ΔL| between consecutive ones (Δ_t^{2t}, also per genre and
 * document), and one step of the run's own optimizer from each checkpoint on K unseen batches (Δ_t^{t+1}). Work already
 * cached in `RUN/interference/` and newer than its checkpoint is skipped. Writes the tables and
 * figures F2–F4 into --out.
 *
 * @module
 */
import { numberOption, parseArgs, rangeOption, runMain, UsageError } from "../src/cli/args.ts";
import { analyseWithDevice, loadAnalysisRuns } from "../src/cli/analysis.ts";
import { openGpu } from "../src/gpu/device.ts";
import { analyseRun, type OneStepLr } from "../src/analysis/interference/mod.ts";
import { fitBreaks, writeInterferenceResults } from "../src/sweep/analyse.ts";
import { interferenceSummary } from "../src/report/summary.ts";

const COMMAND = "deno task zsl RUN_DIR…";
const SUMMARY = "Loss interference, the measure of zero-sum learning (Mircea et al. 2025;\n" +
  "docs/method.md#loss-interference), of trained runs.\n\n" +
  "For each run directory (written by deno task train): per-token eval losses of every power-of-two\n" +
  "checkpoint (RUN/interference/losses_step-NNNNNNN.arrow), D, M and |ΔL| between checkpoints t and 2t,\n" +
  "and one step of the run's own optimizer from each checkpoint (with its state) on K batches training\n" +
  "never saw. Cached work newer than its checkpoint is reused. Writes interference_dt_2t.arrow,\n" +
  "interference_dt_2t_groups.arrow, interference_dt_1.arrow, interference_dt_1_batches.arrow,\n" +
  "interference.md and figures zsl_f2 (D, M, |ΔL| vs t), zsl_f3 (D–M trajectory), zsl_f4 (one step)\n" +
  "and, for runs trained with --probe-every, zsl_probe (the live probe) as .vl.json/.svg/.png into\n" +
  "--out.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    value: "DIR",
    description: "Where to write the tables and figures. By default RUN/interference for one run, else " +
      "interference/ in the runs' common parent directory.",
  },
  batches: {
    type: "string",
    short: "k",
    multiple: false,
    value: "K",
    description: "How many batches training never saw (those after its last step) the one-step analysis " +
      "averages over.",
    default: "5",
  },
  lr: {
    type: "string",
    short: "l",
    multiple: false,
    value: "RATE",
    description: "The learning rate of the one step: checkpoint (lr(t), the paper's), next (lr(t+1), the " +
      "trainer's), peak, or a number. Where the rate is 0, the peak rate is used.",
    default: "checkpoint",
  },
  clip: {
    type: "string",
    short: "c",
    multiple: false,
    value: "X",
    description: "Clip the one step's gradient norm to this (0: no clipping, as the paper).",
    default: "0",
  },
  "no-one-step": {
    type: "boolean",
    short: "n",
    multiple: false,
    description: "Measure only Δ_t^{2t}, between checkpoints: no one-step analysis, so no optimizer " +
      "state is needed.",
  },
  "eval-sequences": {
    type: "string",
    short: "e",
    multiple: false,
    value: "N",
    description: "Use only the first N eval sequences. By default the whole eval split.",
  },
  "max-step": {
    type: "string",
    short: "s",
    multiple: false,
    value: "N",
    description: "Use only the checkpoints up to step N.",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    value: "N",
    description: "For the deceleration fit that places the break: fit only the steps after N. By default " +
      "as deno task decel.",
  },
  force: {
    type: "boolean",
    short: "f",
    multiple: false,
    description: "Recompute everything, ignoring the cached losses and one-step results.",
  },
} as const;

function parseLr(raw: string): OneStepLr {
  if (raw === "checkpoint" || raw === "next" || raw === "peak") return raw;
  const value = Number(raw);
  if (raw.trim() === "" || !(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`--lr must be checkpoint, next, peak or a positive number, got "${raw}"`);
  }
  return value;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs(Deno.args, COMMAND, SUMMARY, OPTIONS, true);
  if (positionals.length === 0) {
    throw new UsageError("give at least one run directory\nRun with --help for the options.");
  }
  const batches = numberOption(values, "batches") ?? 5;
  if (!Number.isInteger(batches) || batches < 1) throw new UsageError(`--batches must be a positive integer`);
  const clip = numberOption(values, "clip") ?? 0;
  if (!(clip >= 0)) throw new UsageError(`--clip must be ≥ 0`);
  const evalSequences = numberOption(values, "eval-sequences");
  if (evalSequences !== undefined && (!Number.isInteger(evalSequences) || evalSequences < 1)) {
    throw new UsageError(`--eval-sequences must be a positive integer`);
  }
  const maxStep = rangeOption(values, "max-step", { min: 1, integer: true });
  const minStep = rangeOption(values, "min-step", { min: 0 });
  const lr = parseLr(values.lr as string);
  const oneStep = !values["no-one-step"];
  const { runs, out } = await loadAnalysisRuns(positionals, values.out as string | undefined, "interference");
  const results = await analyseWithDevice(
    runs,
    openGpu,
    (device, run, onProgress) =>
      analyseRun(device, run, {
        oneStep,
        batches,
        lr,
        clip,
        evalSequences,
        maxStep,
        force: values.force === true,
        onProgress,
      }),
  );

  const breaks = await fitBreaks(runs, minStep);
  const written = await writeInterferenceResults(runs, results, out, { oneStep, breaks });
  for (const result of results) {
    for (const line of interferenceSummary(result, breaks.get(result.name) ?? null)) console.log(line);
  }
  console.log(`wrote ${written.join(", ")}`);
}

if (import.meta.main) await runMain(main);
